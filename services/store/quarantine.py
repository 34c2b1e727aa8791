"""The contract's quarantine upkeep written once in the dialect: settling rows (fixed or dismissed, by
whom, when, the appeal a fixed row became, why a row was dismissed) and deleting settled rows older than a moment (the retention job, services/quarantine.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.clocks import as_local
from services.errors import Labels, ValidationError
from services.store.common import QUARANTINE_RESOLUTIONS, now
from services.store.dialect import SQLDialect


class SQLQuarantine(SQLDialect):
    """Store.resolve_quarantine and Store.purge_quarantine over the store's SQL primitives."""

    def resolve_quarantine(self, ids: Iterable[int], resolution: str, actor: str,
                           at: datetime | None = None, *, appeal_id: int | None = None,
                           note: str | None = None) -> int:
        if resolution not in QUARANTINE_RESOLUTIONS:
            raise ValidationError("error.unknown_resolution", resolution=resolution,
                                  resolutions=Labels("quarantine_resolution", QUARANTINE_RESOLUTIONS))
        if not actor or not str(actor).strip():
            raise ValidationError("error.resolution_needs_actor")
        keys = sorted({int(i) for i in ids})
        if not keys:
            return 0
        cond, param = self._any_of("id", keys)
        p = self.P
        with self._tx() as cx:
            cur = cx.execute(f"UPDATE quarantine SET resolved_at = {p}, resolution = {p}, resolved_by = {p}, "
                             f"appeal_id = {p}, resolution_note = {p} WHERE {cond} AND resolved_at IS NULL",
                             (self._param_ts(as_local(at) if at is not None else now()), resolution,
                              str(actor).strip(), None if appeal_id is None else int(appeal_id),
                              (str(note).strip() or None) if note is not None else None, param))
            return int(cur.rowcount)

    def purge_quarantine(self, before: datetime) -> int:
        with self._tx() as cx:
            cur = cx.execute(f"DELETE FROM quarantine WHERE resolved_at IS NOT NULL AND resolved_at < {self.P}",
                             (self._param_ts(as_local(before)),))
            return int(cur.rowcount)
