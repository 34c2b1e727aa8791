"""The embedded default store: one SQLite file under ``var/`` in WAL mode (stdlib ``sqlite3``).

Timestamps are stored as integer microseconds since the epoch (UTC), so comparisons and durations are
plain integer arithmetic in SQL. Connections come from a small pool, one user at a time (WAL lets
readers run beside the one writer); every write is one ``BEGIN IMMEDIATE`` transaction. Events are append-only: triggers refuse
UPDATE and DELETE on ``appeal_event``. Bulk inserts use ``executemany`` in a single transaction, binding
only the values that vary and are not NULL (``_insert_rows``); the frame is prepared column-wise by
``services.store.common.prepare_appeals``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import TZ, as_local, clock_rules
from services.store.base import (
    APPEAL_COLUMNS,
    EVENT_COLUMNS,
    PERSONAL_COLUMNS,
    TIMESTAMP_COLUMNS,
    InsertResult,
)
from services.store.common import (
    INSERT_COLUMNS,
    ORDER_TS,
    QUARANTINE_COLUMNS,
    REBUILD_INDEXES,
    RESOLVED_SQL,
    WALL_INDEXES,
    Rows,
    SQLBulkLoad,
    SQLStore,
    kpi_dict,
    level_column,
    lonlat_frame,
    now,
    plan_rebuild,
    point_columns,
    prepare_appeals,
    py,
    rekey,
    report_event_rows,
    shape_appeals,
    sql_in,
    stats_frame,
)
from services.tiers import CLASSES, TIERS
from services.vocabulary import STATUSES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TABLES = ("order_department", "appeal_order", "appeal_event", "appeal", "department", "station", "building",
          "quarantine", "planning_scenario", "schema_version")
_TS = " INTEGER"  # timestamp columns: microseconds since the epoch, UTC

MIGRATIONS: dict[int, str] = {
    1: f"""
CREATE TABLE appeal (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    channel TEXT, service_type TEXT, category TEXT, description TEXT,
    lon REAL, lat REAL, source_crs TEXT,
    people_involved INTEGER, amount_involved REAL, urgency INTEGER,
    tier TEXT NOT NULL CHECK (tier IN {sql_in(TIERS)}),
    appeal_class TEXT NOT NULL CHECK (appeal_class IN {sql_in(CLASSES)}),
    handling_level TEXT NOT NULL DEFAULT 'community',
    dispatched_to TEXT,
    status TEXT NOT NULL CHECK (status IN {sql_in(STATUSES)}),
    reopened_count INTEGER NOT NULL DEFAULT 0,
    satisfaction TEXT, gathering_id INTEGER, gathering_tier TEXT,
    subdistrict_code TEXT, community_code TEXT, grid_code TEXT, subgrid_code TEXT, happiness_unit_code TEXT,
    building_code TEXT, reporter_name TEXT, reporter_phone TEXT,
    reported_at INTEGER NOT NULL,
    responded_at{_TS}, accepted_at{_TS}, dispatched_at{_TS}, resolved_at{_TS}, confirmed_at{_TS},
    feedback_at{_TS}, return_visit_at{_TS}, closed_at{_TS}, resolve_due_at{_TS}, next_deadline_at{_TS},
    next_deadline_kind TEXT,
    UNIQUE (source, external_id)
);
CREATE INDEX appeal_reported_at ON appeal (reported_at);
CREATE INDEX appeal_open_deadline ON appeal (next_deadline_at) WHERE status <> 'closed';
CREATE TABLE appeal_event (  -- appeal_id is not a foreign key, as in PostGIS (see postgis.py)
    id INTEGER PRIMARY KEY,
    appeal_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT, action TEXT NOT NULL, from_status TEXT, to_status TEXT, note TEXT
);
CREATE INDEX appeal_event_appeal ON appeal_event (appeal_id, at);
CREATE TRIGGER appeal_event_no_update BEFORE UPDATE ON appeal_event
BEGIN SELECT RAISE(ABORT, 'appeal_event is append-only'); END;
CREATE TRIGGER appeal_event_no_delete BEFORE DELETE ON appeal_event
BEGIN SELECT RAISE(ABORT, 'appeal_event is append-only'); END;
CREATE TABLE department (code TEXT PRIMARY KEY, name TEXT, name_en TEXT);
CREATE TABLE appeal_order (
    id INTEGER PRIMARY KEY,
    appeal_id INTEGER NOT NULL REFERENCES appeal (id),
    community_code TEXT, issued_by TEXT, issued_at INTEGER NOT NULL, category TEXT, tier TEXT,
    arrival_minutes INTEGER, arrive_by INTEGER NOT NULL, leader_level TEXT, people_required INTEGER,
    resolution_hours INTEGER, resolve_by INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')), closed_at INTEGER, note TEXT
);
CREATE INDEX appeal_order_appeal ON appeal_order (appeal_id);
CREATE INDEX appeal_order_issued ON appeal_order (issued_at);
CREATE TABLE order_department (
    order_id INTEGER NOT NULL REFERENCES appeal_order (id),
    department_code TEXT NOT NULL REFERENCES department (code),
    checked_in_at INTEGER, outcome TEXT, outcome_at INTEGER,
    PRIMARY KEY (order_id, department_code)
);
CREATE TABLE station (
    code TEXT PRIMARY KEY, name TEXT, level TEXT, site_type TEXT, offers_appeal INTEGER, offers_legal INTEGER,
    offers_psychological INTEGER, parent_code TEXT, building_code TEXT, lon REAL, lat REAL
);
CREATE TABLE building (
    code TEXT PRIMARY KEY, name TEXT, parent_code TEXT, land_use TEXT, population INTEGER, lon REAL, lat REAL
);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, source TEXT, file TEXT, line INTEGER, raw TEXT,
    reason TEXT, reason_code TEXT
);
""",
    # Partial indexes of open appeals for the wall display (services.store.common.WALL_INDEXES).
    2: ";\n".join(WALL_INDEXES) + ";\n",
    # Planners' saved scenarios (what-if edits, service, radius as a JSON object), kept across reloads.
    # AUTOINCREMENT: the id of a deleted scenario is never given to a new one.
    3: """
CREATE TABLE planning_scenario (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    payload TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object')
);
""",
}
SCHEMA_VERSION = max(MIGRATIONS)
MAX_IDLE = 4  # connections kept open between uses
CACHE_KIB = 65_536  # page cache per connection


def to_us(ts: Any) -> int | None:
    """A timestamp as integer microseconds since the epoch (None stays None)."""
    if ts is None or (not isinstance(ts, datetime) and pd.isna(ts)):
        return None
    if isinstance(ts, pd.Timestamp):
        ts = ts.to_pydatetime()
    return (as_local(ts) - EPOCH) // US


def from_us(v: int | None) -> datetime | None:
    """Integer microseconds since the epoch as an Asia/Shanghai datetime."""
    return None if v is None else (EPOCH + timedelta(microseconds=int(v))).astimezone(TZ)


def _obj_list(s: pd.Series) -> list[Any]:
    arr = s.to_numpy(dtype=object, na_value=None)
    return arr.tolist()


def _ts_frame(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for c in columns:
        if c in df:
            df[c] = pd.to_datetime(df[c], unit="us", utc=True).dt.tz_convert(TZ)
    return df


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
    def schema_version(self) -> int:
        with self._read() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "applied_at INTEGER NOT NULL)")
            return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    def migrate(self) -> None:
        self.schema_version()  # creates the version table
        with self._tx() as cx:
            current = int(cx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
            todo = sorted(v for v in MIGRATIONS if v > current)
            for version in todo:
                for statement in _statements(MIGRATIONS[version]):
                    cx.execute(statement)
                cx.execute("INSERT INTO schema_version VALUES (?, ?)", (version, to_us(now())))
            if todo and current and cx.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
                # Someone ran ANALYZE: give the new indexes statistics too, or the planner would prefer the
                # old ones it has figures for.
                cx.execute("ANALYZE appeal")

    def reset(self) -> None:
        with self._tx() as cx:
            cx.execute("DROP TRIGGER IF EXISTS appeal_event_no_delete")
            for table in TABLES[:-1]:
                cx.execute(f"DELETE FROM {table}")
            cx.execute("DELETE FROM sqlite_sequence")  # restart AUTOINCREMENT ids
            cx.execute("CREATE TRIGGER appeal_event_no_delete BEFORE DELETE ON appeal_event "
                       "BEGIN SELECT RAISE(ABORT, 'appeal_event is append-only'); END")

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

    # -- dialect (services.store.common.SQLStore) ------------------------------------------------------
    P = "?"

    def _param_ts(self, value: Any) -> Any:
        return to_us(py(value))

    def _any_of(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values), ensure_ascii=False)

    def _local_times(self, df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        return _ts_frame(df, columns)

    def _json_param(self) -> str:
        return "json(?)"

    # -- appeals -------------------------------------------------------------------------------------
    def _open_bulk_load(self, expected_rows: int | None) -> SQLBulkLoad:
        return _BulkLoad(self, expected_rows)

    def insert_appeals(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None, *,
                       actor: str = "intake") -> InsertResult:
        rows, ev, repeats = prepare_appeals(appeals, events)
        if not len(rows):
            return InsertResult(0, repeats, [])
        with self._tx() as cx:
            exists = _existing(cx, rows.values["source"], rows.values["external_id"])
            if exists.any():
                rows = rows.take(~exists)
            if not len(rows):
                return InsertResult(0, repeats + int(exists.sum()), [])
            start = int(cx.execute("SELECT COALESCE(MAX(id), 0) FROM appeal").fetchone()[0])
            ids = np.arange(start + 1, start + 1 + len(rows), dtype=np.int64)
            evs, appeal_ids = rekey(rows.values["src_id"], ids, report_event_rows(rows, actor) if ev is None else ev)
            _insert_appeal_rows(cx, rows, ids, evs, appeal_ids)
        return InsertResult(len(rows), repeats + int(exists.sum()), ids.tolist())

    def _select_appeal(self, cx: sqlite3.Connection, appeal_id: int, lock: bool = False) -> dict[str, Any] | None:
        row = cx.execute(f"SELECT {', '.join(APPEAL_COLUMNS)} FROM appeal WHERE id = ?", (appeal_id,)).fetchone()
        if row is None:
            return None
        out = dict(zip(APPEAL_COLUMNS, row, strict=True))
        for c in TIMESTAMP_COLUMNS:
            out[c] = from_us(out[c])
        return out

    # -- aggregates ----------------------------------------------------------------------------------
    def overdue(self, now: datetime, *, limit: int | None = None,
                area: tuple[str, str] | None = None) -> pd.DataFrame:
        t = to_us(now)
        params: list[Any] = [t, t]
        in_area = ""
        if area is not None:
            in_area = f" AND {level_column(area[0])} = ?"
            params.append(area[1])
        sql = ("SELECT id, tier, appeal_class, status, category, subdistrict_code, community_code, grid_code, "
               "next_deadline_kind, next_deadline_at, (? - next_deadline_at) / 60000000.0 AS minutes_overdue "
               f"FROM appeal WHERE status <> 'closed' AND next_deadline_at < ?{in_area} "
               "ORDER BY next_deadline_at, id")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._read() as cx:
            rows = cx.execute(sql, params).fetchall()
        df = pd.DataFrame(rows, columns=["id", "tier", "appeal_class", "status", "category", "subdistrict_code",
                                         "community_code", "grid_code", "next_deadline_kind", "next_deadline_at",
                                         "minutes_overdue"])
        df["minutes_overdue"] = df["minutes_overdue"].astype(float)
        return shape_appeals(_ts_frame(df, ["next_deadline_at"]))

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

    def department_stats(self, since: datetime, until: datetime, *,
                         area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {"since": to_us(since), "until": to_us(until)}
        in_area = ""
        if area is not None:
            in_area = f"JOIN appeal a ON a.id = o.appeal_id AND a.{level_column(area[0])} = :area\n"
            params["area"] = area[1]
        sql = f"""
SELECT d.department_code AS code, dep.name AS name, COUNT(*) AS orders,
       SUM(d.checked_in_at IS NOT NULL) AS checked_in,
       SUM(d.checked_in_at IS NOT NULL AND d.checked_in_at <= o.arrive_by) AS timely_check_ins,
       SUM(d.checked_in_at IS NOT NULL OR o.arrive_by < :until) AS due_check_ins,
       CAST(SUM(d.checked_in_at IS NOT NULL AND d.checked_in_at <= o.arrive_by) AS REAL)
           / NULLIF(SUM(d.checked_in_at IS NOT NULL OR o.arrive_by < :until), 0) AS timely_check_in_rate,
       AVG((d.checked_in_at - o.issued_at) / 60000000.0) AS avg_arrival_minutes,
       SUM(d.outcome = 'resolved' AND d.outcome_at <= o.resolve_by) AS resolved_within_limit,
       SUM(d.outcome_at IS NOT NULL OR o.resolve_by < :until) AS due_outcomes,
       CAST(SUM(d.outcome = 'resolved' AND d.outcome_at <= o.resolve_by) AS REAL)
           / NULLIF(SUM(d.outcome_at IS NOT NULL OR o.resolve_by < :until), 0) AS resolved_within_limit_rate
FROM order_department d
JOIN appeal_order o ON o.id = d.order_id
{in_area}LEFT JOIN department dep ON dep.code = d.department_code
WHERE o.issued_at >= :since AND o.issued_at < :until
GROUP BY d.department_code, dep.name
ORDER BY d.department_code"""
        with self._read() as cx:
            rows = cx.execute(sql, params).fetchall()
        return stats_frame(rows)

    # -- quarantine ----------------------------------------------------------------------------------
    def quarantine(self, rows: pd.DataFrame) -> int:
        with self._tx() as cx:
            return _insert_quarantine(cx, rows)

# Columns with a default other than NULL: always bound (leaving one out would mean its default, not NULL).
_DEFAULTED = frozenset({"handling_level", "reopened_count"})
_MAX_NULLABLE = 62  # NULL patterns are bit masks in an int64
_LITERAL_MIN_ROWS = 64  # below this, binding costs less than compiling a statement of its own


def _insert_quarantine(cx: sqlite3.Connection, rows: pd.DataFrame) -> int:
    """Insert quarantine rows (received_at default now); returns how many."""
    received = now()
    cols = QUARANTINE_COLUMNS[1:]
    data = [(to_us(r.get("received_at") if py(r.get("received_at")) is not None else received),
             *(py(r.get(c)) for c in cols[1:])) for r in rows.to_dict("records")]
    cx.executemany(f"INSERT INTO quarantine ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", data)
    return len(data)


def _insert_appeal_rows(cx: sqlite3.Connection, rows: Rows, ids: np.ndarray, events: Rows,
                        event_appeal_ids: np.ndarray, first_event_id: int | None = None) -> int | None:
    """Insert new appeals with their ids and their events; returns the next free event id."""
    _insert_rows(cx, "appeal", [("id", ids, None), *((c, *rows.column(c)[1:]) for c in INSERT_COLUMNS)],
                 keep=_DEFAULTED)
    if not len(events):
        return first_event_id
    return _insert_events_rows(cx, events, event_appeal_ids, first_event_id)


def _insert_events_rows(cx: sqlite3.Connection, events: Rows, appeal_ids: np.ndarray,
                        first_id: int | None = None) -> int:
    """Insert events (Rows) for the given stored appeal ids with explicit ids from ``first_id`` (default:
    after the largest stored): events() orders ties in time by id, so ids follow the frame order.
    Returns the next free id."""
    if first_id is None:
        first_id = int(cx.execute("SELECT COALESCE(MAX(id), 0) FROM appeal_event").fetchone()[0]) + 1
    _insert_rows(cx, "appeal_event", [
        ("id", np.arange(first_id, first_id + len(events), dtype=np.int64), None), ("appeal_id", appeal_ids, None),
        *((c, *events.column(c)[1:]) for c in EVENT_COLUMNS[2:])])
    return first_id + len(events)


def _existing(cx: sqlite3.Connection, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
    """True where (source, external_id) is already stored."""
    exists = np.zeros(len(source), bool)
    for src in pd.unique(source):
        mask = source == src
        ext = external_id[mask]
        # First whether any stored id of the source lies between the smallest and largest of ours (one
        # index probe; text compares by code point in both SQLite and Python): intake files and the
        # simulator bring ids after the ones stored, and then nothing more is needed.
        if cx.execute("SELECT 1 FROM appeal WHERE source = ? AND external_id BETWEEN ? AND ? LIMIT 1",
                      (src, min(ext.tolist()), max(ext.tolist()))).fetchone() is None:
            continue
        found = {r[0] for r in cx.execute(
            "SELECT external_id FROM appeal WHERE source = ? AND external_id IN "
            "(SELECT value FROM json_each(?))", (src, json.dumps(ext.tolist(), ensure_ascii=False)))}
        if found:
            exists[np.flatnonzero(mask)[pd.Series(ext, copy=False).isin(found).to_numpy()]] = True
    return exists


def _literal(values: np.ndarray, null: np.ndarray | None) -> str | None:
    """The SQL literal of a column holding one str or int in every row, else None."""
    if null is not None or not len(values):
        return None
    first = values[0]
    if isinstance(first, str):
        if "\x00" in first or len(first) > 256:
            return None
        literal = "'" + first.replace("'", "''") + "'"
    elif isinstance(first, (int, np.integer)) and not isinstance(first, (bool, np.bool_)):
        literal = str(int(first))
    else:
        return None
    if values[-1] != first or values[len(values) // 2] != first or not bool((values == first).all()):
        return None
    return literal


def _insert_rows(cx: sqlite3.Connection, table: str, columns: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
                 keep: frozenset[str] = frozenset()) -> None:
    """INSERT equally long columns (values, NULL mask or None) with executemany, binding only values
    that vary and are not NULL.

    Why: the sqlite3 module binds None through its adapter look-up, which cost more per value than a
    number or a string, and intake rows are a third NULL. Rows are grouped by which columns are NULL and
    each group inserts only the others (a column left out takes its default: NULL for every column not
    in ``keep``). A column with the same str or int in every row (the source, the status...) is written
    into the statement as a literal instead of being bound per row. Values go to Python lists with one
    ``tolist()`` per column and group, not per value.
    """
    n = len(columns[0][1])
    if n == 0:
        return
    literals = {} if n < _LITERAL_MIN_ROWS else {
        i: lit for i, (c, v, m) in enumerate(columns)
        if c not in PERSONAL_COLUMNS and (lit := _literal(v, m)) is not None}
    always = [i for i, (c, _, m) in enumerate(columns) if m is None or c in keep]
    some = [i for i, (c, _, m) in enumerate(columns) if m is not None and c not in keep and not m.all()]
    if len(some) > _MAX_NULLABLE:
        always, some = always + some, []
    if some:
        key = np.zeros(n, np.int64)
        for bit, i in enumerate(some):
            key |= columns[i][2].astype(np.int64) << bit
        patterns, inverse = np.unique(key, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        groups = zip(patterns.tolist(), np.split(order, np.cumsum(np.bincount(inverse))[:-1]), strict=True)
    else:
        groups = iter([(0, None)])
    for pattern, idx in groups:
        present = sorted(always + [i for bit, i in enumerate(some) if not (pattern >> bit) & 1])
        data = []
        for i in present:
            if i in literals:
                continue
            _, values, null = columns[i]
            part = values if idx is None else values[idx]
            lst = part.tolist()
            if null is not None:  # a column bound even where NULL (in ``keep``, or too many patterns)
                for j in np.flatnonzero(null if idx is None else null[idx]).tolist():
                    lst[j] = None
            data.append(lst)
        names = ", ".join(columns[i][0] for i in present)
        marks = ", ".join(literals.get(i, "?") for i in present)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        if data:
            cx.executemany(sql, zip(*data, strict=True))
        else:  # every column a literal
            cx.executemany(sql, [()] * (n if idx is None else len(idx)))

def _statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner semicolons)."""
    out, buf = [], ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


class _BulkLoad(SQLBulkLoad):
    """A SQLite bulk load: one write transaction on one connection, batches inserted as they come.

    A rebuilding load (``plan_rebuild``) drops the secondary indexes inside the transaction and creates
    them again before it commits (SQLite's DDL is transactional, and WAL readers keep reading the last
    committed state, indexes included, meanwhile)."""

    def __init__(self, store: SQLiteStore, expected_rows: int | None) -> None:
        super().__init__(expected_rows)
        self._borrowed = store._borrow()
        self._cx = self._borrowed.__enter__()
        self._indexes: list[tuple[str, str]] = []
        self._in_tx = False
        try:
            cx = self._cx
            cx.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            stored = int(cx.execute("SELECT COUNT(*) FROM appeal").fetchone()[0])
            self.rebuild = plan_rebuild(expected_rows, stored)
            if self.rebuild:
                for src, ext in cx.execute("SELECT source, external_id FROM appeal"):
                    self._seen.setdefault(src, set()).add(ext)
                self._indexes = cx.execute(
                    f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND name IN "
                    f"({', '.join('?' * len(REBUILD_INDEXES))}) ORDER BY name", REBUILD_INDEXES).fetchall()
                for name, _ in self._indexes:
                    cx.execute(f'DROP INDEX "{name}"')
            self._next_id = int(cx.execute("SELECT COALESCE(MAX(id), 0) FROM appeal").fetchone()[0]) + 1
            self._next_event = int(cx.execute("SELECT COALESCE(MAX(id), 0) FROM appeal_event").fetchone()[0]) + 1
        except BaseException:
            self._close(commit=False)
            raise

    def _stored_mask(self, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        return _existing(self._cx, source, external_id)

    def _reserve_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return ids

    def _write(self, rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray) -> None:
        self._next_event = _insert_appeal_rows(self._cx, rows, ids, events, event_appeal_ids, self._next_event)

    def quarantine(self, rows: pd.DataFrame) -> int:
        return _insert_quarantine(self._cx, rows)  # in the load's transaction: SQLite has one writer

    def _finish(self) -> None:
        super()._finish()
        try:
            for _, ddl in self._indexes:
                self._cx.execute(ddl)
        except BaseException:
            self._close(commit=False)
            raise
        self._close(commit=True)

    def _abort(self) -> None:
        super()._abort()
        self._close(commit=False)

    def _close(self, commit: bool) -> None:
        try:
            if self._in_tx:
                self._cx.execute("COMMIT" if commit else "ROLLBACK")
                self._in_tx = False
        finally:
            self._borrowed.__exit__(None, None, None)
