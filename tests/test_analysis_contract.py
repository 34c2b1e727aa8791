"""Both stores give the same analysis figures to the last digit: the sample's year of appeals (about
17,000, with their events) and a few orders, loaded into SQLite and PostGIS alike, compared for every
measure at every level for several periods (a day, the week across the new year, a month with the Spring
Festival, the National Day week, a quarter, the year), with the breakdowns and the trend; and a plain
count in pandas agrees with the SQL for the cohort's simplest measures."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import seed
from services.analysis.periods import custom, period
from services.store.analysis import LEVELS
from services.store.sqlite import SQLiteStore
from services.vocabulary import RESOLVED

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 18, tzinfo=TZ)
PERIODS = [period("day", "2026-03-16"), period("week", "2026-01-01"), period("month", "2026-02-17"),
           custom("2026-10-01", "2026-10-07"), period("quarter", "2026-08-01"), period("year", "2026-06-01")]


def fill(store) -> pd.DataFrame:
    appeals, events = seed.history(NOW)
    store.load_departments(_departments())
    store.insert_appeals(appeals, events)
    # Orders on the open appeals that may take one (the same ones, at the same times, in both stores).
    open_ = store.query_appeals(statuses=["dispatched", "reopened"]).sort_values("id").head(12)
    for i, a in enumerate(open_.itertuples()):
        store.issue_order(int(a.id), ["police"], "社区党委", at=a.reported_at + timedelta(hours=1 + i % 3))
    return appeals


def _departments() -> pd.DataFrame:
    from data import sample

    return sample.load_departments()


@pytest.fixture(scope="module")
def stores(tmp_path_factory, pg_store):
    lite = SQLiteStore(tmp_path_factory.mktemp("analysis_contract") / "gm.sqlite3")
    pg_store.reset()
    frame = fill(lite)
    fill(pg_store)
    yield lite, pg_store, frame
    lite.close()


@pytest.mark.postgis
def test_same_figures_for_every_measure_level_and_period(stores):
    lite, pg, _ = stores
    for p in PERIODS:
        for level in LEVELS:
            a = lite.analysis_areas(level, p.since, p.until, NOW)
            b = pg.analysis_areas(level, p.since, p.until, NOW)
            assert len(a) > 0, (p, level)
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=f"{level} {p.key()}")
        parent = ("subdistrict", "440311001")
        pd.testing.assert_frame_equal(lite.analysis_areas("grid", p.since, p.until, NOW, parent=parent),
                                      pg.analysis_areas("grid", p.since, p.until, NOW, parent=parent),
                                      check_exact=True)
        for by in ("channel", "service_type", "category"):
            pd.testing.assert_frame_equal(lite.analysis_breakdown("community", p.since, p.until, by),
                                          pg.analysis_breakdown("community", p.since, p.until, by), check_exact=True)
        for bucket in ("day", "week"):
            pd.testing.assert_frame_equal(lite.analysis_trend(p.since, p.until, NOW, bucket=bucket),
                                          pg.analysis_trend(p.since, p.until, NOW, bucket=bucket), check_exact=True)


@pytest.mark.postgis
def test_the_year_has_every_kind_of_figure(stores):
    lite, _, _ = stores
    y = lite.analysis_areas("district", PERIODS[-1].since, PERIODS[-1].until, NOW).iloc[0]
    for code in ("received", "resolved", "same_day_settled", "class1_respond_due", "major_due", "overdue_in_period",
                 "reopened", "satisfied", "gatherings", "orders_issued", "repeat_appeals"):
        assert y[code] > 0, code
    assert 0 < y["resolution_rate"] <= 1 and 0 < y["same_day_rate"] <= 1


@pytest.mark.postgis
def test_plain_counts_agree_with_the_sql(stores):
    lite, _, frame = stores
    for p in PERIODS:
        cohort = frame[(frame.reported_at >= p.since) & (frame.reported_at < p.until)]
        got = lite.analysis_areas("subdistrict", p.since, p.until, NOW).set_index("code")
        want = cohort.groupby("subdistrict_code").agg(
            received=("id", "size"), accepted=("accepted_at", "count"),
            resolved=("status", lambda s: int(s.isin(RESOLVED).sum())),
            reopened=("reopened_count", lambda s: int((s > 0).sum())),
            satisfied=("satisfaction", lambda s: int((s == "satisfied").sum())))
        assert got.loc[want.index, list(want.columns)].astype("int64").equals(want.astype("int64")), p.key()
