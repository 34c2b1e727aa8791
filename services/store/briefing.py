"""The daily briefing's reads (services/briefing/content.py, issue 15) in SQL written once for both stores:
what was left unresolved at the data's cut-off (每日清零 per community, the grids' open counts, the red and
overdue points), the day's red-tier appeals and gathering clusters, the day's orders and the span of the
running clocks. Each read is one query (the orders two) over indexed rows (the unresolved appeals, one day's appeals, one
day's orders): nothing loads every appeal, so a briefing of a store of 1,000,000 appeals takes a second or
so. No read returns personal data or free text (no reporter, description or note).

"Unresolved at the cut-off" (the briefing's one meaning of open overnight): reported before the cut-off,
and either still in a status whose resolution clock runs (services.vocabulary RESOLVING) or resolved at
or after the cut-off. The store keeps each appeal's state now, so an appeal resolved after the cut-off
counts by its ``resolved_at``; the two halves are read by their own indexes (``appeal_resolving`` and
``appeal_resolved_at``, SQLite migration 13 / PostGIS 14) and added up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from services.store.analysis import RESOLVING_SQL, SQLAnalysis

# What each read returns, in order.
CLEARANCE_COLUMNS = ("community_code", "open_overnight", "oldest_id", "oldest_reported_at", "oldest_category")
POINT_COLUMNS = ("id", "lon", "lat", "tier", "overdue", "grid_code", "community_code")
RED_COLUMNS = ("id", "reported_at", "category", "community_code", "status")
MEMBER_COLUMNS = ("id", "category", "lon", "lat", "reported_at", "gathering_id", "gathering_tier", "tier",
                  "status", "community_code")
ORDER_COUNTS = ("issued", "checked_in_on_time", "checked_in_late", "not_checked_in", "still_open")


class SQLBriefing(SQLAnalysis):
    """The briefing reads of the contract (Store.briefing_*)."""

    def _area_sql(self, area: tuple[str, str] | None, params: dict[str, Any], alias: str = "a") -> str:
        """`` AND <alias>'s area is ``area```` ("" for the whole district)."""
        _key, _group, where = self._scope("district", area, params, alias)
        return "".join(f" AND {w}" for w in where)

    def _unresolved(self, cut_off: datetime, area: tuple[str, str] | None, params: dict[str, Any],
                    columns: str, overdue: bool = False) -> str:
        """A query of ``columns`` (over ``a``) of the appeals unresolved at the cut-off (the module's
        definition), as two indexed halves; with ``overdue`` an ``overdue`` column (1 or 0): past its next
        deadline at the cut-off if still unresolved, past its resolution deadline if resolved since."""
        params["cut"] = self._param_ts(cut_off)
        cut, area_sql = self.NAMED.format("cut"), self._area_sql(area, params)
        late = (f", CASE WHEN a.next_deadline_at < {cut} THEN 1 ELSE 0 END AS overdue",
                f", CASE WHEN a.resolve_due_at < {cut} THEN 1 ELSE 0 END AS overdue") if overdue else ("", "")
        return (f"SELECT {columns}{late[0]} FROM appeal a WHERE {RESOLVING_SQL} AND a.reported_at < {cut}{area_sql} "
                f"UNION ALL SELECT {columns}{late[1]} FROM appeal a WHERE a.resolved_at >= {cut} "
                f"AND a.reported_at < {cut} AND NOT ({RESOLVING_SQL}){area_sql}")

    def briefing_clearance(self, cut_off: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        u = self._unresolved(cut_off, area, params, "a.id, a.community_code, a.reported_at, a.category")
        sql = f"""
WITH u AS ({u}),
r AS (SELECT u.*, ROW_NUMBER() OVER (PARTITION BY u.community_code ORDER BY u.reported_at, u.id) AS k,
             COUNT(*) OVER (PARTITION BY u.community_code) AS n
      FROM u WHERE u.community_code IS NOT NULL)
SELECT r.community_code, r.n, r.id, r.reported_at, r.category FROM r WHERE r.k = 1
ORDER BY {self._bytewise('r.community_code')}"""
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = self._local_times(pd.DataFrame([tuple(r) for r in rows], columns=list(CLEARANCE_COLUMNS)),
                               ["oldest_reported_at"])
        for c in ("open_overnight", "oldest_id"):
            df[c] = df[c].astype("int64")
        return df

    def briefing_grid_counts(self, cut_off: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        u = self._unresolved(cut_off, area, params, "a.grid_code, a.tier")
        sql = (f"WITH u AS ({u}) SELECT u.grid_code, u.tier, COUNT(*) AS n FROM u WHERE u.grid_code IS NOT NULL "
               f"GROUP BY u.grid_code, u.tier ORDER BY {self._bytewise('u.grid_code')}, u.tier")
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = pd.DataFrame([tuple(r) for r in rows], columns=["code", "tier", "n"])
        df["n"] = df["n"].astype("int64")
        return df

    def briefing_points(self, cut_off: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        u = self._unresolved(cut_off, area, params, "a.id, a.lon, a.lat, a.tier, a.grid_code, a.community_code",
                             overdue=True)
        sql = (f"WITH u AS ({u}) SELECT u.id, u.lon, u.lat, u.tier, u.overdue, u.grid_code, u.community_code "
               "FROM u WHERE (u.tier = 'red' OR u.overdue = 1) AND u.lon IS NOT NULL AND u.lat IS NOT NULL")
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        # Sorted here: an ORDER BY over the union makes SQLite merge both halves in id order, scanning the
        # whole table instead of the two indexes.
        df = pd.DataFrame([tuple(r) for r in rows], columns=list(POINT_COLUMNS))
        df["id"] = df["id"].astype("int64")
        df = df.sort_values("id", ignore_index=True)
        df["lon"], df["lat"] = df["lon"].astype("float64"), df["lat"].astype("float64")
        df["overdue"] = df["overdue"].astype(int).astype(bool)
        return df

    def _day(self, since: datetime, until: datetime, params: dict[str, Any]) -> tuple[str, str]:
        params.update(since=self._param_ts(since), until=self._param_ts(until))
        return self.NAMED.format("since"), self.NAMED.format("until")

    def briefing_red(self, since: datetime, until: datetime, *,
                     area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        s, u = self._day(since, until, params)
        sql = (f"SELECT a.id, a.reported_at, a.category, a.community_code, a.status FROM appeal a "
               f"WHERE a.reported_at >= {s} AND a.reported_at < {u} AND a.tier = 'red'{self._area_sql(area, params)} "
               "ORDER BY a.reported_at, a.id")
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = self._local_times(pd.DataFrame([tuple(r) for r in rows], columns=list(RED_COLUMNS)), ["reported_at"])
        df["id"] = df["id"].astype("int64")
        return df

    def briefing_gathering_members(self, since: datetime, until: datetime, *,
                                   area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        s, u = self._day(since, until, params)
        cols = ", ".join(f"m.{c}" for c in MEMBER_COLUMNS)
        sql = (f"SELECT {cols} FROM appeal m WHERE m.gathering_id IS NOT NULL AND m.gathering_id IN "
               f"(SELECT a.gathering_id FROM appeal a WHERE a.reported_at >= {s} AND a.reported_at < {u} "
               f"AND a.gathering_id IS NOT NULL{self._area_sql(area, params)}) ORDER BY m.gathering_id, m.id")
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = self._local_times(pd.DataFrame([tuple(r) for r in rows], columns=list(MEMBER_COLUMNS)), ["reported_at"])
        for c in ("id", "gathering_id"):
            df[c] = df[c].astype("int64")
        return df

    def briefing_orders(self, since: datetime, until: datetime, *, area: tuple[str, str] | None = None
                        ) -> tuple[dict[str, int], pd.DataFrame]:
        from services.orders import on_time_sql

        params: dict[str, Any] = {}
        s, u = self._day(since, until, params)
        area_sql = self._area_sql(area, params)
        timely = on_time_sql("d.checked_in_at", "o.arrive_by")
        late = f"d.checked_in_at IS NOT NULL AND NOT ({timely})"
        n = self._count
        base = (f"FROM appeal_order o JOIN appeal a ON a.id = o.appeal_id "
                f"LEFT JOIN order_department d ON d.order_id = o.id "
                f"WHERE o.issued_at >= {s} AND o.issued_at < {u}{area_sql}")
        counts = (f"SELECT COUNT(DISTINCT o.id), {n(timely)}, {n(late)}, "
                  f"{n('d.department_code IS NOT NULL AND d.checked_in_at IS NULL')}, "
                  f"COUNT(DISTINCT CASE WHEN o.status = 'open' THEN o.id END) {base}")
        by_department = (f"SELECT d.department_code, COUNT(*) AS late {base} AND {late} "
                         f"GROUP BY d.department_code ORDER BY {self._bytewise('d.department_code')}")
        with self._read() as cx:
            row = self._fetch(cx, counts, params)[0]
            rows = self._fetch(cx, by_department, params)
        late_df = pd.DataFrame([tuple(r) for r in rows], columns=["department", "late"])
        late_df["late"] = late_df["late"].astype("int64")
        return {k: int(v or 0) for k, v in zip(ORDER_COUNTS, row, strict=True)}, late_df

    def briefing_clock_span(self, *, area: tuple[str, str] | None = None
                            ) -> tuple[datetime | None, datetime | None]:
        params: dict[str, Any] = {}
        sql = (f"SELECT MIN(a.next_deadline_at) AS lo, MAX(a.next_deadline_at) AS hi FROM appeal a "
               f"WHERE a.status <> 'closed' AND a.next_deadline_at IS NOT NULL{self._area_sql(area, params)}")
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = self._local_times(pd.DataFrame([tuple(r) for r in rows], columns=["lo", "hi"]), ["lo", "hi"])
        lo, hi = df.iloc[0]["lo"], df.iloc[0]["hi"]
        return (None if pd.isna(lo) else lo.to_pydatetime(), None if pd.isna(hi) else hi.to_pydatetime())
