"""The tamper-evident audit log (services/audit.py) on both stores: the chain verifies untouched, and
fails, naming the first bad row, after a row is edited, a middle row deleted, or the newest row deleted;
two writers never fork it; the CLI; and on PostGIS, the app's role with AUDIT_GRANTS cannot change it."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services import audit
from services.store.audit import GENESIS, row_hash
from services.store.postgis_schema import AUDIT_GRANTS
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _five(store) -> None:
    for i in range(5):
        audit.record(store, "zhang", "act", "appeal", 40 + i, {"n": i, "说明": "测试"}, "10.0.0.5",
                     T0 + timedelta(minutes=i))


def _tamper(store, sql: str, *params) -> None:
    """Run ``sql`` around the append-only trigger, as someone with the database file or the tables'
    owner could."""
    if isinstance(store, SQLiteStore):
        with store._tx() as cx:
            cx.execute("DROP TRIGGER audit_log_no_update")
            cx.execute("DROP TRIGGER audit_log_no_delete")
            cx.execute(sql.replace("%s", "?"), params)
    else:
        with store._tx() as cx:
            cx.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            cx.execute(sql, params)
            cx.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def test_rows_chain_and_an_untouched_log_verifies(store):
    assert audit.verify(store) == (True, None)                     # an empty log is fine
    _five(store)
    rows = store.audit_rows()
    assert rows["id"].tolist() == [1, 2, 3, 4, 5] and rows["prev_hash"].iloc[0] == GENESIS
    assert (rows["prev_hash"].iloc[1:].tolist() == rows["hash"].iloc[:-1].tolist())
    first = rows.iloc[0].to_dict()
    assert first["hash"] == row_hash(GENESIS, first) and first["detail"] == '{"n":0,"说明":"测试"}'
    assert first["at"] == T0 and first["address"] == "10.0.0.5" and first["object_id"] == "40"
    assert audit.verify(store) == (True, None)
    assert store.audit_head() == {"last_id": 5, "row_count": 5, "hash": rows["hash"].iloc[-1]}


def test_many_rows_in_one_call_chain_on_and_a_bad_one_writes_none(store):
    audit.record(store, "zhang", "first")
    entries = [{"actor": "open311:hotline", "action": "open311.request", "object_kind": "appeal", "object_id": i,
                "detail": {"n": i}, "address": "127.0.0.1", "at": T0 + timedelta(seconds=i)} for i in range(3)]
    rows = audit.record_many(store, entries)
    assert [r["id"] for r in rows] == [2, 3, 4] and rows[0]["prev_hash"] == store.audit_rows()["hash"].iloc[0]
    assert [r["object_id"] for r in rows] == ["0", "1", "2"] and audit.verify(store) == (True, None)
    assert store.audit_head()["last_id"] == 4 and audit.record_many(store, []) == []
    with pytest.raises(ValueError):
        audit.record_many(store, [entries[0], {"actor": "", "action": "x"}])
    assert len(store.audit_rows()) == 4 and audit.verify(store) == (True, None)
    assert audit.record(store, "zhang", "after")["id"] == 5


def test_rows_filter_by_actor_object_and_period(store):
    _five(store)
    audit.record(store, "li", "sign_in", "account", "li", at=T0 + timedelta(hours=1))
    assert store.audit_rows(actor="li")["action"].tolist() == ["sign_in"]
    assert store.audit_rows(object_kind="appeal", object_id=42)["id"].tolist() == [3]
    assert store.audit_rows(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=30))["id"].tolist() == [4, 5]


def test_verify_names_an_edited_row(store):
    _five(store)
    _tamper(store, "UPDATE audit_log SET detail = %s WHERE id = 3", '{"n":99}')
    assert audit.verify(store) == (False, 3)
    assert "row 3 was changed" in audit.check(store).reason


def test_verify_names_the_row_after_a_deleted_middle_row(store):
    _five(store)
    _tamper(store, "DELETE FROM audit_log WHERE id = 2")
    assert audit.verify(store) == (False, 3)


def test_verify_sees_the_newest_row_deleted_through_the_head(store):
    _five(store)
    _tamper(store, "DELETE FROM audit_log WHERE id = 5")
    assert audit.verify(store) == (False, 5)
    assert "missing" in audit.check(store).reason


def test_two_writers_never_fork_the_chain(store):
    def write(who: str) -> None:
        for i in range(10):
            audit.record(store, who, "act", "appeal", i)

    threads = [threading.Thread(target=write, args=(w,)) for w in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert audit.verify(store) == (True, None) and store.audit_head()["row_count"] == 30


def test_cli_verify_and_list(store, capsys):
    url = store.url if isinstance(store, SQLiteStore) else f"{store.url}?schema={store.schema}"
    _five(store)
    assert audit.main(["--store", url, "verify"]) == 0
    assert "5 rows" in capsys.readouterr().out
    assert audit.main(["--store", url, "list", "--actor", "zhang", "--since", "2026-03-02T09:02",
                       "--until", "2026-03-02T09:04"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == ["3", "4"] and "10.0.0.5" in out[0]
    _tamper(store, "DELETE FROM audit_log WHERE id = 2")
    assert audit.main(["--store", url, "verify"]) == 1
    assert "row 3" in capsys.readouterr().err


@pytest.mark.postgis
def test_the_apps_role_with_the_grants_may_append_and_read_but_never_change(pg_store):
    """A throwaway role with only AUDIT_GRANTS (and USAGE on the schema) inserts and selects, and is
    refused UPDATE, DELETE and TRUNCATE by the database itself (not the trigger)."""
    pg_store.reset()
    audit.record(pg_store, "admin", "account_created", "account", "li")
    role = f"gm_app_{uuid.uuid4().hex[:8]}"
    with pg_store._tx() as cx:
        cx.execute(f"CREATE ROLE {role} NOLOGIN")
        cx.execute(f"GRANT {role} TO current_user")
        cx.execute(f"GRANT USAGE ON SCHEMA {pg_store.schema} TO {role}")
    try:
        pg_store.grant_audit(role)
        assert all("{role}" in s for s in AUDIT_GRANTS)
        with pg_store._tx() as cx:
            cx.execute(f"SET LOCAL ROLE {role}")
            assert cx.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
            cx.execute("SELECT last_id FROM audit_head").fetchone()
        import psycopg

        for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), pg_store._tx() as cx:
                cx.execute(f"SET LOCAL ROLE {role}")
                cx.execute(sql)
        assert audit.verify(pg_store) == (True, None)
    finally:
        with pg_store._tx() as cx:
            cx.execute(f"DROP OWNED BY {role}")
            cx.execute(f"DROP ROLE {role}")
