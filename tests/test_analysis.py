"""The analysis measures (services/analysis) on a hand-made store, every figure counted by hand, on both
stores; the service's rights and areas; the CLI.

"Now" is 2026-01-10 12:00. Grids G1, G2 lie in community C1 and G3 in C2 (subdistrict S1); G4 in C3
(subdistrict S2). National Day 2025 is 1–8 October (off), Sunday 28 September and Saturday 11 October
are adjusted workdays, so a major appeal reported on Tue 30 September is due 11 October 23:59:59 (the 3
working days after the report day are 9, 10 and 11 October).

| appeal | grid | reported        | class    | building/category   | what happens                                             | status at now |
|--------|------|-----------------|----------|---------------------|----------------------------------------------------------|---------------|
| b1     | G1   | 09-30 09:00     | ordinary | B1 neighbour        | accept, dispatch community, resolve 15:00, closed satisfied | closed     |
| b2     | G1   | 09-30 20:00     | ordinary | B1 legal_consultation | resolve 10-01 09:00 (next day), never confirmed         | resolved      |
| b3     | G2   | 09-30 10:00     | major    | B2 wage_arrears     | gathering 1; resolve 10-10 17:00 (in time), basically satisfied | closed  |
| b4     | G2   | 09-30 11:00     | major    | B2 wage_arrears     | repeat of b3; gathering 1; resolve 10-13 (late), not satisfied 10-13 (clock restarts: due 10-16), resolved again 10-16, satisfied | closed |
| b5     | G3   | 10-01 10:00     | class1   | B3 wage_arrears     | gathering 2; respond 10:05, accept 10:40 (late), order police; never resolved (due 10-11) | dispatched |
| b6     | G3   | 10-02 08:00     | class1   | - crisis            | respond 08:20 (late), accept 08:25, resolve 12:00, not satisfied 10-02 (due 10-11), resolved again 10-09, satisfied | closed |
| b7     | G4   | 10-05 09:00     | ordinary | B4 neighbour        | resolve 18:00 (same day), not satisfied 21:00 (due end of 10-05), resolved again 10-07 | resolved |
| b8     | G4   | 10-06 10:00     | ordinary | B4 neighbour        | repeat of b7; accept, order police 11:00; never resolved | dispatched    |
| b9     | G1   | 10-15 09:00     | ordinary | B1 neighbour        | repeat of b1 (15 days); resolve 11:00, closed satisfied   | closed        |
| c3     | G1   | 12-29 09:00     | ordinary | B1 legal_consultation | never accepted                                          | reported      |
| c1     | G4   | 12-31 23:30     | ordinary | B5 noise            | resolve 2026-01-01 00:20 (after midnight), never confirmed | resolved     |
| c2     | G4   | 2026-01-01 00:10 | ordinary | B5 noise           | repeat of c1 across the year; resolve 01:00, closed satisfied | closed     |

Which resolution counts for a reopened appeal resolved twice: the last one, against the clock it ran on
(restarted by the reopening return visit, [clocks]). So b4 counts as resolved in time (its late first
resolution shows as ``reopened``, not in ``overdue_in_period``: the first clock is not kept), and b7 —
first settled the same day — is not a same-day settlement (its final resolution came two days later).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access
from services.analysis import __main__ as cli
from services.analysis import breakdown, categories_rising, custom, figures, period, trend
from services.analysis.measures import CODES, MEASURES, describe_measures, measure, rule_numbers
from services.errors import ValidationError
from services.i18n import t as t_
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES

TZ = ZoneInfo("Asia/Shanghai")
D = "440311"
S1, S2 = D + "001", D + "002"
C1, C2, C3 = S1 + "001", S1 + "002", S2 + "001"
G1, G2, G3, G4 = C1 + "001", C1 + "002", C2 + "001", C3 + "001"
NOW = datetime(2026, 1, 10, 12, tzinfo=TZ)
DEPARTMENTS = pd.DataFrame({"code": ["hr_social", "police"], "name": ["区人力资源局", "光明公安分局"],
                            "name_en": ["HR", "Police"]})
LEADER = access.Principal("leader1", "leader")


def t(month: int, day: int, hh: int = 0, mm: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hh, mm, tzinfo=TZ)


def row(ext: str, grid: str, reported: datetime, category: str, building: str | None, **kw) -> dict:
    service = {"neighbour": "dispute", "wage_arrears": "dispute", "noise": "complaint", "crisis": "psychological",
               "legal_consultation": "legal"}[category]
    base = {"source": "test", "external_id": ext, "channel": "hotline", "service_type": service,
            "category": category, "description": ext, "lon": 113.93, "lat": 22.76, "people_involved": 1,
            "amount_involved": 0.0, "urgency": 1, "subdistrict_code": grid[:9], "community_code": grid[:12],
            "grid_code": grid, "building_code": building, "reported_at": reported}
    base.update(kw)
    return base


APPEALS = [
    row("b1", G1, t(9, 30, 9), "neighbour", "B1"),
    row("b2", G1, t(9, 30, 20), "legal_consultation", "B1", channel="qr_scan"),
    row("b3", G2, t(9, 30, 10), "wage_arrears", "B2", people_involved=12),
    row("b4", G2, t(9, 30, 11), "wage_arrears", "B2", people_involved=12),
    row("b5", G3, t(10, 1, 10), "wage_arrears", "B3", people_involved=30, channel="active_discovery"),
    row("b6", G3, t(10, 2, 8), "crisis", None, urgency=3),
    row("b7", G4, t(10, 5, 9), "neighbour", "B4"),
    row("b8", G4, t(10, 6, 10), "neighbour", "B4", channel="walk_in"),
    row("b9", G1, t(10, 15, 9), "neighbour", "B1"),
    row("c3", G1, t(12, 29, 9), "legal_consultation", "B1"),
    row("c1", G4, t(12, 31, 23, 30), "noise", "B5"),
    row("c2", G4, t(1, 1, 0, 10, year=2026), "noise", "B5"),
]


def build(store) -> dict[str, int]:
    store.load_departments(DEPARTMENTS)
    ids = dict(zip([a["external_id"] for a in APPEALS], store.insert_appeals(pd.DataFrame(APPEALS)).ids,
                   strict=True))

    def act(name: str, action: str, when: datetime, **kw) -> None:
        store.act(ids[name], action, "测试员", at=when, **kw)

    def close(name: str, resolved: datetime, sat: str, settle: dict) -> None:
        act(name, "resolve", resolved, **settle)
        act(name, "confirm", resolved + timedelta(hours=1))
        act(name, "feedback", resolved + timedelta(hours=2))
        act(name, "return_visit", resolved + timedelta(hours=3), satisfaction=sat)

    mediate = {"settlement": "people_mediation", "mediator": "李调解员"}
    direct = {"settlement": "direct"}
    admin = {"settlement": "administrative_mediation", "mediator": "王调解员"}
    for name, acc, target in (("b1", t(9, 30, 9, 10), C1), ("b2", t(9, 30, 20, 10), C1),
                              ("b3", t(9, 30, 10, 5), "hr_social"), ("b4", t(9, 30, 11, 5), "hr_social"),
                              ("b7", t(10, 5, 9, 10), C3), ("b9", t(10, 15, 9, 5), C1),
                              ("c1", t(12, 31, 23, 40), C3), ("c2", t(1, 1, 0, 15, year=2026), C3)):
        act(name, "accept", acc)
        act(name, "dispatch", acc + timedelta(minutes=5), target=target)
    store.mark_gathering(pd.DataFrame({"appeal_id": [ids["b3"], ids["b4"]], "gathering_id": [1, 1],
                                       "gathering_tier": ["yellow", "yellow"]}), at=t(9, 30, 11, 30))
    store.mark_gathering(pd.DataFrame({"appeal_id": [ids["b5"]], "gathering_id": [2], "gathering_tier": ["red"]}),
                         at=t(10, 1, 10, 1))
    close("b1", t(9, 30, 15), "satisfied", mediate)
    act("b2", "resolve", t(10, 1, 9), **direct)
    close("b3", t(10, 10, 17), "basically_satisfied", admin)
    close("b4", t(10, 13, 9), "not_satisfied", admin)          # reopened 10-13 12:00: due 10-16
    close("b4", t(10, 16, 15), "satisfied", admin)
    act("b5", "respond", t(10, 1, 10, 5))
    act("b5", "accept", t(10, 1, 10, 40))
    store.issue_order(ids["b5"], ["police"], "社区党委", at=t(10, 1, 10, 45))
    act("b6", "respond", t(10, 2, 8, 20))
    act("b6", "accept", t(10, 2, 8, 25))
    act("b6", "dispatch", t(10, 2, 8, 30), target=C2)
    close("b6", t(10, 2, 12), "not_satisfied", direct)           # reopened 10-02 15:00
    close("b6", t(10, 9, 10), "satisfied", direct)
    close("b7", t(10, 5, 18), "not_satisfied", mediate)          # reopened 10-05 21:00: due 23:59:59
    act("b7", "resolve", t(10, 7, 10), **mediate)
    act("b8", "accept", t(10, 6, 10, 10))
    store.issue_order(ids["b8"], ["police"], "社区党委", at=t(10, 6, 11))
    close("b9", t(10, 15, 11), "satisfied", mediate)
    act("c1", "resolve", t(1, 1, 0, 20, year=2026), **mediate)
    close("c2", t(1, 1, 1, year=2026), "satisfied", mediate)
    return ids


@pytest.fixture(scope="module", params=STORES)
def hand(request, tmp_path_factory):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path_factory.mktemp("analysis") / "gm.sqlite3")
    else:
        s = request.getfixturevalue("pg_store")
        s.reset()
    build(s)
    yield s
    if request.param == "sqlite":
        s.close()


def district_row(store, p) -> dict:
    return store.analysis_areas("district", p.since, p.until, NOW).iloc[0].to_dict()


def check(got: dict, want: dict) -> None:
    """Every measure of ``got`` equals ``want`` (rates given as fractions; None: no denominator)."""
    assert set(want) == set(CODES)
    for code, value in want.items():
        if value is None:
            assert math.isnan(got[code]), code
        elif measure(code).kind == "rate":
            assert got[code] == pytest.approx(value, abs=1e-12), code
        else:
            assert got[code] == value, code


def test_week_across_national_day(hand):
    # b1..b7 (Sun 10-05 is the week's last day). b3 is in time only because 1-8 October are holidays.
    check(district_row(hand, period("week", "2025-10-01")), {
        "received": 7, "accepted": 7, "resolved": 6, "resolution_rate": 6 / 7,
        "same_day_settled": 1, "same_day_due": 3, "same_day_rate": 1 / 3,                 # b1; b2, b7 not
        "class1_responded_on_time": 1, "class1_respond_due": 2, "class1_respond_on_time": 0.5,   # b5
        "class1_accepted_on_time": 1, "class1_accept_due": 2, "class1_accept_on_time": 0.5,     # b6
        "major_resolved_in_time": 3, "major_due": 4, "major_resolved_in_time_rate": 0.75,   # b3 b4 b6; b5 not
        "overdue_now": 6,                                   # b2 b5 b7 b8 c1 c3, whenever reported
        "overdue_in_period": 4,                             # b2 (next day), b5 (accept), b6 (respond), b7
        "reopened": 3, "satisfied": 3, "basically_satisfied": 1, "not_satisfied": 1,     # b4 b6 b7
        "gatherings": 2, "orders_issued": 1, "repeat_appeals": 1})                        # b4


def test_october(hand):
    check(district_row(hand, period("month", "2025-10-20")), {
        "received": 5, "accepted": 5, "resolved": 3, "resolution_rate": 0.6,              # b5..b9
        "same_day_settled": 1, "same_day_due": 3, "same_day_rate": 1 / 3,                 # b9 of b7 b8 b9
        "class1_responded_on_time": 1, "class1_respond_due": 2, "class1_respond_on_time": 0.5,
        "class1_accepted_on_time": 1, "class1_accept_due": 2, "class1_accept_on_time": 0.5,
        "major_resolved_in_time": 1, "major_due": 2, "major_resolved_in_time_rate": 0.5,
        "overdue_now": 6, "overdue_in_period": 4,                                         # b5 b6 b7 b8
        "reopened": 2, "satisfied": 2, "basically_satisfied": 0, "not_satisfied": 1,
        "gatherings": 1, "orders_issued": 2, "repeat_appeals": 2})                        # b8, b9


def test_week_across_new_year(hand):
    w = period("week", "2026-01-01")
    assert (w.start.isoformat(), w.end.isoformat()) == ("2025-12-29", "2026-01-05")
    check(district_row(hand, w), {
        "received": 3, "accepted": 2, "resolved": 2, "resolution_rate": 1.0,
        "same_day_settled": 1, "same_day_due": 3, "same_day_rate": 1 / 3,                 # c2 of c1 c2 c3
        "class1_responded_on_time": 0, "class1_respond_due": 0, "class1_respond_on_time": None,
        "class1_accepted_on_time": 0, "class1_accept_due": 0, "class1_accept_on_time": None,
        "major_resolved_in_time": 0, "major_due": 0, "major_resolved_in_time_rate": None,
        "overdue_now": 6, "overdue_in_period": 2,                                         # c1 (after midnight), c3
        "reopened": 0, "satisfied": 1, "basically_satisfied": 0, "not_satisfied": 0,
        "gatherings": 0, "orders_issued": 0, "repeat_appeals": 1})                        # c2 after c1


def test_year_and_day_boundaries(hand):
    y25, y26 = district_row(hand, period("year", "2025-06-01")), district_row(hand, period("year", "2026-06-01"))
    assert (y25["received"], y25["repeat_appeals"], y26["received"], y26["repeat_appeals"]) == (11, 3, 1, 1)
    eve, first = district_row(hand, period("day", "2025-12-31")), district_row(hand, period("day", "2026-01-01"))
    assert (eve["received"], eve["same_day_settled"], eve["same_day_due"], eve["same_day_rate"]) == (1, 0, 1, 0.0)
    assert (first["received"], first["same_day_settled"], first["same_day_rate"]) == (1, 1, 1.0)
    empty = district_row(hand, period("day", "2025-06-01"))
    assert empty["received"] == 0 and math.isnan(empty["resolution_rate"]) and empty["overdue_now"] == 6


def test_levels_and_parent(hand):
    w = period("week", "2025-10-01")
    sub = hand.analysis_areas("subdistrict", w.since, w.until, NOW).set_index("code")
    assert sub.loc[[S1, S2], ["received", "resolved", "overdue_now", "orders_issued"]].values.tolist() == \
        [[6, 5, 3, 1], [1, 1, 3, 0]]
    grids = hand.analysis_areas("grid", w.since, w.until, NOW, parent=("community", C1))
    assert grids["code"].tolist() == [G1, G2] and grids["received"].tolist() == [2, 2]
    assert grids["overdue_now"].tolist() == [2, 0]                                        # b2, c3


def test_breakdown_and_trend(hand):
    w = period("week", "2025-10-01")
    by = hand.analysis_breakdown("subdistrict", w.since, w.until, "channel")
    assert by.values.tolist() == [[S1, "active_discovery", 1], [S1, "hotline", 4], [S1, "qr_scan", 1],
                                  [S2, "hotline", 1]]
    days = hand.analysis_trend(w.since, w.until, NOW, bucket="day")
    assert days[["bucket", "received"]].values.tolist() == [["2025-09-30", 4], ["2025-10-01", 1],
                                                          ["2025-10-02", 1], ["2025-10-05", 1]]
    # Across the new year by local day: 23:30 on 31 December is still 2025 in Shanghai (15:30 UTC).
    nw = period("week", "2026-01-01")
    assert hand.analysis_trend(nw.since, nw.until, NOW)[["bucket", "received", "same_day_settled"]].values.tolist() \
        == [["2025-12-29", 1, 0], ["2025-12-31", 1, 0], ["2026-01-01", 1, 1]]
    weeks = hand.analysis_trend(t(9, 29), t(10, 13), NOW, bucket="week")
    assert weeks[["bucket", "received"]].values.tolist() == [["2025-09-29", 7], ["2025-10-06", 1]]


def test_service_figures_previous_and_last_year(hand):
    f = figures(hand, LEADER, "subdistrict", None, period("week", "2025-10-08"), now=NOW)
    assert len(f.current) == 6 and f.current.columns.tolist() == ["code", "name", *CODES, "flagged"]
    s2 = f.current.set_index("code").loc[S2]
    assert (s2["received"], s2["overdue_now"]) == (1, 3)                                 # b8 only
    assert f.previous.set_index("code").loc[S2, "received"] == 1                          # b7, week before
    assert f.last_year["received"].sum() == 0
    assert f.current.set_index("code").loc[S2, "name"] and bool(s2["flagged"])           # b8 unsettled: 0 %
    quiet = f.current.set_index("code").drop([S1, S2])
    assert (quiet["received"] == 0).all() and quiet["resolution_rate"].isna().all() and not quiet["flagged"].any()
    assert trend(hand, LEADER, C1, custom("2025-09-30", "2025-10-02"), now=NOW)["received"].tolist() == [4, 0, 0]
    rising = categories_rising(hand, LEADER, None, period("month", "2025-10-01"))
    assert rising[["category", "received", "previous", "change"]].values.tolist() == [["neighbour", 3, 1, 2],
                                                                                      ["crisis", 1, 0, 1]]
    assert rising["change_rate"].iloc[0] == 2.0 and math.isnan(rising["change_rate"].iloc[1])


def test_rights_and_areas(hand):
    w = period("week", "2025-10-01")
    officer = access.Principal("s1", "subdistrict_officer", S1)
    mine = figures(hand, officer, "community", None, w, now=NOW).current
    assert mine["code"].tolist() == [C1, C2, S1 + "003", S1 + "004", S1 + "005"]    # the layers' five
    assert mine["received"].tolist() == [4, 2, 0, 0, 0]
    assert figures(hand, officer, "grid", C2, w, now=NOW).current["received"].sum() == 2
    for level, code in (("community", S2), ("district", None), ("grid", C3)):
        with pytest.raises(access.Forbidden):
            figures(hand, officer, level, code, w, now=NOW)
    for role, area in (("planner", None), ("community_dispatcher", C1), ("wall", None)):
        with pytest.raises(access.Forbidden):
            figures(hand, access.Principal("x", role, area), "subdistrict", None, w, now=NOW)
    assert figures(hand, access.Principal("d", "duty_officer"), "district", None, w, now=NOW).current["code"].tolist() \
        == [D]
    with pytest.raises(ValidationError):
        figures(hand, LEADER, "subdistrict", C1, w, now=NOW)                 # a community is below the level
    with pytest.raises(ValidationError):
        figures(hand, LEADER, "county", None, w, now=NOW)


def test_every_measure_has_a_name_and_a_definition():
    for m in MEASURES:
        for lang in ("zh", "en"):
            assert m.name(lang) and len(m.definition(lang)) > 10 and "{" not in m.definition(lang)
    assert "10" in measure("class1_respond_on_time").definition("en")                   # from [clocks]
    legend = describe_measures("en")
    assert [m["code"] for m in legend] == list(CODES) and legend[3]["kind"] == "rate"
    assert "95%" in t_("analysis.definition.flagged", "zh", **rule_numbers())              # [analysis]


def test_service_breakdown_names_the_district(hand):
    w = period("week", "2025-10-01")
    by = breakdown(hand, LEADER, "district", None, w, "service_type")
    assert by.values.tolist() == [[D, "dispute", 5], [D, "legal", 1], [D, "psychological", 1]]
    with pytest.raises(ValidationError):
        breakdown(hand, LEADER, "district", None, w, "tier")


def test_cli_json_csv_and_xlsx(tmp_path, capsys):
    store = SQLiteStore(tmp_path / "gm.sqlite3")
    build(store)
    store.close()
    url = f"sqlite:///{tmp_path / 'gm.sqlite3'}"
    assert cli.main(["--level", "subdistrict", "--period", "week", "--date", "2025-10-01", "--store", url,
                     "--now", NOW.isoformat()]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["code"]: r for r in rows}
    assert len(rows) == 6 and by[S1]["received"] == 6 and by[S2]["resolution_rate"] == 1.0
    assert by[D + "003"]["resolution_rate"] is None and set(CODES) <= set(by[S1])
    out = tmp_path / "c.csv"
    assert cli.main(["--level", "grid", "--code", C1, "--period", "week", "--date", "2025-10-01", "--store", url,
                     "--now", NOW.isoformat(), "--format", "csv", "--out", str(out)]) == 0
    df = pd.read_csv(out, dtype={"code": str})
    assert df.set_index("code").loc[[G1, G2], "received"].tolist() == [2, 2] and df["period"].iloc[0] == \
        "2025-09-29_2025-10-06"
    xlsx = tmp_path / "c.xlsx"
    assert cli.main(["--level", "community", "--period", "month", "--date", "2025-10-01", "--store", url,
                     "--now", NOW.isoformat(), "--format", "xlsx", "--out", str(xlsx)]) == 0
    assert pd.read_excel(xlsx, dtype={"code": str})["received"].sum() == 5
    assert cli.main(["--level", "grid", "--code", "999", "--period", "day", "--date", "2025-10-01",
                     "--store", url]) == 2
    assert "999" in capsys.readouterr().err


def test_an_unfinished_month_is_compared_with_as_many_days_of_the_last(hand):
    october = period("month", "2025-10-01")
    # On 6 October: 1–6 September, when nothing came (b1–b4 came on 30 September).
    early = figures(hand, LEADER, "district", None, october, now=t(10, 6, 12))
    assert (early.previous_period.start.isoformat(), early.previous_period.last_day.isoformat()) == (
        "2025-09-01", "2025-09-06")
    assert int(early.previous.iloc[0]["received"]) == 0
    # Once October is over: the whole of September, with its four appeals.
    late = figures(hand, LEADER, "district", None, october, now=NOW)
    assert late.previous_period == october.previous() and int(late.previous.iloc[0]["received"]) == 4
