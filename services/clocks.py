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
  the return visit that reopened it;
- a resolved appeal whose mediation agreement was sent for online judicial confirmation (司法确认) owes
  the court's answer within ``judicial_confirmation_minutes`` (30) of the request, before its
  confirmation clock applies again.

Working days come from ``services.work_calendar``: for each year the State Council's schedule as an
administrator entered it in ``config/calendar/official.toml`` (``GM_CALENDAR_FILE`` or
``use_calendar_file`` point elsewhere), else the ``chinese-calendar`` package (2004–2026 in 1.11.0), else
computed from the law's statutory holidays (全国年节及纪念日放假办法 as amended in 2024, with make-up days
for those on a weekend; adjusted workdays 调休 unknown). A computed year is unofficial: a
``CalendarComputedWarning`` is issued once per year, ``calendar_basis`` / ``unofficial_years`` tell
screens which deadlines stand on it, and ``unofficial_note`` is the sentence they show.

``next_deadline`` works on one appeal (a dict); ``next_deadlines`` is the same rule vectorised over a
frame, and ``next_deadlines_us`` over arrays of microseconds (what bulk inserts use: one calendar look-up
per distinct day, no datetime objects). They give the same answer (tested).
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from services import work_calendar
from services.config import rules
from services.vocabulary import RESOLVING, STATUSES
from services.work_calendar import (  # noqa: F401 - the warning and the error are re-exported for callers
    Basis,
    CalendarComputedWarning,
    CalendarFileError,
    WorkCalendar,
)

TZ = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)


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


def is_workday(day: date) -> bool:
    """True on a working day (adjusted workdays 调休 included), on the year's best basis: the official
    file, the package, or the computed statutory holidays (with a ``CalendarComputedWarning``)."""
    return work_calendar.calendar().is_workday(day)


def _year(when: date | datetime | int) -> int:
    if isinstance(when, datetime):
        return as_local(when).year
    return when if isinstance(when, int) else when.year


def calendar_basis(when: date | datetime | int) -> Basis:
    """Where the working days of ``when``'s year come from: ``"official_file"`` (the State Council's
    schedule entered in the official file), ``"package"`` (chinese-calendar) or ``"computed"`` (the
    statutory holidays only: unofficial)."""
    return work_calendar.calendar().basis(_year(when))


def unofficial_years(start: date | datetime | int, end: date | datetime | int) -> list[int]:
    """The years from ``start``'s to ``end``'s (inclusive) whose working days are computed, not official:
    deadlines falling in them may move when the State Council's schedule is entered."""
    cal = work_calendar.calendar()
    return [y for y in range(_year(start), _year(end) + 1) if cal.basis(y) == "computed"]


def unofficial_years_consulted() -> list[int]:
    """The computed (unofficial) years this process has counted working days in so far: what a CLI run
    must warn about, as its deadlines there stand on the computed calendar."""
    cal = work_calendar.calendar()
    return [y for y in cal.built_years() if cal.basis(y) == "computed"]


def unofficial_note(years: list[int], lang: str | None = None) -> str | None:
    """The sentence a screen shows under deadlines that fall in ``years`` when some are unofficial (None
    when all are official), e.g. ``截止时间按推算的法定节假日计算（2027年国务院安排尚未录入）``."""
    from services.i18n import normalise_lang, t

    if not years:
        return None
    sep = "、" if normalise_lang(lang) == "zh" else ", "
    return t("calendar.unofficial", lang, years=sep.join(str(y) for y in sorted(set(years))))


def unofficial_cli_note() -> str | None:
    """The warning a CLI prints on stderr after its run when deadlines it computed fall in a computed
    (unofficial) year, in Chinese and English; None when all were official."""
    years = unofficial_years_consulted()
    if not years:
        return None
    return f"注意 warning: {unofficial_note(years, 'zh')} / {unofficial_note(years, 'en')}"


def use_calendar_file(path: str | os.PathLike[str] | None = None,
                      cfg: dict[str, Any] | None = None) -> WorkCalendar:
    """Count working days with the official schedule file ``path`` from now on (None: ``GM_CALENDAR_FILE``
    or the shipped file) and forget every cached deadline day; the file is checked at once
    (``CalendarFileError``). For tests and for reloading after an administrator edited the file."""
    cal = WorkCalendar(path, cfg)
    cal.official  # noqa: B018 - read and check the file now, not at the first deadline
    work_calendar.set_calendar(cal)
    nth_working_day_after.cache_clear()
    _day_end_us.cache_clear()
    return cal


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
    if status in RESOLVING:
        return Deadline("resolve", resolve_due(appeal, cfg))  # type: ignore[arg-type]
    if status == "resolved":
        requested = _get(appeal, "judicial_requested_at")
        if requested is not None and _get(appeal, "judicial_recorded_at") is None:
            return Deadline("judicial_confirmation",
                            requested + timedelta(minutes=c["judicial_confirmation_minutes"]))
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


def resolve_due(appeal: dict[str, Any], cfg: dict[str, Any] | None = None) -> datetime | None:
    """The deadline of the appeal's resolution clock (from the report, or from the reopening return
    visit when it is reopened); None without a report time."""
    reported = _get(appeal, "reported_at")
    if reported is None:
        return None
    start = (_get(appeal, "return_visit_at") or reported) if appeal["status"] == "reopened" else reported
    return resolve_deadline(appeal["appeal_class"], start, cfg)


# ------------------------------------------------------------------------------------------ vectorised
# Timestamps as int64 microseconds since the Unix epoch (UTC); NaT (the smallest int64) where missing.
# Bulk inserts keep timestamps in this form from the caller's frame to the database, so the rule below
# is written on it: no datetime objects, one Python call per distinct day (not per row).
NAT = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


def utc_us(values: Any) -> np.ndarray:
    """Timestamps (a Series, array or list: tz-aware of any zone, naive = Asia/Shanghai local time, or
    datetime objects / strings pandas can parse) as int64 microseconds since the epoch, NaT where missing.
    Sub-microsecond digits are dropped."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        if len(s) and not s.notna().any():
            return np.full(len(s), NAT, np.int64)
        s = pd.to_datetime(s)
        if s.dt.tz is None:
            s = s.dt.tz_localize(TZ)
    raw = np.asarray(s.array.asi8, dtype=np.int64)  # UTC in the dtype's unit, NaT as the smallest int64
    factor = _UNIT_US[s.dt.unit]
    nat = raw == NAT
    out = raw // 1000 if factor is None else raw * factor
    out[nat] = NAT
    return out


def us_to_local(us: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """int64 microseconds (NaT where missing) as a tz-aware Series in Asia/Shanghai."""
    utc = pd.DatetimeIndex(np.asarray(us, np.int64).view("datetime64[us]")).tz_localize("UTC")
    return pd.Series(utc.tz_convert(TZ), index=index)


def _us_of(ts: datetime) -> int:
    return (ts - _EPOCH) // _US


def local_days(us: np.ndarray) -> np.ndarray:
    """The Asia/Shanghai calendar day of each timestamp, as days since 1970-01-01 (NaT stays NaT)."""
    nat = us == NAT
    utc = pd.DatetimeIndex(np.where(nat, 0, us).view("datetime64[us]")).tz_localize("UTC")
    wall = np.asarray(utc.tz_convert(TZ).tz_localize(None).asi8, np.int64)  # local wall clock, same unit
    days = wall // _DAY_US
    days[nat] = NAT
    return days


@lru_cache(maxsize=16384)
def _day_end_us(day: int, working_days: int) -> int:
    """23:59:59 local of the local day ``day`` (working_days 0), or of the n-th working day after it."""
    d = date(1970, 1, 1) + timedelta(days=day)
    return _us_of(end_of_day(d if working_days == 0 else nth_working_day_after(d, working_days)))


def day_ends(us: np.ndarray, working_days: int | None) -> np.ndarray:
    """End of the local day of each timestamp, or of the n-th working day after it, in microseconds
    (NaT stays NaT). One calendar look-up per distinct day."""
    us = np.asarray(us, np.int64)
    out = np.full(len(us), NAT, np.int64)
    ok = us != NAT
    if ok.any():
        uniq, inv = np.unique(local_days(us[ok]), return_inverse=True)
        n = int(working_days or 0)
        out[ok] = np.array([_day_end_us(int(d), n) for d in uniq], np.int64)[inv]
    return out


def _minutes_us(minutes: float) -> int:
    return timedelta(minutes=minutes) // _US


def resolve_deadlines_us(status: np.ndarray, klass: np.ndarray, reported: np.ndarray,
                         return_visit: np.ndarray | None = None, cfg: dict[str, Any] | None = None) -> np.ndarray:
    """``resolve_deadline`` for every row on microsecond arrays: the clock starts at the report, or for a
    reopened appeal at the return visit that reopened it (the report when that is missing)."""
    c = clock_rules(cfg)
    if c["ordinary_resolve"] != "same_day":
        raise ValueError(f"unknown [clocks] ordinary_resolve rule {c['ordinary_resolve']!r}")
    start = np.asarray(reported, np.int64)
    if return_visit is not None:
        reopen = (status == "reopened") & (return_visit != NAT)
        if reopen.any():
            start = np.where(reopen, return_visit, start)
    ordinary = klass == "ordinary"
    out = np.full(len(start), NAT, np.int64)
    if ordinary.any():
        out[ordinary] = day_ends(start[ordinary], None)
    if not ordinary.all():
        out[~ordinary] = day_ends(start[~ordinary], int(c["major_resolve_working_days"]))
    return out


def next_deadlines_us(status: np.ndarray, klass: np.ndarray, stamps: dict[str, np.ndarray],
                      cfg: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``next_deadline`` for every row on arrays: ``status`` and ``klass`` as object arrays, ``stamps``
    the lifecycle timestamps in microseconds (reported_at required; responded_at, resolved_at,
    confirmed_at, feedback_at, return_visit_at, judicial_requested_at, judicial_recorded_at optional).

    Returns (kinds: object array with None for closed appeals, next deadlines in microseconds with NaT
    for closed appeals, resolution deadlines (``resolve_deadlines``) in microseconds for every row).
    """
    c = clock_rules(cfg)
    status = np.asarray(status, dtype=object)
    klass = np.asarray(klass, dtype=object)
    n = len(status)
    reported = np.asarray(stamps["reported_at"], np.int64)

    def col(name: str) -> np.ndarray:
        v = stamps.get(name)
        return np.full(n, NAT, np.int64) if v is None else np.asarray(v, np.int64)

    def or_reported(name: str) -> np.ndarray:
        v = col(name)
        return np.where(v == NAT, reported, v)

    def plus(base: np.ndarray, minutes: float) -> np.ndarray:
        return np.where(base == NAT, NAT, base + _minutes_us(minutes))

    unknown = ~np.isin(status, STATUSES)
    if unknown.any():
        raise ValueError(f"unknown appeal status {sorted(set(status[unknown]))!r}")
    resolve = resolve_deadlines_us(status, klass, reported, stamps.get("return_visit_at"), cfg)
    kinds = np.full(n, None, dtype=object)
    at = np.full(n, NAT, np.int64)

    def put(mask: np.ndarray, kind: str, values: np.ndarray) -> None:
        if mask.any():
            kinds[mask] = kind
            at[mask] = values[mask]

    c1_rep = (status == "reported") & (klass == "class1")
    if c1_rep.any():
        not_resp = col("responded_at") == NAT
        put(c1_rep & not_resp, "respond", plus(reported, c["class1_respond_minutes"]))
        put(c1_rep & ~not_resp, "accept", plus(reported, c["class1_accept_minutes"]))
    put(np.isin(status, RESOLVING) & ~c1_rep, "resolve", resolve)
    rs = status == "resolved"
    if rs.any():
        put(rs, "confirm", plus(or_reported("resolved_at"), 60 * c["confirm_hours"]))
        judicial = rs & (col("judicial_requested_at") != NAT) & (col("judicial_recorded_at") == NAT)
        put(judicial, "judicial_confirmation", plus(col("judicial_requested_at"), c["judicial_confirmation_minutes"]))
    cf = status == "confirmed"
    if cf.any():
        put(cf, "feedback", plus(or_reported("confirmed_at"), 60 * c["feedback_hours"]))
    fb = status == "feedback"
    if fb.any():
        ends = np.full(n, NAT, np.int64)
        ends[fb] = day_ends(or_reported("feedback_at")[fb], int(c["return_visit_working_days"]))
        put(fb, "return_visit", ends)
    return kinds, at, resolve


_STAMPS = ("reported_at", "responded_at", "resolved_at", "confirmed_at", "feedback_at", "return_visit_at",
           "judicial_requested_at", "judicial_recorded_at")


def _frame_stamps(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: utc_us(frame[c]) for c in _STAMPS if c in frame}


def resolve_deadlines(frame: pd.DataFrame, cfg: dict[str, Any] | None = None) -> pd.Series:
    """``resolve_deadline`` for every row: the clock starts at the report, or for a reopened appeal at the
    return visit that reopened it (tz-aware Series in Asia/Shanghai)."""
    status = frame["status"].to_numpy(dtype=object)
    us = resolve_deadlines_us(status, frame["appeal_class"].to_numpy(dtype=object), utc_us(frame["reported_at"]),
                              utc_us(frame["return_visit_at"]) if "return_visit_at" in frame else None, cfg)
    return us_to_local(us, frame.index)


def next_deadlines(frame: pd.DataFrame, cfg: dict[str, Any] | None = None) -> tuple[np.ndarray, pd.Series]:
    """``next_deadline`` for every row of a frame (status, appeal_class and the lifecycle timestamps).

    Returns (kinds as an object array with None for closed appeals, deadlines as a tz-aware Series
    in Asia/Shanghai with NaT for closed appeals).
    """
    kinds, at, _ = next_deadlines_us(frame["status"].to_numpy(dtype=object),
                                     frame["appeal_class"].to_numpy(dtype=object), _frame_stamps(frame), cfg)
    return kinds, us_to_local(at, frame.index)


# ------------------------------------------------------------------------------------------ orders
class OrderClock(NamedTuple):
    """Deadlines of an order: every department on site by ``arrive_by``, resolved by ``resolve_by``."""

    arrive_by: datetime
    resolve_by: datetime


def order_deadlines(issued_at: datetime, arrival_minutes: float, resolution_hours: float) -> OrderClock:
    """Arrival and resolution deadlines of an order issued at ``issued_at`` (calendar minutes/hours)."""
    t = as_local(issued_at)
    return OrderClock(t + timedelta(minutes=arrival_minutes), t + timedelta(hours=resolution_hours))
