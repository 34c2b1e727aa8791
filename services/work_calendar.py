"""China's working-day calendar, year by year, and on what authority each year stands.

A day is a working day (工作日) unless it is a weekend day or a public holiday, and an adjusted workday
(调休上班, a Saturday or Sunday the State Council makes a working day) is one. Each year comes from the
first of these sources that has it (its *basis*):

1. ``official_file``: the State Council's published schedule for that year (国务院办公厅关于某年部分节假日
   安排的通知), entered by an administrator in ``config/calendar/official.toml`` (or the file named by
   ``GM_CALENDAR_FILE``). A year there is complete: its holidays and adjusted workdays as published,
   Monday–Friday otherwise. It beats the package, so a correction never waits for a package release.
2. ``package``: the ``chinese-calendar`` package (2004–2026 in the pinned 1.11.0).
3. ``computed``: the statutory holidays of 全国年节及纪念日放假办法 (as amended in 2024, rules in
   ``config/rules.toml [calendar]``): 元旦 Jan 1, 春节 除夕 to 正月初三, 清明 (the solar term's day), 劳动节
   May 1–2, 端午 (5th of the 5th lunar month), 中秋 (15th of the 8th) and 国庆 Oct 1–3, plus — Article 6 —
   a make-up day (补假) on the next working day for each of them that falls on a Saturday or Sunday.
   Lunar dates and solar terms come from ``lunar_python`` (6tail's lunar calendar, pure Python, with
   astronomical solar terms in Beijing time). Adjusted workdays cannot be computed (the State Council
   chooses them each year), so a computed year is *unofficial*: screens and CLIs say so.

Every year's table is built once (a bool per day) and kept, so a look-up is an index into an array.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import chinese_calendar
import numpy as np

from services.config import REPO_ROOT, rules

Basis = Literal["official_file", "package", "computed"]
DEFAULT_FILE = REPO_ROOT / "config" / "calendar" / "official.toml"
FILE_ENV = "GM_CALENDAR_FILE"
MAX_HOLIDAY_DAYS = 14       # a longer block in the official file is taken for a typo
_SECTION_KEYS = {"source", "holidays", "workdays"}
_HOLIDAY_KEYS = {"name", "from", "to"}


class CalendarFileError(ValueError):
    """The official schedule file is unreadable or wrong; the message names the file and the entries."""


class CalendarComputedWarning(UserWarning):
    """A year's working days were computed from the statutory holidays: no official schedule for it."""


# ------------------------------------------------------------------------------------------ computed
def _calendar_rules(cfg: dict[str, Any] | None) -> dict[str, Any]:
    return (cfg or rules())["calendar"]


def statutory_holidays(year: int, cfg: dict[str, Any] | None = None) -> dict[date, str]:
    """The statutory public holidays of ``year`` (day -> holiday name), from the law's rules in
    ``config/rules.toml [calendar] holidays``, without make-up days."""
    from lunar_python import Lunar, Solar

    out: dict[date, str] = {}
    for h in _calendar_rules(cfg)["holidays"]:
        if "solar" in h:
            month, day = (int(x) for x in h["solar"].split("-"))
            first = date(year, month, day)
        elif "lunar" in h:
            month, day = (int(x) for x in h["lunar"].split("-"))
            s = Lunar.fromYmd(year, month, day).getSolar()
            first = date(s.getYear(), s.getMonth(), s.getDay())
        elif "term" in h:
            # The solar-term table of the lunar year around mid-year holds each term of this solar year
            # once (清明 is in early April).
            s = Solar.fromYmd(year, 6, 30).getLunar().getJieQiTable()[h["term"]]
            first = date(s.getYear(), s.getMonth(), s.getDay())
        else:
            raise ValueError(f"config/rules.toml [calendar] holiday {h.get('name')!r} has no solar, lunar or term")
        first += timedelta(days=int(h.get("offset", 0)))
        for i in range(int(h["days"])):
            out.setdefault(first + timedelta(days=i), h["name"])
    return out


def computed_holidays(year: int, cfg: dict[str, Any] | None = None) -> dict[date, str]:
    """Statutory holidays of ``year`` plus their make-up days (补假): each statutory day on a Saturday or
    Sunday is made up on the first weekday after its holiday that is not itself a holiday (Article 6,
    when ``[calendar] weekend_make_up``). Make-up days are named ``<holiday>补假``."""
    statutory = statutory_holidays(year, cfg)
    out = dict(statutory)
    if not _calendar_rules(cfg).get("weekend_make_up", True):
        return out
    for day, name in sorted(statutory.items()):
        if day.weekday() < 5:
            continue
        d = day
        while d.weekday() >= 5 or d in out:
            d += timedelta(days=1)
        out[d] = f"{name}补假"
    return out


# ------------------------------------------------------------------------------------------ official file
@dataclass
class OfficialSchedule:
    """The official file: per published year, its source; per day, holiday name or adjusted workday."""

    path: Path
    years: dict[int, str] = field(default_factory=dict)          # year -> source (may be "")
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)      # day -> the year section naming it


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError(f"{value!r} is not a date (write 2027-02-05)")


def load_official(path: str | os.PathLike[str], cfg: dict[str, Any] | None = None) -> OfficialSchedule:
    """Read and check the official schedule file; raises ``CalendarFileError`` listing every problem
    (bad dates, a day both holiday and workday, a weekday as adjusted workday, a statutory holiday
    missing from a year, ...)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CalendarFileError(f"{path}: no such calendar file") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalendarFileError(f"{path}: not valid TOML ({exc}); dates are written 2027-02-05") from None
    sched = OfficialSchedule(path)
    errors: list[str] = []
    for key, section in data.items():
        if not (key.isdigit() and len(key) == 4):
            errors.append(f"[{key}]: sections are years, e.g. [2027]")
            continue
        if not isinstance(section, dict):
            errors.append(f"{key}: must be a section [{key}] with holidays and workdays")
            continue
        errors += _read_year(sched, int(key), section)
    for year in sched.years:
        if year < int(_calendar_rules(cfg).get("law_since", 0)):
            continue
        for day, name in sorted(statutory_holidays(year, cfg).items()):
            if day not in sched.holidays:
                errors.append(f"[{year}]: {day} ({name}) is a statutory holiday but not among the holidays "
                              "(a year is entered whole, as the State Council published it)")
    if errors:
        raise CalendarFileError(f"{path}: {len(errors)} problem(s) in the official calendar:\n  - "
                                + "\n  - ".join(errors))
    return sched


def _read_year(sched: OfficialSchedule, year: int, section: dict[str, Any]) -> list[str]:
    errors = [f"[{year}]: unknown key {k!r} (use {', '.join(sorted(_SECTION_KEYS))})"
              for k in section if k not in _SECTION_KEYS]
    sched.years[year] = str(section.get("source", ""))
    first_allowed = date(year - 1, 12, 25)   # the New Year block of a year's notice may start in December

    def place(day: date, what: str) -> str | None:
        if not first_allowed <= day <= date(year, 12, 31):
            return f"{what}: {day} is outside {year} (or the last week of December {year - 1})"
        return None

    def listed(key: str, what_each: str) -> list[tuple[str, Any]]:
        """The section's ``key`` entries, each with its label for messages; not a list: an error, none."""
        entries = section.get(key, [])
        if not isinstance(entries, list):
            errors.append(f"[{year}] {key}: must be a list of {what_each}")
            return []
        return [(f"[{year}] {key}[{i}]", entry) for i, entry in enumerate(entries)]

    for what, h in listed("holidays", "{ name = ..., from = ..., to = ... }"):
        if not isinstance(h, dict):
            errors.append(f"{what}: must be {{ name = \"春节\", from = {year}-02-05, to = {year}-02-12 }}")
            continue
        what += f" ({h.get('name', '?')})"
        errors += [f"{what}: unknown key {k!r} (use name, from, to)" for k in h if k not in _HOLIDAY_KEYS]
        if not h.get("name"):
            errors.append(f"{what}: needs a name")
        try:
            start = _as_date(h["from"])
            end = _as_date(h.get("to", h["from"]))
        except KeyError:
            errors.append(f"{what}: needs 'from' (and 'to' for more than one day)")
            continue
        except ValueError as exc:
            errors.append(f"{what}: bad date: {exc}")
            continue
        if end < start:
            errors.append(f"{what}: 'to' {end} is before 'from' {start}")
            continue
        if (end - start).days + 1 > MAX_HOLIDAY_DAYS:
            errors.append(f"{what}: {start} to {end} is longer than {MAX_HOLIDAY_DAYS} days")
            continue
        for n in range((end - start).days + 1):
            day = start + timedelta(days=n)
            if (e := place(day, what)) is not None:
                errors.append(e)
                break
            if day in sched.workdays:
                errors.append(f"{what}: {day} is also an adjusted workday ([{sched.workdays[day]}] workdays)")
            sched.holidays.setdefault(day, str(h.get("name", "")))

    for what, w in listed("workdays", f"dates, e.g. [{year}-02-20]"):
        try:
            day = _as_date(w)
        except ValueError as exc:
            errors.append(f"{what}: bad date: {exc}")
            continue
        if (e := place(day, what)) is not None:
            errors.append(e)
        elif day.weekday() < 5:
            errors.append(f"{what}: {day} is a {day:%A}, a working day anyway; adjusted workdays (调休上班) "
                          "are Saturdays or Sundays")
        elif day in sched.holidays:
            errors.append(f"{what}: {day} is also a holiday ({sched.holidays[day]})")
        else:
            sched.workdays[day] = str(year)
    return errors


# ------------------------------------------------------------------------------------------ the calendar
@dataclass(frozen=True)
class YearTable:
    """One year's working days (a bool per day, from January 1st) and their basis."""

    year: int
    basis: Basis
    workday: np.ndarray

    def is_workday(self, day: date) -> bool:
        return bool(self.workday[day.toordinal() - _JAN1[self.year]])


def _package_range() -> tuple[int, int]:
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays] + [d.year for d in constants.workdays]
    return min(years), max(years)


class WorkCalendar:
    """The working-day calendar: official file over the package over the computed statutory days.

    ``path`` is the official schedule file (default: ``GM_CALENDAR_FILE``, else
    ``config/calendar/official.toml``; a missing default file means no official entries). The file is
    read and checked on first use; each year's table is built on first use and kept.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, cfg: dict[str, Any] | None = None):
        chosen = path or os.environ.get(FILE_ENV)
        self.path = Path(chosen) if chosen else DEFAULT_FILE
        self._required = chosen is not None
        self._cfg = cfg
        self._official: OfficialSchedule | None = None
        self._years: dict[int, YearTable] = {}
        self.package_years = _package_range()

    @property
    def official(self) -> OfficialSchedule:
        """The official schedule file, read and checked once."""
        if self._official is None:
            if not self._required and not self.path.exists():
                self._official = OfficialSchedule(self.path)
            else:
                self._official = load_official(self.path, self._cfg)
        return self._official

    def basis(self, year: int) -> Basis:
        """Where ``year``'s working days come from."""
        if year in self.official.years:
            return "official_file"
        first, last = self.package_years
        return "package" if first <= year <= last else "computed"

    def table(self, year: int) -> YearTable:
        """``year``'s table (built on first use)."""
        t = self._years.get(year)
        if t is None:
            t = self._years[year] = self._build(year)
        return t

    def is_workday(self, day: date) -> bool:
        """True on a working day (adjusted workdays included)."""
        return self.table(day.year).is_workday(day)

    def holidays(self, year: int) -> dict[date, str]:
        """The non-working weekdays and listed holidays of ``year`` by name, on its basis (for display)."""
        basis = self.basis(year)
        if basis == "computed":
            out = computed_holidays(year, self._cfg)
        elif basis == "package":
            out = {}
            for day in _days(year):
                on, name = chinese_calendar.get_holiday_detail(day)
                if on and name:
                    out[day] = _PACKAGE_NAMES.get(name, name)
        else:
            out = {}
        out.update({d: n for d, n in self.official.holidays.items() if d.year == year})
        for d in self.official.workdays:
            out.pop(d, None)
        return dict(sorted(out.items()))

    def built_years(self) -> list[int]:
        """The years whose table has been looked at so far."""
        return sorted(self._years)

    def _build(self, year: int) -> YearTable:
        days = _days(year)
        basis = self.basis(year)
        if basis == "package":
            work = np.array([chinese_calendar.is_workday(d) for d in days], bool)
        else:
            work = np.array([d.weekday() < 5 for d in days], bool)
            if basis == "computed":
                for d in computed_holidays(year, self._cfg):
                    work[d.timetuple().tm_yday - 1] = False
        off = self.official
        for d in off.holidays:
            if d.year == year:
                work[d.timetuple().tm_yday - 1] = False
        for d in off.workdays:
            if d.year == year:
                work[d.timetuple().tm_yday - 1] = True
        if basis == "computed":
            first, last = self.package_years
            warnings.warn(
                f"working days of {year} are computed from the statutory holidays (全国年节及纪念日放假办法, "
                f"with make-up days), not official: {year} is not in {self.path} and chinese-calendar covers "
                f"{first}-{last}; adjusted workdays (调休) stay unknown until an administrator enters the "
                f"State Council's {year} schedule", CalendarComputedWarning, stacklevel=5)
        return YearTable(year, basis, work)


_PACKAGE_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明",
                  "Labour Day": "劳动节", "Dragon Boat Festival": "端午", "Mid-autumn Festival": "中秋",
                  "National Day": "国庆", "Anti-Fascist 70th Day": "抗战胜利70周年纪念日"}


class _Jan1(dict):
    def __missing__(self, year: int) -> int:
        v = self[year] = date(year, 1, 1).toordinal()
        return v


_JAN1 = _Jan1()   # year -> ordinal of its January 1st


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


_current: WorkCalendar | None = None


def calendar() -> WorkCalendar:
    """The process's calendar (built on first use from ``GM_CALENDAR_FILE`` or the shipped file)."""
    global _current
    if _current is None:
        _current = WorkCalendar()
    return _current


def set_calendar(cal: WorkCalendar | None) -> None:
    """Replace the process's calendar (None: rebuild from the environment on next use). Callers that
    cache deadlines must drop them too: use ``services.clocks.use_calendar_file``."""
    global _current
    _current = cal


def main(argv: list[str] | None = None) -> int:
    """Check the official file and show each year's basis and holidays."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m services.work_calendar",
                                description="Check the official holiday file and show the working-day calendar.")
    p.add_argument("years", nargs="*", type=int, help="years to show (default: this year and the next)")
    p.add_argument("--file", help=f"official schedule file (default: ${FILE_ENV} or {DEFAULT_FILE})")
    p.add_argument("--check", action="store_true", help="only check the file; exit 1 when it is wrong")
    args = p.parse_args(argv)
    cal = WorkCalendar(args.file)
    try:
        official = cal.official
    except CalendarFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{cal.path}: {len(official.years)} year(s) entered {sorted(official.years) or ''}".rstrip())
    if args.check:
        return 0
    from services.clocks import TZ  # clocks imports this module

    this_year = datetime.now(TZ).year
    for year in args.years or [this_year, this_year + 1]:
        print(f"\n{year}: {cal.basis(year)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalendarComputedWarning)
            for day, name in cal.holidays(year).items():
                print(f"  {day} {day:%a} {name}")
            extra = [d for d, w in zip(_days(year), cal.table(year).workday, strict=True) if w and d.weekday() >= 5]
        for day in extra:
            print(f"  {day} {day:%a} 调休上班 adjusted workday")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
