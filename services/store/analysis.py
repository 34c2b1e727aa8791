"""The analysis measures (services/analysis/measures.py) in SQL written once for both stores: per area
at a level, the received appeals broken down, and the trend by local day or week. Nothing loads the
appeals into Python: each read is one grouped query.

What differs between the stores is time arithmetic on the timestamp columns (SQLite keeps integer
microseconds since the epoch, UTC; PostGIS timestamptz): the templates ``PLUS_MINUTES``, ``DAY_END``
(23:59:59 Asia/Shanghai of a timestamp's local day), ``LOCAL_DAY`` and ``LOCAL_WEEK`` (the local day, or
the Monday of its week, as YYYY-MM-DD). SQLite's are written with Asia/Shanghai's UTC offset, which has
been +08:00 without daylight saving since 1991 (checked at import).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import TZ, clock_rules
from services.errors import ValidationError
from services.store.common import LEVEL_COLUMN
from services.store.dialect import SQLDialect
from services.vocabulary import RESOLVED, RESOLVING

LEVELS = ("district", "subdistrict", "community", "grid")
_OFFSET = TZ.utcoffset(datetime(2000, 1, 1))
assert _OFFSET == TZ.utcoffset(datetime(2030, 7, 1)) == timedelta(hours=8), "Asia/Shanghai is UTC+8"
_OFF_US = 8 * 3600 * 1_000_000
_DAY_US = 86_400 * 1_000_000


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


RESOLVED_SQL = f"a.status IN {_in(RESOLVED)}"
RESOLVING_SQL = f"a.status IN {_in(RESOLVING)}"
# The columns of a cohort row, in order (the cohort measures of services.analysis.measures, counts then
# the rates computed from them).
COHORT_COUNTS = ("received", "accepted", "resolved", "same_day_settled", "same_day_due",
                 "class1_responded_on_time", "class1_respond_due", "class1_accepted_on_time", "class1_accept_due",
                 "major_resolved_in_time", "major_due", "overdue_in_period", "reopened", "satisfied",
                 "basically_satisfied", "not_satisfied", "gatherings", "repeat_appeals")
RATES = (("resolution_rate", "resolved", "accepted"), ("same_day_rate", "same_day_settled", "same_day_due"),
         ("class1_respond_on_time", "class1_responded_on_time", "class1_respond_due"),
         ("class1_accept_on_time", "class1_accepted_on_time", "class1_accept_due"),
         ("major_resolved_in_time_rate", "major_resolved_in_time", "major_due"))
AREA_COUNTS = (*COHORT_COUNTS, "overdue_now", "orders_issued")


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValidationError("error.analysis_level", level=level)
    return level


class SQLAnalysis(SQLDialect):
    """The analysis reads of the contract (Store.analysis_areas, analysis_breakdown, analysis_trend)."""

    # Time arithmetic (str.format templates over SQL expressions); SQLite's here, PostGIS overrides.
    PLUS_MINUTES = "({0} + ({1}) * 60000000)"
    DAY_END = f"((({{0}} + {_OFF_US}) / {_DAY_US}) * {_DAY_US} - {_OFF_US} + {_DAY_US - 1_000_000})"
    LOCAL_DAY = f"date(({{0}} + {_OFF_US}) / 1000000, 'unixepoch')"
    LOCAL_WEEK = f"date(({{0}} + {_OFF_US}) / 1000000, 'unixepoch', 'weekday 0', '-6 days')"

    # -- the SQL written once -------------------------------------------------------------------------
    def _count(self, cond: str) -> str:
        return f"COALESCE({self.COUNT_IF.format(cond)}, 0)"

    def repeat_sql(self, repeat_days: int) -> str:
        """The condition "appeal ``a`` is a repeat": an earlier appeal on the same building and category
        within ``repeat_days`` days before it (the earlier of two at the same moment by id)."""
        plus = self.PLUS_MINUTES.format
        return (f"a.building_code IS NOT NULL AND a.category IS NOT NULL AND "
                f"EXISTS (SELECT 1 FROM appeal b WHERE b.building_code = a.building_code "
                f"AND b.category = a.category "
                f"AND b.reported_at >= {plus('a.reported_at', -1440 * int(repeat_days))} "
                "AND (b.reported_at < a.reported_at OR (b.reported_at = a.reported_at AND b.id < a.id)))")

    def _cohort_columns(self, repeat_days: int, repeat: str | None = None) -> list[str]:
        """``expr AS code`` for every cohort count over the appeal rows ``a`` (``repeat``: the repeat
        condition, when it is read from elsewhere than ``repeat_sql``)."""
        c = clock_rules()
        now = self.NAMED.format("now")
        plus = self.PLUS_MINUTES.format
        respond_by = plus("a.reported_at", int(c["class1_respond_minutes"]))
        accept_by = plus("a.reported_at", int(c["class1_accept_minutes"]))
        day_end = self.DAY_END.format("a.reported_at")
        class1, ordinary = "a.appeal_class = 'class1'", "a.appeal_class = 'ordinary'"
        late_respond = f"(a.responded_at > {respond_by} OR (a.responded_at IS NULL AND {respond_by} < {now}))"
        late_accept = f"(a.accepted_at > {accept_by} OR (a.accepted_at IS NULL AND {accept_by} < {now}))"
        missed = " OR ".join((
            f"({class1} AND ({late_respond} OR {late_accept}))",
            "a.resolved_at > a.resolve_due_at",
            f"({RESOLVING_SQL} AND a.resolve_due_at < {now})",
            f"(a.status <> 'closed' AND a.next_deadline_at < {now})",
            f"a.confirmed_at > {plus('a.resolved_at', 60 * int(c['confirm_hours']))}",
            f"a.feedback_at > {plus('a.confirmed_at', 60 * int(c['feedback_hours']))}",
        ))
        n = self._count
        exprs = {
            "received": "COUNT(*)",
            "accepted": n("a.accepted_at IS NOT NULL"),
            "resolved": n(RESOLVED_SQL),
            "same_day_settled": n(f"{ordinary} AND a.handling_level = 'community' AND {RESOLVED_SQL} "
                                  f"AND a.resolved_at <= {day_end}"),
            "same_day_due": n(f"{ordinary} AND ({RESOLVED_SQL} OR {day_end} < {now})"),
            "class1_responded_on_time": n(f"{class1} AND a.responded_at <= {respond_by}"),
            "class1_respond_due": n(f"{class1} AND (a.responded_at IS NOT NULL OR {respond_by} < {now})"),
            "class1_accepted_on_time": n(f"{class1} AND a.accepted_at <= {accept_by}"),
            "class1_accept_due": n(f"{class1} AND (a.accepted_at IS NOT NULL OR {accept_by} < {now})"),
            "major_resolved_in_time": n(f"a.appeal_class <> 'ordinary' AND {RESOLVED_SQL} "
                                        "AND a.resolved_at <= a.resolve_due_at"),
            "major_due": n(f"a.appeal_class <> 'ordinary' AND ({RESOLVED_SQL} OR a.resolve_due_at < {now})"),
            "overdue_in_period": n(missed),
            "reopened": n("a.reopened_count > 0"),
            "satisfied": n("a.satisfaction = 'satisfied'"),
            "basically_satisfied": n("a.satisfaction = 'basically_satisfied'"),
            "not_satisfied": n("a.satisfaction = 'not_satisfied'"),
            "gatherings": "COUNT(DISTINCT a.gathering_id)",
            "repeat_appeals": n(repeat or self.repeat_sql(repeat_days)),
        }
        return [f"{exprs[k]} AS {k}" for k in COHORT_COUNTS]

    def _cohort_sql(self, key: Callable[[str], str], group: bool, area: str, params: dict[str, Any],
                    since: datetime, until: datetime, now: datetime, repeat_days: int, fine: bool = True) -> str:
        """The cohort counts (columns k and COHORT_COUNTS) of the appeals reported in [since, until) per
        ``key(the report time column)``, grouped when ``group``, under the area conditions ``area``
        (`` AND …``; ``fine``: they name grids): here one grouped query over the appeals (the summary's
        override reads its rows)."""
        return (f"SELECT {key('a.reported_at')} AS k, {', '.join(self._cohort_columns(repeat_days))} FROM appeal a "
                f"WHERE a.reported_at >= {self.NAMED.format('since')} AND a.reported_at < {self.NAMED.format('until')}"
                f"{area}{' GROUP BY ' + key('a.reported_at') if group else ''}")

    def _rates(self, prefix: str) -> list[str]:
        real = self.AS_FLOAT.format
        return [f"{real(prefix + num)} / NULLIF({prefix}{den}, 0) AS {code}" for code, num, den in RATES]

    def _scope(self, level: str, parent: tuple[str, str] | None, params: dict[str, Any],
               alias: str = "a") -> tuple[str, str, list[str]]:
        """(the key expression of ``level``, its GROUP BY, the area conditions) over appeal rows ``alias``."""
        check_level(level)
        where: list[str] = []
        if parent is not None:
            kind, code = parent
            if kind not in LEVEL_COLUMN:
                raise ValidationError("error.analysis_level", level=kind)
            where.append(f"{alias}.{LEVEL_COLUMN[kind]} = {self.NAMED.format('parent')}")
            params["parent"] = code
        if level == "district":
            return "''", "", where
        key = f"{alias}.{LEVEL_COLUMN[level]}"
        where.append(f"{key} IS NOT NULL")
        return key, f" GROUP BY {key}", where

    def _period_params(self, since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
        return {"since": self._param_ts(since), "until": self._param_ts(until), "now": self._param_ts(now)}

    def analysis_areas(self, level: str, since: datetime, until: datetime, now: datetime, *,
                       parent: tuple[str, str] | None = None, repeat_days: int = 30) -> pd.DataFrame:
        params = self._period_params(since, until, now)
        key, group, where = self._scope(level, parent, params)
        since_, until_, now_ = (self.NAMED.format(k) for k in ("since", "until", "now"))
        area = "".join(f" AND {w}" for w in where)
        fine = level == "grid" or (parent is not None and parent[0] == "grid")
        cohort = self._cohort_sql(lambda _time: key, bool(group), area, params, since, until, now, repeat_days, fine)
        overdue = (f"SELECT {key} AS code, COUNT(*) AS overdue_now FROM appeal a "
                   f"WHERE a.status <> 'closed' AND a.next_deadline_at < {now_}{area}{group}")
        orders = (f"SELECT {key} AS code, COUNT(*) AS orders_issued FROM appeal_order o "
                  f"JOIN appeal a ON a.id = o.appeal_id "
                  f"WHERE o.issued_at >= {since_} AND o.issued_at < {until_}{area}{group}")
        cols = [f"COALESCE(c.{k}, 0) AS {k}" for k in COHORT_COUNTS]
        sql = f"""
WITH c AS ({cohort}), v AS ({overdue}), o AS ({orders}),
codes AS (SELECT k AS code FROM c UNION SELECT code FROM v UNION SELECT code FROM o)
SELECT k.code, {', '.join(cols)}, COALESCE(v.overdue_now, 0) AS overdue_now,
       COALESCE(o.orders_issued, 0) AS orders_issued, {', '.join(self._rates('c.'))}
FROM codes k LEFT JOIN c ON c.k = k.code LEFT JOIN v ON v.code = k.code LEFT JOIN o ON o.code = k.code
ORDER BY {self._bytewise('k.code')}"""
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return _frame(rows, ["code", *AREA_COUNTS, *(r[0] for r in RATES)])

    def analysis_breakdown(self, level: str, since: datetime, until: datetime, by: str, *,
                           parent: tuple[str, str] | None = None) -> pd.DataFrame:
        if by not in ("channel", "service_type", "category"):
            raise ValidationError("error.analysis_breakdown", by=by)
        params = {"since": self._param_ts(since), "until": self._param_ts(until)}
        key, _group, where = self._scope(level, parent, params)
        area = "".join(f" AND {w}" for w in where)
        group = f"{key}, a.{by}" if level != "district" else f"a.{by}"
        order = f"{self._bytewise(key)}, " if level != "district" else ""
        sql = (f"SELECT {key} AS code, a.{by} AS value, COUNT(*) AS received FROM appeal a "
               f"WHERE a.reported_at >= {self.NAMED.format('since')} AND a.reported_at < {self.NAMED.format('until')}"
               f"{area} GROUP BY {group} ORDER BY {order}a.{by} IS NULL, {self._bytewise('a.' + by)}")
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return _frame(rows, ["code", "value", "received"])

    def analysis_trend(self, since: datetime, until: datetime, now: datetime, *, bucket: str = "day",
                       area: tuple[str, str] | None = None, repeat_days: int = 30) -> pd.DataFrame:
        if bucket not in ("day", "week"):
            raise ValidationError("error.analysis_bucket", bucket=bucket)
        params = self._period_params(since, until, now)
        _key, _group, where = self._scope("district", area, params)
        step = (self.LOCAL_DAY if bucket == "day" else self.LOCAL_WEEK).format
        area_sql = "".join(f" AND {w}" for w in where)
        fine = area is not None and area[0] == "grid"
        cohort = self._cohort_sql(step, True, area_sql, params, since, until, now, repeat_days, fine)
        sql = f"""
WITH c AS ({cohort})
SELECT c.k AS bucket, {', '.join(f'c.{k}' for k in COHORT_COUNTS)}, {', '.join(self._rates('c.'))}
FROM c ORDER BY c.k"""
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return _frame(rows, ["bucket", *COHORT_COUNTS, *(r[0] for r in RATES)])


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    """The rows of an analysis read as a frame: counts int64, rates float64 (NaN for none), code and value
    as objects, bucket as text. Built column by column from the tuples (a frame of a few thousand rows
    converted column by column took longer than the query)."""
    rates = {r[0] for r in RATES}
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    data: dict[str, Any] = {}
    for c, col in zip(columns, values, strict=True):
        if c in rates:
            data[c] = np.array([np.nan if v is None else float(v) for v in col], dtype="float64")
        elif c in ("code", "value"):
            data[c] = pd.Series(list(col), dtype=object)
        elif c == "bucket":
            data[c] = pd.Series([str(v) for v in col], dtype=object).astype(str)
        else:
            data[c] = np.array(col, dtype="int64")
    return pd.DataFrame(data, columns=columns)
