"""pages/ui.when: the one formatter of every page's time columns, in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from pages import ui


def test_times_are_shown_in_shanghai_and_missing_ones_blank():
    utc = datetime(2026, 12, 1, 16, 30, 5, tzinfo=UTC)         # 00:30:05 on 2 December in Shanghai
    assert ui.when(utc) == "2026-12-02 00:30"
    assert ui.when(pd.Timestamp(utc), "%Y-%m-%d %H:%M:%S") == "2026-12-02 00:30:05"
    assert ui.when(utc, ui.SHORT_TIME) == "12-02 00:30"
    assert ui.when(datetime(2026, 3, 2, 9, 15)) == "2026-03-02 09:15"  # naive: taken as local already
    assert ui.when(None) == "" and ui.when(pd.NaT) == "" and ui.when(float("nan")) == ""
