"""The embedded default store: one SQLite file under ``var/`` in WAL mode (stdlib ``sqlite3``).

Timestamps are stored as integer microseconds since the epoch (UTC), so comparisons and durations are
plain integer arithmetic in SQL. Connections come from a small pool, one user at a time (WAL lets
readers run beside the one writer); every write is one ``BEGIN IMMEDIATE`` transaction. Events are append-only: triggers refuse
UPDATE and DELETE on ``appeal_event``. Bulk inserts use ``executemany`` in a single transaction.
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
from services.errors import ValidationError
from services.store.base import APPEAL_COLUMNS, EVENT_COLUMNS, TIMESTAMP_COLUMNS, InsertResult
from services.store.common import (
    INSERT_COLUMNS,
    ORDER_COLUMNS,
    ORDER_TS,
    POINT_COLUMNS,
    QUARANTINE_COLUMNS,
    SQLStore,
    columns_for,
    kpi_dict,
    level_column,
    lonlat_frame,
    now,
    prepare_appeals,
    py,
    shape_appeals,
    stats_frame,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TABLES = ("order_department", "appeal_order", "appeal_event", "appeal", "department", "station", "building",
          "quarantine", "schema_version")
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
    tier TEXT NOT NULL CHECK (tier IN ('blue', 'yellow', 'red')),
    appeal_class TEXT NOT NULL CHECK (appeal_class IN ('ordinary', 'major', 'class1')),
    handling_level TEXT NOT NULL DEFAULT 'community',
    dispatched_to TEXT,
    status TEXT NOT NULL CHECK (status IN ('reported', 'accepted', 'dispatched', 'resolved', 'confirmed',
                                           'feedback', 'reopened', 'closed')),
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
}
SCHEMA_VERSION = max(MIGRATIONS)
MAX_IDLE = 4  # connections kept open between uses


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


def _us_list(s: pd.Series) -> list[int | None]:
    """A UTC timestamp Series as a list of microseconds (None for NaT)."""
    us = s.astype("datetime64[us, UTC]").astype("int64").to_numpy()
    out = us.astype(object)
    out[s.isna().to_numpy()] = None
    return out.tolist()


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
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
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
            for version in sorted(v for v in MIGRATIONS if v > current):
                for statement in _statements(MIGRATIONS[version]):
                    cx.execute(statement)
                cx.execute("INSERT INTO schema_version VALUES (?, ?)", (version, to_us(now())))

    def reset(self) -> None:
        with self._tx() as cx:
            cx.execute("DROP TRIGGER IF EXISTS appeal_event_no_delete")
            for table in TABLES[:-1]:
                cx.execute(f"DELETE FROM {table}")
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

    def departments(self) -> pd.DataFrame:
        with self._read() as cx:
            rows = cx.execute("SELECT code, name, name_en FROM department ORDER BY code").fetchall()
        return pd.DataFrame(rows, columns=["code", "name", "name_en"])

    def load_points(self, kind: str, frame: pd.DataFrame) -> int:
        cols = _point_columns(kind)
        df = lonlat_frame(frame)
        data = [_obj_list(df[c]) if c in df else [None] * len(df) for c in cols]
        with self._tx() as cx:
            cx.execute(f"DELETE FROM {kind}")
            cx.executemany(f"INSERT INTO {kind} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           list(zip(*data, strict=True)))
        return len(df)

    def points(self, kind: str) -> pd.DataFrame:
        cols = _point_columns(kind)
        with self._read() as cx:
            rows = cx.execute(f"SELECT {', '.join(cols)} FROM {kind} ORDER BY code").fetchall()
        df = pd.DataFrame(rows, columns=list(cols))
        for c in ("offers_appeal", "offers_legal", "offers_psychological"):
            if c in df:
                df[c] = df[c].astype("boolean")
        return df

    # -- appeals -------------------------------------------------------------------------------------
    def insert_appeals(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None) -> InsertResult:
        df, ev, repeats = prepare_appeals(appeals, events)
        if df.empty:
            return InsertResult(0, repeats, [])
        with self._tx() as cx:
            exists = np.zeros(len(df), bool)
            for source, idx in df.groupby("source").groups.items():
                ext = df.loc[idx, "external_id"].tolist()
                found = {r[0] for r in cx.execute(
                    "SELECT external_id FROM appeal WHERE source = ? AND external_id IN "
                    "(SELECT value FROM json_each(?))", (source, json.dumps(ext)))}
                if found:
                    exists[np.asarray(idx)[df.loc[idx, "external_id"].isin(found).to_numpy()]] = True
            new = df.loc[~exists].reset_index(drop=True)
            if new.empty:
                return InsertResult(0, repeats + int(exists.sum()), [])
            start = int(cx.execute("SELECT COALESCE(MAX(id), 0) FROM appeal").fetchone()[0])
            ids = np.arange(start + 1, start + 1 + len(new), dtype=np.int64)
            data: list[list[Any]] = [ids.tolist()]
            for c in INSERT_COLUMNS:
                data.append(_us_list(new[c]) if c in TIMESTAMP_COLUMNS else _obj_list(new[c]))
            cols = ("id", *INSERT_COLUMNS)
            cx.executemany(f"INSERT INTO appeal ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           zip(*data, strict=True))
            if ev is None:
                # One report event per new appeal, made by SQLite from the rows just inserted.
                cx.execute("INSERT INTO appeal_event (appeal_id, at, actor, action, from_status, to_status, note) "
                           "SELECT id, reported_at, 'intake', 'report', NULL, 'reported', channel FROM appeal "
                           "WHERE id BETWEEN ? AND ? ORDER BY id", (int(ids[0]), int(ids[-1])))
            else:
                key = dict(zip(new["src_id"].tolist(), ids.tolist(), strict=True))
                evs = ev[ev["src_id"].isin(key)]
                cx.executemany(
                    "INSERT INTO appeal_event (appeal_id, at, actor, action, from_status, to_status, note) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    zip(evs["src_id"].map(key).tolist(), _us_list(evs["at"]), _obj_list(evs["actor"]),
                        _obj_list(evs["action"]), _obj_list(evs["from_status"]), _obj_list(evs["to_status"]),
                        _obj_list(evs["note"]), strict=True))
        return InsertResult(len(new), repeats + int(exists.sum()), ids.tolist())

    def _select_appeal(self, cx: sqlite3.Connection, appeal_id: int, lock: bool = False) -> dict[str, Any] | None:
        row = cx.execute(f"SELECT {', '.join(APPEAL_COLUMNS)} FROM appeal WHERE id = ?", (appeal_id,)).fetchone()
        if row is None:
            return None
        out = dict(zip(APPEAL_COLUMNS, row, strict=True))
        for c in TIMESTAMP_COLUMNS:
            out[c] = from_us(out[c])
        return out

    def _update_appeal(self, cx: sqlite3.Connection, appeal_id: int, changes: dict[str, Any]) -> None:
        cols = [c for c in changes if c in APPEAL_COLUMNS and c != "id"]
        if len(cols) != len(changes):
            raise ValidationError(f"not appeal columns: {sorted(set(changes) - set(cols))}")
        values = [to_us(changes[c]) if c in TIMESTAMP_COLUMNS else py(changes[c]) for c in cols]
        cx.execute(f"UPDATE appeal SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?", (*values, appeal_id))

    def _insert_events(self, cx: sqlite3.Connection, events: list[dict[str, Any]]) -> None:
        cx.executemany(
            "INSERT INTO appeal_event (appeal_id, at, actor, action, from_status, to_status, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e["appeal_id"], to_us(e["at"]), e.get("actor"), e["action"], e.get("from_status"),
              e.get("to_status"), e.get("note")) for e in events])

    def events(self, appeal_id: int) -> pd.DataFrame:
        with self._read() as cx:
            rows = cx.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM appeal_event WHERE appeal_id = ? "
                              "ORDER BY at, id", (int(appeal_id),)).fetchall()
        return _ts_frame(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)), ["at"])

    def event_count(self) -> int:
        with self._read() as cx:
            return int(cx.execute("SELECT COUNT(*) FROM appeal_event").fetchone()[0])

    def query_appeals(self, *, statuses: Sequence[str] | None = None, tiers: Sequence[str] | None = None,
                      categories: Sequence[str] | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      area: tuple[str, str] | None = None, limit: int | None = None,
                      order: str = "newest", include_personal: bool = False) -> pd.DataFrame:
        where, params = _window(since, until)
        for col, values in (("status", statuses), ("tier", tiers), ("category", categories)):
            if values is not None:
                where.append(f"{col} IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(list(values)))
        if area is not None:
            where.append(f"{level_column(area[0])} = ?")
            params.append(area[1])
        order_sql = {"newest": "reported_at DESC, id DESC", "oldest": "reported_at, id",
                     "tier": "CASE tier WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END, reported_at DESC, id DESC"}
        if order not in order_sql:
            raise ValidationError(f"unknown order {order!r}; expected {', '.join(order_sql)}")
        cols = columns_for(include_personal)
        sql = f"SELECT {', '.join(cols)} FROM appeal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_sql[order]}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._read() as cx:
            rows = cx.execute(sql, params).fetchall()
        df = pd.DataFrame(rows, columns=list(cols))
        df = _ts_frame(df, TIMESTAMP_COLUMNS)
        return shape_appeals(df)

    # -- aggregates ----------------------------------------------------------------------------------
    def counts(self, level: str, *, since: datetime | None = None, until: datetime | None = None,
               open_only: bool = False) -> pd.DataFrame:
        col = level_column(level)
        where, params = _window(since, until)
        if open_only:
            where.append("status <> 'closed'")
        sql = f"SELECT {col} AS code, tier, status, COUNT(*) AS n FROM appeal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" GROUP BY 1, 2, 3 ORDER BY {col} IS NULL, {col}, tier, status"
        with self._read() as cx:
            rows = cx.execute(sql, params).fetchall()
        df = pd.DataFrame(rows, columns=["code", "tier", "status", "n"])
        df["n"] = df["n"].astype("int64")
        return df

    def overdue(self, now: datetime, *, limit: int | None = None) -> pd.DataFrame:
        t = to_us(now)
        sql = ("SELECT id, tier, appeal_class, status, category, subdistrict_code, community_code, grid_code, "
               "next_deadline_kind, next_deadline_at, (? - next_deadline_at) / 60000000.0 AS minutes_overdue "
               "FROM appeal WHERE status <> 'closed' AND next_deadline_at < ? ORDER BY next_deadline_at, id")
        params: list[Any] = [t, t]
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

    def kpis(self, since: datetime, until: datetime) -> dict[str, Any]:
        c = clock_rules()
        resp_us = int(c["class1_respond_minutes"]) * 60_000_000
        acc_us = int(c["class1_accept_minutes"]) * 60_000_000
        done = "status IN ('resolved', 'confirmed', 'feedback', 'closed')"
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
FROM appeal WHERE reported_at >= ? AND reported_at < ?"""
        with self._read() as cx:
            row = cx.execute(sql, (resp_us, acc_us, to_us(since), to_us(until))).fetchone()
            overdue = cx.execute("SELECT COUNT(*) FROM appeal WHERE status <> 'closed' AND next_deadline_at < ?",
                                 (to_us(until),)).fetchone()[0]
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

    def _select_order_rows(self, cx: sqlite3.Connection, order_id: int | None = None,
                           appeal_id: int | None = None, open_only: bool = False,
                           lock: bool = False) -> pd.DataFrame:
        where, params = [], []
        if order_id is not None:
            where.append("o.id = ?")
            params.append(order_id)
        if appeal_id is not None:
            where.append("o.appeal_id = ?")
            params.append(appeal_id)
        if open_only:
            where.append("o.status = 'open'")
        sql = ("SELECT o.id, o.appeal_id, o.community_code, o.issued_by, o.issued_at, o.category, o.tier, "
               "o.arrival_minutes, o.arrive_by, o.leader_level, o.people_required, o.resolution_hours, "
               "o.resolve_by, o.status, o.closed_at, o.note, d.department_code, d.checked_in_at, d.outcome, "
               "d.outcome_at FROM appeal_order o JOIN order_department d ON d.order_id = o.id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY o.id, d.department_code"
        rows = cx.execute(sql, params).fetchall()
        return _ts_frame(pd.DataFrame(rows, columns=list(ORDER_COLUMNS)), ORDER_TS)

    def _update_order_department(self, cx: sqlite3.Connection, order_id: int, department_code: str,
                                 changes: dict[str, Any]) -> None:
        cols = list(changes)
        values = [to_us(changes[c]) if c in ORDER_TS else changes[c] for c in cols]
        cx.execute(f"UPDATE order_department SET {', '.join(f'{c} = ?' for c in cols)} "
                   "WHERE order_id = ? AND department_code = ?", (*values, order_id, department_code))

    def _close_order(self, cx: sqlite3.Connection, order_id: int, at: datetime) -> None:
        cx.execute("UPDATE appeal_order SET status = 'closed', closed_at = ? WHERE id = ?", (to_us(at), order_id))

    def department_stats(self, since: datetime, until: datetime) -> pd.DataFrame:
        sql = """
SELECT d.department_code AS code, dep.name AS name, COUNT(*) AS orders,
       SUM(d.checked_in_at IS NOT NULL) AS checked_in,
       SUM(d.checked_in_at IS NOT NULL AND d.checked_in_at <= o.arrive_by) AS timely_check_ins,
       CAST(SUM(d.checked_in_at IS NOT NULL AND d.checked_in_at <= o.arrive_by) AS REAL)
           / NULLIF(SUM(d.checked_in_at IS NOT NULL OR o.arrive_by < :until), 0) AS timely_check_in_rate,
       AVG((d.checked_in_at - o.issued_at) / 60000000.0) AS avg_arrival_minutes,
       SUM(d.outcome = 'resolved' AND d.outcome_at <= o.resolve_by) AS resolved_within_limit,
       CAST(SUM(d.outcome = 'resolved' AND d.outcome_at <= o.resolve_by) AS REAL)
           / NULLIF(SUM(d.outcome_at IS NOT NULL OR o.resolve_by < :until), 0) AS resolved_within_limit_rate
FROM order_department d
JOIN appeal_order o ON o.id = d.order_id
LEFT JOIN department dep ON dep.code = d.department_code
WHERE o.issued_at >= :since AND o.issued_at < :until
GROUP BY d.department_code, dep.name
ORDER BY d.department_code"""
        with self._read() as cx:
            rows = cx.execute(sql, {"since": to_us(since), "until": to_us(until)}).fetchall()
        return stats_frame(rows)

    # -- quarantine ----------------------------------------------------------------------------------
    def quarantine(self, rows: pd.DataFrame) -> int:
        df = rows.copy()
        received = now()
        cols = QUARANTINE_COLUMNS[1:]
        data = []
        for r in df.to_dict("records"):
            data.append((to_us(r.get("received_at") if py(r.get("received_at")) is not None else received),
                         *(py(r.get(c)) for c in cols[1:])))
        with self._tx() as cx:
            cx.executemany(f"INSERT INTO quarantine ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", data)
        return len(data)

    def quarantined(self, *, source: str | None = None) -> pd.DataFrame:
        sql = f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM quarantine"
        params: list[Any] = []
        if source is not None:
            sql += " WHERE source = ?"
            params.append(source)
        sql += " ORDER BY received_at DESC, id DESC"
        with self._read() as cx:
            rows = cx.execute(sql, params).fetchall()
        return _ts_frame(pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS)), ["received_at"])


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


def _window(since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("reported_at >= ?")
        params.append(to_us(since))
    if until is not None:
        where.append("reported_at < ?")
        params.append(to_us(until))
    return where, params


def _point_columns(kind: str) -> tuple[str, ...]:
    if kind not in POINT_COLUMNS:
        raise ValidationError(f"unknown point layer {kind!r}; expected station or building")
    return POINT_COLUMNS[kind]
