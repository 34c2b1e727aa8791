"""The analysis summary (services/store/analysis_summary.py) gives exactly the plain queries' figures, on
both stores: for the sample's year of appeals at every level and several periods, read at several
``now``; and again after the writes the triggers must catch (an open appeal of an old day closed, a
backdated appeal that makes later ones repeats, a closed appeal's category changed). The plain figures
come from the same store with the summary switched off (``_summary_end`` None: the plain query)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import seed
from services.analysis.periods import custom, period
from services.store.analysis import LEVELS
from services.store.analysis_summary import SummaryBusy, horizon, without_summary
from services.store.sqlite import SQLiteStore
from tests.test_analysis_contract import _departments

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 18, tzinfo=TZ)
PERIODS = [period("day", "2026-11-30"), period("week", "2026-11-30"), period("month", "2026-11-17"),
           period("month", "2026-12-01"), custom("2026-10-01", "2026-10-07"), period("quarter", "2026-11-01"),
           period("year", "2026-06-01")]


def _plain(store):
    """The same store with the summary switched off."""
    return without_summary(store)


def _same(store, now, periods=PERIODS, levels=LEVELS) -> None:
    plain = _plain(store)
    for p in periods:
        for level in levels:
            a = store.analysis_areas(level, p.since, p.until, now)
            b = plain.analysis_areas(level, p.since, p.until, now)
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=f"{level} {p.key()} at {now}")
        parent = ("subdistrict", "440311001")
        pd.testing.assert_frame_equal(store.analysis_areas("grid", p.since, p.until, now, parent=parent),
                                      plain.analysis_areas("grid", p.since, p.until, now, parent=parent),
                                      check_exact=True)
        for bucket in ("day", "week"):
            pd.testing.assert_frame_equal(store.analysis_trend(p.since, p.until, now, bucket=bucket),
                                          plain.analysis_trend(p.since, p.until, now, bucket=bucket),
                                          check_exact=True)


def _summary_rows(store) -> int:
    with store._read() as cx:
        return int(store._fetch(cx, "SELECT COUNT(*) FROM analysis_day", ())[0][0])


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def filled(request, tmp_path):
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "gm.sqlite3")
    else:
        store = request.getfixturevalue("pg_store")
        store.reset()
    appeals, events = seed.history(NOW)
    store.load_departments(_departments())
    store.insert_appeals(appeals, events)
    yield store
    if request.param == "sqlite":
        store.close()


def test_the_horizon_waits_for_the_longer_class1_limit():
    # The class-1 limits of the rules are well under a day: yesterday is summarised once they have passed.
    assert horizon(datetime(2026, 12, 2, 18, tzinfo=TZ)) == datetime(2026, 12, 2, tzinfo=TZ)
    assert horizon(datetime(2026, 12, 2, 0, 1, tzinfo=TZ)) == datetime(2026, 12, 1, tzinfo=TZ)


def test_summary_equals_the_plain_queries(filled):
    store = filled
    assert store.refresh_analysis_summary(NOW) == {"days": 0, "rebuilt": 1}
    assert _summary_rows(store) > 1000
    assert store.refresh_analysis_summary(NOW) == {"days": 0, "rebuilt": 0}   # nothing changed since
    month = PERIODS[2]
    assert store._summary_end(month.since, month.until, NOW, 30) == month.until   # the reads use it
    # Read at now, and at earlier moments (less of the summary may be used) and a later one.
    for now in (NOW, datetime(2026, 12, 1, 0, 10, tzinfo=TZ), datetime(2026, 11, 5, 9, tzinfo=TZ),
                NOW + timedelta(days=3)):
        _same(store, now)


def test_summary_follows_the_writes(filled):
    store = filled
    store.refresh_analysis_summary(NOW)
    q = store.query_appeals(statuses=["feedback"], until=datetime(2026, 11, 25, tzinfo=TZ))
    assert len(q), "the sample has old appeals waiting for their return visit"
    old = q.sort_values("id").iloc[0]
    store.act(int(old.id), "return_visit", "tester", at=NOW - timedelta(hours=1), satisfaction="satisfied")
    assert store.get_appeal(int(old.id))["status"] == "closed"
    # A backdated appeal on the building and category of a closed appeal of October: that one (and any
    # later one within the repeat window) becomes a repeat.
    closed = store.query_appeals(statuses=["closed"], since=datetime(2026, 10, 10, tzinfo=TZ),
                                 until=datetime(2026, 10, 20, tzinfo=TZ))
    target = closed[closed.building_code.notna() & closed.category.notna()].sort_values("id").iloc[0]
    before = store.analysis_areas("district", *_span("2026-10-01", "2026-11-01"), NOW).iloc[0]["repeat_appeals"]
    row = closed[closed.id == target.id].drop(columns=["id"]).copy()
    row["source"], row["external_id"] = "test-backdated", "B-1"
    row["reported_at"] = target.reported_at - timedelta(days=2)
    store.insert_appeals(row)
    # A closed appeal of September changes category (a correction of its facts).
    sept = store.query_appeals(statuses=["closed"], since=datetime(2026, 9, 1, tzinfo=TZ),
                               until=datetime(2026, 9, 30, tzinfo=TZ)).sort_values("id").iloc[0]
    with store._tx() as cx:
        store._update_appeal(cx, int(sept.id), {"category": "environment" if sept.category != "environment" else "noise"})
    refreshed = store.refresh_analysis_summary(NOW)
    assert refreshed["rebuilt"] == 0 and refreshed["days"] >= 30   # the backdated day spreads a window on
    after = store.analysis_areas("district", *_span("2026-10-01", "2026-11-01"), NOW).iloc[0]["repeat_appeals"]
    assert after > before
    # An appeal an hour before an open one of the last days, on its building and category: the open one
    # (read live, its repeat flag from analysis_repeat) becomes a repeat.
    live = store.query_appeals(statuses=["dispatched", "feedback", "resolved", "reported", "accepted"],
                               since=datetime(2026, 11, 28, tzinfo=TZ))
    live = live[live.building_code.notna() & live.category.notna()].sort_values("id").iloc[0]
    week = custom("2026-11-25", "2026-12-02")
    live_before = store.analysis_areas("district", week.since, week.until, NOW).iloc[0]["repeat_appeals"]
    row = live.to_frame().T.drop(columns=["id"]).copy()
    row["source"], row["external_id"] = "test-backdated", "B-2"
    row["reported_at"] = live.reported_at - timedelta(hours=1)
    store.insert_appeals(row.infer_objects())
    assert store.refresh_analysis_summary(NOW)["days"] >= 1
    assert store.analysis_areas("district", week.since, week.until, NOW).iloc[0]["repeat_appeals"] >= live_before + 1
    _same(store, NOW)


def test_a_period_not_of_whole_days_reads_plainly(filled):
    store = filled
    since, until = datetime(2026, 11, 3, 12, tzinfo=TZ), datetime(2026, 11, 20, 6, tzinfo=TZ)
    assert store._summary_end(since, until, NOW, 30) is None
    assert store._summary_end(since.replace(hour=0), until.replace(hour=0), NOW, 7) is None  # another window
    pd.testing.assert_frame_equal(store.analysis_areas("community", since, until, NOW),
                                  _plain(store).analysis_areas("community", since, until, NOW), check_exact=True)


def _span(first: str, after: str) -> tuple[datetime, datetime]:
    return (datetime.fromisoformat(first).replace(tzinfo=TZ), datetime.fromisoformat(after).replace(tzinfo=TZ))


def test_a_read_during_a_long_write_counts_plainly_instead_of_waiting(tmp_path):
    """SQLite: while another writer holds the store (a bulk load, say), the refresh gives up at once and
    the read counts plainly: the same figures, no 30-second wait for the lock."""
    import sqlite3

    store = SQLiteStore(tmp_path / "gm.sqlite3")
    appeals, events = seed.history(NOW)
    store.insert_appeals(appeals, events)
    month = PERIODS[2]
    expected = _plain(store).analysis_areas("community", month.since, month.until, NOW)
    other = sqlite3.connect(tmp_path / "gm.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(SummaryBusy):            # gives up after SUMMARY_WAIT_MS, not the 30 s timeout
            store.refresh_analysis_summary(NOW)
        got = store.analysis_areas("community", month.since, month.until, NOW)
    finally:
        other.execute("ROLLBACK")
        other.close()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert store._summary_end(month.since, month.until, NOW, 30) == month.until   # used again afterwards
    store.close()
