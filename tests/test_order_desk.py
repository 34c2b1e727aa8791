"""The orders page's service (services/order_desk.py) and page (pages/orders.py), issue 13 §2.

A hand-made store whose answers can be counted by hand. Now is Wednesday 22 October 2025, 10:00
(Asia/Shanghai); the last full week is 13-19 October, the one before 6-12 October. Three departments
D1, D2, D3; community CA (subdistrict SA) and CB of another subdistrict. Every appeal is a blue noise
complaint (rule: on site within 120 minutes, a section chief, 2 people) except R, red wage arrears
(30 minutes, a district leader, 8 people). Minutes are from the order to the check-in:

| week          | D1                        | D2                 | D3                         |
|---------------|---------------------------|--------------------|----------------------------|
| 13-19 Oct     | 30 ✓ out, 60 ✓ out, 150 ✗ | 20 ✓ out, 40 ✓     | 10 ✓, 200 ✗                |
| 6-12 Oct      | 10 ✓ out                  | 130 ✗ out          | 50 ✓ out                   |
| today (22nd)  | open (09:30, due 11:30);  | overdue (07:00, due| R: in at 09:20, 3 people,  |
|               | R (09:00, due 09:30) unchecked | 09:00), in CB | a division chief           |

(✓ on time, ✗ late, "out": outcome reported.) Last week's ranking: D2 (100%, avg 30, p90 38), D1 (2/3,
avg 80, p90 132), D3 (1/2, avg 105, p90 181); the week before D1, D3, D2, so D2 +2, D1 -1, D3 -1.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from data import sample
from services import access, order_desk
from services.i18n import t
from tests.helpers import STORES, reset_store, signed_in_app

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 10, 22, 10, 0, tzinfo=TZ)
D1, D2, D3 = list(sample.load_departments()["code"])[1:4]
CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def places(layers):
    """A grid of community CA (subdistrict SA) and one of CB in another subdistrict."""
    grids, comm = layers["grid"], layers["community"].set_index("code")
    first = grids.iloc[10]
    other = next(g for _, g in grids.iterrows()
                 if comm.loc[g.parent_code].parent_code != comm.loc[first.parent_code].parent_code)
    return {"A": first, "B": other, "comm": comm}


def _appeal(store, places, where: str, at: datetime, *, red: bool = False) -> int:
    g = places[where]
    n = next(_ids)
    pt = g.geometry.representative_point()
    res = store.insert_appeals(pd.DataFrame([{
        "source": "desk", "external_id": f"d{n}", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears" if red else "noise", "description": f"案例{n} 王小明 电话13900001111",
        "lon": pt.x, "lat": pt.y, "source_crs": "wgs84", "people_involved": 30 if red else 1,
        "urgency": 1, "amount_involved": 0.0, "subdistrict_code": places["comm"].loc[g.parent_code].parent_code,
        "community_code": g.parent_code, "grid_code": g.code, "reporter_name": "王小明",
        "reporter_phone": "13900001111", "reported_at": at - timedelta(minutes=20)}]))
    aid = int(res.ids[0])
    store.act(aid, "accept", "setup", at=at - timedelta(minutes=10))
    return aid


def _order(store, places, deps, issued: datetime, *, where: str = "A", red: bool = False,
           came: dict[str, int] | None = None, out: tuple[str, ...] = ()) -> int:
    """An order at ``issued`` to ``deps``, each department of ``came`` checked in that many minutes later,
    those of ``out`` with an outcome an hour after."""
    oid = int(store.issue_order(_appeal(store, places, where, issued, red=red), deps, "setup", at=issued)["id"])
    for dep, minutes in (came or {}).items():
        store.check_in(oid, dep, at=issued + timedelta(minutes=minutes))
    for dep in out:
        store.report_outcome(oid, dep, "resolved", at=issued + timedelta(minutes=(came or {})[dep] + 60))
    return oid


@pytest.fixture(params=STORES)
def hand(request, tmp_path, places):
    """The store of the table above and its order ids by name."""
    gen = reset_store(request, tmp_path)
    store = next(gen)
    store.load_departments(sample.load_departments())
    week, before = datetime(2025, 10, 14, 9, 0, tzinfo=TZ), datetime(2025, 10, 7, 9, 0, tzinfo=TZ)
    ids = {
        "d1_30": _order(store, places, [D1], week, came={D1: 30}, out=(D1,)),
        "d1_60": _order(store, places, [D1], week + timedelta(hours=1), came={D1: 60}, out=(D1,)),
        "d1_150": _order(store, places, [D1], week + timedelta(days=1), came={D1: 150}),
        "d2_20": _order(store, places, [D2], week + timedelta(days=2), came={D2: 20}, out=(D2,)),
        "d2_40": _order(store, places, [D2], week + timedelta(days=3), came={D2: 40}),
        "d3_10": _order(store, places, [D3], week + timedelta(days=4), came={D3: 10}),
        "d3_200": _order(store, places, [D3], week + timedelta(days=5), came={D3: 200}),
        "p_d1": _order(store, places, [D1], before, came={D1: 10}, out=(D1,)),
        "p_d2": _order(store, places, [D2], before, came={D2: 130}, out=(D2,)),
        "p_d3": _order(store, places, [D3], before, came={D3: 50}, out=(D3,)),
        "open": _order(store, places, [D1], NOW - timedelta(minutes=30)),
        "overdue": _order(store, places, [D2], NOW - timedelta(hours=3), where="B"),
        "red": _order(store, places, [D1, D3], NOW - timedelta(hours=1), red=True),
    }
    order_desk.check_in(store, dept(D3), ids["red"], people=3, leader_level="division_chief",
                        at=NOW - timedelta(minutes=40))
    yield store, ids
    next(gen, None)


def dept(code: str) -> access.Principal:
    return access.Principal(f"officer_{code}", "department_officer", code)


def community(places, where: str = "A") -> access.Principal:
    return access.Principal("dispatcher", "community_dispatcher", places[where].parent_code)


def test_a_department_sees_only_its_orders_with_their_state(hand):
    store, ids = hand
    rows = order_desk.desk(store, dept(D1), NOW)
    assert set(rows["department_code"]) == {D1}
    assert rows["order_id"].tolist()[:2] == [ids["red"], ids["open"]]          # overdue first, then open
    assert set(rows["order_id"]) == {ids[k] for k in ("d1_30", "d1_60", "d1_150", "p_d1", "open", "red")}
    by = rows.set_index("order_id")
    assert by.loc[ids["open"], "state"] == "open" and by.loc[ids["open"], "seconds_left"] == 90 * 60
    assert by.loc[ids["red"], "state"] == "overdue" and by.loc[ids["red"], "seconds_left"] == -30 * 60
    assert by.loc[ids["d1_150"], "state"] == "late" and by.loc[ids["d1_150"], "late"]
    assert by.loc[ids["d1_150"], "seconds_left"] == -30 * 60                  # 150 minutes on a 120 limit
    assert by.loc[ids["d1_30"], "state"] == "reported" and not by.loc[ids["d1_30"], "late"]
    assert (by.loc[ids["red"], "leader_level"], by.loc[ids["red"], "people_required"]) == ("district_leader", 8)
    # personal data: no name or phone column, and the description masked
    assert not set(access.PERSONAL_COLUMNS) & set(rows.columns)
    assert all("13900001111" not in d and "王小明" not in d for d in rows["description"])
    assert all("139****1111" in d for d in rows["description"])


def test_a_community_sees_only_its_areas_orders(hand, places):
    store, ids = hand
    rows = order_desk.desk(store, community(places), NOW)
    assert ids["overdue"] not in set(rows["order_id"])
    assert set(rows["order_id"]) == {v for k, v in ids.items() if k != "overdue"}
    assert len(rows[rows["order_id"] == ids["red"]]) == 2                     # one row per department
    other = order_desk.desk(store, community(places, "B"), NOW)
    assert other["order_id"].tolist() == [ids["overdue"]] and other["state"].tolist() == ["overdue"]
    everyone = order_desk.desk(store, access.Principal("duty", "duty_officer"), NOW)
    assert len(everyone) == 14 and not order_desk.may_act(community(places))


def test_the_leader_level_and_people_shortfall_is_flagged(hand):
    store, ids = hand
    r = order_desk.desk(store, dept(D3), NOW).set_index("order_id").loc[ids["red"]]
    assert (r["state"], r["people_on_site"], r["leader_level_on_site"]) == ("on_time", 3, "division_chief")
    assert r["level_short"] and r["people_short"]
    assert order_desk.desk(store, dept(D1), NOW).set_index("order_id").loc[ids["open"], "level_short"] is None


def test_a_check_in_outside_my_department_is_forbidden_and_changes_nothing(hand):
    store, ids = hand
    before = store.order(ids["overdue"])
    events = len(store.events(before["appeal_id"]))
    with pytest.raises(access.Forbidden):
        order_desk.check_in(store, dept(D1), ids["overdue"], people=2, leader_level="section_chief", at=NOW)
    assert store.order(ids["overdue"]) == before and len(store.events(before["appeal_id"])) == events
    with pytest.raises(access.Forbidden):
        order_desk.check_in(store, access.Principal("lead", "leader"), ids["open"], people=2,
                            leader_level="section_chief", at=NOW)
    # mine: a late check-in with a section chief and two people, then the outcome with its note
    order_desk.check_in(store, dept(D2), ids["overdue"], people=2, leader_level="section_chief", at=NOW)
    r = order_desk.desk(store, dept(D2), NOW).set_index("order_id").loc[ids["overdue"]]
    assert (r["state"], r["late"], r["level_short"], r["people_short"]) == ("late", True, False, False)
    order_desk.report(store, dept(D2), ids["overdue"], "partly_resolved", "明日复查", at=NOW + timedelta(hours=1))
    r = order_desk.desk(store, dept(D2), NOW).set_index("order_id").loc[ids["overdue"]]
    assert (r["state"], r["outcome"], r["late"]) == ("reported", "partly_resolved", True)
    assert [a for a in store.audit_rows()["action"] if a.startswith("order.")][-4:] == \
        ["order.check_in.refused", "order.check_in.refused", "order.check_in", "order.outcome"]


def test_the_daily_reminder_equals_the_hand_count(hand):
    store, ids = hand
    rem = order_desk.daily_reminder(store, access.Principal("duty", "duty_officer"), NOW)
    got = {r["department_code"]: (r["open"], r["late"], r["overdue"]) for r in rem.summary.to_dict("records")}
    assert got == {D1: (3, 2, 1), D2: (2, 1, 1), D3: (3, 1, 0)}
    assert rem.summary["department_code"].tolist() == [D1, D3, D2]              # most late, then most open
    mine = order_desk.daily_reminder(store, dept(D3), NOW)
    assert mine.summary["department_code"].tolist() == [D3]
    assert set(mine.rows["order_id"]) == {ids["d3_10"], ids["d3_200"], ids["red"]}


def test_the_weekly_ranking_equals_the_hand_count(hand):
    store, _ = hand
    table = order_desk.weekly_ranking(store, access.Principal("lead", "leader"), NOW)
    assert table["department_code"].tolist() == [D2, D1, D3]
    by = table.set_index("department_code")
    assert by["rank"].tolist() == [1, 2, 3] and by["rank_change"].tolist() == [2, -1, -1]
    assert by["orders"].tolist() == [2, 3, 2] and by["timely_check_ins"].tolist() == [2, 2, 1]
    assert by["timely_check_in_rate"].tolist() == pytest.approx([1.0, 2 / 3, 0.5])
    assert by["avg_arrival_minutes"].tolist() == pytest.approx([30, 80, 105])
    assert by["p90_arrival_minutes"].tolist() == pytest.approx([38, 132, 181])
    assert by["outcomes_reported"].tolist() == [1, 2, 0]
    # the same rate the desk's per-row marks give (one meaning of on time)
    rows = order_desk.desk(store, access.Principal("lead", "leader"), NOW)
    week = rows[(rows["issued_at"] >= datetime(2025, 10, 13, tzinfo=TZ)) & (rows["issued_at"] < datetime(
        2025, 10, 20, tzinfo=TZ))]
    assert (~week["late"]).groupby(week["department_code"]).sum().to_dict() == {D1: 2, D2: 2, D3: 1}
    assert order_desk.last_full_week(NOW) == (datetime(2025, 10, 13, tzinfo=TZ), datetime(2025, 10, 20, tzinfo=TZ))


# -- the page ------------------------------------------------------------------------------------------
PAGE = "pages/orders.py"


def _issue_for(department: str) -> int:
    """An open order to ``department`` in the app's own store (issued now, on a fresh accepted appeal)."""
    from services.store import open_store

    store = open_store()
    row = store.query_appeals(statuses=["accepted"], limit=1)
    if row.empty:
        row = store.query_appeals(statuses=["reported"], limit=1)
        store.act(int(row["id"].iloc[0]), "accept", "setup")
    return int(store.issue_order(int(row["id"].iloc[0]), [department], "setup")["id"])


def _texts(at) -> list[str]:
    from google.protobuf import text_format

    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "key", None) != "lang_switch" and type(node).__name__ != "Text":
            out.append(text_format.MessageToString(proto, as_utf8=True))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_shows_a_department_exactly_its_orders(layers, lang):
    from services.store import open_store

    at = signed_in_app("department_officer", D3, page=PAGE, query={"lang": lang} if lang == "en" else None)
    at.run()
    oid = _issue_for(D3)
    at.run()
    at.selectbox(key="orders_selected").set_value(oid)
    at.run()
    assert not at.exception and not at.error
    want = order_desk.desk(open_store(), dept(D3))["order_id"].tolist()
    assert at.dataframe[0].value[t("orders.col_order", lang)].tolist() == want and want
    assert t("orders.check_in_now", lang) in [b.label for b in at.button]     # the open order's form
    if lang == "en":
        widgets = [*at.button, *at.selectbox, *at.number_input, *at.tabs]
        found = [m for text in _texts(at) for m in CJK.findall(text)]
        found += [m for w in widgets for m in CJK.findall(str(getattr(w, "label", "")))]
        found += [m for w in at.selectbox for o in w.options for m in CJK.findall(str(o))]
        for frame in at.dataframe:
            found += [m for v in frame.value.astype(str).to_numpy().ravel() for m in CJK.findall(v)]
            found += [m for c in frame.value.columns for m in CJK.findall(str(c))]
        assert not found, found[:20]


def test_a_check_in_through_the_form_changes_the_store_and_the_row(layers):
    from services.store import open_store

    at = signed_in_app("department_officer", D2, page=PAGE)
    at.run()
    oid = _issue_for(D2)
    at.run()
    at.selectbox(key="orders_selected").set_value(oid)
    at.run()
    at.number_input(key="orders_people").set_value(4)
    at.selectbox(key="orders_leader").set_value("division_chief")
    next(b for b in at.button if b.label == t("orders.check_in_now", "zh")).click()
    at.run()
    assert not at.exception
    dep = open_store().order(oid)["departments"][0]
    assert dep["checked_in_at"] is not None
    assert (dep["people_on_site"], dep["leader_level_on_site"]) == (4, "division_chief")
    frame = at.dataframe[0].value.set_index(t("orders.col_order", "zh"))
    assert frame.loc[oid, t("orders.col_state", "zh")] == t("order_state.on_time", "zh")
    assert at.success and t("orders.checked_in", "zh", order=oid) in [s.value for s in at.success]


def test_a_community_dispatchers_page_has_no_check_in_form(layers):
    from services.store import open_store

    signed_in_app("department_officer", D1, page=PAGE).run()   # the app's store is seeded by its first run
    _issue_for(D1)   # so that the community has an order to show
    community_code = open_store().orders()["community_code"].iloc[-1]
    at = signed_in_app("community_dispatcher", community_code, page=PAGE)
    at.run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value.shape[0] >= 1                     # the list is there, read-only
    assert not [b for b in at.button if b.label in (t("orders.check_in_now", "zh"), t("orders.report_now", "zh"))]
    assert not at.number_input and not at.text_area and t("orders.intro_issuer", "zh") in [c.value for c in at.caption]
