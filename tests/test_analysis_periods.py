"""Reporting periods (services/analysis/periods.py), checked by hand against a calendar."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.analysis.periods import Period, custom, period
from services.errors import ValidationError

TZ = ZoneInfo("Asia/Shanghai")


def span(p: Period) -> tuple[str, str]:
    return p.start.isoformat(), p.end.isoformat()


def test_a_week_across_new_year_runs_monday_to_sunday():
    w = period("week", "2026-01-01")                         # a Thursday
    assert span(w) == ("2025-12-29", "2026-01-05") and w.days == 7
    assert span(w.previous()) == ("2025-12-22", "2025-12-29")
    assert span(w.same_last_year()) == ("2024-12-23", "2024-12-30")       # the week holding 2024-12-29
    assert w.since == datetime(2025, 12, 29, tzinfo=TZ) and w.until == datetime(2026, 1, 5, tzinfo=TZ)
    assert w.label("zh") == "2025年12月29日至2026年1月4日（周）"
    assert w.label("en") == "Week 29 Dec 2025 – 4 Jan 2026"
    assert span(period("week", "2026-01-04")) == span(w) and span(period("week", "2026-01-05")) == \
        ("2026-01-05", "2026-01-12")


def test_quarter_month_year_and_their_previous():
    q = period("quarter", date(2025, 11, 15))
    assert span(q) == ("2025-10-01", "2026-01-01") and q.label("zh") == "2025年第4季度" and q.label("en") == "Q4 2025"
    assert span(q.previous()) == ("2025-07-01", "2025-10-01") and span(q.same_last_year()) == ("2024-10-01", "2025-01-01")
    assert span(period("quarter", "2026-01-01").previous()) == ("2025-10-01", "2026-01-01")
    m = period("month", "2025-03-31")
    assert span(m) == ("2025-03-01", "2025-04-01") and span(m.previous()) == ("2025-02-01", "2025-03-01")
    assert m.label("zh") == "2025年3月" and m.label("en") == "Mar 2025"
    assert span(period("month", "2025-01-10").previous()) == ("2024-12-01", "2025-01-01")
    y = period("year", "2024-07-01")
    assert span(y) == ("2024-01-01", "2025-01-01") and span(y.previous()) == ("2023-01-01", "2024-01-01")
    assert y.label("zh") == "2024年"


def test_29_february_a_year_back_is_28_february():
    d = period("day", "2024-02-29")
    assert span(d.same_last_year()) == ("2023-02-28", "2023-03-01")
    assert span(d.previous()) == ("2024-02-28", "2024-02-29")
    assert d.label("zh") == "2024年2月29日" and d.label("en") == "29 Feb 2024"
    assert span(period("month", "2024-02-29").same_last_year()) == ("2023-02-01", "2023-03-01")
    # A leap week: Mon 26 Feb 2024 – Sun 3 Mar; a year back the week holding 26 Feb 2023 (a Sunday).
    assert span(period("week", "2024-02-29").same_last_year()) == ("2023-02-20", "2023-02-27")
    c = custom("2024-02-29", "2024-03-02")                   # three days, both ends included
    assert c.days == 3 and span(c.same_last_year()) == ("2023-02-28", "2023-03-03")


def test_custom_period_and_its_previous():
    c = custom("2025-10-01", "2025-10-07")
    assert span(c) == ("2025-10-01", "2025-10-08") and span(c.previous()) == ("2025-09-24", "2025-10-01")
    assert c.label("zh") == "2025年10月1日至2025年10月7日" and c.key() == "2025-10-01_2025-10-08"
    assert span(custom("2025-10-01", "2025-10-01")) == ("2025-10-01", "2025-10-02")


def test_a_datetime_is_read_in_shanghai_and_bad_input_is_refused():
    late = datetime(2025, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC"))       # 00:30 on 1 January in Shanghai
    assert span(period("day", late)) == ("2026-01-01", "2026-01-02")
    with pytest.raises(ValidationError):
        period("fortnight", "2025-01-01")
    with pytest.raises(ValidationError):
        period("day", "2025-13-01")
    with pytest.raises(ValidationError):
        custom("2025-10-07", "2025-10-01")


def test_an_unfinished_period_is_compared_like_for_like():
    m = period("month", "2026-03-01")
    before, last_year = m.compared(date(2026, 3, 2))          # two days of March have begun
    assert span(before) == ("2026-02-01", "2026-02-03") and span(last_year) == ("2025-03-01", "2025-03-03")
    assert before.kind == last_year.kind == "custom"
    # On the last day, and after, the whole periods.
    assert m.compared(date(2026, 3, 31)) == (m.previous(), m.same_last_year())
    assert m.compared(date(2026, 5, 1)) == (m.previous(), m.same_last_year())
    # A shorter previous period is never overrun: 1–30 March against all of February.
    assert span(m.compared(date(2026, 3, 30))[0]) == ("2026-02-01", "2026-03-01")
    # Before the period begins, its first day.
    assert span(m.compared(date(2026, 2, 20))[0]) == ("2026-02-01", "2026-02-02")
