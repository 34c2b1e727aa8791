"""Department assessment (services/assessment.py, services/store/assessment.py) and exports
(services/exports.py), issue 14 §2-3, on a hand-made store counted by hand.

The week is Monday 13 - Sunday 19 October 2025 (until 20 October 00:00), the one before 6-12 October.
Blue noise orders: on site within 120 minutes, a section chief, 2 people, resolved within 72 hours; the
red wage-arrears order (o3): 30 minutes, a district leader, 8 people, 24 hours. Minutes are from the
order to the check-in; "level" is the most senior on site (sc section chief, dc division chief).

| order | dept | issued (Oct)   | check-in           | level/people | outcome              | community |
|-------|------|----------------|--------------------|--------------|----------------------|-----------|
| o1    | D1   | 14th 09:00     | 30 ✓               | sc / 2  ✓✓   | resolved +60 (✓)     | CA        |
| o2    | D1   | 14th 10:00     | 150 ✗              | sc / 1  ✓✗   | partly_resolved      | CA        |
| o3 red| D1   | 15th 09:00     | 20 ✓               | dc / 8  ✗✓   | resolved +60 (✓)     | CA        |
| o4    | D2   | 15th 10:00     | 100 ✓              | dc / 3  ✓✓   | none, due 18th (✗)   | CA        |
| o5    | D2   | 16th 09:00     | never (due 11:00)  | -            | none, due 19th (✗)   | CB        |
| o6    | D3   | 19th 22:00     | 120 ✓ (the minute) | not stated ✗✗| none, due 22nd (n/a) | CA        |
| p1    | D2   | 7th 09:00      | 10 ✓               | sc / 2       | resolved             | CA        |
| p2    | D3   | 7th 10:00      | 200 ✗              | sc / 2       | resolved             | CA        |

D1: 3 orders, 2/3 on time, avg 200/3, p90 of (20, 30, 150) = 30 + 0.8 x 120 = 126, level 2/3, people
2/3, within 2/3, outcomes resolved 2 + partly 1. D2: 2 orders, 1/2 on time, avg = p90 = 100, level 1/2,
people 1/2, within 0/2. D3: 1 order, 1/1 on time, 120, level 0/1, people 0/1, within nothing due.
Weekly score (0.5, 0.15, 0.15, 0.2): D1 100 x 2/3, D3 100 x 0.5/0.8 = 62.5, D2 40; rank D1, D3, D2.
The week before: D2 100 (rank 1), D3 (0, 1, 1, 1) = 50 (rank 2), D1 not ranked: changes NaN, 0, -2.
Quarterly (0.35, 0.15, 0.1, 0.4): D1 100 x 2/3, D3 100 x 0.35/0.6, D2 30.
Communities: CA 5 orders, 5 calls, 3 departments, 2+1+8+3 = 14 on site, 4/5 on time; CB 1, 1, 1, 0, 0/1.
"""

from __future__ import annotations

import io
import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from data import sample
from services import access, assessment, exports, orders
from services.errors import ValidationError
from services.i18n import t
from tests.helpers import STORES, reset_store, sqlite_in

TZ = ZoneInfo("Asia/Shanghai")
WEEK = assessment.period("week", datetime(2025, 10, 15, tzinfo=TZ))
D1, D2, D3 = list(sample.load_departments()["code"])[1:4]
LEAD = access.Principal("lead", "leader")
_ids = itertools.count(1)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2025, 10, day, hh, mm, tzinfo=TZ)


@pytest.fixture(scope="module")
def places(layers):
    grids, comm = layers["grid"], layers["community"].set_index("code")
    first = grids.iloc[10]
    other = next(g for _, g in grids.iterrows()
                 if comm.loc[g.parent_code].parent_code != comm.loc[first.parent_code].parent_code)
    return {"A": first, "B": other, "comm": comm}


def _order(store, places, dep, issued, *, where="A", red=False, came=None, people=None, level=None,
           outcome=None, after=60):
    g = places[where]
    n = next(_ids)
    pt = g.geometry.representative_point()
    res = store.insert_appeals(pd.DataFrame([{
        "source": "assess", "external_id": f"s{n}", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears" if red else "noise", "description": f"案例{n} 李四 电话13712345678",
        "lon": pt.x, "lat": pt.y, "source_crs": "wgs84", "people_involved": 30 if red else 1, "urgency": 1,
        "amount_involved": 0.0, "subdistrict_code": places["comm"].loc[g.parent_code].parent_code,
        "community_code": g.parent_code, "grid_code": g.code, "reporter_name": "李四",
        "reporter_phone": "13712345678", "reported_at": issued - timedelta(minutes=20)}]))
    aid = int(res.ids[0])
    store.act(aid, "accept", "setup", at=issued - timedelta(minutes=10))
    oid = int(store.issue_order(aid, [dep], "setup", at=issued)["id"])
    if came is not None:
        store.check_in(oid, dep, at=issued + timedelta(minutes=came), people=people, leader_level=level)
        if outcome:
            store.report_outcome(oid, dep, outcome, at=issued + timedelta(minutes=came + after))
    return oid


def build(store, places) -> dict[str, int]:
    store.load_departments(sample.load_departments())
    return {
        "o1": _order(store, places, D1, at(14, 9), came=30, people=2, level="section_chief", outcome="resolved"),
        "o2": _order(store, places, D1, at(14, 10), came=150, people=1, level="section_chief",
                     outcome="partly_resolved"),
        "o3": _order(store, places, D1, at(15, 9), red=True, came=20, people=8, level="division_chief",
                     outcome="resolved"),
        "o4": _order(store, places, D2, at(15, 10), came=100, people=3, level="division_chief"),
        "o5": _order(store, places, D2, at(16, 9), where="B"),
        "o6": _order(store, places, D3, at(19, 22), came=120),
        "p1": _order(store, places, D2, at(7, 9), came=10, people=2, level="section_chief", outcome="resolved"),
        "p2": _order(store, places, D3, at(7, 10), came=200, people=2, level="section_chief", outcome="resolved"),
    }


@pytest.fixture(params=STORES)
def hand(request, tmp_path, places):
    gen = reset_store(request, tmp_path)
    store = next(gen)
    ids = build(store, places)
    yield store, ids
    next(gen, None)


def test_every_figure_equals_the_hand_count(hand):
    store, _ = hand
    by = store.department_assessment(WEEK.since, WEEK.until).set_index("code")
    assert by.index.tolist() == sorted([D1, D2, D3])
    assert by.loc[[D1, D2, D3], "orders"].tolist() == [3, 2, 1]
    assert by.loc[[D1, D2, D3], "checked_in"].tolist() == [3, 1, 1]
    assert by.loc[[D1, D2, D3], "timely_check_ins"].tolist() == [2, 1, 1]
    assert by.loc[[D1, D2, D3], "due_check_ins"].tolist() == [3, 2, 1]
    assert by.loc[[D1, D2, D3], "timely_check_in_rate"].tolist() == [2 / 3, 0.5, 1.0]
    assert by.loc[D1, "avg_arrival_minutes"] == 200 * 60_000_000 / 3 / 60_000_000.0
    assert by.loc[[D2, D3], "avg_arrival_minutes"].tolist() == [100.0, 120.0]
    assert by.loc[[D1, D2, D3], "p90_arrival_minutes"].tolist() == [30.0 + 0.8 * (150.0 - 30.0), 100.0, 120.0]
    assert by.loc[D1, "p90_arrival_minutes"] == pytest.approx(126)
    assert by.loc[[D1, D2, D3], "level_as_required"].tolist() == [2, 1, 0]
    assert by.loc[[D1, D2, D3], "people_as_required"].tolist() == [2, 1, 0]
    assert by.loc[[D1, D2, D3], "level_as_required_rate"].tolist() == [2 / 3, 0.5, 0.0]
    assert by.loc[[D1, D2, D3], "resolved_within_limit"].tolist() == [2, 0, 0]
    assert by.loc[[D1, D2, D3], "due_outcomes"].tolist() == [3, 2, 0]
    assert by.loc[D1, "resolved_within_limit_rate"] == 2 / 3 and by.loc[D2, "resolved_within_limit_rate"] == 0.0
    assert pd.isna(by.loc[D3, "resolved_within_limit_rate"])
    assert by.loc[[D1, D2, D3], "outcomes_reported"].tolist() == [3, 0, 0]
    assert by.loc[D1, ["outcome_resolved", "outcome_partly_resolved", "outcome_unresolved"]].tolist() == [2, 1, 0]


def test_on_time_is_one_definition_at_the_deadline_minute(hand):
    store, ids = hand
    o6 = store.order(ids["o6"])
    dep = o6["departments"][0]
    assert dep["checked_in_at"] == o6["arrive_by"] and orders.on_time(dep["checked_in_at"], o6["arrive_by"])
    assert orders.on_time(o6["arrive_by"] + timedelta(microseconds=1), o6["arrive_by"]) is False
    assert store.department_stats(WEEK.since, WEEK.until).set_index("code").loc[D3, "timely_check_ins"] == 1
    assert orders.on_time_sql("x", "y") == "x IS NOT NULL AND x <= y"


def test_the_ranking_score_and_rank_change_equal_the_hand_count(hand):
    store, _ = hand
    weekly = assessment.departments(store, LEAD, WEEK)
    assert weekly.attrs["scheme"] == "weekly"
    assert weekly["department_code"].tolist() == [D1, D3, D2] and weekly["rank"].tolist() == [1, 2, 3]
    assert weekly["score"].tolist() == pytest.approx([100 * 2 / 3, 62.5, 40.0])
    change = weekly["rank_change"].tolist()
    assert pd.isna(change[0]) and change[1:] == [0, -2]
    quarterly = assessment.departments(store, LEAD, WEEK, "quarterly")
    assert quarterly["department_code"].tolist() == [D1, D3, D2]
    assert quarterly["score"].tolist() == pytest.approx([100 * 2 / 3, 100 * 0.35 / 0.6, 30.0])
    q4 = assessment.departments(store, LEAD, assessment.period("quarter", WEEK.since))
    assert q4.attrs["scheme"] == "quarterly" and q4.attrs["period"] == "2025年第4季度"
    assert q4.set_index("department_code").loc[D2, "orders"] == 3       # p1 is in the quarter too


def test_the_community_view_equals_the_hand_count(hand, places):
    store, _ = hand
    table = assessment.communities(store, LEAD, WEEK).set_index("community_code")
    ca, cb = places["A"].parent_code, places["B"].parent_code
    assert table.index.tolist() == [ca, cb]
    assert table.loc[ca, ["orders_issued", "departments_called", "departments", "officials_on_site",
                          "timely_check_ins", "due_check_ins"]].tolist() == [5, 5, 3, 14, 4, 5]
    assert table.loc[ca, "timely_check_in_rate"] == 0.8
    assert table.loc[cb, ["orders_issued", "officials_on_site", "timely_check_ins"]].tolist() == [1, 0, 0]
    sub = access.Principal("sub", "subdistrict_officer", places["comm"].loc[cb].parent_code)
    assert assessment.communities(store, sub, WEEK)["community_code"].tolist() == [cb]
    mine = assessment.departments(store, sub, WEEK)
    assert mine["department_code"].tolist() == [D2] and mine["orders"].tolist() == [1]
    dept = access.Principal("d", "department_officer", D3)                 # the whole ranking
    assert len(assessment.departments(store, dept, WEEK)) == 3


@pytest.mark.parametrize("role", ["planner", "wall", "admin"])
def test_roles_without_the_right_are_refused(hand, role):
    store, _ = hand
    who = access.Principal("x", role)
    with pytest.raises(access.Forbidden):
        assessment.departments(store, who, WEEK)
    with pytest.raises(access.Forbidden):
        assessment.communities(store, who, WEEK)


def test_periods_and_bad_input():
    assert (WEEK.since, WEEK.until) == (at(13, 0), at(20, 0)) and WEEK.label("zh") == "2025年10月13日至2025年10月19日（周）"
    assert (WEEK.previous().since, WEEK.previous().until) == (at(6, 0), at(13, 0))
    q = assessment.period("quarter", datetime(2025, 1, 5, tzinfo=TZ)).previous()
    assert (q.since, q.until) == (datetime(2024, 10, 1, tzinfo=TZ), datetime(2025, 1, 1, tzinfo=TZ))
    m = assessment.period("month", datetime(2025, 12, 31, tzinfo=TZ))
    assert m.until == datetime(2026, 1, 1, tzinfo=TZ) and m.previous().since == datetime(2025, 11, 1, tzinfo=TZ)
    with pytest.raises(ValidationError):
        assessment.period("fortnight", at(1, 0))
    with pytest.raises(ValidationError):
        assessment.custom(at(2, 0), at(1, 0))
    with pytest.raises(ValidationError):
        assessment.weights("monthly")


@pytest.mark.postgis
def test_both_stores_give_the_same_figures_to_the_last_digit(tmp_path, places, pg_store):
    lite = sqlite_in(tmp_path)
    pg_store.reset()
    build(lite, places)
    build(pg_store, places)
    for p in (WEEK, WEEK.previous(), assessment.period("quarter", WEEK.since), assessment.period("day", at(14, 0))):
        for area in (None, ("community", places["A"].parent_code)):
            pd.testing.assert_frame_equal(lite.department_assessment(p.since, p.until, area=area),
                                          pg_store.department_assessment(p.since, p.until, area=area),
                                          check_exact=True)
            pd.testing.assert_frame_equal(lite.community_assessment(p.since, p.until, area=area),
                                          pg_store.community_assessment(p.since, p.until, area=area),
                                          check_exact=True)
    lite.close()


# -- exports -----------------------------------------------------------------------------------------
def test_an_export_names_its_period_and_area_translates_masks_and_is_audited(hand):
    store, _ = hand
    table = assessment.departments(store, LEAD, WEEK)
    for lang in ("zh", "en"):
        out = exports.export(store, LEAD, table, what="assessment.departments",
                             title=t("assessment.title_departments", lang), period=WEEK.label(),
                             area=t("export.district", lang), lang=lang, fmt="xlsx")
        assert WEEK.label().replace(" ", "_") in out.file_name
        assert t("export.district", lang).replace(" ", "_") in out.file_name
        sheet = openpyxl.load_workbook(io.BytesIO(out.data)).active
        assert [sheet.cell(r, 2).value for r in (1, 2, 3)] == [t("assessment.title_departments", lang),
                                                               WEEK.label(), t("export.district", lang)]
        headers = [c.value for c in sheet[5]]
        assert headers[:3] == [t(f"assessment.col_{c}", lang) for c in ("rank", "rank_change", "department_code")]
        assert t("assessment.col_outcome", lang, outcome="已化解" if lang == "zh" else "Resolved") in headers
        assert sheet.max_row == 5 + 3
    last = store.audit_rows().iloc[-1]
    assert (last["action"], last["object_id"], last["actor"]) == ("export", "assessment.departments.xlsx", "lead")
    assert '"rows":3' in last["detail"] and WEEK.label() in last["detail"]
    # a table with a reporter: masked for a leader, as typed for the community's dispatcher
    people = store.query_appeals(include_personal=True, limit=2)[["id", "reporter_name", "reporter_phone",
                                                                   "description"]]
    csv = exports.export(store, LEAD, people, what="appeals", title="诉求", period=WEEK.label(), area="光明区",
                         lang="zh", fmt="csv", headers={"id": "编号"})
    assert csv.data.startswith(b"\xef\xbb\xbf") and csv.file_name.endswith(".csv")
    text = csv.data.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == f"{t('export.title', 'zh')},诉求" and lines[1] == f"{t('export.period', 'zh')},{WEEK.label()}"
    assert lines[4].startswith("编号,reporter_name")
    assert "13712345678" not in text and "137****5678" in text and "李四" not in text and "李*" in text
    assert store.audit_rows().iloc[-1]["object_id"] == "appeals.csv"
    own = exports.export(store, access.Principal("cd", "community_dispatcher", "x"), people, what="appeals",
                         title="诉求", period=WEEK.label(), area="光明区", lang="zh", fmt="csv")
    assert "13712345678" in own.data.decode("utf-8-sig")
    planner = exports.export(store, access.Principal("p", "planner"), people, what="appeals", title="诉求",
                             period=None, area=None, lang="en", fmt="csv")
    assert "reporter_phone" not in planner.data.decode("utf-8-sig") and planner.file_name == "诉求.csv"
    rows = len(store.audit_rows())
    with pytest.raises(ValidationError):
        exports.export(store, LEAD, people, what="appeals", title="诉求", period=None, area=None, lang="zh",
                       fmt="pdf")
    assert len(store.audit_rows()) == rows
