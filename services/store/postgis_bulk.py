"""Writing new appeals into PostGIS by binary COPY: the look-up of stored keys, the COPYs of appeals
and their events, the appeal writers' advisory locks, and the bulk load (``PostGISBulkLoad``) that
streams batches from a writer thread and may rebuild the secondary indexes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from services.errors import ValidationError
from services.store.base import EVENT_COLUMNS
from services.store.bulk import REBUILD_INDEXES, SQLBulkLoad, plan_rebuild
from services.store.common import INSERT_COLUMNS
from services.store.pgbinary import HEADER, TRAILER, Column, encode_chunks, encode_rows
from services.store.postgis_schema import REBUILD_KEYS, build_indexes, create_missing_indexes
from services.store.rows import Rows

if TYPE_CHECKING:
    from services.store.postgis import PostGISStore

_SEP = "\x1f"
# Columns with a default other than NULL: always copied (leaving one out would mean its default).
_DEFAULTED = frozenset({"handling_level", "reopened_count"})


def copy_columns(cur: psycopg.Cursor, table: str, columns: Sequence[str], data: Sequence[Column]) -> None:
    """COPY equally long columns (kind, values, NULL mask) into ``table`` in binary, streamed in chunks."""
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as cp:
        for chunk in encode_chunks(data):
            cp.write(chunk)


def stored_keys(cur: psycopg.Cursor, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
    """True where (source, external_id) is already stored (as the cursor's transaction sees it)."""
    exists = np.zeros(len(source), bool)
    for src in pd.unique(source):
        mask = source == src
        ext = external_id[mask]
        # One text parameter split by the server: far cheaper to send than a 100k-element array.
        if any(_SEP in x for x in ext.tolist()):
            raise ValidationError("external_id may not contain the unit separator (U+001F)")
        joined = _SEP.join(ext.tolist())
        # First whether any stored id of the source lies between the smallest and largest of ours
        # (min/max by the server, in the column's collation; one index probe): intake files and
        # the simulator bring ids after the ones stored, and then the look-up of every id (a sort
        # and an index probe per id, ~5 ms per 1,000) is not needed.
        # Never a prepared statement (psycopg prepares a query run 5 times): its generic plan takes a
        # source for one in n_distinct(source) of the table (half of it with two sources) and scans it,
        # ~130 ms per single POST at 1M appeals; planned with the value, it is one index probe.
        cur.execute("SELECT EXISTS (SELECT 1 FROM appeal, (SELECT min(x) AS lo, max(x) AS hi FROM "
                    "unnest(string_to_array(%s, chr(31))) x) k WHERE source = %s "
                    "AND external_id BETWEEN k.lo AND k.hi)", (joined, src), prepare=False)
        if not cur.fetchone()[0]:
            continue
        cur.execute("SELECT external_id FROM appeal WHERE source = %s "
                    "AND external_id = ANY(string_to_array(%s, chr(31)))", (src, joined), prepare=False)
        found = [r[0] for r in cur.fetchall()]
        if found:
            exists[np.flatnonzero(mask)[pd.Series(ext, copy=False).isin(found).to_numpy()]] = True
    return exists


# Every writer of new appeals holds this lock for its transaction: ids are drawn as one run and
# duplicates are looked up without a race.
INSERT_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gm_insert_appeals:' || current_schema()))"
SESSION_LOCK = "SELECT pg_advisory_lock(hashtext('gm_insert_appeals:' || current_schema()))"
SESSION_UNLOCK = "SELECT pg_advisory_unlock(hashtext('gm_insert_appeals:' || current_schema()))"
TRY_SESSION_LOCK = "SELECT pg_try_advisory_lock(hashtext('gm_insert_appeals:' || current_schema()))"

# Bulk inserts of at least this many appeals refresh the planner's statistics afterwards.
ANALYZE_AFTER_ROWS = 50_000


_PART_ROWS = 5_000  # rows per COPY of a bulk load


def appeal_copies(rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray,
            event_ids: np.ndarray | None = None) -> list[tuple[str, tuple[str, ...], list[Column]]]:
    """The COPYs (table, columns, data) that store new appeals with their ids and their events
    (event ids from the identity default unless given). Columns NULL in every row are left out (their
    default is NULL)."""
    cols = [c for c in INSERT_COLUMNS if c in _DEFAULTED or not rows.all_null(c)]
    out = [("appeal", ("id", *cols), [("int8", ids, None), *(rows.column(c) for c in cols)])]
    if len(events):
        ecols = [c for c in EVENT_COLUMNS[2:] if not events.all_null(c)]
        given = [("int8", event_ids, None)] if event_ids is not None else []
        out.append(("appeal_event", (*(["id"] if given else []), "appeal_id", *ecols),
                    [*given, ("int8", event_appeal_ids, None), *(events.column(c) for c in ecols)]))
    return out


def _copy_stream(columns: Sequence[Column]) -> bytes:
    """A whole binary COPY stream (header, rows, trailer)."""
    return HEADER + encode_rows(columns) + TRAILER


class PostGISBulkLoad(SQLBulkLoad):
    """A PostGIS bulk load: the appeals and events of every batch in one transaction, fed by a writer
    thread.

    The caller's thread prepares and encodes each batch (numpy/Arrow) while the writer thread streams
    the previous one into COPY, so the server parses and indexes one batch as the client builds the
    next. Ids come from the identity sequence as one run reserved up front (sequences are not
    transactional); duplicate look-ups go through a second connection. The load holds the appeal
    writers' advisory lock for its whole length (session level), so no other writer of new appeals
    draws ids or adds keys meanwhile.

    A rebuilding load (``plan_rebuild``) drops the secondary indexes in their own short transaction
    before the data transaction and builds them again after it commits, two at a time on two
    connections (``CREATE INDEX`` takes a SHARE lock: readers go on, writers wait). Readers are never
    blocked; for the few hundred milliseconds of the build their queries read without those indexes.
    Should the process die in between, the next open of the store builds what is missing
    (``PostGISStore.repair_indexes``).
    """

    def __init__(self, store: PostGISStore, expected_rows: int | None) -> None:
        super().__init__(expected_rows)
        self._store = store
        self._indexes: list[tuple[str, str]] = []
        self._error: BaseException | None = None
        self._queue: queue.Queue[list[tuple[str, tuple[str, ...], bytes]] | None] = queue.Queue(maxsize=4)
        self._ids = np.empty(0, np.int64)
        self._event_ids = np.empty(0, np.int64)
        self._tx: psycopg.Transaction | None = None
        self._thread: threading.Thread | None = None
        self._locked = False
        self._conn = store._pool.getconn()
        self._aux: psycopg.Connection | None = None
        try:
            self._aux = store._pool.getconn()
            cx = self._conn
            cx.execute(SESSION_LOCK)
            self._locked = True
            create_missing_indexes(cx)  # what a load that died before its index builds left missing
            self._sequence, self._event_sequence = cx.execute(
                "SELECT pg_get_serial_sequence('appeal', 'id'), pg_get_serial_sequence('appeal_event', 'id')").fetchone()
            stored = int(cx.execute("SELECT count(*) FROM appeal").fetchone()[0])
            # Dropping and rebuilding indexes is for the tables' owner; the app's own role (README "PostGIS
            # grants") loads into the indexed tables.
            self.rebuild = plan_rebuild(expected_rows, stored) and bool(cx.execute(
                "SELECT pg_has_role(current_user, tableowner, 'USAGE') FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = 'appeal'").fetchone()[0])
            if self.rebuild:
                with cx.cursor() as cur:
                    cur.execute("SELECT source, external_id FROM appeal")
                    for src, ext in cur:
                        self._seen.setdefault(src, set()).add(ext)
                self._indexes = [(name, REBUILD_KEYS.get(name, ddl)) for name, ddl in cx.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname = ANY(%s)", ([*REBUILD_INDEXES, *REBUILD_KEYS],)).fetchall()]
                with cx.transaction():
                    for name, _ in self._indexes:
                        if name in REBUILD_KEYS:
                            cx.execute(sql.SQL("ALTER TABLE appeal_event DROP CONSTRAINT {}").format(
                                sql.Identifier(name)))
                        else:
                            cx.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            if expected_rows:  # one event per appeal is the usual: intake's report events
                self._ids = self._draw_ids(self._sequence, int(expected_rows))
                self._event_ids = self._draw_ids(self._event_sequence, int(expected_rows))
            self._tx = cx.transaction()
            self._tx.__enter__()
            cx.execute("SET LOCAL synchronous_commit = off")  # as insert_appeals: a crash loses the load whole
            self._thread = threading.Thread(target=self._run, name="gm-bulk-copy", daemon=True)
            self._thread.start()
        except BaseException:
            self._close(commit=False)
            raise

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            jobs = self._queue.get()
            if jobs is None:
                return
            if self._error is not None:
                continue  # drain: the caller raises the error at its next call
            try:
                with self._conn.cursor() as cur:
                    for table, cols, data in jobs:
                        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as cp:
                            cp.write(data)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    # -- SQLBulkLoad --------------------------------------------------------------------------------
    def _draw_ids(self, sequence: str, n: int) -> np.ndarray:
        """A run of ``n`` values of ``sequence`` (setval is not transactional: others draw after it)."""
        last = self._aux.execute("SELECT setval(%s::regclass, nextval(%s::regclass) + %s - 1)",
                                 (sequence, sequence, n)).fetchone()[0]
        return np.arange(last - n + 1, last + 1, dtype=np.int64)

    def _take_ids(self, which: str, sequence: str, n: int) -> np.ndarray:
        """``n`` ids from the run reserved for ``which`` (``_ids``/``_event_ids``), drawing more as needed
        (ids stay ascending)."""
        have = getattr(self, which)
        if len(have) < n:
            have = np.concatenate([have, self._draw_ids(sequence, max(n - len(have), 10_000))])
        setattr(self, which, have[n:])
        return have[:n]

    def _stored_mask(self, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        with self._aux.cursor() as cur:
            return stored_keys(cur, source, external_id)

    def _reserve_ids(self, n: int) -> np.ndarray:
        return self._take_ids("_ids", self._sequence, n)

    def _write(self, rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray) -> None:
        # In parts of a few thousand rows: the writer starts on the first part while the rest is
        # encoded, and the last part leaves the server little to do after the client has finished.
        event_ids = self._take_ids("_event_ids", self._event_sequence, len(events))
        for start in range(0, len(rows), _PART_ROWS):
            self._raise_error()
            part = slice(start, start + _PART_ROWS)
            mine = (event_appeal_ids >= ids[part][0]) & (event_appeal_ids <= ids[part][-1])
            self._queue.put([(table, cols, _copy_stream(data)) for table, cols, data in appeal_copies(
                rows.take(part), ids[part], events.take(mine), event_appeal_ids[mine], event_ids[mine])])

    def quarantine(self, rows: pd.DataFrame) -> int:
        return self._store.quarantine(rows)  # its own transaction: the load locks no quarantine row

    def _finish(self) -> None:
        super()._finish()
        try:
            self._stop_writer()
            self._raise_error()
        except BaseException:
            self._close(commit=False)
            raise
        self._close(commit=True)
        if self.stored >= ANALYZE_AFTER_ROWS:
            self._store.analyze_later()

    def _abort(self) -> None:
        super()._abort()
        self._close(commit=False)

    def _stop_writer(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._thread = None

    def _close(self, commit: bool) -> None:
        """End the data transaction (commit or roll back), build the dropped indexes again, unlock and
        give the connections back; whatever fails, the later steps still run."""
        try:
            try:
                self._stop_writer()
                if self._tx is not None:
                    tx, self._tx = self._tx, None
                    tx.__exit__(*((None, None, None) if commit else
                                  (RuntimeError, RuntimeError("bulk load failed"), None)))
            finally:
                if self._indexes:
                    indexes, self._indexes = self._indexes, []
                    build_indexes([c for c in (self._conn, self._aux) if c is not None], indexes)
        finally:
            try:
                if self._locked and not self._conn.closed:
                    self._conn.execute(SESSION_UNLOCK)
            finally:
                self._store._pool.putconn(self._conn)
                if self._aux is not None:
                    self._store._pool.putconn(self._aux)
