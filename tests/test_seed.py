"""First start: a fresh store gets the sample's history shifted to end by now (services/seed.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.seed import history

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 6, 3, tzinfo=TZ)  # a Tuesday, before the sample's own end (it is built at "now")


@pytest.mark.parametrize("now", [DAY.replace(hour=9), datetime.now(TZ) + timedelta(days=40)],
                         ids=["before_the_sample_end", "after_it"])
def test_the_history_ends_within_a_day_before_now(now):
    appeals, events = history(now)
    assert now - timedelta(days=1) < events["at"].max() <= now
    assert appeals["reported_at"].max() <= now
