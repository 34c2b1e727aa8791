"""One contract, two stores: every test runs on SQLite and on PostGIS, and the two must agree.

The hand-made district below is small enough to count by hand (Thursday 9 October 2025, the first
working day after the National Day holiday; "now" is 12:00):

| appeal | grid | facts            | tier/class      | what happens                                      | status     |
|--------|------|------------------|-----------------|---------------------------------------------------|------------|
| a1     | G1   | 1 person         | blue ordinary   | 08:00 report, 08:10 accept, 08:20 order (police), | closed     |
|        |      | neighbour        |                 | 08:50 check-in, 09:30 resolved, 10:00 resolve,    |            |
|        |      |                  |                 | 10:30 confirm, 11:00 feedback, 11:30 satisfied    |            |
| a2     | G1   | 1 person         | blue ordinary   | 09:00 report; due 23:59:59 today                  | reported   |
| a3     | G2   | 12 people wages  | yellow major    | 09:30 report, 09:40 accept, 10:00 order (hr_social| dispatched |
|        |      |                  |                 | 10:30 in, police 11:00 in [late]); hr 16:00 resolved|          |
| a4     | G3   | 30 people wages  | red class1      | 11:00 report, nobody responds (due 11:10)         | reported   |
| a5     | G4   | 1 person         | blue ordinary   | reported the day before at 10:00 (due 8 Oct 23:59:59)| reported|
| a6     | G4   | urgency 3        | red class1      | 11:50 report, 11:52 respond (accept due 12:20)    | reported   |

G1, G2 in community C1, G3 in C2 (subdistrict S1); G4 in C3 (subdistrict S2).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services.errors import IllegalTransition, NotFound, ValidationError
from services.store import create_store, database_url, open_store, sqlite_path
from services.store.base import APPEAL_COLUMNS, EVENT_COLUMNS, OPEN_STATUSES, PERSONAL_COLUMNS
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store, sqlite_in

TZ = ZoneInfo("Asia/Shanghai")
S1, S2 = "440311001", "440311002"
C1, C2, C3 = S1 + "001", S1 + "002", S2 + "001"
G1, G2, G3, G4 = C1 + "001", C1 + "002", C2 + "001", C3 + "001"
DAY = datetime(2025, 10, 9, tzinfo=TZ)
NOON = DAY + timedelta(hours=12)
DEPARTMENTS = pd.DataFrame({"code": ["hr_social", "justice", "police"],
                            "name": ["区人力资源局", "区司法局", "光明公安分局"],
                            "name_en": ["HR", "Justice", "Police"]})


def at(hh: int, mm: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hh, minutes=mm)


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def row(ext: str, grid: str, reported: datetime, **kw) -> dict:
    community, subdistrict = grid[:12], grid[:9]
    base = {"id": int(ext[1:]), "source": "test", "external_id": ext, "channel": "hotline",
            "service_type": "dispute", "category": "neighbour", "description": f"{ext} 描述",
            "lon": 113.93 + int(ext[1:]) * 0.001, "lat": 22.76, "people_involved": 1, "amount_involved": 0.0,
            "urgency": 1, "subdistrict_code": subdistrict, "community_code": community, "grid_code": grid,
            "reporter_name": "张三", "reporter_phone": "13800000000", "reported_at": reported}
    base.update(kw)
    return base


def hand_frame() -> pd.DataFrame:
    return pd.DataFrame([
        row("a1", G1, at(8)),
        row("a2", G1, at(9)),
        row("a3", G2, at(9, 30), category="wage_arrears", people_involved=12),
        row("a4", G3, at(11), category="wage_arrears", people_involved=30),
        row("a5", G4, at(10, day=DAY - timedelta(days=1))),
        row("a6", G4, at(11, 50), urgency=3, category="crisis", service_type="psychological"),
    ])


def build_hand_district(store) -> dict[str, int]:
    """Insert the table above and play its actions; returns appeal ids by name."""
    store.load_departments(DEPARTMENTS)
    res = store.insert_appeals(hand_frame())
    ids = dict(zip(["a1", "a2", "a3", "a4", "a5", "a6"], res.ids, strict=True))
    a1, a3 = ids["a1"], ids["a3"]
    store.act(a1, "accept", "值班员", at=at(8, 10))
    o1 = store.issue_order(a1, ["police"], "光明社区党委", at=at(8, 20))
    store.check_in(o1["id"], "police", at=at(8, 50))
    store.report_outcome(o1["id"], "police", "resolved", at=at(9, 30))
    store.act(a1, "resolve", "社区处置员", at=at(10), settlement="people_mediation", mediator="李调解员")
    store.act(a1, "confirm", "值班员", at=at(10, 30))
    store.act(a1, "feedback", "值班员", at=at(11))
    store.act(a1, "return_visit", "回访员", at=at(11, 30), satisfaction="satisfied")
    store.act(a3, "accept", "值班员", at=at(9, 40))
    o3 = store.issue_order(a3, ["hr_social", "police"], "光明社区党委", at=at(10))
    store.check_in(o3["id"], "hr_social", at=at(10, 30))
    store.check_in(o3["id"], "police", at=at(11))
    store.report_outcome(o3["id"], "hr_social", "resolved", at=at(16))
    store.act(ids["a6"], "respond", "值班员", at=at(11, 52))
    return ids


def snapshot(store, appeal_id: int) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    return store.get_appeal(appeal_id), store.events(appeal_id), store.orders()


# ------------------------------------------------------------------------------------------- schema
def _latest(store) -> int:
    """The schema version the store's code migrates to."""
    import importlib

    return importlib.import_module(type(store).__module__).SCHEMA_VERSION


def test_schema_is_created_and_migrate_is_idempotent(store):
    assert store.schema_version() == _latest(store) >= 2
    store.migrate()
    assert store.schema_version() == _latest(store)


def test_sqlite_file_under_var_in_wal_mode_keeps_data_when_reopened(tmp_path):
    s = sqlite_in(tmp_path)
    s.insert_appeals(hand_frame())
    with s._read() as cx:
        assert cx.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    again = sqlite_in(tmp_path)
    assert len(again.query_appeals()) == 6 and again.schema_version() == _latest(again)
    again.close()


def test_open_store_chooses_by_url(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///var/gm.sqlite3"
    assert sqlite_path("sqlite:///var/gm.sqlite3").parts[-2:] == ("var", "gm.sqlite3")
    url = f"sqlite:///{tmp_path}/x/gm.sqlite3"   # an absolute path: sqlite:////tmp/...
    assert sqlite_path(url) == tmp_path / "x" / "gm.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)
    s = open_store()
    assert isinstance(s, SQLiteStore) and s is open_store(url) and (tmp_path / "x" / "gm.sqlite3").exists()
    s.close()
    assert open_store() is not s          # a closed store is replaced
    open_store().close()
    with pytest.raises(ValueError):
        create_store("mysql://nope")



WALL_INDEXES = {"appeal_open_tier"}


def _indexes(store, table: str = "appeal") -> set[str]:
    with store._read() as cx:
        if isinstance(store, SQLiteStore):
            rows = cx.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                              (table,)).fetchall()
        else:
            rows = cx.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s "
                              "AND schemaname = current_schema()", (table,)).fetchall()
    return {r[0] for r in rows}


def _reopener(kind: str, path, request):
    """The store module of ``kind`` and a function that opens the same store each time it is called (the
    SQLite file at ``path``, or one fresh PostGIS schema), for migrating a store made by older code."""
    if kind == "sqlite":
        from services.store import sqlite as module

        def make():
            return module.SQLiteStore(path)
    else:
        from services.store import postgis as module

        url, schema = request.getfixturevalue("postgis_url"), f"gm_migrate_{uuid.uuid4().hex[:10]}"

        def make():
            return module.PostGISStore(url, schema=schema, max_size=2)
    return module, make


@pytest.mark.parametrize("kind", STORES)
def test_a_version_1_database_migrates_keeping_its_data(kind, tmp_path, monkeypatch, request):
    """A store made before the wall indexes (schema 1) gets them on open, with its appeals intact."""
    module, make = _reopener(kind, tmp_path / "old.sqlite3", request)
    with monkeypatch.context() as m:
        m.setattr(module, "MIGRATIONS", {1: module.MIGRATIONS[1]})
        old = make()
        ids = old.insert_appeals(hand_frame()).ids
        assert old.schema_version() == 1 and not WALL_INDEXES & _indexes(old)
        old.close()
    store = make()
    try:
        assert store.schema_version() == _latest(store) and _indexes(store) >= WALL_INDEXES
        assert sorted(store.query_appeals()["id"].tolist()) == sorted(ids)
        assert store.event_count() == 6
        assert len(store.query_appeals(statuses=OPEN_STATUSES, order="tier", limit=3)) == 3
    finally:
        store.drop_schema() if kind == "postgis" else store.close()

def _adding(module, ddl: str) -> int:
    """The migration of ``module`` whose SQL contains ``ddl``."""
    return next(v for v, m in sorted(module.MIGRATIONS.items()) if ddl in (m if isinstance(m, str) else "\n".join(m)))


def _made_before(module, make, monkeypatch, ddl: str, fill):
    """Make the store as the code before the migration containing ``ddl`` did, call ``fill(old_store)``
    on it and close it; returns that earlier version and what ``fill`` returned."""
    previous = _adding(module, ddl) - 1
    with monkeypatch.context() as m:
        m.setattr(module, "MIGRATIONS", {v: s for v, s in module.MIGRATIONS.items() if v <= previous})
        old = make()
        try:
            assert old.schema_version() == previous
            return previous, fill(old)
        finally:
            old.close()


@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_scenarios_gets_the_scenario_table(kind, tmp_path, monkeypatch, request):
    """A store made before planning scenarios were kept (the version before the one that creates their
    table) migrates on open: the table appears, its appeals are intact, and scenarios can be saved."""
    module, make = _reopener(kind, tmp_path / "prev.sqlite3", request)
    def fill(old):
        assert "planning_scenario" not in _tables(old)
        return old.insert_appeals(hand_frame()).ids

    _, ids = _made_before(module, make, monkeypatch, "CREATE TABLE planning_scenario", fill)
    store = make()
    try:
        assert store.schema_version() == _latest(store) and "planning_scenario" in _tables(store)
        assert sorted(store.query_appeals()["id"].tolist()) == sorted(ids) and store.event_count() == 6
        assert store.list_scenarios().empty
        saved = store.save_scenario("迁移后", {"edits": []}, "规划员")
        assert store.load_scenario("迁移后")["id"] == saved["id"]
    finally:
        store.drop_schema() if kind == "postgis" else store.close()




@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_settled_quarantine_gets_the_columns(kind, tmp_path, monkeypatch, request):
    """A store whose quarantine rows had no resolution migrates on open: its rows are kept unsettled and
    can be settled and purged."""
    module, make = _reopener(kind, tmp_path / "q.sqlite3", request)
    _made_before(module, make, monkeypatch, "ADD COLUMN resolved_at", lambda old: old.quarantine(pd.DataFrame(
        {"source": ["csv"], "line": [2], "raw": ["张三,13812345678"], "reason": ["no time"],
         "reason_code": ["missing_time"]})))
    store = make()
    try:
        assert store.schema_version() == _latest(store) and "quarantine_resolved" in _indexes(store, "quarantine")
        q = store.quarantined()
        assert q["raw"].tolist() == ["张三,13812345678"] and q["resolution"].isna().all()
        assert store.resolve_quarantine(q["id"], "dismissed", "数据管理员", at=at(8)) == 1
        assert store.purge_quarantine(at(9)) == 1 and store.quarantined().empty
    finally:
        store.drop_schema() if kind == "postgis" else store.close()


def _tables(store) -> set[str]:
    with store._read() as cx:
        if isinstance(store, SQLiteStore):
            rows = cx.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        else:
            rows = cx.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
    return {r[0] for r in rows}


# ------------------------------------------------------------------------------------------- scenarios
EDITS = {"service": "appeal", "radius_m": 500,
         "edits": [{"op": "add", "lon": 113.934512, "lat": 22.761234, "name": "新增站点1",
                    "services": ["appeal", "legal"]},
                   {"op": "remove", "code": "ST-C-01"}]}


def test_scenarios_are_saved_listed_loaded_and_deleted(store):
    assert store.list_scenarios().empty and list(store.list_scenarios().columns) == [
        "id", "name", "created_by", "created_at", "payload"]
    a = store.save_scenario("  凤凰街道补点  ", EDITS, "张规划", at=NOON)
    b = store.save_scenario("方案B", {"edits": [], "note": "空"}, "规划员")
    assert a["name"] == "凤凰街道补点" and a["created_by"] == "张规划" and a["created_at"] == NOON
    assert a["payload"] == EDITS  # text and floats exactly as saved
    assert a["created_at"].utcoffset() == timedelta(hours=8)
    listed = store.list_scenarios()
    assert listed["name"].tolist() == ["凤凰街道补点", "方案B"] and listed["id"].tolist() == [a["id"], b["id"]]
    assert listed["payload"].iloc[0] == EDITS
    assert store.load_scenario(b["id"]) == b and store.load_scenario("方案B") == b
    # A name is taken once; replace overwrites that scenario, keeping its id.
    with pytest.raises(ValidationError):
        store.save_scenario("方案B", EDITS, "别人")
    assert store.load_scenario("方案B")["payload"] == {"edits": [], "note": "空"}
    c = store.save_scenario("方案B", EDITS, "别人", replace=True)
    assert c["id"] == b["id"] and c["payload"] == EDITS and c["created_by"] == "别人"
    assert len(store.list_scenarios()) == 2
    assert store.delete_scenario("方案B") is True and store.delete_scenario(b["id"]) is False
    with pytest.raises(NotFound):
        store.load_scenario(b["id"])
    with pytest.raises(NotFound):
        store.load_scenario("no such")
    assert store.delete_scenario(a["id"]) is True and store.list_scenarios().empty
    # A new scenario never takes the id of a deleted one (a page holding an old id loads nothing else).
    assert store.save_scenario("再存", EDITS, "张规划")["id"] > b["id"]


def test_a_scenario_needs_a_name_an_author_and_a_json_object(store):
    for name, payload, by in (("", EDITS, "x"), ("  ", EDITS, "x"), ("n", EDITS, ""), ("n", [1, 2], "x"),
                              ("n", {"x": float("nan")}, "x"), ("n", {"x": object()}, "x")):
        with pytest.raises(ValidationError):
            store.save_scenario(name, payload, by)
    with pytest.raises(ValidationError):
        store.load_scenario(1.5)
    assert store.list_scenarios().empty


def test_scenarios_outlive_the_store_that_saved_them(store, tmp_path, request):
    """A page reload opens the store again (or another server process does): saved scenarios are there."""
    saved = store.save_scenario("持久方案", EDITS, "张规划")
    if isinstance(store, SQLiteStore):
        other = SQLiteStore(store.path)
    else:
        from services.store.postgis import PostGISStore

        other = PostGISStore(request.getfixturevalue("postgis_url"), schema=store.schema, max_size=1)
    try:
        assert other.load_scenario("持久方案") == saved
    finally:
        other.close()


# ------------------------------------------------------------------------------------------- appeals
def test_insert_is_idempotent(store):
    res = store.insert_appeals(hand_frame())
    assert (res.stored, res.duplicates) == (6, 0) and len(res.ids) == 6
    assert store.event_count() == 6                     # one report event each
    again = store.insert_appeals(hand_frame())
    assert (again.stored, again.duplicates, again.ids) == (0, 6, [])
    assert store.event_count() == 6
    mixed = pd.concat([hand_frame().iloc[:2], pd.DataFrame([row("a7", G1, at(9)), row("a7", G1, at(9))])])
    res = store.insert_appeals(mixed)
    assert (res.stored, res.duplicates) == (1, 3)
    assert len(store.query_appeals()) == 7 and store.event_count() == 7
    assert store.get_appeal(res.ids[0])["external_id"] == "a7"


def test_insert_computes_tier_class_and_deadlines(store):
    ids = store.insert_appeals(hand_frame()).ids
    a3, a4, a5 = (store.get_appeal(i) for i in (ids[2], ids[3], ids[4]))
    assert (a3["tier"], a3["appeal_class"], a3["status"], a3["handling_level"]) == \
        ("yellow", "major", "reported", "community")
    # Major on Thu 9 Oct: Fri 10, Sat 11 (adjusted workday), Mon 13.
    assert (a3["next_deadline_kind"], a3["next_deadline_at"]) == ("resolve", datetime(2025, 10, 13, 23, 59, 59,
                                                                                      tzinfo=TZ))
    assert (a4["tier"], a4["appeal_class"], a4["next_deadline_kind"], a4["next_deadline_at"]) == \
        ("red", "class1", "respond", at(11, 10))
    assert a5["next_deadline_at"] == datetime(2025, 10, 8, 23, 59, 59, tzinfo=TZ)
    assert a5["reported_at"] == at(10, day=DAY - timedelta(days=1))
    assert a5["reported_at"].tzinfo is not None and a5["gathering_id"] is None
    ev = store.events(ids[0])
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert ev[["actor", "action", "from_status", "to_status", "note"]].values.tolist() == \
        [["intake", "report", None, "reported", "12345热线转办"]]  # the channel's note (services.vocabulary)
    with pytest.raises(NotFound):
        store.get_appeal(999_999)


def test_insert_with_events_rekeys_them(store):
    f = hand_frame().iloc[:2].assign(id=[101, 102], status=["accepted", "reported"],
                                     accepted_at=[at(8, 10), None])
    events = pd.DataFrame({"appeal_id": [101, 101, 102, 555], "at": [at(8), at(8, 10), at(9), at(9)],
                           "actor": ["市民", "值班员", "市民", "x"], "action": ["report", "accept", "report", "report"],
                           "from_status": [None, "reported", None, None],
                           "to_status": ["reported", "accepted", "reported", "reported"],
                           "note": ["", "", "", ""]})
    res = store.insert_appeals(f, events)
    assert res.stored == 2 and store.event_count() == 3       # the event of unknown frame id 555 is dropped
    assert store.events(res.ids[0])["action"].tolist() == ["report", "accept"]
    assert store.get_appeal(res.ids[0])["status"] == "accepted"


def test_a_failed_bulk_insert_stores_nothing(store):
    f = hand_frame()
    events = pd.DataFrame({"appeal_id": [1, 2], "at": [at(8), at(9)], "actor": ["x", "x"],
                           "action": ["report", None], "from_status": [None, None],
                           "to_status": ["reported", "reported"], "note": ["", ""]})
    with pytest.raises(Exception):  # noqa: B017 - a NOT NULL violation, typed differently per driver
        store.insert_appeals(f, events)
    assert store.query_appeals().empty and store.event_count() == 0
    with pytest.raises(ValidationError):
        store.insert_appeals(f.assign(status="lost"))


def test_every_action_is_persisted_with_its_event(store):
    store.load_departments(DEPARTMENTS)
    aid = store.insert_appeals(hand_frame().iloc[:1]).ids[0]
    steps = [("respond", {}, "reported"), ("accept", {}, "accepted"), ("escalate", {"level": "subdistrict"}, "accepted"),
             ("dispatch", {"target": "justice"}, "dispatched"), ("update_facts", {"people_involved": 12}, "dispatched"),
             ("resolve", {"settlement": "direct"}, "resolved"), ("confirm", {}, "confirmed"), ("feedback", {}, "feedback"),
             ("return_visit", {"satisfaction": "not_satisfied"}, "reopened"),
             ("resolve", {"settlement": "administrative_mediation", "mediator": "区人力资源局调解员"}, "resolved"),
             ("confirm", {}, "confirmed"), ("feedback", {}, "feedback"),
             ("return_visit", {"satisfaction": "satisfied"}, "closed")]
    for i, (action, params, status) in enumerate(steps):
        out = store.act(aid, action, "值班员", at=at(8, 5 + i * 5), note=f"step {i}", **params)
        assert out["status"] == status, action
        assert out == store.get_appeal(aid)
    a = store.get_appeal(aid)
    assert (a["handling_level"], a["tier"], a["appeal_class"], a["people_involved"]) == \
        ("subdistrict", "yellow", "major", 12)
    assert (a["reopened_count"], a["satisfaction"], a["dispatched_to"]) == (1, "satisfied", "justice")
    assert a["responded_at"] == at(8, 5) and a["closed_at"] == at(9, 5)
    assert a["next_deadline_at"] is None and a["next_deadline_kind"] is None
    ev = store.events(aid)
    assert ev["action"].tolist() == ["report"] + [s[0] for s in steps]
    assert ev["to_status"].tolist()[1:] == [s[2] for s in steps]
    assert ev["from_status"].tolist()[2:] == [s[2] for s in steps][:-1]
    assert ev["actor"].tolist()[1:] == ["值班员"] * len(steps)
    assert ev["note"].iloc[3] == "community→subdistrict; appeal_class ordinary→major; step 2"
    assert ev["at"].is_monotonic_increasing and ev["at"].iloc[-1] == at(9, 5)


def test_an_illegal_action_changes_nothing(store):
    ids = build_hand_district(store)
    for aid, action, params in [(ids["a2"], "resolve", {}), (ids["a1"], "update_facts", {"people_involved": 5}),
                                (ids["a4"], "confirm", {}), (ids["a3"], "return_visit", {"satisfaction": "satisfied"})]:
        before = snapshot(store, aid)
        with pytest.raises(IllegalTransition) as exc:
            store.act(aid, action, "值班员", at=NOON, **params)
        assert "allowed next" in str(exc.value)
        after = snapshot(store, aid)
        assert before[0] == after[0]
        pd.testing.assert_frame_equal(before[1], after[1])
        pd.testing.assert_frame_equal(before[2], after[2])
    with pytest.raises(IllegalTransition, match="cannot resolve an appeal that is 'reported'"):
        store.act(ids["a2"], "resolve", "值班员", at=NOON)
    before = snapshot(store, ids["a2"])
    with pytest.raises(ValidationError):       # a bad parameter is refused before anything is written
        store.act(ids["a2"], "escalate", "值班员", at=NOON, level="province")
    assert snapshot(store, ids["a2"])[0] == before[0]
    with pytest.raises(NotFound):
        store.act(999_999, "accept", "值班员")


def test_bad_facts_unknown_units_and_blank_actors_change_nothing(store):
    """Issue 11 §4: each is a domain error (with a message key) and leaves the appeal, its events and the
    orders as they were, on both stores."""
    ids = build_hand_district(store)
    store.act(ids["a2"], "accept", "值班员", at=at(11))       # a2 (C1, G1) may now be dispatched
    cases = [
        (ids["a2"], "update_facts", "值班员", {"amount_involved": float("nan")}, "error.fact_not_finite"),
        (ids["a2"], "update_facts", "值班员", {"people_involved": "abc"}, "error.fact_not_a_number"),
        (ids["a2"], "update_facts", "值班员", {"urgency": "x"}, "error.fact_not_a_number"),
        (ids["a2"], "update_facts", "值班员", {"amount_involved": "abc"}, "error.fact_not_a_number"),
        (ids["a2"], "update_facts", "值班员", {"people_involved": 1.5}, "error.people_out_of_range"),
        (ids["a2"], "update_facts", "值班员", {"people_involved": float("inf")}, "error.fact_not_finite"),
        (ids["a2"], "update_facts", "值班员", {"people_involved": 100_001}, "error.people_out_of_range"),
        (ids["a2"], "update_facts", "值班员", {"amount_involved": 2e11}, "error.amount_out_of_range"),
        (ids["a2"], "update_facts", "值班员", {"people_involved": 40, "urgency": 7}, "error.urgency_range"),
        (ids["a2"], "dispatch", "值班员", {"target": "nowhere"}, "error.unknown_dispatch_unit"),
        (ids["a2"], "dispatch", "值班员", {"target": C2}, "error.unknown_dispatch_unit"),   # not a2's community
        (ids["a2"], "dispatch", "值班员", {"target": "housing"}, "error.unknown_dispatch_unit"),  # not loaded
        (ids["a2"], "dispatch", None, {"target": C1}, "error.actor_required"),
        (ids["a2"], "dispatch", "", {"target": "police"}, "error.actor_required"),
        (ids["a2"], "update_facts", "  ", {"people_involved": 3}, "error.actor_required"),
        (ids["a4"], "accept", None, {}, "error.actor_required"),
        (ids["a6"], "accept", "\t", {}, "error.actor_required"),
    ]
    for aid, action, actor, params, key in cases:
        before = snapshot(store, aid)
        with pytest.raises(ValidationError) as exc:
            store.act(aid, action, actor, at=NOON, **params)
        assert exc.value.key == key, (action, actor, params)
        after = snapshot(store, aid)
        assert before[0] == after[0], (action, actor, params)
        pd.testing.assert_frame_equal(before[1], after[1])
        pd.testing.assert_frame_equal(before[2], after[2])
    for deps, actor in ((["police"], ""), (["police"], None)):
        before = snapshot(store, ids["a2"])
        with pytest.raises(ValidationError, match="needs an actor"):
            store.issue_order(ids["a2"], deps, actor, at=NOON)
        assert snapshot(store, ids["a2"])[0] == before[0]
        pd.testing.assert_frame_equal(before[2], store.orders())
    # What is real still goes through: a2's own community, then a loaded department.
    assert store.act(ids["a2"], "dispatch", "值班员", at=NOON, target=C1)["dispatched_to"] == C1
    out = store.act(ids["a2"], "dispatch", "值班员", at=NOON + timedelta(minutes=1), target="justice")
    assert (out["status"], out["dispatched_to"]) == ("dispatched", "justice")
    out = store.act(ids["a2"], "update_facts", "值班员", at=NOON + timedelta(minutes=2), people_involved=100_000,
                    amount_involved=1e11, urgency="3")
    assert (out["people_involved"], out["amount_involved"], out["urgency"], out["tier"]) == (100_000, 1e11, 3, "red")
    assert store.events(ids["a2"])["action"].tolist() == ["report", "accept", "dispatch", "dispatch", "update_facts"]


def test_a_failure_mid_action_rolls_everything_back(store, monkeypatch):
    ids = build_hand_district(store)
    aid = ids["a2"]
    before = snapshot(store, aid)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_insert_events", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        store.act(aid, "accept", "值班员", at=NOON)
    with pytest.raises(RuntimeError):
        store.act(ids["a3"], "update_facts", "值班员", at=NOON, people_involved=40)
    with pytest.raises(RuntimeError):
        store.issue_order(ids["a3"], ["justice"], "社区党委", at=NOON)
    monkeypatch.undo()
    after = snapshot(store, aid)
    assert before[0] == after[0]
    pd.testing.assert_frame_equal(before[1], after[1])
    pd.testing.assert_frame_equal(before[2], after[2])        # no order row left behind
    assert store.get_appeal(ids["a3"])["people_involved"] == 12
    # The store still works afterwards.
    assert store.act(aid, "accept", "值班员", at=NOON)["status"] == "accepted"


def test_events_are_append_only(store):
    aid = store.insert_appeals(hand_frame().iloc[:1]).ids[0]
    for statement in ("UPDATE appeal_event SET note = 'edited'", "DELETE FROM appeal_event"):
        with pytest.raises(Exception, match="append-only"), store._tx() as cx:  # noqa: B017
            cx.execute(statement)
    assert store.events(aid)["note"].tolist() == ["12345热线转办"]


def test_query_appeals_filters_in_sql(store):
    ids = build_hand_district(store)
    q = store.query_appeals()
    assert q["id"].tolist() == [ids[k] for k in ("a6", "a4", "a3", "a2", "a1", "a5")]   # newest first
    assert not set(PERSONAL_COLUMNS) & set(q.columns)
    assert set(store.query_appeals(include_personal=True).columns) == set(APPEAL_COLUMNS)
    assert store.query_appeals(order="tier")["id"].tolist()[:2] == [ids["a6"], ids["a4"]]
    assert store.query_appeals(order="oldest", limit=2)["id"].tolist() == [ids["a5"], ids["a1"]]
    assert set(store.query_appeals(statuses=["reported"])["id"]) == {ids[k] for k in ("a2", "a4", "a5", "a6")}
    assert set(store.query_appeals(tiers=["red"], categories=["wage_arrears"])["id"]) == {ids["a4"]}
    assert set(store.query_appeals(area=("community", C1))["id"]) == {ids[k] for k in ("a1", "a2", "a3")}
    assert set(store.query_appeals(area=("subdistrict", S2), since=DAY)["id"]) == {ids["a6"]}
    assert set(store.query_appeals(until=DAY)["id"]) == {ids["a5"]}
    assert str(store.query_appeals()["reported_at"].dt.tz) == "Asia/Shanghai"
    with pytest.raises(ValidationError):
        store.query_appeals(area=("province", "44"))


# ------------------------------------------------------------------------------------------- aggregates
def test_counts_by_area_tier_and_status(store):
    build_hand_district(store)
    sub = store.counts("subdistrict")
    assert sub.values.tolist() == [
        [S1, "blue", "closed", 1], [S1, "blue", "reported", 1], [S1, "red", "reported", 1],
        [S1, "yellow", "dispatched", 1], [S2, "blue", "reported", 1], [S2, "red", "reported", 1]]
    grid = store.counts("grid")
    assert grid.groupby("code")["n"].sum().to_dict() == {G1: 2, G2: 1, G3: 1, G4: 2}
    com = store.counts("community", open_only=True)
    assert com.groupby("code")["n"].sum().to_dict() == {C1: 2, C2: 1, C3: 2}
    window = store.counts("subdistrict", since=DAY, until=DAY + timedelta(days=1))
    assert window.groupby("code")["n"].sum().to_dict() == {S1: 4, S2: 1}     # a5 was the day before
    # An appeal not (yet) placed in any area counts under a missing code, listed last in both stores.
    store.insert_appeals(pd.DataFrame([row("a9", G1, at(9), subdistrict_code=None, community_code=None,
                                           grid_code=None)]))
    last = store.counts("grid").iloc[-1]
    assert pd.isna(last.code) and (last.tier, last.status, last.n) == ("blue", "reported", 1)


def test_overdue_list(store):
    ids = build_hand_district(store)
    od = store.overdue(NOON)
    assert od["id"].tolist() == [ids["a5"], ids["a4"]]                       # most overdue first
    assert od["next_deadline_kind"].tolist() == ["resolve", "respond"]
    assert od["minutes_overdue"].tolist() == pytest.approx([720 + 1 / 60, 50.0])
    assert od["next_deadline_at"].tolist() == [datetime(2025, 10, 8, 23, 59, 59, tzinfo=TZ), at(11, 10)]
    assert store.overdue(NOON, limit=1)["id"].tolist() == [ids["a5"]]
    # At 12:30 a6's acceptance (due 12:20) is late too.
    assert store.overdue(at(12, 30))["id"].tolist() == [ids["a5"], ids["a4"], ids["a6"]]


def test_kpis(store):
    build_hand_district(store)
    k = store.kpis(DAY, DAY + timedelta(days=1))
    assert {key: k[key] for key in ("received", "accepted", "resolved", "resolved_on_time", "closed", "reopened",
                                    "satisfied", "rated", "class1_total", "class1_responded_on_time",
                                    "class1_accepted_on_time", "overdue_open")} == {
        "received": 5, "accepted": 2, "resolved": 1, "resolved_on_time": 1, "closed": 1, "reopened": 0,
        "satisfied": 1, "rated": 1, "class1_total": 2, "class1_responded_on_time": 1,
        "class1_accepted_on_time": 0,
        # at midnight: a2 (due 23:59:59), a4 (respond), a5 (yesterday) and a6 (accept) are overdue
        "overdue_open": 4}
    assert k["resolution_rate"] == 0.5 and k["on_time_rate"] == 1.0 and k["satisfaction_rate"] == 1.0
    empty = store.kpis(DAY + timedelta(days=5), DAY + timedelta(days=6))
    assert empty["received"] == 0 and empty["resolution_rate"] is None



def test_kpis_and_overdue_of_one_area(store):
    """The wall's view of one subdistrict: S1 holds a1-a4, S2 holds a5 (yesterday) and a6."""
    ids = build_hand_district(store)
    day = (DAY, DAY + timedelta(days=1))
    s1 = store.kpis(*day, area=("subdistrict", S1))
    s2 = store.kpis(*day, area=("subdistrict", S2))
    assert (s1["received"], s1["accepted"], s1["resolved"], s1["class1_total"], s1["overdue_open"]) == (4, 2, 1, 1, 2)
    assert (s2["received"], s2["accepted"], s2["class1_total"], s2["class1_responded_on_time"],
            s2["overdue_open"]) == (1, 0, 1, 1, 2)
    assert s2["resolution_rate"] is None
    assert store.kpis(*day, area=("grid", G2))["received"] == 1
    assert store.overdue(NOON, area=("subdistrict", S2))["id"].tolist() == [ids["a5"]]
    assert store.overdue(NOON, area=("community", C2))["id"].tolist() == [ids["a4"]]
    assert store.overdue(NOON, area=("community", C1)).empty
    with pytest.raises(ValidationError, match="unknown level"):
        store.kpis(*day, area=("street", S1))


def test_department_stats_of_one_area(store):
    build_hand_district(store)
    day = (DAY, DAY + timedelta(days=1))
    whole = store.department_stats(*day)
    pd.testing.assert_frame_equal(store.department_stats(*day, area=("community", C1)), whole)
    assert store.department_stats(*day, area=("subdistrict", S2)).empty
    g2 = store.department_stats(*day, area=("grid", G2)).set_index("code")     # a3's order only
    assert g2["orders"].to_dict() == {"hr_social": 1, "police": 1}
    assert g2.loc["police", "timely_check_in_rate"] == 0.0
    assert (g2.loc["police", "timely_check_ins"], g2.loc["police", "due_check_ins"]) == (0, 1)

# ------------------------------------------------------------------------------------------- orders
def test_orders_follow_the_rules_and_close_when_all_report(store):
    ids = build_hand_district(store)
    o = store.orders(appeal_id=ids["a3"])
    assert o["department_code"].tolist() == ["hr_social", "police"]
    first = o.iloc[0]
    # wage arrears, yellow: 45 minutes, division chief (处级), 4 people, 48 hours (yellow default).
    assert (first.arrival_minutes, first.leader_level, first.people_required, first.resolution_hours) == \
        (45, "division_chief", 4, 48)
    assert first.arrive_by == at(10, 45) and first.resolve_by == at(10, day=DAY + timedelta(days=2))
    assert first.status == "open" and first.community_code == C1 and first.tier == "yellow"
    a3 = store.get_appeal(ids["a3"])
    assert (a3["status"], a3["dispatched_at"], a3["dispatched_to"]) == ("dispatched", at(10), "hr_social,police")
    assert store.events(ids["a3"])["action"].tolist() == \
        ["report", "accept", "order", "order_check_in", "order_check_in", "order_outcome"]
    order_id = int(first.order_id)
    with pytest.raises(ValidationError, match="already checked in"):
        store.check_in(order_id, "police", at=at(12))
    with pytest.raises(ValidationError, match="already reported"):
        store.report_outcome(order_id, "hr_social", "resolved", at=at(17))
    with pytest.raises(ValidationError, match="outcome"):
        store.report_outcome(order_id, "police", "done", at=at(17))
    with pytest.raises(NotFound):
        store.check_in(order_id, "justice", at=at(12))
    done = store.report_outcome(order_id, "police", "partly_resolved", at=at(18))
    assert done["status"] == "closed" and done["closed_at"] == at(18)
    assert [d["outcome"] for d in done["departments"]] == ["resolved", "partly_resolved"]
    assert store.orders(open_only=True).empty
    closed_a1 = store.orders(appeal_id=ids["a1"])
    assert closed_a1["status"].tolist() == ["closed"] and closed_a1["closed_at"].tolist() == [at(9, 30)]


def test_a_check_in_keeps_who_came_and_their_level(store):
    """People on site and the leader's level (a code, or its Chinese label) are kept with the check-in;
    fewer than one person or an unknown level is refused and nothing changes; the note follows the outcome."""
    ids = build_hand_district(store)
    store.act(ids["a2"], "accept", "值班员", at=at(11, 50))
    order_id = int(store.issue_order(ids["a2"], ["justice", "police"], issued_by="dispatcher", at=at(12))["id"])
    with pytest.raises(ValidationError):
        store.check_in(order_id, "justice", at=at(12, 20), people=0)
    with pytest.raises(ValidationError):
        store.check_in(order_id, "justice", at=at(12, 20), leader_level="组长")
    assert all(d["checked_in_at"] is None for d in store.order(order_id)["departments"])
    store.check_in(order_id, "justice", at=at(12, 20), people=3, leader_level="处级")
    got = store.check_in(order_id, "police", at=at(12, 30))
    deps = {d["department_code"]: d for d in got["departments"]}
    assert (deps["justice"]["people_on_site"], deps["justice"]["leader_level_on_site"]) == (3, "division_chief")
    assert (deps["police"]["people_on_site"], deps["police"]["leader_level_on_site"]) == (None, None)
    rows = store.orders(appeal_id=ids["a2"]).set_index("department_code")
    assert rows.loc["justice", "people_on_site"] == 3 and rows.loc["justice", "leader_level_on_site"] == "division_chief"
    store.report_outcome(order_id, "justice", "resolved", at=at(13), note="当场调解")
    assert store.events(ids["a2"])["note"].iloc[-1].endswith("当场调解")


@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_who_came_gets_the_check_in_columns(kind, tmp_path, monkeypatch, request):
    """A store made before check-ins kept who came migrates on open: its orders and check-ins are intact
    (with no people or level), and a new check-in keeps both."""
    module, make = _reopener(kind, tmp_path / "came.sqlite3", request)

    def fill(old):  # an order checked in as the code before wrote it (its reads know the new columns)
        old.load_departments(DEPARTMENTS)
        ids = old.insert_appeals(hand_frame()).ids
        with old._tx() as cx:
            oid = old._insert_order(cx, {
                "appeal_id": ids[2], "community_code": C1, "issued_by": "d", "issued_at": at(10), "category":
                "wage_arrears", "tier": "yellow", "arrival_minutes": 45, "arrive_by": at(10, 45),
                "leader_level": "division_chief", "people_required": 4, "resolution_hours": 48,
                "resolve_by": at(10, day=DAY + timedelta(days=2)), "status": "open", "closed_at": None,
                "note": ""}, ["police"])
            old._update_order_department(cx, oid, "police", {"checked_in_at": at(11)})
        return ids, oid

    previous, (ids, old_order) = _made_before(module, make, monkeypatch, "ADD COLUMN people_on_site", fill)
    store = make()
    try:
        assert store.schema_version() == _latest(store) > previous  # later migrations run too
        kept = store.order(old_order)["departments"]
        assert [(d["checked_in_at"], d["people_on_site"], d["leader_level_on_site"]) for d in kept] == \
            [(at(11), None, None)]
        store.act(ids[1], "accept", "值班员", at=at(11, 50))
        order_id = int(store.issue_order(ids[1], ["justice"], issued_by="d", at=at(12))["id"])
        got = store.check_in(order_id, "justice", at=at(12, 10), people=2, leader_level="section_chief")
        assert (got["departments"][0]["people_on_site"], got["departments"][0]["leader_level_on_site"]) == \
            (2, "section_chief")
    finally:
        store.drop_schema() if kind == "postgis" else store.close()


def test_orders_refused_without_changing_anything(store):
    ids = build_hand_district(store)
    before = snapshot(store, ids["a2"])
    with pytest.raises(IllegalTransition, match="cannot order an appeal that is 'reported'"):
        store.issue_order(ids["a2"], ["police"], "社区党委", at=NOON)
    with pytest.raises(ValidationError, match="unknown department"):
        store.issue_order(ids["a3"], ["fire_brigade"], "社区党委", at=NOON)
    with pytest.raises(IllegalTransition):
        store.issue_order(ids["a1"], ["police"], "社区党委", at=NOON)       # closed
    after = snapshot(store, ids["a2"])
    assert before[0] == after[0]
    pd.testing.assert_frame_equal(before[2], after[2])
    with pytest.raises(ValidationError, match="must check in"):
        o = store.issue_order(ids["a3"], ["justice"], "社区党委", at=NOON)
        store.report_outcome(o["id"], "justice", "resolved", at=at(13))


def test_department_stats(store):
    build_hand_district(store)
    st = store.department_stats(DAY, DAY + timedelta(days=1)).set_index("code")
    assert st.index.tolist() == ["hr_social", "police"]
    hr, police = st.loc["hr_social"], st.loc["police"]
    assert (hr["name"], hr.orders, hr.checked_in, hr.timely_check_ins, hr.resolved_within_limit) == \
        ("区人力资源局", 1, 1, 1, 1)
    assert hr.timely_check_in_rate == 1.0 and hr.avg_arrival_minutes == pytest.approx(30)
    assert hr.resolved_within_limit_rate == 1.0
    assert (hr.due_check_ins, hr.due_outcomes) == (1, 1)
    # police: a1 on time (30 of 120 minutes), a3 late (60 of 45); a3's outcome is not yet due.
    assert (police.orders, police.checked_in, police.timely_check_ins, police.resolved_within_limit) == (2, 2, 1, 1)
    assert police.timely_check_in_rate == 0.5 and police.avg_arrival_minutes == pytest.approx(45)
    assert police.resolved_within_limit_rate == 1.0
    # Both check-ins are due (both checked in); of the outcomes only a1's (reported), a3's limit is 2 days on.
    assert (police.due_check_ins, police.due_outcomes) == (2, 1)
    # Three days later a3's 48-hour limit has passed without police resolving: 1 of 2.
    later = store.department_stats(DAY, DAY + timedelta(days=3)).set_index("code")
    assert later.loc["police", "resolved_within_limit_rate"] == 0.5
    assert (later.loc["police", "resolved_within_limit"], later.loc["police", "due_outcomes"]) == (1, 2)
    assert store.department_stats(DAY + timedelta(days=1), DAY + timedelta(days=2)).empty


def test_department_stats_of_an_order_nobody_answered_yet(store):
    """An order with no check-in and no outcome: zero counts (not NULL), and no rate while nothing is due."""
    ids = build_hand_district(store)
    store.issue_order(ids["a3"], ["justice"], "社区党委", at=NOON)
    st = store.department_stats(NOON, NOON + timedelta(minutes=5)).set_index("code")
    justice = st.loc["justice"]
    assert (justice.orders, justice.checked_in, justice.timely_check_ins, justice.resolved_within_limit) == \
        (1, 0, 0, 0)
    assert (justice.due_check_ins, justice.due_outcomes) == (0, 0)     # arrive_by and resolve_by still ahead
    assert pd.isna(justice.timely_check_in_rate) and pd.isna(justice.resolved_within_limit_rate)


# ------------------------------------------------------------------------------------------- gathering
def test_mark_gathering_raises_the_tier_once(store):
    ids = build_hand_district(store)
    marks = pd.DataFrame({"appeal_id": [ids["a2"], ids["a5"], ids["a1"]], "gathering_id": [ids["a2"]] * 3,
                          "gathering_tier": ["yellow"] * 3})
    assert store.mark_gathering(marks, actor="system", at=NOON) == 2      # a1 is closed: skipped
    a2 = store.get_appeal(ids["a2"])
    assert (a2["tier"], a2["appeal_class"], a2["gathering_id"], a2["gathering_tier"]) == \
        ("yellow", "major", ids["a2"], "yellow")
    assert store.events(ids["a2"])["action"].tolist() == ["report", "gathering"]
    assert store.mark_gathering(marks, at=NOON) == 0                      # already marked
    assert store.get_appeal(ids["a1"])["tier"] == "blue"


# ------------------------------------------------------------------------------------------- reference
def test_reference_data_and_quarantine(store):
    assert store.load_departments(DEPARTMENTS) == 3
    assert store.load_departments(DEPARTMENTS.assign(name="改名")) == 3
    deps = store.departments()
    assert deps["code"].tolist() == ["hr_social", "justice", "police"] and set(deps["name"]) == {"改名"}
    stations = pd.DataFrame({"code": ["ST-1", "ST-2"], "name": ["站一", "站二"], "level": ["site", "community"],
                             "site_type": ["construction", None], "offers_appeal": [True, True],
                             "offers_legal": [True, False], "offers_psychological": [False, True],
                             "parent_code": [C1, C2], "building_code": ["B1", None],
                             "lon": [113.93, 113.94], "lat": [22.76, 22.77]})
    assert store.load_points("station", stations) == 2
    got = store.points("station")
    assert got["code"].tolist() == ["ST-1", "ST-2"] and got["offers_legal"].tolist() == [True, False]
    assert got["lon"].tolist() == [113.93, 113.94]
    assert store.load_points("station", stations.iloc[:1]) == 1 and len(store.points("station")) == 1
    with pytest.raises(ValidationError):
        store.load_points("tower", stations)
    rows = pd.DataFrame({"source": ["csv", "csv"], "file": ["a.csv", "a.csv"], "line": [3, 4],
                         "raw": ["x,\\N,\"y\"", "bad"], "reason": ["no time", "no place"],
                         "reason_code": ["missing_time", "missing_place"],
                         "received_at": [at(8), at(9)]})
    assert store.quarantine(rows) == 2
    q = store.quarantined(source="csv")
    assert q["line"].tolist() == [4, 3] and q["raw"].tolist() == ["bad", "x,\\N,\"y\""]
    assert store.quarantined(source="other").empty
    assert q["resolved_at"].isna().all() and q["resolution"].isna().all() and q["resolved_by"].isna().all()


def test_quarantine_rows_are_settled_once_and_purged_after_settling(store):
    rows = pd.DataFrame({"source": ["csv"] * 4, "file": ["a.csv"] * 4, "line": [2, 3, 4, 5],
                         "raw": ["张三,13812345678", "李四,0755-12345678", "王五", "赵六"],
                         "reason": ["no time"] * 4, "reason_code": ["missing_time"] * 4,
                         "received_at": [at(8)] * 4})
    store.quarantine(rows)
    ids = dict(zip(store.quarantined()["line"], store.quarantined()["id"], strict=True))
    assert store.resolve_quarantine([ids[2], ids[3]], "fixed", "数据管理员", at=at(9)) == 2
    assert store.resolve_quarantine([ids[3], ids[4], 999_999], "dismissed", "值班员", at=at(10)) == 1  # 3 kept
    assert store.resolve_quarantine([], "fixed", "x") == 0
    q = store.quarantined().set_index("line")
    assert q.loc[2, "resolution"] == "fixed" and q.loc[3, "resolution"] == "fixed"
    assert q.loc[3, "resolved_by"] == "数据管理员" and q.loc[3, "resolved_at"] == at(9)
    assert q.loc[4, "resolution"] == "dismissed" and q.loc[4, "resolved_at"] == at(10)
    assert pd.isna(q.loc[5, "resolution"]) and pd.isna(q.loc[5, "resolved_at"])
    for bad in ({"resolution": "ignored", "actor": "x"}, {"resolution": "fixed", "actor": " "}):
        with pytest.raises(ValidationError):
            store.resolve_quarantine([ids[5]], bad["resolution"], bad["actor"])
    assert pd.isna(store.quarantined().set_index("line").loc[5, "resolution"])
    # Purge: rows settled strictly before the moment go; unsettled rows stay whatever their age.
    assert store.purge_quarantine(at(9)) == 0
    assert store.purge_quarantine(at(9, 1)) == 2
    assert sorted(store.quarantined()["line"]) == [4, 5]
    assert store.purge_quarantine(at(23)) == 1
    assert store.quarantined()["line"].tolist() == [5]
    assert store.purge_quarantine(at(0, day=DAY + timedelta(days=3650))) == 0


# ------------------------------------------------------------------------------------------- bulk loads
def test_plan_rebuild():
    from services.store.bulk import REBUILD_MIN_ROWS, plan_rebuild

    assert not plan_rebuild(None, 0)                                   # no estimate: keep every index
    assert not plan_rebuild(REBUILD_MIN_ROWS - 1, 0)                   # too small to be worth it
    assert plan_rebuild(REBUILD_MIN_ROWS, 0) and plan_rebuild(REBUILD_MIN_ROWS, REBUILD_MIN_ROWS)
    assert not plan_rebuild(REBUILD_MIN_ROWS, REBUILD_MIN_ROWS + 1)    # fewer than stored: maintain


def _all_indexes(store) -> dict[str, set[str]]:
    return {t: _indexes(store, t) for t in ("appeal", "appeal_event")}


@pytest.fixture(params=[False, True], ids=["keep-indexes", "rebuild-indexes"])
def rebuild(request, monkeypatch):
    """Both ways a bulk load runs: every index kept, or secondary indexes dropped and built again (forced
    on these few rows by lowering the threshold)."""
    from services.store import bulk

    monkeypatch.setattr(bulk, "REBUILD_MIN_ROWS", 1 if request.param else 10**9)
    return request.param


def test_a_bulk_load_stores_every_batch_once(store, rebuild):
    """a1/a2 stored before; batch 1 brings a2 again, a3, a4 and a3 twice; batch 2 a4 again, a5, a6."""
    f = hand_frame()
    before = store.insert_appeals(f.iloc[:2]).ids
    indexes = _all_indexes(store)
    with store.bulk_load(expected_rows=6) as load:
        assert load.rebuild is rebuild
        one = load.add(pd.concat([f.iloc[[1, 2, 3]], f.iloc[[2]]]), actor="intake:test")
        assert (one.stored, one.duplicates) == (2, 2)                 # a2 was stored; a3 came twice
        assert store.query_appeals()["id"].sort_values().tolist() == sorted(before)  # not committed yet
        two = load.add(f.iloc[3:], actor="intake:test")
        assert (two.stored, two.duplicates) == (2, 1)                 # a4 came in batch 1
    assert (load.stored, load.duplicates) == (4, 3)
    ids = one.ids + two.ids
    assert ids == sorted(ids) and min(ids) > max(before) and len(set(ids)) == 4
    stored = store.query_appeals(order="oldest")
    assert sorted(stored["external_id"]) == ["a1", "a2", "a3", "a4", "a5", "a6"]
    by_ext = dict(zip(stored["external_id"], stored["id"], strict=True))
    assert [by_ext[e] for e in ("a3", "a4", "a5", "a6")] == ids
    a4 = store.get_appeal(by_ext["a4"])
    assert (a4["tier"], a4["appeal_class"], a4["next_deadline_kind"]) == ("red", "class1", "respond")
    ev = store.events(by_ext["a6"])
    assert ev[["actor", "action", "to_status", "note"]].values.tolist() == \
        [["intake:test", "report", "reported", "12345热线转办"]]
    assert store.event_count() == 6 and _all_indexes(store) == indexes
    with pytest.raises(RuntimeError):
        load.add(f.iloc[:1])                                           # the load has ended
    again = store.insert_appeals(f)                                    # and everything is a duplicate now
    assert (again.stored, again.duplicates) == (0, 6)


def test_a_bulk_load_matches_insert_appeals(store, rebuild, tmp_path):
    """The same appeals loaded in batches or inserted at once give the same numbers."""
    f = hand_frame()
    other = sqlite_in(tmp_path / "other")
    try:
        other.insert_appeals(f)
        with store.bulk_load(expected_rows=len(f)) as load:
            for i in range(0, len(f), 4):
                load.add(f.iloc[i:i + 4])
        assert store.counts("grid").equals(other.counts("grid"))
        assert store.kpis(DAY, NOON) == other.kpis(DAY, NOON)
        cols = ["tier", "grid_code", "next_deadline_kind", "next_deadline_at", "minutes_overdue"]
        pd.testing.assert_frame_equal(store.overdue(NOON)[cols], other.overdue(NOON)[cols])
    finally:
        other.close()


def test_a_bulk_load_with_given_events_rekeys_them(store, rebuild):
    f = hand_frame().iloc[:2].assign(id=[101, 102], status=["accepted", "reported"],
                                     accepted_at=[at(8, 10), None])
    events = pd.DataFrame({"appeal_id": [101, 101, 102], "at": [at(8), at(8, 10), at(9)],
                           "actor": ["市民", "值班员", "市民"], "action": ["report", "accept", "report"],
                           "from_status": [None, "reported", None], "to_status": ["reported", "accepted", "reported"],
                           "note": ["", "", ""]})
    with store.bulk_load(expected_rows=2) as load:
        res = load.add(f, events)
    assert store.events(res.ids[0])["action"].tolist() == ["report", "accept"]
    assert store.events(res.ids[1])["actor"].tolist() == ["市民"] and store.event_count() == 3


def test_a_failed_bulk_load_stores_nothing_and_keeps_every_index(store, rebuild):
    f = hand_frame()
    before = store.insert_appeals(f.iloc[:1]).ids
    indexes = _all_indexes(store)
    with pytest.raises(RuntimeError, match="operator stopped"), store.bulk_load(expected_rows=6) as load:
        load.add(f.iloc[1:3])
        raise RuntimeError("operator stopped the import")
    bad = pd.DataFrame({"appeal_id": [4, 5], "at": [at(8), at(9)], "actor": ["x", "x"],
                        "action": ["report", None], "from_status": [None, None],     # NOT NULL violated
                        "to_status": ["reported", "reported"], "note": ["", ""]})
    with pytest.raises(Exception), store.bulk_load(expected_rows=6) as load:  # noqa: B017, PT012 - per driver
        load.add(f.iloc[1:3])
        load.add(f.iloc[3:5], bad)
    assert store.query_appeals()["id"].tolist() == before and store.event_count() == 1
    assert _all_indexes(store) == indexes
    with store.bulk_load(expected_rows=6) as load:                     # the same rows load afterwards
        assert load.add(f).stored == 5
    assert len(store.query_appeals()) == 6 and store.event_count() == 6


def test_a_bulk_load_quarantines_rows(store):
    rows = pd.DataFrame({"source": ["csv"], "file": ["a.csv"], "line": [3], "raw": ["x,,"],
                         "reason": ["no place"], "reason_code": ["missing_field"]})
    with store.bulk_load() as load:
        assert load.quarantine(rows) == 1
        load.add(hand_frame().iloc[:1])
    assert store.quarantined(source="csv")["raw"].tolist() == ["x,,"] and len(store.query_appeals()) == 1


@pytest.mark.postgis
def test_postgis_compares_intake_keys_byte_by_byte(pg_store):
    with pg_store._read() as cx:
        rows = cx.execute("SELECT column_name, collation_name FROM information_schema.columns WHERE "
                          "table_schema = current_schema() AND table_name = 'appeal' "
                          "AND column_name IN ('source', 'external_id') ORDER BY 1").fetchall()
    assert rows == [("external_id", "C"), ("source", "C")]


@pytest.mark.postgis
def test_postgis_repairs_indexes_a_dead_load_left_missing(pg_store):
    """A process that died between a rebuilding load's commit and its index builds leaves indexes
    missing: the next open of the store builds them again."""
    from services.store.postgis import PostGISStore

    pg_store.reset()
    indexes = _all_indexes(pg_store)
    with pg_store._pool.connection() as conn:
        conn.execute("DROP INDEX appeal_geom; DROP INDEX appeal_open_tier; "
                     "ALTER TABLE appeal_event DROP CONSTRAINT appeal_event_pkey")
    assert _all_indexes(pg_store) != indexes
    reopened = PostGISStore(pg_store.url, schema=pg_store.schema, max_size=2)
    try:
        assert _all_indexes(reopened) == indexes
        assert reopened.repair_indexes() == []
    finally:
        reopened.close()
    with pg_store._pool.connection() as conn:                   # a store that stays open: its next load
        conn.execute("DROP INDEX appeal_reported_at")
    with pg_store.bulk_load(expected_rows=None) as load:
        load.add(hand_frame().iloc[:1])
    assert _all_indexes(pg_store) == indexes


# ------------------------------------------------------------------------------------------- agreement
@pytest.mark.postgis
def test_both_stores_give_the_same_numbers_on_the_hand_district(pg_store, tmp_path):
    lite = sqlite_in(tmp_path)
    pg_store.reset()
    for s in (lite, pg_store):
        build_hand_district(s)
        s.insert_appeals(pd.DataFrame([row("a9", G1, at(9), grid_code=None, community_code=None)]))
    _assert_same(lite, pg_store, DAY, DAY + timedelta(days=1), NOON)
    lite.close()


@pytest.mark.postgis
def test_both_stores_give_the_same_numbers_on_the_sample_history(pg_store, tmp_path):
    from data.sample import load_appeal_history, manifest

    appeals, events = load_appeal_history()
    as_of = datetime.fromisoformat(manifest()["as_of"])
    lite = sqlite_in(tmp_path)
    pg_store.reset()
    for s in (lite, pg_store):
        res = s.insert_appeals(appeals, events)
        assert (res.stored, res.duplicates) == (len(appeals), 0)
        assert s.event_count() == len(events)
    for level in ("grid", "community", "subdistrict"):
        assert lite.counts(level)["n"].sum() == len(appeals)
    assert lite.counts("subdistrict")["n"].groupby(lite.counts("subdistrict")["status"]).sum().to_dict() == \
        appeals["status"].value_counts().to_dict()
    _assert_same(lite, pg_store, as_of - timedelta(days=365), as_of, as_of)
    month = as_of - timedelta(days=30)
    _assert_same(lite, pg_store, month, as_of, month)
    pd.testing.assert_frame_equal(lite.query_appeals(include_personal=True, order="oldest"),
                                  pg_store.query_appeals(include_personal=True, order="oldest"), check_dtype=False)
    lite.close()


def _assert_same(a, b, since: datetime, until: datetime, now: datetime) -> None:
    for level in ("grid", "community", "subdistrict"):
        for kw in ({}, {"open_only": True}, {"since": since, "until": until}):
            pd.testing.assert_frame_equal(a.counts(level, **kw), b.counts(level, **kw))
    pd.testing.assert_frame_equal(a.overdue(now), b.overdue(now), check_dtype=False)
    assert a.kpis(since, until) == b.kpis(since, until)
    pd.testing.assert_frame_equal(a.department_stats(since, until), b.department_stats(since, until))
    pd.testing.assert_frame_equal(a.orders(), b.orders(), check_dtype=False)


# ------------------------------------------------------------------------------------------- edges
def test_text_and_numbers_round_trip_exactly(store):
    texts = ["", None, "\\N", 'tab\there, newline\nthere, "quoted", comma', "诉求😀", "x" * 5000]
    f = pd.DataFrame([row(f"a{i + 1}", G1, at(8, i), description=d, amount_involved=a, lon=lon)
                      for i, (d, a, lon) in enumerate(zip(texts, [0.0, None, 1234.5, 1e9, 0.1, 3.0],
                                                          [113.9, 113.91, 113.123456789012, 113.8, 114.0, 113.95],
                                                          strict=True))])
    ids = store.insert_appeals(f).ids
    got = [store.get_appeal(i) for i in ids]
    assert [g["description"] for g in got] == texts
    assert [g["amount_involved"] for g in got] == [0.0, None, 1234.5, 1e9, 0.1, 3.0]
    assert got[2]["lon"] == 113.123456789012
    assert store.events(ids[0])["note"].tolist() == ["12345热线转办"]


def test_concurrent_actions_on_one_appeal_let_exactly_one_win(store):
    from concurrent.futures import ThreadPoolExecutor

    ids = store.insert_appeals(hand_frame()).ids

    def accept(aid: int) -> str:
        try:
            store.act(aid, "accept", "值班员", at=NOON)
            return "ok"
        except IllegalTransition:
            return "refused"

    with ThreadPoolExecutor(max_workers=4) as pool:
        same = list(pool.map(accept, [ids[1]] * 4))
        spread = list(pool.map(accept, ids[2:]))
    assert sorted(same) == ["ok", "refused", "refused", "refused"]
    assert spread == ["ok"] * 4
    assert store.events(ids[1])["action"].tolist() == ["report", "accept"]


@pytest.mark.postgis
def test_postgis_keeps_a_point_geometry_with_a_gist_index(pg_store):
    pg_store.reset()
    ids = pg_store.insert_appeals(hand_frame()).ids
    with pg_store._read() as conn:
        srid, x, y = conn.execute("SELECT ST_SRID(geom), ST_X(geom), ST_Y(geom) FROM appeal WHERE id = %s",
                                  (ids[0],)).fetchone()
        assert (srid, x, y) == (4326, pytest.approx(113.931), 22.76)
        assert conn.execute("SELECT GeometryType(geom) FROM appeal LIMIT 1").fetchone()[0] == "POINT"
        gist = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'appeal' AND schemaname = "
                            "current_schema() AND indexdef ILIKE '%%USING gist (geom)%%'").fetchall()
        assert len(gist) == 1
        # a6 lies 5 x 0.001 degrees (about 514 m) east of a1: within 600 m, not within 500 m.
        near = "SELECT COUNT(*) FROM appeal WHERE ST_DWithin(geom::geography, " \
               "ST_SetSRID(ST_MakePoint(113.931, 22.76), 4326)::geography, %s)"
        assert conn.execute(near, (600,)).fetchone()[0] == 6
        assert conn.execute(near, (500,)).fetchone()[0] == 5


def test_no_event_is_orphaned(store):
    build_hand_district(store)
    with store._read() as cx:
        orphans = cx.execute("SELECT COUNT(*) FROM appeal_event e LEFT JOIN appeal a ON a.id = e.appeal_id "
                             "WHERE a.id IS NULL").fetchone()[0]
    # a1: report, accept, order, check-in, outcome, resolve, confirm, feedback, return visit (9);
    # a3: report, accept, order, two check-ins, an outcome (6); a6: report, respond (2); a2, a4, a5: report.
    assert orphans == 0 and store.event_count() == 9 + 6 + 2 + 3


def test_query_appeals_returns_a_column_subset(store):
    build_hand_district(store)
    full = store.query_appeals(order="oldest")
    few = store.query_appeals(order="oldest", columns=("id", "tier", "lon", "lat", "reported_at"))
    assert list(few.columns) == ["id", "lon", "lat", "tier", "reported_at"]
    pd.testing.assert_frame_equal(few, full[list(few.columns)])
    with pytest.raises(ValidationError, match="reporter_phone"):
        store.query_appeals(columns=("id", "reporter_phone"))          # personal data must be asked for
    with pytest.raises(ValidationError):
        store.query_appeals(columns=("id; DROP TABLE appeal",))


@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_accounts_gets_the_account_and_audit_tables(kind, tmp_path, monkeypatch, request):
    """A store made before local accounts migrates on open: account, audit_log and audit_head appear in one
    migration, its appeals are intact, and an account and an audit row can be written."""
    module, make = _reopener(kind, tmp_path / "acc.sqlite3", request)
    def fill(old):
        assert "account" not in _tables(old)
        return old.insert_appeals(hand_frame()).ids

    previous, ids = _made_before(module, make, monkeypatch, "CREATE TABLE account", fill)
    assert _adding(module, "CREATE TABLE audit_log") == previous + 1 <= module.SCHEMA_VERSION
    store = make()
    try:
        assert store.schema_version() == _latest(store)
        assert {"account", "audit_log", "audit_head"} <= _tables(store)
        assert sorted(store.query_appeals()["id"].tolist()) == sorted(ids)
        assert store.account_count() == 0 and store.audit_head() is None
        store.insert_account("li", "leader", "$argon2id$x")
        assert store.append_audit("li", "sign_in")["id"] == 1 and store.audit_head()["row_count"] == 1
    finally:
        store.drop_schema() if kind == "postgis" else store.close()


@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_kiosks_gets_the_kiosk_and_identity_tables(kind, tmp_path, monkeypatch, request):
    """A store made before kiosk tokens (with an account and audit rows) migrates on open: kiosk_token and
    identity_role appear in one migration, what was there is intact, and both can be written."""
    module, make = _reopener(kind, tmp_path / "kiosk.sqlite3", request)
    def fill(old):
        assert "kiosk_token" not in _tables(old) and "identity_role" not in _tables(old)
        old.insert_account("li", "leader", "$argon2id$x")
        old.append_audit("li", "sign_in")
        return old.insert_appeals(hand_frame()).ids

    previous, ids = _made_before(module, make, monkeypatch, "CREATE TABLE kiosk_token", fill)
    assert _adding(module, "CREATE TABLE identity_role") == previous + 1 <= module.SCHEMA_VERSION
    store = make()
    try:
        assert store.schema_version() == _latest(store)
        assert {"kiosk_token", "identity_role"} <= _tables(store)
        assert sorted(store.query_appeals()["id"].tolist()) == sorted(ids)
        assert store.get_account("li")["role"] == "leader" and store.audit_head()["row_count"] == 1
        assert store.list_kiosk_tokens().empty and store.list_identity_roles().empty
        store.insert_kiosk_token("lobby", "0" * 64, created_by="li")
        assert store.find_kiosk_token("0" * 64)["screen"] == "lobby"
        assert store.insert_identity_role("oidc", "group", "g", "leader", created_by="li")["id"] == 1
    finally:
        store.drop_schema() if kind == "postgis" else store.close()


def test_reset_empties_the_kiosk_and_identity_tables(store):
    store.insert_kiosk_token("lobby", "0" * 64, created_by="admin")
    store.insert_identity_role("header", "user", "li", "leader", created_by="admin")
    store.reset()
    assert store.list_kiosk_tokens().empty and store.list_identity_roles().empty
    assert store.insert_kiosk_token("lobby", "1" * 64, created_by="admin")["id"] == 1   # ids start again


def test_audit_log_refuses_update_and_delete_in_the_database(store):
    store.append_audit("admin", "account_created", object_kind="account", object_id="li")
    with pytest.raises(Exception, match="append-only"), store._tx() as cx:
        cx.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(Exception, match="append-only"), store._tx() as cx:
        cx.execute("DELETE FROM audit_log")
    assert store.audit_rows()["actor"].tolist() == ["admin"]
    store.reset()                                   # the test reset still empties it
    assert store.audit_rows().empty and store.audit_head() is None


@pytest.mark.parametrize("kind", STORES)
def test_a_database_from_before_the_station_register_keeps_its_stations_open(kind, tmp_path, monkeypatch, request):
    """A store made before stations could be closed (SQLite 9, PostGIS 10 add the register's columns)
    migrates on open: its stations are there, open and unedited, and can then be closed."""
    module, make = _reopener(kind, tmp_path / "prev.sqlite3", request)
    adding = _adding(module, "ADD COLUMN close_reason")
    assert adding == (9 if kind == "sqlite" else 10)
    with monkeypatch.context() as m:
        m.setattr(module, "MIGRATIONS", {v: s for v, s in module.MIGRATIONS.items() if v < adding})
        old = make()
        try:
            p = old.P
            with old._tx() as cx:
                cx.execute(f"INSERT INTO station (code, name, level, offers_appeal, lon, lat) "
                           f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})", ("ST-1", "站一", "community", True, 113.93, 22.76))
                cx.execute(f"INSERT INTO department (code, name, name_en) VALUES ({p}, {p}, {p})",
                           ("police", "公安", "Police"))
        finally:
            old.close()
    store = make()
    try:
        assert store.schema_version() == _latest(store)
        assert store.points("station")["code"].tolist() == ["ST-1"]
        assert not store.reference_edited("station") and not store.reference_edited("department")
        assert store.station("ST-1")["closed_at"] is None and store.station("ST-1")["name_en"] is None
        store.update_station("ST-1", {"closed_at": NOON, "closed_by": "adm", "close_reason": "拆除"}, "adm")
        assert store.points("station").empty and store.station_register()["close_reason"].tolist() == ["拆除"]
        assert store.reference_edited("station")
    finally:
        store.close()


def test_the_reference_register(store):
    """Departments with their orders (police 2, hr_social 1, justice 0 in the hand district), added and
    renamed; stations added, closed (kept in the register, absent from points) and reopened."""
    build_hand_district(store)
    assert not store.reference_edited("department")
    reg = store.department_register()
    assert reg[["code", "orders"]].values.tolist() == [["hr_social", 1], ["justice", 0], ["police", 2]]
    store.add_department("water", "区水务局", None, "adm", at=NOON)
    with pytest.raises(ValidationError):
        store.add_department("police", "重名", None, "adm")
    store.rename_department("justice", "司法局", "Justice Bureau", "duty", at=NOON)
    with pytest.raises(NotFound):
        store.rename_department("nope", "无", None, "duty")
    reg = store.department_register().set_index("code")
    assert reg.loc["justice", ["name", "name_en", "edited_by"]].tolist() == ["司法局", "Justice Bureau", "duty"]
    assert reg.loc["justice", "edited_at"] == NOON and pd.isna(reg.loc["police", "edited_by"])
    assert store.reference_edited("department") and not store.reference_edited("station")

    row = {"code": "S1", "name": "站一", "name_en": "Station 1", "level": "site", "site_type": "school",
           "offers_appeal": True, "offers_legal": False, "offers_psychological": False, "parent_code": C1,
           "lon": 113.93, "lat": 22.76}
    store.add_station(row, "adm", at=NOON)
    store.update_station("S1", {"closed_at": NOON, "closed_by": "adm", "close_reason": "拆除"}, "adm")
    with pytest.raises(ValidationError):                  # a closed station keeps its code
        store.add_station(row, "adm")
    with pytest.raises(NotFound):
        store.update_station("S9", {"name": "无"}, "adm")
    assert store.points("station").empty and store.station_register()["code"].tolist() == ["S1"]
    got = store.station("S1")
    assert (got["closed_at"], got["close_reason"], got["offers_appeal"], got["name_en"]) == \
        (NOON, "拆除", True, "Station 1")
    store.update_station("S1", {"closed_at": None, "closed_by": None, "close_reason": None, "lon": 113.94}, "duty")
    assert store.points("station")[["code", "lon"]].values.tolist() == [["S1", 113.94]]
    assert store.station("S1")["edited_by"] == "duty" and store.reference_edited("station")
