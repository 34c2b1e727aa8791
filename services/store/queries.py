"""The contract's reads written once in the dialect: appeals, events, counts, overdue appeals, department statistics,
reference layers and quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from services.store.base import EVENT_COLUMNS, TIMESTAMP_COLUMNS, AppealQuery
from services.store.common import (
    AREA_PAGE_LEVELS,
    OPEN_SQL,
    OPEN_WINDOW_SQL,
    QUARANTINE_READ_COLUMNS,
    area_page_sql,
    columns_for,
    level_column,
    order_sql,
    point_columns,
    shape_appeals,
    stats_frame,
    status_filter,
)
from services.store.dialect import SQLDialect


class SQLQueries(SQLDialect):
    """The read part of the contract over the store's SQL primitives."""

    def events(self, appeal_id: int) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(EVENT_COLUMNS)} FROM appeal_event WHERE appeal_id = {self.P} "
                                   "ORDER BY at, id", (int(appeal_id),))
        return self._local_times(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)), ["at"])

    def appeal_ids_by_key(self, source: str, external_ids: Sequence[str]) -> dict[str, int]:
        keys = sorted({str(x) for x in external_ids})
        if not keys:
            return {}
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT external_id, id FROM appeal WHERE source = {self.P} AND external_id IN "
                                   f"({', '.join([self.P] * len(keys))})", (str(source), *keys))
        return {str(e): int(i) for e, i in rows}

    def event_count(self) -> int:
        with self._read() as cx:
            return int(self._fetch(cx, "SELECT COUNT(*) FROM appeal_event", ())[0][0])

    def _query_appeals(self, q: AppealQuery) -> pd.DataFrame:
        where, params = self._window(q.since, q.until)
        if q.statuses is not None:
            fixed, values = status_filter(q.statuses)
            if fixed:
                where.append(fixed)
                if q.since is not None or q.until is not None:
                    where.append(OPEN_WINDOW_SQL)
            elif values is not None:
                cond, param = self._any_of("status", values)
                where.append(cond)
                params.append(param)
        for col, values in (("tier", q.tiers), ("category", q.categories)):
            if values is not None:
                cond, param = self._any_of(col, list(values))
                where.append(cond)
                params.append(param)
        if q.area is not None:
            page = q.statuses is None and q.order in ("newest", "oldest") and q.area[0] in AREA_PAGE_LEVELS
            where.append(f"{area_page_sql(q.area[0]) if page else level_column(q.area[0])} = {self.P}")
            params.append(q.area[1])
        cols = columns_for(q.include_personal, q.columns)
        sql = f"SELECT {', '.join(cols)} FROM appeal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_sql(q.order)}"
        if q.limit is not None:
            sql += f" LIMIT {self.P}"
            params.append(int(q.limit))
        with self._read() as cx:
            rows = self._fetch(cx, sql, params, binary=True)
        return shape_appeals(self._local_times(pd.DataFrame(rows, columns=list(cols)), TIMESTAMP_COLUMNS))

    def counts(self, level: str, *, since: datetime | None = None, until: datetime | None = None,
               open_only: bool = False) -> pd.DataFrame:
        col = level_column(level)
        where, params = self._window(since, until)
        if open_only:
            where += [OPEN_SQL, OPEN_WINDOW_SQL] if where else [OPEN_SQL]
        sql = f"SELECT {col} AS code, tier, status, COUNT(*) AS n FROM appeal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += (f" GROUP BY 1, 2, 3 ORDER BY {col} IS NULL, "
                + ", ".join(self._bytewise(c) for c in (col, "tier", "status")))
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = pd.DataFrame(rows, columns=["code", "tier", "status", "n"])
        df["n"] = df["n"].astype("int64")
        return df

    def departments(self) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT code, name, name_en FROM department ORDER BY {self._bytewise('code')}", ())
        return pd.DataFrame(rows, columns=["code", "name", "name_en"])

    def points(self, kind: str) -> pd.DataFrame:
        cols = point_columns(kind)
        # The one place closed stations are left out: every screen's stations (coverage, service circles,
        # planning, the wall, the map) are read here, through services.reference.points.
        open_only = " WHERE closed_at IS NULL" if kind == "station" else ""
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(cols)} FROM {kind}{open_only} "
                                   f"ORDER BY {self._bytewise('code')}", ())
        df = pd.DataFrame(rows, columns=list(cols))
        for c in ("offers_appeal", "offers_legal", "offers_psychological"):
            if c in df:
                df[c] = df[c].astype("boolean")
        return df

    def quarantined(self, *, source: str | None = None) -> pd.DataFrame:
        sql = f"SELECT {', '.join(QUARANTINE_READ_COLUMNS)} FROM quarantine"
        params: list[Any] = []
        if source is not None:
            sql += f" WHERE source = {self.P}"
            params.append(source)
        sql += " ORDER BY received_at DESC, id DESC"
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return self._local_times(pd.DataFrame(rows, columns=list(QUARANTINE_READ_COLUMNS)),
                                 ["received_at", "resolved_at"])

    def department_stats(self, since: datetime, until: datetime, *,
                         area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {"since": self._param_ts(since), "until": self._param_ts(until)}
        in_area = ""
        if area is not None:
            in_area = f"JOIN appeal a ON a.id = o.appeal_id AND a.{level_column(area[0])} = {self.NAMED.format('area')}\n"
            params["area"] = area[1]
        until_ = self.NAMED.format("until")
        count, real = self.COUNT_IF.format, self.AS_FLOAT.format
        m = self.measures(until_)  # services/store/dialect.py: the one meaning of each condition
        timely, within = count(m["timely"]), count(m["within"])
        due_check_ins, due_outcomes = count(m["due_check_in"]), count(m["due_outcome"])
        sql = f"""
SELECT d.department_code AS code, dep.name AS name, COUNT(*) AS orders,
       {count("d.checked_in_at IS NOT NULL")} AS checked_in,
       {timely} AS timely_check_ins,
       {due_check_ins} AS due_check_ins,
       {real(timely)} / NULLIF({due_check_ins}, 0) AS timely_check_in_rate,
       {self._avg_arrival_sql()} AS avg_arrival_minutes,
       {within} AS resolved_within_limit,
       {due_outcomes} AS due_outcomes,
       {real(within)} / NULLIF({due_outcomes}, 0) AS resolved_within_limit_rate
FROM order_department d
JOIN appeal_order o ON o.id = d.order_id
{in_area}LEFT JOIN department dep ON dep.code = d.department_code
WHERE o.issued_at >= {self.NAMED.format("since")} AND o.issued_at < {until_}
GROUP BY d.department_code, dep.name
ORDER BY {self._bytewise("d.department_code")}"""
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return stats_frame(rows)

    def overdue(self, now: datetime, *, limit: int | None = None,
                area: tuple[str, str] | None = None) -> pd.DataFrame:
        at = self.NAMED.format("now")
        params: dict[str, Any] = {"now": self._param_ts(now)}
        in_area = ""
        if area is not None:
            in_area = f" AND {level_column(area[0])} = {self.NAMED.format('area')}"
            params["area"] = area[1]
        sql = ("SELECT id, tier, appeal_class, status, category, subdistrict_code, community_code, grid_code, "
               f"next_deadline_kind, next_deadline_at, {self.MINUTES.format(at, 'next_deadline_at')} AS minutes_overdue "
               f"FROM appeal WHERE status <> 'closed' AND next_deadline_at < {at}{in_area} "
               "ORDER BY next_deadline_at, id")
        if limit is not None:
            sql += f" LIMIT {self.NAMED.format('limit')}"
            params["limit"] = int(limit)
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = pd.DataFrame(rows, columns=["id", "tier", "appeal_class", "status", "category", "subdistrict_code",
                                         "community_code", "grid_code", "next_deadline_kind", "next_deadline_at",
                                         "minutes_overdue"])
        df["minutes_overdue"] = df["minutes_overdue"].astype(float)
        return shape_appeals(self._local_times(df, ["next_deadline_at"]))
