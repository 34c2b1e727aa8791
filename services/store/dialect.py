"""What each store supplies to the SQL written once (``services.store.sqlstore.SQLStore``): its
connections and transactions, one appeal row, and a small dialect (placeholders, how timestamps go in
and come out, "one of these values", byte order, row locks, counting and time arithmetic), with the
primitives written once over it (window conditions, appeal updates, event appends)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import pandas as pd

from services.errors import AppealChanged, Label, ValidationError
from services.store.base import APPEAL_COLUMNS, TIMESTAMP_COLUMNS
from services.store.common import py


class SQLDialect(abc.ABC):
    """The per-store SQL primitives and dialect, and what is written once over them."""

    # -- primitives each store implements in its own SQL ---------------------------------------------
    # -- primitives each store implements in its own SQL ---------------------------------------------
    @abc.abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """A write transaction (commits on success, rolls back on any exception); yields a connection."""

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A connection for reads (no write lock); yields a connection."""

    @abc.abstractmethod
    def _select_appeal(self, cx: Any, appeal_id: int, lock: bool = False) -> dict[str, Any] | None:
        """One appeal as a dict with Python values and Asia/Shanghai datetimes (locked if ``lock``)."""

    # -- the dialect: all that differs between the two stores' SQL, so that the queries are written
    # once ----------------------------------------------------------------------------------------------
    P = "?"  # the driver's parameter placeholder

    @abc.abstractmethod
    def _param_ts(self, value: Any) -> Any:
        """A timestamp as the driver stores it (None, NaT stay None)."""

    @abc.abstractmethod
    def _any_of(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        """The condition "``column`` is one of ``values``" and its one parameter."""

    @abc.abstractmethod
    def _local_times(self, df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """``df`` with its timestamp ``columns`` (as the driver returned them) in Asia/Shanghai."""

    @abc.abstractmethod
    def _local_time(self, value: Any) -> datetime | None:
        """One timestamp (as the driver returned it) in Asia/Shanghai; None stays None."""

    @abc.abstractmethod
    def _json_param(self) -> str:
        """The placeholder of a parameter holding JSON text, as the column that keeps JSON takes it."""

    def _bytewise(self, expr: str) -> str:
        """``expr`` for ORDER BY in byte order (codes sort the same in both stores)."""
        return expr

    def _lock_clause(self, tables: str) -> str:
        """What locks the selected rows of ``tables`` until the transaction ends ("" where the write
        transaction already excludes every other writer)."""
        return ""

    def _fetch(self, cx: Any, sql: str, params: Sequence[Any] | dict[str, Any], binary: bool = False) -> list[Any]:
        """Every row of a query (``binary``: a hint that results are many and wide)."""
        return cx.execute(sql, params).fetchall()

    @abc.abstractmethod
    def _has_table(self, cx: Any, name: str) -> bool:
        """Whether the store's schema has the table ``name``."""

    def _executemany(self, cx: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cx.executemany(sql, rows)

    def _window(self, since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
        """Conditions and parameters of a report-time window [since, until)."""
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append(f"reported_at >= {self.P}")
            params.append(self._param_ts(since))
        if until is not None:
            where.append(f"reported_at < {self.P}")
            params.append(self._param_ts(until))
        return where, params

    # Templates (str.format) of the SQL the shared aggregates need: a named parameter, a count of the
    # rows where a condition holds (NULL when none is known, as SUM), a cast to float, and the minutes
    # from timestamp {1} to {0}.
    NAMED = ":{}"
    COUNT_IF = "SUM({})"
    AS_FLOAT = "CAST({} AS REAL)"
    MINUTES = "({0} - {1}) / 60000000.0"

    # The order measures' SQL, written once (services/store/assessment.py, queries.py department_stats).
    # Microseconds from timestamp {1} to {0} as an integer (each store's own; SQLite keeps microseconds).
    MICROS = "({0} - {1})"

    def _arrival_micros(self) -> str:
        return self.MICROS.format("d.checked_in_at", "o.issued_at")

    def measures(self, until: str) -> dict[str, str]:
        """The conditions every order measure counts, over ``d`` and ``o``; ``until`` is the SQL of the
        period's end (a due deadline is one that passed before it)."""
        from services.orders import on_time_sql  # (services.orders reaches the stores through audit)

        return {
            "checked_in": "d.checked_in_at IS NOT NULL",
            "timely": on_time_sql("d.checked_in_at", "o.arrive_by"),
            # A check-in is due when it happened or its deadline passed within the period.
            "due_check_in": f"d.checked_in_at IS NOT NULL OR o.arrive_by < {until}",
            "within": "d.outcome = 'resolved' AND d.outcome_at <= o.resolve_by",
            "due_outcome": f"d.outcome_at IS NOT NULL OR o.resolve_by < {until}",
        }

    def _avg_arrival_sql(self) -> str:
        """The average minutes from order to check-in over the checked-in rows: the exact integer sum of
        microseconds over their count (one float division, the same in both stores)."""
        return (f"{self.AS_FLOAT.format(f'SUM({self._arrival_micros()})')} / "
                "NULLIF(" + self.COUNT_IF.format("d.checked_in_at IS NOT NULL") + ", 0) / 60000000.0")

    # -- primitives written once in the dialect ---------------------------------------------------------
    def _update_appeal(self, cx: Any, appeal_id: int, changes: dict[str, Any]) -> None:
        """Write changed columns of one appeal."""
        cols = [c for c in changes if c in APPEAL_COLUMNS and c != "id"]
        if len(cols) != len(changes):
            raise ValidationError(f"not appeal columns: {sorted(set(changes) - set(cols))}")
        values = [self._param_ts(changes[c]) if c in TIMESTAMP_COLUMNS else py(changes[c]) for c in cols]
        cx.execute(f"UPDATE appeal SET {', '.join(f'{c} = {self.P}' for c in cols)} WHERE id = {self.P}",
                   (*values, appeal_id))

    def _version(self, cx: Any, appeal_id: int) -> int:
        """The appeal's version: how many events it has (events are append-only and every change
        appends one, so the count moves with every change and never comes back)."""
        return int(cx.execute(f"SELECT COUNT(*) FROM appeal_event WHERE appeal_id = {self.P}",
                              (appeal_id,)).fetchone()[0])

    def _check_unchanged(self, cx: Any, appeal: dict[str, Any], expected_status: str | None,
                         expected_version: int | None) -> None:
        """Raises ``AppealChanged`` when the (locked) appeal is no longer what the caller saw: another
        status, or more events than the version it read. Called in the action's own transaction, after
        the row lock, so two people acting on what they both saw cannot both write (no lost update)."""
        if expected_status is None and expected_version is None:
            return
        status = appeal["status"]
        if (expected_status is not None and status != expected_status) or (
                expected_version is not None and self._version(cx, int(appeal["id"])) != int(expected_version)):
            raise AppealChanged("error.appeal_changed", id=appeal["id"], status=Label("status", status))

    def _insert_events(self, cx: Any, events: list[dict[str, Any]]) -> None:
        """Append events (dicts of EVENT_COLUMNS without id)."""
        p = self.P
        self._executemany(
            cx, "INSERT INTO appeal_event (appeal_id, at, actor, action, from_status, to_status, note) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            [(e["appeal_id"], self._param_ts(e["at"]), e.get("actor"), e["action"], e.get("from_status"),
              e.get("to_status"), e.get("note")) for e in events])
