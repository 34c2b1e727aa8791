"""Department assessment (考核) and the community view (社区发令) in SQL written once for both stores.

Every figure is an aggregate over ``order_department d JOIN appeal_order o`` of the orders issued in
[since, until); nothing loads the orders into Python. The measures' conditions are written here once
(``SQLDialect.measures``, services/store/dialect.py) and ``SQLQueries.department_stats`` uses the same ones, so "on time", "due" and
"resolved within the limit" mean one thing everywhere (on time itself is ``services.orders.on_time_sql``).

Both stores give the same figures to the last digit because every float is one IEEE operation on the
same inputs: arrival is taken in integer microseconds (``MICROS``), averages are an exact integer sum
divided by the count, and the 90th percentile is computed with window functions, not with PostgreSQL's
``percentile_cont`` (SQLite has none):

    p90 = v[lo] + f * (v[lo + 1] - v[lo]),  lo = floor(0.9 * (n - 1)), f = 0.9 * (n - 1) - lo

over a department's n arrival times sorted ascending (v[0] the quickest; v[lo + 1] = v[lo] when lo is
the last). That is percentile_cont(0.9), the linear interpolation numpy and pandas use by default;
0.9 * (n - 1) is computed in integers as 9 * (n - 1) / 10, so lo and f are exact.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pandas as pd

from services.orders import leader_levels, outcomes
from services.store.common import level_column
from services.store.dialect import SQLDialect

# The department table's columns (before the score and rank of services/assessment.py).
DEPARTMENT_COLUMNS = ("code", "name", "orders", "checked_in", "timely_check_ins", "due_check_ins",
                      "timely_check_in_rate", "avg_arrival_minutes", "p90_arrival_minutes",
                      "level_as_required", "level_as_required_rate", "people_as_required",
                      "people_as_required_rate", "resolved_within_limit", "due_outcomes",
                      "resolved_within_limit_rate", "outcomes_reported")
COMMUNITY_COLUMNS = ("code", "orders_issued", "departments_called", "departments", "officials_on_site",
                     "checked_in", "timely_check_ins", "due_check_ins", "timely_check_in_rate")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def outcome_column(outcome: str) -> str:
    """The department table's column counting the reports of ``outcome`` (``outcome_resolved``, …)."""
    return f"outcome_{outcome}"


class SQLAssessment(SQLDialect):
    """The assessment part of the contract over the store's SQL primitives."""

    def _level_rank(self, column: str, params: dict[str, Any]) -> str:
        """The rank of the leader level in ``column`` (0 the lowest, config/rules.toml [orders]
        leader_levels); NULL when it names no level (or nobody said who came)."""
        whens = []
        for i, code in enumerate(leader_levels()):
            params[f"level{i}"] = code
            whens.append(f"WHEN {self.NAMED.format(f'level{i}')} THEN {i}")
        return f"CASE {column} {' '.join(whens)} END"

    def _orders_from(self, since: datetime, until: datetime, area: tuple[str, str] | None,
                     params: dict[str, Any]) -> tuple[str, str]:
        """FROM and WHERE (without the keywords) of the orders issued in [since, until) (on appeals of
        ``area`` when given)."""
        params.update(since=self._param_ts(since), until=self._param_ts(until))
        in_area = ""
        if area is not None:
            in_area = (f" JOIN appeal a ON a.id = o.appeal_id AND a.{level_column(area[0])} = "
                       f"{self.NAMED.format('area')}")
            params["area"] = area[1]
        return (f"order_department d JOIN appeal_order o ON o.id = d.order_id{in_area}",
                f"o.issued_at >= {self.NAMED.format('since')} AND o.issued_at < {self.NAMED.format('until')}")

    def _p90_sql(self, from_: str, where: str) -> str:
        """Per department the 90th-percentile minutes from order to check-in (the module's definition)."""
        micros, real = self._arrival_micros(), self.AS_FLOAT.format
        return f"""
SELECT code, lo_v + f * (COALESCE(hi_v, lo_v) - lo_v) AS p90 FROM (
  SELECT code, MAX(CASE WHEN i = (9 * (n - 1)) / 10 THEN m END) AS lo_v,
         MAX(CASE WHEN i = (9 * (n - 1)) / 10 + 1 THEN m END) AS hi_v,
         {real("MAX(9 * (n - 1) - 10 * ((9 * (n - 1)) / 10))")} / 10 AS f
  FROM (SELECT d.department_code AS code, {real(micros)} / 60000000.0 AS m,
               ROW_NUMBER() OVER (PARTITION BY d.department_code ORDER BY {micros}) - 1 AS i,
               COUNT(*) OVER (PARTITION BY d.department_code) AS n
        FROM {from_} WHERE {where} AND d.checked_in_at IS NOT NULL) r
  GROUP BY code) q"""

    def department_assessment(self, since: datetime, until: datetime, *,
                              area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        from_, where = self._orders_from(since, until, area, params)
        m = self.measures(self.NAMED.format("until"))
        count = self.COUNT_IF.format
        # A rate's numerator: a SUM over rows whose condition is NULL (nobody said who came) is NULL in
        # SQLite, none counted is zero.
        real = lambda expr: self.AS_FLOAT.format(f"COALESCE({expr}, 0)")  # noqa: E731
        required, on_site = self._level_rank("o.leader_level", params), self._level_rank("d.leader_level_on_site",
                                                                                          params)
        level_ok = count(f"d.checked_in_at IS NOT NULL AND {on_site} >= {required}")
        people_ok = count("d.checked_in_at IS NOT NULL AND d.people_on_site >= o.people_required")
        due, due_out = count(m["due_check_in"]), count(m["due_outcome"])
        timely, within = count(m["timely"]), count(m["within"])
        by_outcome = []
        for i, code in enumerate(outcomes()):
            if not _CODE.match(code):
                raise ValueError(f"[orders] outcome {code!r} is not a code (lower case, digits, _)")
            params[f"outcome{i}"] = code
            is_code = "d.outcome = " + self.NAMED.format(f"outcome{i}")
            by_outcome.append(f"{count(is_code)} AS {outcome_column(code)}")
        sql = f"""
SELECT d.department_code AS code, dep.name AS name, COUNT(*) AS orders,
       {count(m["checked_in"])} AS checked_in, {timely} AS timely_check_ins, {due} AS due_check_ins,
       {real(timely)} / NULLIF({due}, 0) AS timely_check_in_rate,
       {self._avg_arrival_sql()} AS avg_arrival_minutes,
       p.p90 AS p90_arrival_minutes,
       {level_ok} AS level_as_required, {real(level_ok)} / NULLIF({due}, 0) AS level_as_required_rate,
       {people_ok} AS people_as_required, {real(people_ok)} / NULLIF({due}, 0) AS people_as_required_rate,
       {within} AS resolved_within_limit, {due_out} AS due_outcomes,
       {real(within)} / NULLIF({due_out}, 0) AS resolved_within_limit_rate,
       {count("d.outcome_at IS NOT NULL")} AS outcomes_reported, {", ".join(by_outcome)}
FROM {from_} LEFT JOIN department dep ON dep.code = d.department_code
LEFT JOIN ({self._p90_sql(from_, where)}) p ON p.code = d.department_code
WHERE {where}
GROUP BY d.department_code, dep.name, p.p90
ORDER BY {self._bytewise("d.department_code")}"""
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        columns = [*DEPARTMENT_COLUMNS, *(outcome_column(c) for c in outcomes())]
        return _typed(pd.DataFrame(list(rows), columns=columns))

    def community_assessment(self, since: datetime, until: datetime, *,
                             area: tuple[str, str] | None = None) -> pd.DataFrame:
        params: dict[str, Any] = {}
        from_, where = self._orders_from(since, until, area, params)
        m = self.measures(self.NAMED.format("until"))
        count, real = self.COUNT_IF.format, self.AS_FLOAT.format
        due, timely = count(m["due_check_in"]), count(m["timely"])
        sql = f"""
SELECT o.community_code AS code, COUNT(DISTINCT o.id) AS orders_issued, COUNT(*) AS departments_called,
       COUNT(DISTINCT d.department_code) AS departments,
       SUM(CASE WHEN d.checked_in_at IS NOT NULL THEN d.people_on_site END) AS officials_on_site,
       {count(m["checked_in"])} AS checked_in, {timely} AS timely_check_ins, {due} AS due_check_ins,
       {real(timely)} / NULLIF({due}, 0) AS timely_check_in_rate
FROM {from_} WHERE {where}
GROUP BY o.community_code
ORDER BY o.community_code IS NULL, {self._bytewise("o.community_code")}"""
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return _typed(pd.DataFrame(list(rows), columns=list(COMMUNITY_COLUMNS)))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Counts as int64 (a SUM over no matching row is NULL in SQL: none counted is zero), rates and
    minutes as float (NaN when nothing is measured)."""
    for c in df.columns:
        if c in ("code", "name"):
            continue
        if c.endswith(("_rate", "_minutes")):
            df[c] = df[c].astype(float)
        else:
            df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    return df
