"""Orders (发令) in SQL written once: issuing one to departments, check-ins and outcomes, reading them.
The deadlines come from services.orders, the appeal's move from services.lifecycle, inside the store's
transaction."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from services.clocks import as_local
from services.errors import NotFound, ValidationError
from services.lifecycle import transition
from services.orders import check_outcome, leader_level_code, leader_levels, rule_for_appeal
from services.store.common import ORDER_COLUMNS, ORDER_TS, now, py
from services.store.dialect import SQLDialect


class SQLOrders(SQLDialect):
    """The order part of the contract over the store's SQL primitives."""

    @abc.abstractmethod
    def _insert_order(self, cx: Any, order: dict[str, Any], departments: list[str]) -> int:
        """Insert an order and its departments; returns the order id."""

    @abc.abstractmethod
    def _known_departments(self, cx: Any, codes: list[str]) -> set[str]:
        """Which of ``codes`` are departments."""


    def _select_order_rows(self, cx: Any, order_id: int | None = None, appeal_id: int | None = None,
                           open_only: bool = False, lock: bool = False) -> pd.DataFrame:
        """Orders joined with their departments (ORDER_COLUMNS), Asia/Shanghai timestamps."""
        where: list[str] = []
        params: list[Any] = []
        if order_id is not None:
            where.append(f"o.id = {self.P}")
            params.append(order_id)
        if appeal_id is not None:
            where.append(f"o.appeal_id = {self.P}")
            params.append(appeal_id)
        if open_only:
            where.append("o.status = 'open'")
        sql = ("SELECT o.id, o.appeal_id, o.community_code, o.issued_by, o.issued_at, o.category, o.tier, "
               "o.arrival_minutes, o.arrive_by, o.leader_level, o.people_required, o.resolution_hours, "
               "o.resolve_by, o.status, o.closed_at, o.note, d.department_code, d.checked_in_at, d.outcome, "
               "d.outcome_at, d.people_on_site, d.leader_level_on_site "
               "FROM appeal_order o JOIN order_department d ON d.order_id = o.id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY o.id, {self._bytewise('d.department_code')}"
        if lock:
            sql += self._lock_clause("o, d")
        rows = self._fetch(cx, sql, params)
        return self._local_times(pd.DataFrame(rows, columns=list(ORDER_COLUMNS)), ORDER_TS)

    def _update_order_department(self, cx: Any, order_id: int, department_code: str,
                                 changes: dict[str, Any]) -> None:
        """Write check-in or outcome of one department of an order."""
        cols = list(changes)
        values = [self._param_ts(changes[c]) if c in ORDER_TS else py(changes[c]) for c in cols]
        cx.execute(f"UPDATE order_department SET {', '.join(f'{c} = {self.P}' for c in cols)} "
                   f"WHERE order_id = {self.P} AND department_code = {self.P}", (*values, order_id, department_code))

    def _close_order(self, cx: Any, order_id: int, at: datetime) -> None:
        """Mark an order closed at ``at``."""
        cx.execute(f"UPDATE appeal_order SET status = 'closed', closed_at = {self.P} WHERE id = {self.P}",
                   (self._param_ts(at), order_id))

    # -- orders --------------------------------------------------------------------------------------
    def _order_dict(self, rows: pd.DataFrame) -> dict[str, Any]:
        first = rows.iloc[0]
        out = {k: py(first[k]) for k in ORDER_COLUMNS[:16]}
        out["id"] = out.pop("order_id")
        out["departments"] = [{k: py(r[k]) for k in ORDER_COLUMNS[16:]} for _, r in rows.iterrows()]
        return out

    def order(self, order_id: int) -> dict[str, Any]:
        with self._read() as cx:
            rows = self._select_order_rows(cx, order_id=int(order_id))
        if rows.empty:
            raise NotFound("error.no_order", id=order_id)
        return self._order_dict(rows)

    def issue_order(self, appeal_id: int, departments: Iterable[str], issued_by: str,
                    at: datetime | None = None, note: str = "", *, expected_status: str | None = None,
                    expected_version: int | None = None) -> dict[str, Any]:
        deps = list(dict.fromkeys(str(d) for d in departments))
        if not deps:
            raise ValidationError("error.order_needs_department")
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            appeal = self._select_appeal(cx, int(appeal_id), lock=True)
            if appeal is None:
                raise NotFound("error.no_appeal", id=appeal_id)
            self._check_unchanged(cx, appeal, expected_status, expected_version)
            unknown = sorted(set(deps) - self._known_departments(cx, deps))
            if unknown:
                raise ValidationError("error.unknown_departments", codes=unknown)
            # Check the move before writing the order, so an illegal order leaves no row behind.
            transition(appeal, "order", at, actor=issued_by, departments=deps)
            rule = rule_for_appeal(appeal)
            clock = rule.deadlines(at)
            order = {"appeal_id": int(appeal_id), "community_code": appeal.get("community_code"),
                     "issued_by": issued_by, "issued_at": at, "category": appeal.get("category"),
                     "tier": appeal["tier"], "arrival_minutes": rule.arrival_minutes, "arrive_by": clock.arrive_by,
                     "leader_level": rule.leader_level, "people_required": rule.people,
                     "resolution_hours": rule.resolution_hours, "resolve_by": clock.resolve_by,
                     "status": "open", "closed_at": None, "note": note}
            order_id = self._insert_order(cx, order, deps)
            changes, events = transition(appeal, "order", at, actor=issued_by, note=note, departments=deps,
                                         order_id=order_id, rule=rule)
            self._update_appeal(cx, int(appeal_id), changes)
            self._insert_events(cx, events)
        return self.order(order_id)

    def _order_step(self, order_id: int, department_code: str, at: datetime | None, outcome: str | None,
                    actor: str | None = None, people: int | None = None,
                    leader_level: str | None = None, note: str = "") -> dict[str, Any]:
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            rows = self._select_order_rows(cx, order_id=int(order_id), lock=True)
            if rows.empty:
                raise NotFound("error.no_order", id=order_id)
            mine = rows[rows["department_code"] == department_code]
            if mine.empty:
                raise NotFound("error.department_not_on_order", department=department_code, order=order_id)
            row = mine.iloc[0]
            if at < row["issued_at"]:
                raise ValidationError("error.before_order", at=at)
            if outcome is None:
                if pd.notna(row["checked_in_at"]):
                    raise ValidationError("error.already_checked_in", department=department_code, order=order_id)
                if people is not None and int(people) < 1:
                    raise ValidationError("error.people_on_site", people=people)
                if leader_level and leader_level_code(leader_level) not in leader_levels():
                    raise ValidationError("error.unknown_leader_level", level=leader_level)
                changes = {"checked_in_at": at, "people_on_site": None if people is None else int(people),
                           "leader_level_on_site": leader_level_code(leader_level) if leader_level else None}
                action, text = "order_check_in", f"发令#{order_id} {department_code} 报到"
            else:
                check_outcome(outcome)
                if pd.isna(row["checked_in_at"]):
                    raise ValidationError("error.check_in_first", department=department_code, order=order_id)
                if pd.notna(row["outcome_at"]):
                    raise ValidationError("error.already_reported", department=department_code, order=order_id)
                changes = {"outcome": outcome, "outcome_at": at}
                action, text = "order_outcome", f"发令#{order_id} {department_code} {outcome}"
                if note.strip():
                    text += f"：{note.strip()}"
            self._update_order_department(cx, int(order_id), department_code, changes)
            appeal = self._select_appeal(cx, int(row["appeal_id"]), lock=True)
            if appeal is None:
                raise NotFound("error.order_missing_appeal", order=order_id, appeal=row["appeal_id"])
            self._insert_events(cx, [{"appeal_id": int(row["appeal_id"]), "at": at, "actor": actor or department_code,
                                      "action": action, "from_status": appeal["status"],
                                      "to_status": appeal["status"], "note": text}])
            if outcome is not None and (rows["outcome_at"].notna() | (rows["department_code"] == department_code)).all():
                self._close_order(cx, int(order_id), at)
        return self.order(order_id)

    def check_in(self, order_id: int, department_code: str, at: datetime | None = None, *,
                 actor: str | None = None, people: int | None = None,
                 leader_level: str | None = None) -> dict[str, Any]:
        return self._order_step(order_id, department_code, at, None, actor, people, leader_level)

    def report_outcome(self, order_id: int, department_code: str, outcome: str,
                       at: datetime | None = None, *, actor: str | None = None, note: str = "") -> dict[str, Any]:
        return self._order_step(order_id, department_code, at, outcome, actor, note=note)

    def orders(self, *, open_only: bool = False, appeal_id: int | None = None) -> pd.DataFrame:
        with self._read() as cx:
            return self._select_order_rows(cx, appeal_id=appeal_id, open_only=open_only)
