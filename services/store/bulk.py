"""The store-independent half of ``Store.bulk_load``: duplicates within a load and against stored rows,
ids and events per batch (``SQLBulkLoad``), and when a load drops and rebuilds indexes (``plan_rebuild``)."""

from __future__ import annotations

import abc

import numpy as np
import pandas as pd

from services.store.base import BulkLoad, InsertResult
from services.store.rows import Rows, prepare_appeals, rekey, report_event_rows

# Secondary indexes a large load drops and builds again (names as in both schemas; SQLite has no
# appeal_geom). Primary keys and the unique (source, external_id) stay: duplicates and ids rely on them.
REBUILD_INDEXES = ("appeal_geom", "appeal_reported_at", "appeal_open_deadline", "appeal_open_tier",
                   "appeal_event_appeal", "appeal_building_category", "appeal_open_reported", "appeal_gathering",
                   "appeal_resolving", "appeal_resolved_at", "appeal_gathering_member",
                   "appeal_subdistrict_reported", "appeal_community_reported")
# Loads smaller than this keep every index: dropping and building costs more than it saves.
REBUILD_MIN_ROWS = 20_000


def plan_rebuild(expected_rows: int | None, stored_rows: int) -> bool:
    """Whether a load of ``expected_rows`` into a table of ``stored_rows`` drops and rebuilds indexes:
    only when it is large and brings at least as many appeals as are stored (then one build over all
    rows is cheaper than maintaining the indexes row by row)."""
    return expected_rows is not None and expected_rows >= REBUILD_MIN_ROWS and expected_rows >= stored_rows



class SQLBulkLoad(BulkLoad, abc.ABC):
    """The store-independent part of a bulk load: preparing each batch, duplicates within the load
    (a set of keys per source) and against stored rows, ids, events. A store supplies the look-up of
    stored keys, id reservation and the write, and opens/ends the transaction."""

    def __init__(self, expected_rows: int | None) -> None:
        self.expected_rows = expected_rows
        self.stored = 0
        self.duplicates = 0
        self.rebuild = False
        self._seen: dict[str, set[str]] = {}
        self._open = True

    # -- what a store supplies --------------------------------------------------------------------
    @abc.abstractmethod
    def _stored_mask(self, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        """True where (source, external_id) was stored before this load began."""

    @abc.abstractmethod
    def _reserve_ids(self, n: int) -> np.ndarray:
        """``n`` new appeal ids, ascending."""

    @abc.abstractmethod
    def _write(self, rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray) -> None:
        """Write (or queue for writing, inside the load's transaction) new appeals and their events."""

    # -- shared ---------------------------------------------------------------------------------------
    def _remember(self, source: np.ndarray, external_id: np.ndarray) -> None:
        for src in pd.unique(source):
            self._seen.setdefault(str(src), set()).update(external_id[source == src].tolist())

    def _seen_mask(self, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        out = np.zeros(len(source), bool)
        for src in pd.unique(source):
            seen = self._seen.get(str(src))
            if seen:
                m = source == src
                out[m] = [e in seen for e in external_id[m].tolist()]
        return out

    def add(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None, *,
            actor: str = "intake") -> InsertResult:
        if not self._open:
            raise RuntimeError("this bulk load has ended")
        rows, ev, repeats = prepare_appeals(appeals, events)
        if not len(rows):
            self.duplicates += repeats
            return InsertResult(0, repeats, [])
        src, ext = rows.values["source"], rows.values["external_id"]
        dup = self._seen_mask(src, ext)
        if not self.rebuild and not dup.all():  # a rebuilding load knows every stored key already
            fresh = np.flatnonzero(~dup)
            dup[fresh] = self._stored_mask(src[fresh], ext[fresh])
        duplicates = repeats + int(dup.sum())
        self.duplicates += duplicates
        if dup.any():
            rows = rows.take(~dup)
        if not len(rows):
            return InsertResult(0, duplicates, [])
        self._remember(rows.values["source"], rows.values["external_id"])
        ids = self._reserve_ids(len(rows))
        evs, appeal_ids = rekey(rows.values["src_id"], ids, report_event_rows(rows, actor) if ev is None else ev)
        self._write(rows, ids, evs, appeal_ids)
        self.stored += len(rows)
        return InsertResult(len(rows), duplicates, ids.tolist())

    def _finish(self) -> None:
        """Complete the writes, rebuild what was dropped and commit."""
        self._open = False

    def _abort(self) -> None:
        """Roll everything back."""
        self._open = False
