"""The analysis summary (issue 14 §5): the cohort counts of *closed* appeals per local report day and
grid (``analysis_day``), so that a drill-down step over a quarter of a million-appeal store adds up a
few thousand summary rows instead of grouping a quarter of a million appeals.

Why closed appeals only, and which days. Every cohort measure of services/analysis/measures.py reads the
appeal row and ``now``; for a closed appeal the terms with ``now`` are fixed once its day and its
class-1 limits are past: a closed appeal is resolved (not resolving, not open), so only "the respond /
accept limit has passed" and "its day is over" remain, and both hold for every day before the
*horizon*, the local midnight of ``now`` less the longer class-1 limit (``horizon``). So a summary row
of a day before the horizon equals what the plain query counts, whatever ``now`` the read asks at.
Everything else is read live (services/store/analysis.py): the open appeals of the period (a partial
index), the period's days from the horizon on, and ``gatherings`` (a distinct count, which does not
add up over days; a partial index of the few appeals in a gathering).

Kept current by the writes: triggers on ``appeal`` (migration SQLite 12 / PostGIS 13) note the report
day of every inserted or deleted appeal, and of every changed one that is or was closed, in
``analysis_dirty``; ``spread`` says the change may alter *later* appeals' repeat flag (a new or deleted
appeal, a changed building, category or report time), which reaches ``repeat_days`` days on. A read
first refreshes (``refresh_analysis_summary``): it recounts the noted days (and the days a spread
reaches) and extends the summary to the horizon, under a lock, in one transaction. The summary records
the rules it was counted with (``rules_key``): changed clocks or repeat days rebuild it; a read asking
for another repeat_days reads plainly.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from services.clocks import TZ, clock_rules
from services.config import rules
from services.store.analysis import COHORT_COUNTS, SQLAnalysis
from services.store.common import SUMMARY_COUNTS

# What the summary holds per (day, subdistrict, community, grid): the cohort counts that add up.
SUMMED = tuple(c for c in COHORT_COUNTS if c != "gatherings")
assert SUMMED == SUMMARY_COUNTS, "the summary tables' columns (services/store/common.py) must follow the measures"
# The area columns of a summary row (as on appeal, so the area conditions are the same SQL).
AREA_COLUMNS = ("subdistrict_code", "community_code", "grid_code")
# The summary's tables: per grid, and per community (the same counts added up: what the district,
# subdistrict and community levels read, a thirtieth of the rows).
TABLES = ("analysis_day", "analysis_day_community")
# Every appeal's repeat flag, kept with the summary: the counts read it instead of looking for an earlier
# appeal on the same building and category for each appeal (what took most of a read's time).
REPEATS = "analysis_repeat"
REPEAT_JOIN = f"LEFT JOIN {REPEATS} r ON r.appeal_id = a.id"
REPEAT_READ = "r.is_repeat = 1"
# Bumped when a measure's SQL changes, so that stored summaries are counted again.
SUMMARY_VERSION = 1
# The appeal columns the cohort measures read (the live part selects only these).
COHORT_SOURCE = ("id", "reported_at", "responded_at", "accepted_at", "resolved_at", "resolve_due_at", "status",
                 "next_deadline_at", "confirmed_at", "feedback_at", "appeal_class", "handling_level",
                 "reopened_count", "satisfaction", "building_code", "category", "gathering_id", *AREA_COLUMNS)


class SummaryBusy(Exception):
    """The summary could not be refreshed at once (another writer holds the store): the read counts plainly."""


def summary_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rules a summary is counted with: the clocks the measures read and the repeat window."""
    c = clock_rules()
    return {"version": SUMMARY_VERSION, "respond": int(c["class1_respond_minutes"]),
            "accept": int(c["class1_accept_minutes"]), "confirm": int(c["confirm_hours"]),
            "feedback": int(c["feedback_hours"]),
            "repeat_days": int((cfg or rules())["analysis"]["repeat_days"])}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), TZ)


def horizon(now: datetime, cfg: dict[str, Any] | None = None) -> datetime:
    """The first local day whose closed appeals a read at ``now`` must count live: the midnight of
    ``now`` less the longer class-1 limit. Before it, every limit of every day has passed."""
    r = summary_rules(cfg)
    return _midnight((now.astimezone(TZ) - timedelta(minutes=max(r["respond"], r["accept"]))).date())


class SQLAnalysisSummary(SQLAnalysis):
    """The summary's upkeep and its use by the cohort reads (``_cohort_sql``)."""

    # The local midnight of a timestamp's day, as a timestamp (SQLite: integer microseconds, floored so
    # that times before 1970 fall on their own day too). PostGIS overrides.
    DAY_START = ("(({0}) + 28800000000 - (((({0}) + 28800000000) % 86400000000) + 86400000000) % 86400000000 "
                 "- 28800000000)")

    def _summary_lock(self, cx: Any) -> None:
        """Serialise refreshes (SQLite's write transaction already does)."""

    def _summary_tx(self) -> Any:
        """The refresh's transaction (SQLite's gives up quickly with ``SummaryBusy``)."""
        return self._tx()

    # -- upkeep -------------------------------------------------------------------------------------------
    def refresh_analysis_summary(self, now: datetime) -> dict[str, int]:
        """Bring the summary up to date for reads at ``now``: recount the days the triggers noted and
        count the days up to the horizon. Returns ``{"days": recounted days, "rebuilt": 0 or 1}``."""
        key = json.dumps(summary_rules(), sort_keys=True)
        until = horizon(now)
        with self._read() as cx:
            state = self._summary_state(cx)
            dirty = int(self._fetch(cx, "SELECT COUNT(*) FROM analysis_dirty", ())[0][0])
        if state is not None and state[1] == key and state[0] is not None and state[0] >= until and not dirty:
            return {"days": 0, "rebuilt": 0}
        with self._summary_tx() as cx:
            self._summary_lock(cx)
            state = self._summary_state(cx)
            marks = self._fetch(cx, f"DELETE FROM analysis_dirty RETURNING {self.LOCAL_DAY.format('day')}, spread", ())
            if state is None or state[1] != key or state[0] is None:
                for table in (*TABLES, REPEATS):
                    cx.execute(f"DELETE FROM {table}")
                self._count_repeats(cx, None, None)
                self._count_days(cx, None, until, until)
                self._set_state(cx, until, key)
                return {"days": 0, "rebuilt": 1}
            covered = max(state[0], until)
            spread_days = summary_rules()["repeat_days"] + 1
            ranges = [(date.fromisoformat(d), int(s)) for d, s in marks]
            spans = [(_midnight(d), _midnight(d + timedelta(days=spread_days if s else 1))) for d, s in ranges]
            # Repeat flags: every day a new, deleted or moved appeal reaches (whatever the summary covers).
            for lo, hi in _merge([span for span, (_, s) in zip(spans, ranges, strict=True) if s]):
                self._count_repeats(cx, lo, hi)
            spans = [(lo, min(hi, state[0])) for lo, hi in spans if lo < state[0]]
            if until > state[0]:
                spans.append((state[0], until))
            counted = 0
            for lo, hi in _merge(spans):
                self._delete_days(cx, lo, hi)
                self._count_days(cx, lo, hi, covered)
                counted += (hi - lo).days
            self._set_state(cx, covered, key)
        return {"days": counted, "rebuilt": 0}

    def _count_repeats(self, cx: Any, lo: datetime | None, hi: datetime | None) -> None:
        """The repeat flag (``repeat_sql``) of every appeal reported in [lo, hi) (None: unbounded) into
        analysis_repeat, replacing the flags of those days (and of an appeal moved from another day)."""
        p, where, params = self.P, [], []
        for op, bound in ((">=", lo), ("<", hi)):
            if bound is not None:
                where.append(f"{{col}} {op} {p}")
                params.append(self._param_ts(bound))
        cond = " AND ".join(where)
        cx.execute(f"DELETE FROM {REPEATS}" + (f" WHERE {cond.format(col='day')}" if cond else ""), params)
        flag = f"CASE WHEN {self.repeat_sql(summary_rules()['repeat_days'])} THEN 1 ELSE 0 END"
        cx.execute(f"INSERT INTO {REPEATS} (appeal_id, day, is_repeat) "
                   f"SELECT a.id, {self.DAY_START.format('a.reported_at')}, {flag} FROM appeal a "
                   f"WHERE {cond.format(col='a.reported_at') if cond else 'true'} "
                   "ON CONFLICT (appeal_id) DO UPDATE SET day = excluded.day, is_repeat = excluded.is_repeat",
                   params)

    def _summary_state(self, cx: Any) -> tuple[datetime | None, str] | None:
        rows = self._fetch(cx, f"SELECT {self.LOCAL_DAY.format('covered_until')}, rules_key FROM analysis_summary", ())
        if not rows:
            return None
        day, key = rows[0]
        return (_midnight(date.fromisoformat(day)) if day else None), key

    def _set_state(self, cx: Any, covered: datetime, key: str) -> None:
        p = self.P
        cx.execute("DELETE FROM analysis_summary")
        cx.execute(f"INSERT INTO analysis_summary (one, covered_until, rules_key) VALUES (1, {p}, {p})",
                   (self._param_ts(covered), key))

    def _delete_days(self, cx: Any, lo: datetime, hi: datetime) -> None:
        p = self.P
        for table in TABLES:
            cx.execute(f"DELETE FROM {table} WHERE day >= {p} AND day < {p}", (self._param_ts(lo), self._param_ts(hi)))

    def _count_days(self, cx: Any, lo: datetime | None, hi: datetime, covered: datetime) -> None:
        """Count the closed appeals reported in [lo, hi) (lo None: from the first) into analysis_day, with
        ``now`` well past every limit of the days before ``covered`` (the values a read there sees)."""
        r = summary_rules()
        params = {"hi": self._param_ts(hi), "lo": self._param_ts(lo),
                  "now": self._param_ts(covered + timedelta(days=1, minutes=max(r["respond"], r["accept"])))}
        cols = [c for c in self._cohort_columns(r["repeat_days"], REPEAT_READ) if not c.endswith(" AS gatherings")]
        day = self.DAY_START.format("a.reported_at")
        areas = ", ".join(f"a.{c}" for c in AREA_COLUMNS)
        low = f" AND a.reported_at >= {self.NAMED.format('lo')}" if lo is not None else ""
        if lo is None:
            params.pop("lo")
        cx.execute(f"INSERT INTO analysis_day (day, {', '.join(AREA_COLUMNS)}, {', '.join(SUMMED)}) "
                   f"SELECT {day}, {areas}, {', '.join(cols)} FROM appeal a {REPEAT_JOIN} "
                   f"WHERE a.status = 'closed' AND a.reported_at < {self.NAMED.format('hi')}{low} "
                   f"GROUP BY {day}, {areas}", params)
        coarse = ", ".join(AREA_COLUMNS[:2])
        low = low.replace("a.reported_at", "d.day")
        cx.execute(f"INSERT INTO analysis_day_community (day, {coarse}, {', '.join(SUMMED)}) "
                   f"SELECT d.day, {coarse}, {', '.join(f'SUM(d.{c})' for c in SUMMED)} FROM analysis_day d "
                   f"WHERE d.day < {self.NAMED.format('hi')}{low} GROUP BY d.day, {coarse}",
                   {k: v for k, v in params.items() if k != "now"})

    # -- reads ----------------------------------------------------------------------------------------------
    def _summary_end(self, since: datetime, until: datetime, now: datetime, repeat_days: int) -> datetime | None:
        """Where the summary part of a read of [since, until) at ``now`` ends (its days are [since, end)),
        after refreshing; None when the read cannot use the summary (a period not of whole local days, or
        another repeat window than the rules')."""
        r = summary_rules()
        whole = all(t.astimezone(TZ).time() == datetime.min.time() for t in (since, until))
        if not whole or int(repeat_days) != r["repeat_days"]:
            return None
        try:
            self.refresh_analysis_summary(now)
        except SummaryBusy:
            return None
        with self._read() as cx:
            state = self._summary_state(cx)
        if state is None or state[0] is None:
            return None
        end = min(until.astimezone(TZ), horizon(now), state[0])
        return end if end > since else None

    def _cohort_sql(self, key: Any, group: bool, area: str, params: dict[str, Any], since: datetime,
                    until: datetime, now: datetime, repeat_days: int, fine: bool = True) -> str:
        """The cohort of [since, until) per ``key(time column)``: summary rows before the summary's end
        (per grid when ``fine``, else per community), the rest live, gatherings counted live; the plain
        query when the summary does not apply."""
        end = self._summary_end(since, until, now, repeat_days)
        if end is None:
            return super()._cohort_sql(key, group, area, params, since, until, now, repeat_days, fine)
        params["s_end"] = self._param_ts(end)
        n = self.NAMED.format
        cols = ", ".join(COHORT_SOURCE)
        period = f"reported_at >= {n('since')} AND reported_at < {n('until')}"
        live_rows = (f"SELECT {cols} FROM appeal WHERE status <> 'closed' AND {period} UNION ALL "
                     f"SELECT {cols} FROM appeal WHERE status = 'closed' AND reported_at >= {n('s_end')} "
                     f"AND reported_at < {n('until')}")
        live_cols = [c for c in self._cohort_columns(repeat_days, REPEAT_READ) if not c.endswith(" AS gatherings")]
        by_live = f" GROUP BY {key('a.reported_at')}" if group else ""
        by_day = f" GROUP BY {key('a.day')}" if group else ""
        where = area.removeprefix(" AND ")
        live = (f"SELECT {key('a.reported_at')} AS k, {', '.join(live_cols)} FROM ({live_rows}) a {REPEAT_JOIN}"
                f"{' WHERE ' + where if where else ''}{by_live}")
        summary = (f"SELECT {key('a.day')} AS k, {', '.join(f'SUM(a.{c}) AS {c}' for c in SUMMED)} "
                   f"FROM {TABLES[0] if fine else TABLES[1]} a WHERE a.day >= {n('since')} AND a.day < {n('s_end')}{area}{by_day}")
        gathered = (f"SELECT {key('a.reported_at')} AS k, COUNT(DISTINCT a.gathering_id) AS gatherings FROM appeal a "
                    f"WHERE a.gathering_id IS NOT NULL AND a.reported_at >= {n('since')} "
                    f"AND a.reported_at < {n('until')}{area}{by_live}")
        sums = ", ".join(f"SUM(u.{c}) AS {c}" for c in SUMMED)
        return (f"SELECT t.k, {', '.join(f'COALESCE(t.{c}, 0) AS {c}' if c != 'gatherings' else 'COALESCE(g.gatherings, 0) AS gatherings' for c in COHORT_COUNTS)} "
                f"FROM (SELECT u.k, {sums} FROM ({summary} UNION ALL {live}) u GROUP BY u.k) t "
                f"LEFT JOIN ({gathered}) g ON g.k = t.k")


def without_summary(store: Any) -> Any:
    """The same store (its connections and state) with the summary's read path switched off: every
    analysis read counts plainly. What the summary is checked and measured against (tests, bench)."""
    class Plain(type(store)):
        def _summary_end(self, *args: Any, **kwargs: Any) -> None:
            return None

    plain = object.__new__(Plain)
    plain.__dict__ = store.__dict__
    return plain


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching [lo, hi) spans joined, in order; empty ones left out."""
    out: list[list[datetime]] = []
    for lo, hi in sorted(s for s in spans if s[0] < s[1]):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]
