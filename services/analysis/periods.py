"""Reporting periods (统计周期) of the analysis: a day, a week (Monday to Sunday), a month, a quarter, a year
or a custom run of days, in Asia/Shanghai, with the period just before it (环比) and the same period a
year earlier (同比).

A period is a half-open run of local days ``[start, end)``; ``since`` / ``until`` are the instants the
stores filter on (00:00 Asia/Shanghai of ``start`` and of ``end``). 29 February has no twin in a common
year: its same day last year is 28 February (and a custom period starting or ending on it is moved the
same way), as the district's year-on-year tables do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.clocks import TZ
from services.errors import ValidationError
from services.i18n import normalise_lang, t

KINDS = ("day", "week", "month", "quarter", "year", "custom")
# The kinds a CLI or a page picks with one date (custom needs two).
CALENDAR_KINDS = KINDS[:-1]


def _month_start(d: date, months: int = 0) -> date:
    """The first day of ``d``'s month moved by ``months`` months."""
    m = d.year * 12 + d.month - 1 + months
    return date(m // 12, m % 12 + 1, 1)


def _year_back(d: date) -> date:
    """The same day a year earlier (29 February → 28 February)."""
    try:
        return d.replace(year=d.year - 1)
    except ValueError:
        return d.replace(year=d.year - 1, day=28)


@dataclass(frozen=True)
class Period:
    """A period of ``kind`` covering the local days ``start`` (inclusive) to ``end`` (exclusive)."""

    kind: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError("error.analysis_period_kind", kind=self.kind, kinds="、".join(KINDS))
        if self.end <= self.start:
            raise ValidationError("error.analysis_period_empty", start=self.start, end=self.end)

    @property
    def since(self) -> datetime:
        """00:00 Asia/Shanghai of the first day."""
        return datetime.combine(self.start, time(), TZ)

    @property
    def until(self) -> datetime:
        """00:00 Asia/Shanghai of the day after the last (excluded)."""
        return datetime.combine(self.end, time(), TZ)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period just before (环比): the previous day, week, month, quarter or year, or for a custom
        period the same number of days ending where this one starts."""
        if self.kind in ("day", "week", "custom"):
            return Period(self.kind, self.start - timedelta(days=self.days), self.start)
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        return Period(self.kind, _month_start(self.start, -months), self.start)

    def same_last_year(self) -> Period:
        """The same period a year earlier (同比): for a week, the Monday–Sunday week holding its first day
        a year earlier; a custom period has both ends moved back a year."""
        if self.kind == "custom":
            start, end = _year_back(self.start), _year_back(self.last_day) + timedelta(days=1)
            return Period("custom", start, max(end, start + timedelta(days=1)))
        return period(self.kind, _year_back(self.start))

    def compared(self, today: date) -> tuple[Period, Period]:
        """The periods this one is compared with on ``today`` (环比, 同比): ``previous()`` and
        ``same_last_year()``; while this one is not over (``today`` before its last day), only as many of
        their first days as have begun of this one, so that the comparison is like for like (the 1st–2nd
        of this month against the 1st–2nd of the last, not against the whole of it)."""
        before, last_year = self.previous(), self.same_last_year()
        if today >= self.last_day:
            return before, last_year
        begun = max((today - self.start).days + 1, 1)

        def first_days(p: Period) -> Period:
            return Period("custom", p.start, min(p.start + timedelta(days=begun), p.end))

        return first_days(before), first_days(last_year)

    def label(self, lang: str | None = None) -> str:
        """How a screen or a file names the period, e.g. ``2025年第4季度`` / ``Q4 2025``."""
        lang = normalise_lang(lang)
        s, e = self.start, self.last_day
        key = f"analysis.period_{self.kind}"
        return t(key, lang, y=s.year, m=s.month, d=s.day, q=(s.month - 1) // 3 + 1,
                 start=_day_text(s, lang), end=_day_text(e, lang), month=s.strftime("%b"))

    def key(self) -> str:
        """A stable short name (for file names and URLs): ``2025-10-06_2025-10-13``."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"


def _day_text(d: date, lang: str) -> str:
    return t("analysis.day_text", lang, y=d.year, m=d.month, d=d.day, month=d.strftime("%b"))


def period(kind: str, day: date | datetime | str) -> Period:
    """The ``kind`` period (day, week, month, quarter, year) that holds ``day`` (a date, a datetime, read in
    Asia/Shanghai, or YYYY-MM-DD)."""
    d = _as_date(day)
    if kind == "day":
        return Period(kind, d, d + timedelta(days=1))
    if kind == "week":
        start = d - timedelta(days=d.weekday())
        return Period(kind, start, start + timedelta(days=7))
    if kind == "month":
        start = _month_start(d)
        return Period(kind, start, _month_start(d, 1))
    if kind == "quarter":
        start = date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, start, _month_start(start, 3))
    if kind == "year":
        return Period(kind, date(d.year, 1, 1), date(d.year + 1, 1, 1))
    raise ValidationError("error.analysis_period_kind", kind=kind, kinds="、".join(CALENDAR_KINDS))


def custom(start_date: date | datetime | str, end_date: date | datetime | str) -> Period:
    """A custom period from ``start_date`` to ``end_date``, both days included."""
    s, e = _as_date(start_date), _as_date(end_date)
    if e < s:
        raise ValidationError("error.analysis_period_empty", start=s, end=e)
    return Period("custom", s, e + timedelta(days=1))


def _as_date(day: date | datetime | str) -> date:
    if isinstance(day, datetime):
        return (day.astimezone(TZ) if day.tzinfo else day).date()
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(str(day).strip())
    except ValueError:
        raise ValidationError("error.analysis_bad_date", value=str(day)) from None
