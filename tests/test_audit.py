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
    read_out = store.audit_rows(object_kind="export")  # reading the log out is itself logged
    assert list(read_out["object_id"]) == ["audit.list"] and read_out["actor"].iloc[0].startswith("cli")
    assert '"rows":2' in read_out["detail"].iloc[0]
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


@pytest.mark.postgis
def test_the_app_runs_as_a_role_with_only_the_grants(pg_store, postgis_url):
    """The README's deployment: the owner migrates and runs ``grant``; the app then connects as a login
    role with only those rights. The store opens (no DDL once migrated), stores and acts on an appeal,
    loads a batch announced as large (no index rebuild: that is the owner's), appends to the audit log
    with its chain intact, and is refused changing or deleting a log row by the database."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import pandas as pd
    import psycopg

    from services.intake.appeals import build_appeals
    from services.store.postgis import PostGISStore

    pg_store.reset()
    role, password = f"gm_app_{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    with pg_store._tx() as cx:
        cx.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        cx.execute(f"GRANT {role} TO current_user")
    parts = urlsplit(postgis_url)
    url = urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port or 5432}"))
    app = None
    try:
        pg_store.grant_audit(role)
        app = PostGISStore(url, schema=pg_store.schema, max_size=2)
        assert app.schema_version() == pg_store.schema_version()
        frame = build_appeals(pd.DataFrame({
            "external_id": ["G-1", "G-2"], "channel": "hotline", "service_type": "dispute",
            "category": "neighbour", "lon": 113.935, "lat": 22.748, "source_crs": "wgs84", "people_involved": 1,
            "urgency": 1, "amount_involved": 0.0, "reported_at": pd.Timestamp(datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))}), "grants")
        ids = app.insert_appeals(frame.iloc[:1]).ids
        app.act(ids[0], "accept", "值班员", at=datetime(2026, 11, 2, 9, 5, tzinfo=ZoneInfo("Asia/Shanghai")))
        with app.bulk_load(50_000) as load:
            assert not load.rebuild
            load.add(frame.iloc[1:])
        assert app.appeal_id_by_key("grants", "G-2") is not None
        audit.record(app, "值班员", "appeal.accept", "appeal", str(ids[0]))
        audit.record(app, "值班员", "export", "appeals", None)
        assert audit.verify(app) == (True, None)
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                          "DROP TABLE appeal"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), app._tx() as cx:
                cx.execute(statement)
    finally:
        if app is not None:
            app.close()
        with pg_store._tx() as cx:
            cx.execute(f"DROP OWNED BY {role}")
            cx.execute(f"DROP ROLE {role}")
