"""Writing new appeals into SQLite: ``executemany`` binding only the values that vary and are not
NULL, the look-up of stored keys, quarantine rows, and the bulk load (``SQLiteBulkLoad``) in one write
transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from services.store.base import EVENT_COLUMNS, PERSONAL_COLUMNS
from services.store.bulk import REBUILD_INDEXES, SQLBulkLoad, plan_rebuild
from services.store.common import INSERT_COLUMNS, QUARANTINE_COLUMNS, now, py
from services.store.rows import Rows
from services.store.sqlite_schema import to_us

if TYPE_CHECKING:
    from services.store.sqlite import SQLiteStore

# Columns with a default other than NULL: always bound (leaving one out would mean its default, not NULL).
_DEFAULTED = frozenset({"handling_level", "reopened_count"})
_MAX_NULLABLE = 62  # NULL patterns are bit masks in an int64
_LITERAL_MIN_ROWS = 64  # below this, binding costs less than compiling a statement of its own


def insert_quarantine(cx: sqlite3.Connection, rows: pd.DataFrame) -> int:
    """Insert quarantine rows (received_at default now); returns how many."""
    received = now()
    cols = QUARANTINE_COLUMNS[1:]
    data = [(to_us(r.get("received_at") if py(r.get("received_at")) is not None else received),
             *(py(r.get(c)) for c in cols[1:])) for r in rows.to_dict("records")]
    cx.executemany(f"INSERT INTO quarantine ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", data)
    return len(data)


def insert_appeal_rows(cx: sqlite3.Connection, rows: Rows, ids: np.ndarray, events: Rows,
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


def stored_keys(cx: sqlite3.Connection, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
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


class SQLiteBulkLoad(SQLBulkLoad):
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
        return stored_keys(self._cx, source, external_id)

    def _reserve_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return ids

    def _write(self, rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray) -> None:
        self._next_event = insert_appeal_rows(self._cx, rows, ids, events, event_appeal_ids, self._next_event)

    def quarantine(self, rows: pd.DataFrame) -> int:
        return insert_quarantine(self._cx, rows)  # in the load's transaction: SQLite has one writer

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
