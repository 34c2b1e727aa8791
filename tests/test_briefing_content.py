"""The daily briefing's content (services/briefing/content.py) on a hand-made store, every figure counted by
hand, on both stores.

The report day D is Friday 2026-01-09; the briefing is made at 2026-01-10 07:00, so the cut-off is
2026-01-10 00:00. Grids G1, G2 lie in community C1, G3 in C2 (subdistrict S1), G4 in C3 (subdistrict S2).

| appeal | grid | reported     | facts / class            | what happens                                                  | now        |
|--------|------|--------------|--------------------------|---------------------------------------------------------------|------------|
| a1     | G1   | D 09:00      | neighbour, ordinary      | accept, dispatch C1, resolve 15:00 (same day)                  | resolved   |
| a2     | G1   | D 10:00      | noise, ordinary          | nothing (due D 23:59:59: overdue at the cut-off)               | reported   |
| a3     | G3   | D 11:00      | wage_arrears 30 p., red  | respond 11:05, accept 11:20, order police + hr_social 11:30 (arrive by 12:00): police 11:40, hr_social 12:30 (late); gathering with a7 | dispatched |
| a7     | G3   | D 11:10      | wage_arrears 30 p., red  | never responded (respond by 11:20)                            | reported   |
| a4     | G4   | D-1 10:00    | neighbour, ordinary      | accept, dispatch C3, resolve 12:00, never confirmed (by D 12:00) | resolved |
| a5     | G4   | 01-05 09:00  | noise, ordinary          | resolved 11:00, not satisfied 14:00: reopened, due 01-05 23:59:59 | reopened |
| a6     | G2   | 01-03 09:00  | legal_consultation       | accept, dispatch C1, order police D 10:00 (no check-in), resolve 01-10 06:00 (after the cut-off) | resolved |
| a8     | G3   | 01-07 09:00  | noise, ordinary          | accept, dispatch C2, resolved and closed the same day           | closed     |
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import district
from services.briefing.content import build, cut_off
from services.briefing.model import HEADLINE, Briefing
from services.errors import ValidationError
from services.i18n import label, t
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES

TZ = ZoneInfo("Asia/Shanghai")
S1, S2 = "440311001", "440311002"
C1, C2, C3 = S1 + "001", S1 + "002", S2 + "001"
G1, G2, G3, G4 = C1 + "001", C1 + "002", C2 + "001", C3 + "001"
D = date(2026, 1, 9)
NOW = datetime(2026, 1, 10, 7, tzinfo=TZ)
CUT = datetime(2026, 1, 10, tzinfo=TZ)
DEPARTMENTS = pd.DataFrame({"code": ["hr_social", "police"], "name": ["区人力资源局", "光明公安分局"],
                            "name_en": ["HR bureau", "Police"]})


def at(month: int, day: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=TZ)


def row(ext: str, grid: str, reported: datetime, category: str, **kw) -> dict:
    service = {"neighbour": "dispute", "wage_arrears": "dispute", "noise": "complaint",
               "legal_consultation": "legal"}[category]
    base = {"source": "test", "external_id": ext, "channel": "hotline", "service_type": service,
            "category": category, "description": f"{ext} 张三 13800000000", "lon": 113.93, "lat": 22.76,
            "people_involved": 1, "amount_involved": 0.0, "urgency": 1, "subdistrict_code": grid[:9],
            "community_code": grid[:12], "grid_code": grid, "building_code": None, "reported_at": reported,
            "reporter_name": "张三", "reporter_phone": "13800000000"}
    base.update(kw)
    return base


APPEALS = [
    row("a1", G1, at(1, 9, 9), "neighbour"),
    row("a2", G1, at(1, 9, 10), "noise", lon=113.94),
    row("a3", G3, at(1, 9, 11), "wage_arrears", people_involved=30, lon=113.95, lat=22.77),
    row("a7", G3, at(1, 9, 11, 10), "wage_arrears", people_involved=30, lon=113.9502, lat=22.7701),
    row("a4", G4, at(1, 8, 10), "neighbour"),
    row("a5", G4, at(1, 5, 9), "noise", lon=113.96),
    row("a6", G2, at(1, 3, 9), "legal_consultation", lon=113.97),
    row("a8", G3, at(1, 7, 9), "noise"),
]


def make(store) -> dict[str, int]:
    store.load_departments(DEPARTMENTS)
    ids = dict(zip([a["external_id"] for a in APPEALS], store.insert_appeals(pd.DataFrame(APPEALS)).ids,
                   strict=True))

    def act(name: str, action: str, when: datetime, **kw) -> None:
        store.act(ids[name], action, "测试员", at=when, **kw)

    direct = {"settlement": "direct"}
    for name, acc, target in (("a1", at(1, 9, 9, 10), C1), ("a4", at(1, 8, 10, 10), C3),
                              ("a5", at(1, 5, 9, 10), C3), ("a6", at(1, 3, 9, 10), C1), ("a8", at(1, 7, 9, 10), C2)):
        act(name, "accept", acc)
        act(name, "dispatch", acc + timedelta(minutes=5), target=target)
    act("a1", "resolve", at(1, 9, 15), **direct)
    act("a4", "resolve", at(1, 8, 12), **direct)
    act("a5", "resolve", at(1, 5, 11), **direct)
    act("a5", "confirm", at(1, 5, 12))
    act("a5", "feedback", at(1, 5, 13))
    act("a5", "return_visit", at(1, 5, 14), satisfaction="not_satisfied")
    act("a8", "resolve", at(1, 7, 11), **direct)
    act("a8", "confirm", at(1, 7, 12))
    act("a8", "feedback", at(1, 7, 13))
    act("a8", "return_visit", at(1, 7, 14), satisfaction="satisfied")
    act("a3", "respond", at(1, 9, 11, 5))
    act("a3", "accept", at(1, 9, 11, 20))
    o3 = store.issue_order(ids["a3"], ["police", "hr_social"], "社区党委", at=at(1, 9, 11, 30))
    store.check_in(o3["id"], "police", at=at(1, 9, 11, 40))
    store.check_in(o3["id"], "hr_social", at=at(1, 9, 12, 30))
    store.issue_order(ids["a6"], ["police"], "社区党委", at=at(1, 9, 10))
    act("a6", "resolve", at(1, 10, 6), **direct)
    store.mark_gathering(pd.DataFrame({"appeal_id": [ids["a3"], ids["a7"]], "gathering_id": [ids["a3"]] * 2,
                                       "gathering_tier": ["red", "red"]}), at=at(1, 9, 11, 15))
    return ids


@pytest.fixture(scope="module", params=STORES)
def hand(request, tmp_path_factory):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path_factory.mktemp("briefing") / "gm.sqlite3")
    else:
        s = request.getfixturevalue("pg_store")
        s.reset()
    ids = make(s)
    yield s, ids
    if request.param == "sqlite":
        s.close()


def figures(b: Briefing) -> dict[str, tuple]:
    return {f.code: (f.value, f.day_before, f.week_average) for f in b.headline}


def same(a: object, b: object) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif hasattr(a, "__dataclass_fields__"):
        for f in fields(a):
            same(getattr(a, f.name), getattr(b, f.name))
    else:
        assert a == b


def test_cut_off():
    assert cut_off(D, NOW) == CUT
    assert cut_off(D, datetime(2026, 1, 9, 15, 42, 31, 5, tzinfo=TZ)) == datetime(2026, 1, 9, 15, 42, tzinfo=TZ)
    assert cut_off(D, datetime(2026, 1, 9, 16, 0, tzinfo=ZoneInfo("UTC"))) == CUT   # 00:00 local


def test_headline_by_hand(hand):
    store, _ = hand
    b = build(store, D, now=NOW)
    assert b.cut_off == b.made_at == CUT
    assert [f.code for f in b.headline] == list(HEADLINE)
    assert {f.code for f in b.headline if f.is_rate} == {"resolution_rate", "same_day_rate", "class1_respond_on_time"}
    got = figures(b)
    want = {
        "received": (4, 1, 4 / 7),                 # a1 a2 a3 a7 | a4 | a4 a5 a6 a8
        "accepted": (2, 1, 4 / 7),                 # a1 a3 | a4 | a4 a5 a6 a8
        "resolved": (1, 1, 3 / 7),                 # a1 | a4 | a4 a6 a8 (a5 reopened)
        "resolution_rate": (1 / 2, 1.0, 3 / 4),    # pooled over the 7 days
        "same_day_rate": (1 / 2, 1.0, 2 / 4),      # a1 of a1 a2 | a4 | a4 a8 of a4 a5 a6 a8
        "class1_respond_on_time": (1 / 2, None, None),   # a3 of a3 a7; no class-1 before
        # a2 a4 a5 a7 at the cut-off | a5 at D's start | a5 at the ends of 01-05..01-08: 4 of 7 day ends
        "overdue_now": (4, 1, 4 / 7),
    }
    for code, values in want.items():
        for g, w in zip(got[code], values, strict=True):
            assert (g is None) if w is None else g == pytest.approx(w, abs=1e-12), code


def test_clearance_order(hand):
    store, ids = hand
    c = build(store, D, now=NOW, lang="en").clearance
    assert len(c) == len(district.names("community", "zh")) == len(set(c["community"]))
    busy = c[c["open_overnight"] > 0]
    # C1: a6 (resolved after the cut-off) and a2; C3: a5 (reopened); C2: a3 and a7 — oldest item first.
    assert busy["community"].tolist() == [C1, C3, C2]
    assert busy["open_overnight"].tolist() == [2, 1, 2]
    assert busy["oldest_id"].tolist() == [ids["a6"], ids["a5"], ids["a3"]]
    assert busy["oldest_reported_at"].tolist() == [at(1, 3, 9), at(1, 5, 9), at(1, 9, 11)]
    assert busy["oldest_category"].tolist() == [label("category", c, "en")
                                               for c in ("legal_consultation", "noise", "wage_arrears")]
    assert busy["name"].tolist() == [district.name_of("community", x, "en") for x in (C1, C3, C2)]
    cleared = c.iloc[3:]
    assert (cleared["open_overnight"] == 0).all() and cleared["community"].tolist() == sorted(cleared["community"])


def test_red_warnings_and_gatherings(hand):
    store, ids = hand
    b = build(store, D, now=NOW)
    r = b.red_warnings
    assert r["id"].tolist() == [ids["a3"], ids["a7"]]
    assert r["status"].tolist() == [label("status", "dispatched", "zh"), label("status", "reported", "zh")]
    assert r["category"].tolist() == [label("category", "wage_arrears", "zh")] * 2
    assert r["community"].tolist() == [district.name_of("community", C2, "zh")] * 2
    g = b.gatherings
    assert g.to_dict("records") == [{"gathering_id": ids["a3"], "size": 2, "tier": "red",
                                     "community": district.name_of("community", C2, "zh"),
                                     "first_reported_at": pd.Timestamp(at(1, 9, 11)), "open": 2,
                                     "status": t("briefing.content.gathering_open", "zh")}]
    cl = b.map.clusters
    assert cl[["size", "tier"]].to_dict("records") == [{"size": 2, "tier": "red"}]
    assert cl["lon"].iloc[0] == pytest.approx(113.9501, abs=1e-4) and cl["radius_m"].iloc[0] > 0


def test_orders_with_a_late_check_in(hand):
    store, _ = hand
    b = build(store, D, now=NOW, lang="en")
    assert b.orders == {"issued": 2, "checked_in_on_time": 1, "checked_in_late": 1, "not_checked_in": 1,
                        "still_open": 2}
    assert b.late_departments.to_dict("records") == [{"department": "hr_social", "name": "HR bureau", "late": 1}]


def test_notes(hand):
    store, _ = hand
    b = build(store, D, now=NOW)
    assert [n.kind for n in b.notes] == ["categories_rising", "reopened_communities", "unofficial_calendar"]
    rising, reopened, calendar = b.notes
    # The day: wage_arrears 2, neighbour 1, noise 1; the 7 days before: noise 2, neighbour 1, legal 1.
    assert [(i["category"], i["day"]) for i in rising.items] == [("wage_arrears", 2), ("neighbour", 1), ("noise", 1)]
    assert [i["change"] for i in rising.items] == pytest.approx([2, 6 / 7, 5 / 7])
    assert rising.items[0]["name"] == label("category", "wage_arrears", "zh")
    assert [(i["community"], i["reopened"]) for i in reopened.items] == [(C3, 1)]     # a5
    assert calendar.items == ()                               # 2026 and every open deadline are official
    # A report day in 2027, whose holidays are computed, not yet published.
    late = build(store, date(2027, 1, 4), now=datetime(2027, 1, 5, 7, tzinfo=TZ))
    assert late.notes[2].items == ({"year": 2027, "basis": "computed"},)


def test_map(hand):
    store, ids = hand
    m = build(store, D, now=NOW).map
    levels = m.grid_levels.set_index("grid")
    assert levels["open_total"].to_dict() == {G1: 1, G2: 1, G3: 2, G4: 1}
    assert levels.loc[G3, "level"] == "red" and levels.loc[G1, "level"] == "blue"
    assert set(m.points.columns) == {"lon", "lat", "tier", "overdue"}
    # a2 (overdue), a3 (red), a5 (overdue), a6 (past its resolution deadline when the cut-off came), a7 both.
    pts = m.points.sort_values(["lon", "lat"]).to_dict("records")
    assert len(pts) == 5
    assert sorted((p["tier"], bool(p["overdue"])) for p in pts) == sorted(
        [("blue", True), ("red", False), ("blue", True), ("blue", True), ("red", True)])


def test_empty_day(hand):
    store, _ = hand
    b = build(store, date(2025, 6, 1), now=datetime(2025, 6, 2, 7, tzinfo=TZ), lang="en")
    assert b.empty
    assert all(f.value in (0, None) for f in b.headline)
    assert b.red_warnings.empty and b.gatherings.empty and b.late_departments.empty
    assert b.orders == dict.fromkeys(b.orders, 0)
    assert (b.clearance["open_overnight"] == 0).all()
    assert not build(store, D, now=NOW).empty


def test_area_scoping(hand):
    store, ids = hand
    b = build(store, D, area=("community", C2), now=NOW)
    assert b.area == ("community", C2) and b.area_code == C2
    assert b.area_name == district.name_of("community", C2, "zh")
    assert figures(b)["received"] == (2, 0, 1 / 7)            # a3 a7 | - | a8
    assert b.clearance["community"].tolist() == [C2] and b.clearance["open_overnight"].tolist() == [2]
    assert b.red_warnings["id"].tolist() == [ids["a3"], ids["a7"]]
    assert len(b.gatherings) == 1
    assert b.orders == {"issued": 1, "checked_in_on_time": 1, "checked_in_late": 1, "not_checked_in": 0,
                        "still_open": 1}
    assert set(b.map.grid_levels["grid"]) == {G3} and len(b.map.points) == 2
    s2 = build(store, D, area=("subdistrict", S2), now=NOW)
    assert s2.clearance["community"].tolist()[:1] == [C3] and set(s2.clearance["community"]) == \
        district.communities_in(("subdistrict", S2))
    assert s2.red_warnings.empty and s2.gatherings.empty and s2.orders["issued"] == 0
    assert figures(s2)["received"] == (0, 1, 2 / 7)            # - | a4 | a4 a5
    assert [i["community"] for i in s2.notes[1].items] == [C3]
    assert set(s2.map.grid_levels["grid"]) == {G4}
    with pytest.raises(ValidationError):
        build(store, D, area=("grid", G1), now=NOW)


def test_no_personal_data(hand):
    store, _ = hand
    b = build(store, D, now=NOW)
    text = repr([getattr(b, f.name) for f in fields(b)]) + "".join(
        df.to_csv() for df in (b.clearance, b.red_warnings, b.gatherings, b.late_departments,
                               b.map.grid_levels, b.map.points, b.map.clusters))
    assert "张三" not in text and "13800000000" not in text


def test_deterministic(hand):
    store, _ = hand
    a = build(store, D, now=NOW)
    b = build(store, D, now=NOW + timedelta(hours=2))      # the same cut-off, so the same briefing
    same(a, b)
    assert not math.isnan(a.headline[0].value)


def test_english(hand):
    store, _ = hand
    b = build(store, D, now=NOW, lang="en")
    cjk = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
    texts = [b.area_name, *b.clearance["name"], *b.clearance["oldest_category"].dropna(),
             *b.red_warnings[["category", "community", "status"]].to_numpy().ravel(),
             *b.gatherings[["community", "status"]].to_numpy().ravel(), *b.late_departments["name"],
             *(i["name"] for n in b.notes[:2] for i in n.items)]
    assert texts and not [x for x in texts if cjk.search(str(x))]
