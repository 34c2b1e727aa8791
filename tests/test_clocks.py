"""Clocks on China's official calendar, checked by hand against the 2025 National Day holiday.

The State Council's 2025 arrangement: 1-8 October off (National Day and Mid-Autumn together), with
Sunday 28 September and Saturday 11 October as adjusted working days.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import clocks
from services.clocks import (
    CalendarComputedWarning,
    Deadline,
    is_workday,
    next_deadline,
    next_deadlines,
    nth_working_day_after,
    order_deadlines,
    overdue_minutes,
    resolve_due,
)
from services.config import rules

TZ = ZoneInfo("Asia/Shanghai")


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def appeal(status: str = "reported", klass: str = "major", reported: datetime | None = None,
           **stamps: datetime) -> dict:
    return {"status": status, "appeal_class": klass, "reported_at": reported or t(2025, 9, 26, 10, 0), **stamps}


def test_official_calendar_around_national_day_2025():
    assert is_workday(date(2025, 9, 28))          # Sunday, adjusted workday
    assert not is_workday(date(2025, 10, 1))
    assert not is_workday(date(2025, 10, 8))
    assert is_workday(date(2025, 10, 11))         # Saturday, adjusted workday
    assert not is_workday(date(2025, 10, 12))


def test_major_reported_friday_before_national_day():
    # Friday 26 Sep: the report day does not count; working days Sun 28 (adjusted), Mon 29, Tue 30.
    d = next_deadline(appeal(reported=t(2025, 9, 26, 16, 45)))
    assert d == Deadline("resolve", t(2025, 9, 30, 23, 59, 59))


def test_major_reported_on_the_eve_of_the_holiday_spans_it():
    # Tuesday 30 Sep: 1-8 Oct off; Thu 9, Fri 10, Sat 11 (adjusted) are the three working days.
    d = next_deadline(appeal(reported=t(2025, 9, 30, 9, 0)))
    assert d == Deadline("resolve", t(2025, 10, 11, 23, 59, 59))


def test_major_reported_on_a_holiday_counts_from_the_next_working_day():
    # Reported on 3 Oct (holiday): Thu 9, Fri 10, Sat 11.
    assert nth_working_day_after(date(2025, 10, 3), 3) == date(2025, 10, 11)
    # Reported on Saturday 27 Sep (a weekend day): Sun 28, Mon 29, Tue 30.
    assert nth_working_day_after(date(2025, 9, 27), 3) == date(2025, 9, 30)


def test_ordinary_is_due_by_midnight_of_the_report_day_in_shanghai():
    # 15:30 UTC on 30 Sep is 23:30 in Shanghai: due half an hour later, not the next day.
    reported = datetime(2025, 9, 30, 15, 30, tzinfo=ZoneInfo("UTC"))
    d = next_deadline(appeal(klass="ordinary", reported=reported))
    assert d == Deadline("resolve", t(2025, 9, 30, 23, 59, 59))
    # A holiday does not matter for the same-day rule.
    d = next_deadline(appeal(klass="ordinary", reported=t(2025, 10, 3, 20, 0)))
    assert d.at == t(2025, 10, 3, 23, 59, 59)


def test_class1_respond_then_accept_then_three_working_days():
    rep = t(2025, 9, 30, 15, 0)
    assert next_deadline(appeal(klass="class1", reported=rep)) == Deadline("respond", t(2025, 9, 30, 15, 10))
    responded = appeal(klass="class1", reported=rep, responded_at=t(2025, 9, 30, 15, 4))
    assert next_deadline(responded) == Deadline("accept", t(2025, 9, 30, 15, 30))
    accepted = appeal("accepted", klass="class1", reported=rep, responded_at=t(2025, 9, 30, 15, 4),
                      accepted_at=t(2025, 9, 30, 15, 20))
    assert next_deadline(accepted) == Deadline("resolve", t(2025, 10, 11, 23, 59, 59))


def test_after_resolution_the_loop_still_has_deadlines():
    rep = t(2025, 9, 26, 9, 0)
    assert next_deadline(appeal("resolved", reported=rep, resolved_at=t(2025, 9, 26, 12, 0))) == \
        Deadline("confirm", t(2025, 9, 27, 12, 0))
    assert next_deadline(appeal("confirmed", reported=rep, confirmed_at=t(2025, 9, 26, 13, 0))) == \
        Deadline("feedback", t(2025, 9, 27, 13, 0))
    # Feedback on Friday 26 Sep: the return visit is due by the 3rd working day after (Tue 30 Sep).
    assert next_deadline(appeal("feedback", reported=rep, feedback_at=t(2025, 9, 26, 14, 0))) == \
        Deadline("return_visit", t(2025, 9, 30, 23, 59, 59))
    assert next_deadline(appeal("closed", reported=rep)) is None


def test_a_pending_judicial_confirmation_is_due_half_an_hour_after_the_request():
    """Requested at 12:05 on Friday 26 Sep: the court's answer is due at 12:35 (30 minutes, calendar time,
    whatever the day); once it is recorded the confirmation clock (24 h from the resolution) is back."""
    resolved = {"resolved_at": t(2025, 9, 26, 12, 0), "judicial_requested_at": t(2025, 9, 26, 12, 5)}
    pending = appeal("resolved", reported=t(2025, 9, 26, 9, 0), **resolved)
    assert next_deadline(pending) == Deadline("judicial_confirmation", t(2025, 9, 26, 12, 35))
    assert next_deadline(pending).overdue_minutes(t(2025, 9, 26, 12, 45)) == 10
    answered = {**pending, "judicial_recorded_at": t(2025, 9, 26, 12, 20)}
    assert next_deadline(answered) == Deadline("confirm", t(2025, 9, 27, 12, 0))
    cfg = {**rules(), "clocks": {**rules()["clocks"], "judicial_confirmation_minutes": 45}}
    assert next_deadline(pending, cfg=cfg) == Deadline("judicial_confirmation", t(2025, 9, 26, 12, 50))


def test_reopened_restarts_the_resolution_clock_at_the_return_visit():
    # Reopened on Thu 9 Oct: Fri 10, Sat 11 (adjusted), [Sun 12 off], Mon 13.
    a = appeal("reopened", reported=t(2025, 9, 26, 9, 0), return_visit_at=t(2025, 10, 9, 10, 0))
    assert next_deadline(a) == Deadline("resolve", t(2025, 10, 13, 23, 59, 59))
    assert resolve_due(a) == t(2025, 10, 13, 23, 59, 59)
    ordinary = appeal("reopened", klass="ordinary", reported=t(2025, 9, 26, 9, 0),
                      return_visit_at=t(2025, 10, 9, 10, 0))
    assert next_deadline(ordinary).at == t(2025, 10, 9, 23, 59, 59)


def test_overdue_minutes():
    a = appeal(klass="class1", reported=t(2025, 9, 30, 15, 0))
    assert overdue_minutes(a, t(2025, 9, 30, 15, 25)) == 15.0      # respond was due at 15:10
    assert overdue_minutes(a, t(2025, 9, 30, 15, 5)) == -5.0
    assert overdue_minutes(appeal("closed"), t(2025, 9, 30, 15, 5)) is None


def test_past_the_package_the_calendar_is_computed_with_a_warning_once_per_year(tmp_path):
    empty = tmp_path / "official.toml"
    empty.write_text("", encoding="utf-8")
    clocks.use_calendar_file(empty)
    try:
        with pytest.warns(CalendarComputedWarning, match="2030 are computed"):
            # Wed 1 and Thu 2 May 2030 are Labour Day: reported Tue 30 Apr, Fri 3, Mon 6, Tue 7.
            assert nth_working_day_after(date(2030, 4, 30), 3) == date(2030, 5, 7)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # warned once per year only
            assert is_workday(date(2030, 5, 4)) is False
    finally:
        clocks.use_calendar_file(None)


def test_vectorised_deadlines_equal_the_scalar_rule():
    rows = [
        appeal(reported=t(2025, 9, 26, 16, 45)),
        appeal(reported=t(2025, 9, 30, 9, 0)),
        appeal(klass="ordinary", reported=t(2025, 10, 3, 20, 0)),
        appeal(klass="class1", reported=t(2025, 9, 30, 15, 0)),
        appeal(klass="class1", reported=t(2025, 9, 30, 15, 0), responded_at=t(2025, 9, 30, 15, 4)),
        appeal("accepted", klass="class1", reported=t(2025, 9, 30, 15, 0)),
        appeal("dispatched", klass="ordinary", reported=t(2025, 9, 30, 23, 30)),
        appeal("resolved", reported=t(2025, 9, 26, 9), resolved_at=t(2025, 9, 26, 12)),
        appeal("resolved", reported=t(2025, 9, 26, 9), resolved_at=t(2025, 9, 26, 12),
               judicial_requested_at=t(2025, 9, 26, 12, 5)),
        appeal("resolved", reported=t(2025, 9, 26, 9), resolved_at=t(2025, 9, 26, 12),
               judicial_requested_at=t(2025, 9, 26, 12, 5), judicial_recorded_at=t(2025, 9, 26, 12, 25)),
        appeal("confirmed", reported=t(2025, 9, 26, 9), confirmed_at=t(2025, 9, 26, 13)),
        appeal("feedback", reported=t(2025, 9, 26, 9), feedback_at=t(2025, 9, 26, 14)),
        appeal("reopened", reported=t(2025, 9, 26, 9), return_visit_at=t(2025, 10, 9, 10)),
        appeal("closed", reported=t(2025, 9, 26, 9)),
    ]
    frame = pd.DataFrame(rows)
    kinds, at = next_deadlines(frame)
    for i, row in enumerate(rows):
        d = next_deadline(row)
        if d is None:
            assert kinds[i] is None and pd.isna(at.iloc[i])
        else:
            assert (kinds[i], at.iloc[i].to_pydatetime()) == (d.kind, d.at), i


def test_vectorised_deadlines_on_the_sample_history():
    from data.sample import load_appeal_history

    appeals, _ = load_appeal_history()
    some = appeals.drop(columns="geometry").iloc[::97].reset_index(drop=True)
    kinds, at = next_deadlines(some)
    for i, row in enumerate(some.to_dict("records")):
        d = next_deadline(row)
        assert (kinds[i], None if pd.isna(at.iloc[i]) else at.iloc[i].to_pydatetime()) == \
            ((d.kind, d.at) if d else (None, None))


def test_order_clock():
    c = order_deadlines(t(2025, 10, 9, 10, 0), 45, 48)
    assert c.arrive_by == t(2025, 10, 9, 10, 45)
    assert c.resolve_by == t(2025, 10, 11, 10, 0)
