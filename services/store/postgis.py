"""The server store: PostgreSQL + PostGIS through psycopg 3 and a connection pool.

Points are kept as lon/lat and as a generated ``geometry(Point, 4326)`` column with a GIST index.
Bulk inserts use binary COPY built column-wise with numpy and Arrow (services/store/pgbinary.py, postgis_bulk.py),
streamed in chunks; appeal ids are drawn from the identity sequence beforehand, as one run, so events
(given, or the default ``report`` events) can be re-keyed and copied too. ``bulk_load`` (a whole file)
streams from a writer thread and, for large loads into a smaller table, builds the secondary indexes
once at the end (services/store/postgis_bulk.py). Writes are transactions on autocommit connections; an action locks
its appeal row (``FOR UPDATE``); writers of new appeals serialise on an advisory lock so concurrent
intakes of the same external ids count duplicates instead of failing. Events are append-only: a trigger refuses UPDATE
and DELETE on ``appeal_event``.

``appeal_event.appeal_id`` is not a foreign key (in either store): the per-row check locks every appeal
row the events point to, which WAL-logs a lock per event and cost more than half of a bulk load's
server time. The store writes events only for appeals it has just inserted or locked, in the same
transaction, and appeals are never deleted; the contract tests check that no event is orphaned.

``postgresql://…?schema=name`` (or ``schema=`` to the constructor) keeps every table in that schema,
created on open; tests use it to get a fresh, disposable schema.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from services.clocks import as_local, clock_rules
from services.errors import ValidationError
from services.store.base import APPEAL_COLUMNS, TIMESTAMP_COLUMNS
from services.store.bulk import SQLBulkLoad
from services.store.common import (
    QUARANTINE_COLUMNS,
    RESOLVED_SQL,
    kpi_dict,
    level_column,
    local_frame,
    lonlat_frame,
    now,
    point_columns,
    py,
)
from services.store.pgbinary import column
from services.store.postgis_bulk import (
    ANALYZE_AFTER_ROWS,
    INSERT_LOCK,
    SESSION_UNLOCK,
    TRY_SESSION_LOCK,
    PostGISBulkLoad,
    appeal_copies,
    copy_columns,
    stored_keys,
)
from services.store.postgis_schema import (
    APP_GRANTS,
    AUDIT_GRANTS,
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    VERSION_TABLE,
    create_missing_indexes,
)
from services.store.rows import Rows
from services.store.sqlstore import SQLStore

__all__ = ["SCHEMA_VERSION", "PostGISStore", "split_schema"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def split_schema(url: str) -> tuple[str, str | None]:
    """Remove a ``schema=`` query parameter from a PostgreSQL URL: (conninfo URL, schema or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


POINT_KINDS = {"offers_appeal": "bool", "offers_legal": "bool", "offers_psychological": "bool",
               "population": "int4", "lon": "float8", "lat": "float8"}



class PostGISStore(SQLStore):
    """Appeals, events, orders and reference data in PostgreSQL/PostGIS."""

    def __init__(self, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 8) -> None:
        conninfo, url_schema = split_schema(url)
        self.schema = schema or url_schema
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise ValidationError(f"bad schema name {self.schema!r} (lower-case letters, digits, _)")
        self.url = url
        self._analyzer: threading.Thread | None = None
        self._pool = ConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False,
                                    kwargs={"autocommit": True}, configure=self._configure)
        self._bootstrap(conninfo)
        self._pool.open(wait=True, timeout=30)
        self.migrate()

    def _bootstrap(self, conninfo: str) -> None:
        """Create the schema (before the pool's connections set their search_path to it)."""
        if self.schema is None:
            return
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # Only when missing: the app's own role may not create schemas (README "PostGIS grants").
            if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute("SET TIME ZONE 'UTC'")
        if self.schema is not None:
            conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.schema)))

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        if self._analyzer is not None:
            self._analyzer.join()
        self._pool.close()

    def analyze_later(self) -> None:
        """Refresh the planner's statistics of appeals in a background thread (after a large load: the
        wall's queries need them to choose the open-appeal index; autovacuum would do it within a
        minute or so). ``close`` waits for it."""
        if self._analyzer is not None and self._analyzer.is_alive():
            return  # one at a time: the running one sees the newest committed rows anyway

        def run() -> None:
            try:
                with self._pool.connection() as conn:
                    conn.execute("ANALYZE appeal")
            except Exception:  # noqa: BLE001 - statistics are an optimisation; autovacuum will redo them
                pass

        self._analyzer = threading.Thread(target=run, name="gm-analyze", daemon=True)
        self._analyzer.start()

    def repair_indexes(self) -> list[str]:
        """Build any index of the schema that is missing (a bulk load that died between its commit and
        its index builds leaves them so); returns their names. Runs on every open of the store and at
        the start of every bulk load; skipped while a load runs."""
        with self._pool.connection() as conn:
            if not conn.execute(TRY_SESSION_LOCK).fetchone()[0]:
                return []
            try:
                return create_missing_indexes(conn)
            finally:
                conn.execute(SESSION_UNLOCK)

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return bool(self._pool.closed)

    def drop_schema(self) -> None:
        """Drop this store's schema with everything in it (tests), then close."""
        if self.schema is None:
            raise ValidationError("drop_schema needs a store opened with a schema")
        with self._pool.connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        self.close()

    # -- schema --------------------------------------------------------------------------------------
    VERSION_TABLE = VERSION_TABLE

    def migrate(self) -> None:
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        self.schema_version()
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('gm_migrate:' || current_schema()))")
            current = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
            for version in sorted(v for v in MIGRATIONS if v > current):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
        self.repair_indexes()

    def grant_audit(self, role: str) -> None:
        """Give the database role ``role`` what the app needs in this store's schema (run as the tables'
        owner): APP_GRANTS (use the schema; read and write the data tables and their sequences; no DDL,
        no TRUNCATE), then AUDIT_GRANTS (audit_log: read and append only, never change or delete a row)."""
        schema = self.schema or self._current_schema()
        with self._tx() as conn:
            for statement in (*APP_GRANTS, *AUDIT_GRANTS):
                conn.execute(sql.SQL(statement).format(role=sql.Identifier(role), schema=sql.Identifier(schema)))

    def _current_schema(self) -> str:
        with self._read() as conn:
            return str(conn.execute("SELECT current_schema()").fetchone()[0])

    def reset(self) -> None:
        with self._tx() as conn:
            conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")

    # -- reference data ------------------------------------------------------------------------------
    def load_departments(self, departments: pd.DataFrame) -> int:
        rows = [(str(r.code), py(getattr(r, "name", None)), py(getattr(r, "name_en", None)))
                for r in departments.itertuples(index=False)]
        with self._tx() as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO department (code, name, name_en) VALUES (%s, %s, %s) ON CONFLICT (code) "
                            "DO UPDATE SET name = excluded.name, name_en = excluded.name_en", rows)
        return len(rows)

    def load_points(self, kind: str, frame: pd.DataFrame) -> int:
        cols = point_columns(kind)
        df = lonlat_frame(frame).reset_index(drop=True)
        data = [column(POINT_KINDS.get(c, "text"), df[c] if c in df else pd.Series([None] * len(df), dtype=object))
                for c in cols]
        with self._tx() as conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {kind}")
            if len(df):
                copy_columns(cur, kind, cols, data)
        return len(df)

    # -- dialect (services.store.dialect.SQLDialect) --------------------------------------------------
    P = "%s"

    def _param_ts(self, value: Any) -> Any:
        value = py(value)
        return None if value is None else as_local(value)

    def _any_of(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        return f"{column} = ANY(%s)", list(values)

    def _local_times(self, df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        return local_frame(df, columns)

    def _has_table(self, cx: Any, name: str) -> bool:
        return cx.execute("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
                          "AND tablename = %s)", (name,)).fetchone()[0]

    def _local_time(self, value: Any) -> datetime | None:
        return None if value is None else as_local(value)

    def _json_param(self) -> str:
        return "CAST(%s AS jsonb)"

    def _bytewise(self, expr: str) -> str:
        return f'{expr} COLLATE "C"'

    def _lock_clause(self, tables: str) -> str:
        return f" FOR UPDATE OF {tables}"

    def _audit_lock(self, cx: psycopg.Connection) -> None:
        # An advisory lock (needs no privilege on the tables): the app's role may not LOCK audit_log.
        cx.execute("SELECT pg_advisory_xact_lock(hashtext('gm_audit:' || current_schema()))")

    NAMED = "%({})s"
    COUNT_IF = "COUNT(*) FILTER (WHERE {})"
    AS_FLOAT = "{}::double precision"
    MINUTES = "EXTRACT(EPOCH FROM ({0} - {1}))::double precision / 60"
    MICROS = "(EXTRACT(EPOCH FROM ({0} - {1})) * 1000000)::bigint"
    # Time arithmetic of the analysis (services/store/analysis.py), on timestamptz in Asia/Shanghai.
    PLUS_MINUTES = "({0} + ({1}) * interval '1 minute')"
    DAY_END = ("((date_trunc('day', {0} AT TIME ZONE 'Asia/Shanghai') + interval '23:59:59') "
               "AT TIME ZONE 'Asia/Shanghai')")
    LOCAL_DAY = "to_char({0} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
    LOCAL_WEEK = "to_char(date_trunc('week', {0} AT TIME ZONE 'Asia/Shanghai'), 'YYYY-MM-DD')"
    DAY_START = "(date_trunc('day', {0} AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai')"

    def _summary_lock(self, cx: psycopg.Connection) -> None:
        # Two refreshes at once would each recount a day and both insert it: one at a time per schema.
        cx.execute("SELECT pg_advisory_xact_lock(hashtext('gm_analysis_summary:' || current_schema()))")

    def _fetch(self, cx: psycopg.Connection, sql: str, params: Sequence[Any] | dict[str, Any],
               binary: bool = False) -> list[Any]:
        # Binary results: the same Python values, parsed faster than text (a third less per row).
        with cx.cursor(binary=binary) as cur:
            return cur.execute(sql, params).fetchall()

    def _executemany(self, cx: psycopg.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with cx.cursor() as cur:
            cur.executemany(sql, rows)

    # -- appeals -------------------------------------------------------------------------------------
    def _open_bulk_load(self, expected_rows: int | None) -> SQLBulkLoad:
        return PostGISBulkLoad(self, expected_rows)

    @contextmanager
    def _insert_tx(self) -> Iterator[psycopg.Cursor]:
        with self._tx() as conn, conn.cursor() as cur:
            cur.execute(INSERT_LOCK)
            # A bulk load need not wait for the WAL flush: set for this transaction only. A crash within
            # the next few hundred milliseconds may lose the newest batches whole (never part of one, nor
            # an appeal without its events); intake re-run with the same file stores exactly those again.
            cur.execute("SET LOCAL synchronous_commit = off")
            yield cur

    def _stored_keys(self, cx: psycopg.Cursor, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        return stored_keys(cx, source, external_id)

    def _new_appeal_ids(self, cx: psycopg.Cursor, n: int) -> np.ndarray:
        # Ids: one run drawn from the identity sequence in one call. Only insert_appeals draws appeal
        # ids, under the lock of _insert_tx; were anything else to draw one meanwhile, the primary key
        # would refuse the copy and the whole insert would roll back.
        last = cx.execute("SELECT setval(s, nextval(s) + %s - 1) FROM pg_get_serial_sequence('appeal', 'id') s",
                          (n,)).fetchone()[0]
        return np.arange(last - n + 1, last + 1, dtype=np.int64)

    def _write_appeals(self, cx: psycopg.Cursor, rows: Rows, ids: np.ndarray, events: Rows,
                       event_appeal_ids: np.ndarray) -> None:
        for table, cols, data in appeal_copies(rows, ids, events, event_appeal_ids):
            copy_columns(cx, table, cols, data)

    def _inserted(self, n: int) -> None:
        if n >= ANALYZE_AFTER_ROWS:
            # A large load changes the table's statistics more than autovacuum notices soon enough: without
            # them the planner ignores the partial open-appeal index the wall's queries rely on.
            with self._pool.connection() as conn:
                conn.execute("ANALYZE appeal")

    def _select_appeal(self, cx: psycopg.Connection, appeal_id: int, lock: bool = False) -> dict[str, Any] | None:
        row = cx.execute(f"SELECT {', '.join(APPEAL_COLUMNS)} FROM appeal WHERE id = %s"
                         + (" FOR UPDATE" if lock else ""), (appeal_id,)).fetchone()
        if row is None:
            return None
        out = dict(zip(APPEAL_COLUMNS, row, strict=True))
        for c in TIMESTAMP_COLUMNS:
            out[c] = self._local_time(out[c])
        return out

    # -- aggregates ----------------------------------------------------------------------------------
    def kpis(self, since: datetime, until: datetime, *, area: tuple[str, str] | None = None) -> dict[str, Any]:
        c = clock_rules()
        in_area = "" if area is None else f" AND {level_column(area[0])} = %(area)s"
        done = RESOLVED_SQL
        text = f"""
SELECT COUNT(*),
       COUNT(*) FILTER (WHERE accepted_at IS NOT NULL),
       COUNT(*) FILTER (WHERE {done}),
       COUNT(*) FILTER (WHERE {done} AND resolved_at <= resolve_due_at),
       COUNT(*) FILTER (WHERE status = 'closed'),
       COUNT(*) FILTER (WHERE reopened_count > 0),
       COUNT(*) FILTER (WHERE satisfaction IN ('satisfied', 'basically_satisfied')),
       COUNT(*) FILTER (WHERE satisfaction IS NOT NULL),
       COUNT(*) FILTER (WHERE appeal_class = 'class1'),
       COUNT(*) FILTER (WHERE appeal_class = 'class1'
                          AND responded_at <= reported_at + make_interval(mins => %(resp)s)),
       COUNT(*) FILTER (WHERE appeal_class = 'class1'
                          AND accepted_at <= reported_at + make_interval(mins => %(acc)s))
FROM appeal WHERE reported_at >= %(since)s AND reported_at < %(until)s{in_area}"""
        params = {"resp": int(c["class1_respond_minutes"]), "acc": int(c["class1_accept_minutes"]),
                  "since": as_local(since), "until": as_local(until), "area": None if area is None else area[1]}
        with self._read() as conn:
            row = conn.execute(text, params).fetchone()
            overdue = conn.execute("SELECT COUNT(*) FROM appeal WHERE status <> 'closed' AND next_deadline_at < "
                                   "%(until)s" + in_area, params).fetchone()[0]
        return kpi_dict(row, overdue)

    # -- orders --------------------------------------------------------------------------------------
    def _known_departments(self, cx: psycopg.Connection, codes: list[str]) -> set[str]:
        return {r[0] for r in cx.execute("SELECT code FROM department WHERE code = ANY(%s)", (codes,))}

    def _insert_order(self, cx: psycopg.Connection, order: dict[str, Any], departments: list[str]) -> int:
        cols = list(order)
        order_id = cx.execute(f"INSERT INTO appeal_order ({', '.join(cols)}) VALUES "
                              f"({', '.join(['%s'] * len(cols))}) RETURNING id",
                              [py(order[c]) for c in cols]).fetchone()[0]
        with cx.cursor() as cur:
            cur.executemany("INSERT INTO order_department (order_id, department_code) VALUES (%s, %s)",
                            [(order_id, d) for d in departments])
        return int(order_id)

    # -- quarantine ----------------------------------------------------------------------------------
    def quarantine(self, rows: pd.DataFrame) -> int:
        received = now()
        cols = QUARANTINE_COLUMNS[1:]
        data = []
        for r in rows.to_dict("records"):
            at = py(r.get("received_at"))
            data.append((as_local(at) if at is not None else received, *(py(r.get(c)) for c in cols[1:])))
        with self._tx() as conn, conn.cursor() as cur:
            cur.executemany(f"INSERT INTO quarantine ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                            data)
        return len(data)
