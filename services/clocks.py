"""Clocks: the deadline of every open appeal and of every order, on China's official working calendar.

The rules (config/rules.toml [clocks]):

- class-1: respond within ``class1_respond_minutes`` (10) and accept within ``class1_accept_minutes``
  (30) of the report;
- ordinary: resolved the same day, i.e. by 23:59:59 Asia/Shanghai of the report day;
- major and class-1: resolved within ``major_resolve_working_days`` (3) working days, meaning by
  23:59:59 of the 3rd working day *after* the report day (the report day never counts, whatever the
  hour; as Chinese administrative time limits are counted). Reported on Friday 2025-09-26 the three
  working days are Sun 09-28 (an adjusted workday), Mon 09-29 and Tue 09-30: due 2025-09-30 23:59:59;
  reported on Tue 09-30 they are Thu 10-09, Fri 10-10 and Sat 10-11 (adjusted): due 10-11 23:59:59.
- then confirm within ``confirm_hours``, feedback within ``feedback_hours`` and return visit within
  ``return_visit_working_days`` of the previous step; a reopened appeal restarts its resolution clock at
  the return visit that reopened it.

Working days come from the ``chinese-calendar`` package (holidays off, adjusted weekend workdays 调休
on). Past the last year the package knows (2026 for chinese-calendar 1.11.0) — or before its first —
Monday to Friday count as working days and a ``CalendarFallbackWarning`` is issued once per year:
holidays of those years are unknown until the package is upgraded, so deadlines there may fall on a
holiday or miss an adjusted workday.

``next_deadline`` works on one appeal (a dict); ``next_deadlines`` is the same rule vectorised over a
frame for bulk loads. Both give the same answer (tested).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import pandas as pd

from services.config import rules

TZ = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)
DEADLINE_KINDS = ("respond", "accept", "resolve", "confirm", "feedback", "return_visit")


class CalendarFallbackWarning(UserWarning):
    """The official calendar does not cover a year; Monday-Friday was used instead."""


class Deadline(NamedTuple):
    """The next step an appeal owes and when it is due."""

    kind: str
    at: datetime

    def overdue_minutes(self, now: datetime) -> float:
        """Minutes past the deadline at ``now`` (negative while time is left)."""
        return (as_local(now) - self.at).total_seconds() / 60.0


def clock_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [clocks] section of the rules."""
    return (cfg or rules())["clocks"]


def as_local(ts: datetime) -> datetime:
    """A datetime in Asia/Shanghai; a naive one is taken to be Shanghai local time already."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=TZ)
    return ts.astimezone(TZ)


_warned_years: set[int] = set()


def _calendar_range() -> tuple[int, int]:
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays] + [d.year for d in constants.workdays]
    return min(years), max(years)


def is_workday(day: date) -> bool:
    """True on an official working day (adjusted workdays included); Monday-Friday outside the calendar."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            first, last = _calendar_range()
            warnings.warn(
                f"chinese-calendar covers {first}-{last} only; counting Monday-Friday as working days in "
                f"{day.year} (holidays and adjusted workdays unknown; upgrade chinese-calendar)",
                CalendarFallbackWarning, stacklevel=2)
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def nth_working_day_after(day: date, n: int) -> date:
    """The ``n``-th working day strictly after ``day`` (``n`` >= 1)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    d, count = day, 0
    while count < n:
        d += timedelta(days=1)
        if is_workday(d):
            count += 1
    return d


def end_of_day(day: date) -> datetime:
    """23:59:59 Asia/Shanghai of ``day``."""
    return datetime.combine(day, END_OF_DAY, TZ)


def working_days_deadline(start: datetime, n: int) -> datetime:
    """23:59:59 of the ``n``-th working day after the local day of ``start``."""
    return end_of_day(nth_working_day_after(as_local(start).date(), n))


def same_day_deadline(start: datetime) -> datetime:
    """23:59:59 of the local day of ``start``."""
    return end_of_day(as_local(start).date())


def resolve_deadline(appeal_class: str, start: datetime, cfg: dict[str, Any] | None = None) -> datetime:
    """When an appeal of ``appeal_class`` whose clock started at ``start`` must be resolved."""
    c = clock_rules(cfg)
    if appeal_class == "ordinary":
        if c["ordinary_resolve"] != "same_day":
            raise ValueError(f"unknown [clocks] ordinary_resolve rule {c['ordinary_resolve']!r}")
        return same_day_deadline(start)
    return working_days_deadline(start, int(c["major_resolve_working_days"]))


def _get(appeal: dict[str, Any], key: str) -> datetime | None:
    v = appeal.get(key)
    if v is None or (not isinstance(v, datetime) and pd.isna(v)):
        return None
    return as_local(pd.Timestamp(v).to_pydatetime())


def next_deadline(appeal: dict[str, Any], now: datetime | None = None,
                  cfg: dict[str, Any] | None = None) -> Deadline | None:
    """The next step the appeal owes and its deadline, or None for a closed appeal.

    A deadline is a fact of the appeal, not of the clock: ``now`` is accepted for convenience and does
    not change the answer (use ``Deadline.overdue_minutes(now)`` for how far past it is).
    """
    del now
    c = clock_rules(cfg)
    status = appeal["status"]
    klass = appeal["appeal_class"]
    reported = _get(appeal, "reported_at")
    if status == "closed" or reported is None:
        return None
    if status == "reported" and klass == "class1":
        if _get(appeal, "responded_at") is None:
            return Deadline("respond", reported + timedelta(minutes=c["class1_respond_minutes"]))
        return Deadline("accept", reported + timedelta(minutes=c["class1_accept_minutes"]))
    if status in ("reported", "accepted", "dispatched", "reopened"):
        return Deadline("resolve", resolve_due(appeal, cfg))  # type: ignore[arg-type]
    if status == "resolved":
        return Deadline("confirm", (_get(appeal, "resolved_at") or reported) + timedelta(hours=c["confirm_hours"]))
    if status == "confirmed":
        return Deadline("feedback",
                        (_get(appeal, "confirmed_at") or reported) + timedelta(hours=c["feedback_hours"]))
    if status == "feedback":
        return Deadline("return_visit", working_days_deadline(_get(appeal, "feedback_at") or reported,
                                                              int(c["return_visit_working_days"])))
    raise ValueError(f"unknown appeal status {status!r}")


def overdue_minutes(appeal: dict[str, Any], now: datetime, cfg: dict[str, Any] | None = None) -> float | None:
    """Minutes past the appeal's next deadline at ``now`` (negative while time is left; None if closed)."""
    d = next_deadline(appeal, cfg=cfg)
    return None if d is None else d.overdue_minutes(now)


# ------------------------------------------------------------------------------------------ vectorised
def _local(series: pd.Series) -> pd.Series:
    s = pd.to_datetime(series)
    if s.dt.tz is None:
        return s.dt.tz_localize(TZ)
    return s.dt.tz_convert(TZ)


def _day_end(ts: pd.Series, working_days: int | None) -> pd.Series:
    """End of the local day of each timestamp, or of the n-th working day after it (per unique day)."""
    days = ts.dt.tz_convert(TZ).dt.normalize()
    uniq = days.dropna().unique()
    if working_days is None:
        ends = {d: d + pd.Timedelta(hours=23, minutes=59, seconds=59) for d in uniq}
    else:
        ends = {d: pd.Timestamp(end_of_day(nth_working_day_after(d.date(), working_days))) for d in uniq}
    return days.map(ends)


def resolve_deadlines(frame: pd.DataFrame, cfg: dict[str, Any] | None = None) -> pd.Series:
    """``resolve_deadline`` for every row: the clock starts at the report, or for a reopened appeal at the
    return visit that reopened it (tz-aware Series in Asia/Shanghai)."""
    c = clock_rules(cfg)
    if c["ordinary_resolve"] != "same_day":
        raise ValueError(f"unknown [clocks] ordinary_resolve rule {c['ordinary_resolve']!r}")
    reported = _local(frame["reported_at"])
    start = reported
    if "return_visit_at" in frame:
        reopen = (frame["status"] == "reopened").to_numpy()
        start = reported.where(~reopen, _local(frame["return_visit_at"]).fillna(reported))
    ordinary = (frame["appeal_class"] == "ordinary").to_numpy()
    out = pd.Series(pd.NaT, index=frame.index, dtype=reported.dtype)
    if ordinary.any():
        out[ordinary] = _day_end(start[ordinary], None)
    if (~ordinary).any():
        out[~ordinary] = _day_end(start[~ordinary], int(c["major_resolve_working_days"]))
    return out


def resolve_due(appeal: dict[str, Any], cfg: dict[str, Any] | None = None) -> datetime | None:
    """The deadline of the appeal's resolution clock (from the report, or from the reopening return
    visit when it is reopened); None without a report time."""
    reported = _get(appeal, "reported_at")
    if reported is None:
        return None
    start = (_get(appeal, "return_visit_at") or reported) if appeal["status"] == "reopened" else reported
    return resolve_deadline(appeal["appeal_class"], start, cfg)


def next_deadlines(frame: pd.DataFrame, cfg: dict[str, Any] | None = None) -> tuple[np.ndarray, pd.Series]:
    """``next_deadline`` for every row of a frame (status, appeal_class and the lifecycle timestamps).

    Returns (kinds as an object array with None for closed appeals, deadlines as a tz-aware Series
    in Asia/Shanghai with NaT for closed appeals).
    """
    c = clock_rules(cfg)
    n = len(frame)
    idx = frame.index
    status = frame["status"].to_numpy(dtype=object)
    klass = frame["appeal_class"].to_numpy(dtype=object)

    def col(name: str) -> pd.Series:
        if name in frame:
            return _local(frame[name])
        return pd.Series(pd.NaT, index=idx, dtype=f"datetime64[ns, {TZ.key}]")

    reported = col("reported_at")
    responded = col("responded_at")
    kinds = np.full(n, None, dtype=object)
    at = pd.Series(pd.NaT, index=idx, dtype=reported.dtype)

    def put(mask: np.ndarray, kind: str, values: pd.Series) -> None:
        if mask.any():
            kinds[mask] = kind
            at[mask] = values[mask]

    c1_rep = (status == "reported") & (klass == "class1")
    not_resp = responded.isna().to_numpy()
    put(c1_rep & not_resp, "respond", reported + pd.Timedelta(minutes=c["class1_respond_minutes"]))
    put(c1_rep & ~not_resp, "accept", reported + pd.Timedelta(minutes=c["class1_accept_minutes"]))

    resolving = np.isin(status, ["reported", "accepted", "dispatched", "reopened"]) & ~c1_rep
    if resolving.any():
        put(resolving, "resolve", resolve_deadlines(frame, cfg))

    put(status == "resolved", "confirm",
        col("resolved_at").fillna(reported) + pd.Timedelta(hours=c["confirm_hours"]))
    put(status == "confirmed", "feedback",
        col("confirmed_at").fillna(reported) + pd.Timedelta(hours=c["feedback_hours"]))
    fb = status == "feedback"
    if fb.any():
        put(fb, "return_visit",
            _day_end(col("feedback_at").fillna(reported)[fb], int(c["return_visit_working_days"])).reindex(idx))
    unknown = ~np.isin(status, ["reported", "accepted", "dispatched", "reopened", "resolved", "confirmed",
                                "feedback", "closed"])
    if unknown.any():
        raise ValueError(f"unknown appeal status {sorted(set(status[unknown]))!r}")
    return kinds, at


# ------------------------------------------------------------------------------------------ orders
class OrderClock(NamedTuple):
    """Deadlines of an order: every department on site by ``arrive_by``, resolved by ``resolve_by``."""

    arrive_by: datetime
    resolve_by: datetime


def order_deadlines(issued_at: datetime, arrival_minutes: float, resolution_hours: float) -> OrderClock:
    """Arrival and resolution deadlines of an order issued at ``issued_at`` (calendar minutes/hours)."""
    t = as_local(issued_at)
    return OrderClock(t + timedelta(minutes=arrival_minutes), t + timedelta(hours=resolution_hours))
