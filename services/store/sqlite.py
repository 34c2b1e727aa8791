"""The embedded default store: one SQLite file under ``var/`` in WAL mode (stdlib ``sqlite3``).

Timestamps are stored as integer microseconds since the epoch (UTC), so comparisons and durations are
plain integer arithmetic in SQL. Connections come from a small pool, one user at a time (WAL lets
readers run beside the one writer); every write is one ``BEGIN IMMEDIATE`` transaction. Events are append-only: triggers refuse
UPDATE and DELETE on ``appeal_event``. Bulk inserts use ``executemany`` in a single transaction, binding
only the values that vary and are not NULL (services/store/sqlite_bulk.py); the frame is prepared column-wise by
``services.store.rows.prepare_appeals``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import clock_rules
from services.store.analysis_summary import SummaryBusy
from services.store.base import APPEAL_COLUMNS, TIMESTAMP_COLUMNS
from services.store.bulk import SQLBulkLoad
from services.store.common import (
    ORDER_TS,
    RESOLVED_SQL,
    kpi_dict,
    level_column,
    lonlat_frame,
    now,
    point_columns,
    py,
)
from services.store.rows import Rows
from services.store.sqlite_bulk import SQLiteBulkLoad, insert_appeal_rows, insert_quarantine, stored_keys
from services.store.sqlite_schema import (
    APPEND_ONLY,
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    VERSION_TABLE,
    from_us,
    statements,
    to_us,
    ts_frame,
)
from services.store.sqlstore import SQLStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

MAX_IDLE = 4  # connections kept open between uses
CACHE_KIB = 65_536  # page cache per connection
# How long the analysis summary's refresh waits for another writer before the read counts plainly.
SUMMARY_WAIT_MS = 1000


def _obj_list(s: pd.Series) -> list[Any]:
    arr = s.to_numpy(dtype=object, na_value=None)
    return arr.tolist()



class SQLiteStore(SQLStore):
    """Appeals, events, orders and reference data in one SQLite file (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.url = f"sqlite:///{self.path}"
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.closed = False
        self.migrate()

    # -- connections ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL: NORMAL syncs at checkpoints, not at every commit; a power cut may lose the last commits,
        # never corrupt the file (an application crash loses nothing).
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        # Page cache of up to 64 MiB (default 2 MiB, allocated as used): a bulk insert touches pages all
        # over the appeal indexes, and with the default cache it re-read and re-wrote them from the WAL.
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute("PRAGMA temp_store=MEMORY")  # sorts and GROUP BY b-trees of the aggregates
        return conn

    @contextmanager
    def _borrow(self) -> Iterator[sqlite3.Connection]:
        """A connection of the store's small pool, used by one thread at a time and then returned
        (threads come and go in a Streamlit server; connections do not pile up with them)."""
        with self._lock:
            if self.closed:
                raise RuntimeError(f"store {self.url} is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            with self._lock:
                if self.closed or len(self._idle) >= MAX_IDLE:
                    conn.close()
                else:
                    self._idle.append(conn)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._borrow() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _summary_tx(self) -> Iterator[sqlite3.Connection]:
        # The analysis summary's refresh, run before a read: it does not wait out a long write (a bulk
        # load holds the write lock for its whole length); ``SummaryBusy`` lets the read count plainly.
        with self._borrow() as conn:
            conn.execute(f"PRAGMA busy_timeout={SUMMARY_WAIT_MS}")
            try:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise SummaryBusy(str(exc)) from exc
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.execute("PRAGMA busy_timeout=30000")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._borrow() as conn:
            yield conn

    def close(self) -> None:
        with self._lock:
            self.closed = True
            for conn in self._idle:
                conn.close()
            self._idle.clear()

    # -- schema --------------------------------------------------------------------------------------
    VERSION_TABLE = VERSION_TABLE

    def migrate(self) -> None:
        self.schema_version()  # creates the version table
        with self._tx() as cx:
            current = int(cx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
            todo = sorted(v for v in MIGRATIONS if v > current)
            for version in todo:
                for statement in statements(MIGRATIONS[version]):
                    cx.execute(statement)
                cx.execute("INSERT INTO schema_version VALUES (?, ?)", (version, to_us(now())))
            if todo and current and cx.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
                # Someone ran ANALYZE: give the new indexes statistics too, or the planner would prefer the
                # old ones it has figures for.
                cx.execute("ANALYZE appeal")

    def reset(self) -> None:
        with self._tx() as cx:
            for table in APPEND_ONLY:
                cx.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            for table in TABLES[:-1]:
                cx.execute(f"DELETE FROM {table}")
            cx.execute("DELETE FROM sqlite_sequence")  # restart AUTOINCREMENT ids
            for table in APPEND_ONLY:
                cx.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")

    # -- reference data ------------------------------------------------------------------------------
    def load_departments(self, departments: pd.DataFrame) -> int:
        rows = [(str(r.code), py(getattr(r, "name", None)), py(getattr(r, "name_en", None)))
                for r in departments.itertuples(index=False)]
        with self._tx() as cx:
            cx.executemany("INSERT INTO department (code, name, name_en) VALUES (?, ?, ?) ON CONFLICT (code) "
                           "DO UPDATE SET name = excluded.name, name_en = excluded.name_en", rows)
        return len(rows)

    def load_points(self, kind: str, frame: pd.DataFrame) -> int:
        cols = point_columns(kind)
        df = lonlat_frame(frame)
        data = [_obj_list(df[c]) if c in df else [None] * len(df) for c in cols]
        with self._tx() as cx:
            cx.execute(f"DELETE FROM {kind}")
            cx.executemany(f"INSERT INTO {kind} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           list(zip(*data, strict=True)))
        return len(df)

    # -- dialect (services.store.dialect.SQLDialect) --------------------------------------------------
    P = "?"

    def _param_ts(self, value: Any) -> Any:
        return to_us(py(value))

    def _any_of(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values), ensure_ascii=False)

    def _local_times(self, df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        return ts_frame(df, columns)

    def _has_table(self, cx: Any, name: str) -> bool:
        return cx.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def _local_time(self, value: Any) -> datetime | None:
        return from_us(value)

    def _json_param(self) -> str:
        return "json(?)"

    # -- appeals -------------------------------------------------------------------------------------
    def _open_bulk_load(self, expected_rows: int | None) -> SQLBulkLoad:
        return SQLiteBulkLoad(self, expected_rows)

    @contextmanager
    def _insert_tx(self) -> Iterator[sqlite3.Connection]:
        with self._tx() as cx:
            yield cx

    def _stored_keys(self, cx: sqlite3.Connection, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        return stored_keys(cx, source, external_id)

    def _new_appeal_ids(self, cx: sqlite3.Connection, n: int) -> np.ndarray:
        start = int(cx.execute("SELECT COALESCE(MAX(id), 0) FROM appeal").fetchone()[0])
        return np.arange(start + 1, start + 1 + n, dtype=np.int64)

    def _write_appeals(self, cx: sqlite3.Connection, rows: Rows, ids: np.ndarray, events: Rows,
                       event_appeal_ids: np.ndarray) -> None:
        insert_appeal_rows(cx, rows, ids, events, event_appeal_ids)

    def _select_appeal(self, cx: sqlite3.Connection, appeal_id: int, lock: bool = False) -> dict[str, Any] | None:
        row = cx.execute(f"SELECT {', '.join(APPEAL_COLUMNS)} FROM appeal WHERE id = ?", (appeal_id,)).fetchone()
        if row is None:
            return None
        out = dict(zip(APPEAL_COLUMNS, row, strict=True))
        for c in TIMESTAMP_COLUMNS:
            out[c] = self._local_time(out[c])
        return out

    # -- aggregates ----------------------------------------------------------------------------------
    def kpis(self, since: datetime, until: datetime, *, area: tuple[str, str] | None = None) -> dict[str, Any]:
        c = clock_rules()
        in_area, area_params = ("", ()) if area is None else (f" AND {level_column(area[0])} = ?", (area[1],))
        resp_us = int(c["class1_respond_minutes"]) * 60_000_000
        acc_us = int(c["class1_accept_minutes"]) * 60_000_000
        done = RESOLVED_SQL
        sql = f"""
SELECT COUNT(*),
       COALESCE(SUM(accepted_at IS NOT NULL), 0),
       COALESCE(SUM({done}), 0),
       COALESCE(SUM({done} AND resolved_at <= resolve_due_at), 0),
       COALESCE(SUM(status = 'closed'), 0),
       COALESCE(SUM(reopened_count > 0), 0),
       COALESCE(SUM(satisfaction IN ('satisfied', 'basically_satisfied')), 0),
       COALESCE(SUM(satisfaction IS NOT NULL), 0),
       COALESCE(SUM(appeal_class = 'class1'), 0),
       COALESCE(SUM(appeal_class = 'class1' AND responded_at <= reported_at + ?), 0),
       COALESCE(SUM(appeal_class = 'class1' AND accepted_at <= reported_at + ?), 0)
FROM appeal WHERE reported_at >= ? AND reported_at < ?{in_area}"""
        with self._read() as cx:
            row = cx.execute(sql, (resp_us, acc_us, to_us(since), to_us(until), *area_params)).fetchone()
            overdue = cx.execute("SELECT COUNT(*) FROM appeal WHERE status <> 'closed' AND next_deadline_at < ?"
                                 + in_area, (to_us(until), *area_params)).fetchone()[0]
        return kpi_dict(row, overdue)

    # -- orders --------------------------------------------------------------------------------------
    def _known_departments(self, cx: sqlite3.Connection, codes: list[str]) -> set[str]:
        return {r[0] for r in cx.execute("SELECT code FROM department WHERE code IN (SELECT value FROM json_each(?))",
                                         (json.dumps(codes),))}

    def _insert_order(self, cx: sqlite3.Connection, order: dict[str, Any], departments: list[str]) -> int:
        cols = list(order)
        values = [to_us(order[c]) if c in ORDER_TS else py(order[c]) for c in cols]
        cur = cx.execute(f"INSERT INTO appeal_order ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         values)
        order_id = int(cur.lastrowid)  # type: ignore[arg-type]
        cx.executemany("INSERT INTO order_department (order_id, department_code) VALUES (?, ?)",
                       [(order_id, d) for d in departments])
        return order_id

    # -- quarantine ----------------------------------------------------------------------------------
    def quarantine(self, rows: pd.DataFrame) -> int:
        with self._tx() as cx:
            return insert_quarantine(cx, rows)
