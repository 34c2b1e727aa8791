"""``SQLStore``: the contract written once over the dialect each store supplies
(services/store/dialect.py), so the two stores differ only in SQL, never in a rule: the rules come from
services.lifecycle / clocks / orders, called inside the store's transaction. The reads, orders,
scenarios, the department assessment, the analysis, the daily briefing, quarantine upkeep, import jobs, accounts, the audit log, and the kiosk
tokens with the identity map and the partners' API keys are parts of their own (queries.py, assessment.py, analysis.py, briefing.py, orders.py, scenarios.py,
quarantine.py, accounts.py, audit.py,
kiosk.py, api_keys_sql.py); here are the appeal actions, insert_appeals over a few per-store steps, the bulk load's frame
and the schema version."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import as_local
from services.errors import Label, Labels, NotFound, ValidationError
from services.lifecycle import ACTIONS, SYSTEM_ACTIONS, check_dispatch_unit, transition
from services.store.accounts import SQLAccounts
from services.store.analysis_summary import SQLAnalysisSummary
from services.store.api_keys_sql import SQLApiKeys
from services.store.assessment import SQLAssessment
from services.store.audit import SQLAudit
from services.store.base import PERSONAL_COLUMNS, BulkLoad, InsertResult, Store
from services.store.briefing import SQLBriefing
from services.store.bulk import SQLBulkLoad
from services.store.common import now
from services.store.import_jobs import SQLImportJobs
from services.store.kiosk import SQLKiosk
from services.store.orders import SQLOrders
from services.store.quarantine import SQLQuarantine
from services.store.queries import SQLQueries
from services.store.reference import SQLReference
from services.store.rows import Rows, prepare_appeals, rekey, report_event_rows
from services.store.scenarios import SQLScenarios


class SQLStore(SQLQueries, SQLAssessment, SQLBriefing, SQLAnalysisSummary, SQLReference, SQLOrders, SQLScenarios,
               SQLQuarantine,
               SQLImportJobs, SQLAccounts,
               SQLAudit, SQLApiKeys, SQLKiosk, Store):
    """The contract's actions written once over per-store SQL primitives."""

    @abc.abstractmethod
    def _open_bulk_load(self, expected_rows: int | None) -> SQLBulkLoad:
        """Begin a bulk load: its transaction, the rebuild plan, and (when rebuilding) the stored keys."""

    # -- what insert_appeals needs of a store --------------------------------------------------------
    @abc.abstractmethod
    def _insert_tx(self) -> AbstractContextManager[Any]:
        """The transaction of one insert_appeals (yields what the three below take)."""

    @abc.abstractmethod
    def _stored_keys(self, cx: Any, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        """True where (source, external_id) is already stored."""

    @abc.abstractmethod
    def _new_appeal_ids(self, cx: Any, n: int) -> np.ndarray:
        """``n`` new appeal ids, ascending."""

    @abc.abstractmethod
    def _write_appeals(self, cx: Any, rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray
                       ) -> None:
        """Write new appeals with their ids and their events."""

    def _inserted(self, n: int) -> None:
        """After an insert_appeals of ``n`` new appeals has committed."""

    def insert_appeals(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None, *,
                       actor: str = "intake") -> InsertResult:
        rows, ev, repeats = prepare_appeals(appeals, events)
        if not len(rows):
            return InsertResult(0, repeats, [])
        with self._insert_tx() as cx:
            exists = self._stored_keys(cx, rows.values["source"], rows.values["external_id"])
            if exists.any():
                rows = rows.take(~exists)
            if not len(rows):
                return InsertResult(0, repeats + int(exists.sum()), [])
            ids = self._new_appeal_ids(cx, len(rows))
            evs, appeal_ids = rekey(rows.values["src_id"], ids, report_event_rows(rows, actor) if ev is None else ev)
            self._write_appeals(cx, rows, ids, evs, appeal_ids)
        self._inserted(len(rows))
        return InsertResult(len(rows), repeats + int(exists.sum()), ids.tolist())

    # -- schema --------------------------------------------------------------------------------------
    VERSION_TABLE: str  # CREATE TABLE IF NOT EXISTS schema_version …, from the store's schema module

    def schema_version(self) -> int:
        with self._read() as cx:
            # CREATE only when missing: on PostGIS even CREATE TABLE IF NOT EXISTS needs the CREATE right
            # on the schema, which the app's own role does not have (README "PostGIS grants").
            if not self._has_table(cx, "schema_version"):
                cx.execute(self.VERSION_TABLE)
            return int(cx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    @contextmanager
    def bulk_load(self, expected_rows: int | None = None) -> Iterator[BulkLoad]:
        load = self._open_bulk_load(expected_rows)
        try:
            yield load
        except BaseException:
            load._abort()
            raise
        load._finish()

    def get_appeal(self, appeal_id: int, *, include_personal: bool = True) -> dict[str, Any]:
        with self._read() as cx:
            row = self._select_appeal(cx, int(appeal_id))
        if row is None:
            raise NotFound("error.no_appeal", id=appeal_id)
        if not include_personal:
            for c in PERSONAL_COLUMNS:
                row.pop(c, None)
        return row

    def act(self, appeal_id: int, action: str, actor: str, at: datetime | None = None, note: str = "",
            *, expected_status: str | None = None, expected_version: int | None = None,
            **params: Any) -> dict[str, Any]:
        if action == "order":
            raise ValidationError("error.order_via_issue_order")
        if action in SYSTEM_ACTIONS:
            raise ValidationError("error.system_action", action=Label("action", action))
        if action not in ACTIONS:
            raise ValidationError("error.unknown_action", action=Label("action", action),
                                  actions=Labels("action", [a for a in ACTIONS if a not in SYSTEM_ACTIONS]))
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            appeal = self._select_appeal(cx, int(appeal_id), lock=True)
            if appeal is None:
                raise NotFound("error.no_appeal", id=appeal_id)
            self._check_unchanged(cx, appeal, expected_status, expected_version)
            changes, events = transition(appeal, action, at, actor=actor, note=note, **params)
            if action == "dispatch":  # to a unit that exists, checked before anything is written
                target = str(params["target"])
                check_dispatch_unit(appeal, target, self._known_departments(cx, [target]))
            self._update_appeal(cx, int(appeal_id), changes)
            self._insert_events(cx, events)
            appeal.update(changes)
        return self.get_appeal(int(appeal_id))

    def mark_gathering(self, assignments: pd.DataFrame, actor: str = "system",
                       at: datetime | None = None) -> int:
        at = as_local(at) if at is not None else now()
        changed = 0
        with self._tx() as cx:
            for row in assignments.itertuples(index=False):
                appeal = self._select_appeal(cx, int(row.appeal_id), lock=True)
                if appeal is None:
                    raise NotFound("error.no_appeal", id=row.appeal_id)
                if appeal["status"] == "closed":
                    continue
                if appeal.get("gathering_id") == int(row.gathering_id) and \
                        appeal.get("gathering_tier") == row.gathering_tier:
                    continue
                event_at = max(at, appeal["reported_at"])
                changes, events = transition(appeal, "gathering", event_at, actor=actor,
                                             gathering_id=int(row.gathering_id),
                                             gathering_tier=str(row.gathering_tier))
                self._update_appeal(cx, int(row.appeal_id), changes)
                self._insert_events(cx, events)
                changed += 1
        return changed
