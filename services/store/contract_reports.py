"""The store contract's report reads: the analysis (分析研判) and the daily briefing (每日简报), each written
once in SQL for both stores (services/store/analysis.py, analysis_summary.py, briefing.py). A part of
``Store`` (services/store/base.py), kept apart so that each file holds one topic."""

from __future__ import annotations

import abc
from datetime import datetime

import pandas as pd


class ReportReads(abc.ABC):
    """What the analysis and the briefing read from a store."""

    # -- analysis (services/analysis; the measures are defined in services/analysis/measures.py) -------
    @abc.abstractmethod
    def analysis_areas(self, level: str, since: datetime, until: datetime, now: datetime, *,
                       parent: tuple[str, str] | None = None, repeat_days: int = 30) -> pd.DataFrame:
        """One row per area at ``level`` (district, subdistrict, community, grid; the district's row has
        code ``''``) with any appeal reported in [since, until), any appeal overdue at ``now`` or any order
        issued in [since, until), inside ``parent`` (kind, code) when given; by code. Columns: code, the
        counts of services.analysis.measures (integers, 0 never NULL) and its rates (NaN when the
        denominator is 0). Appeals without a code at ``level`` are left out. One grouped query."""

    @abc.abstractmethod
    def analysis_breakdown(self, level: str, since: datetime, until: datetime, by: str, *,
                           parent: tuple[str, str] | None = None) -> pd.DataFrame:
        """Appeals reported in [since, until) per area at ``level`` and value of ``by`` (channel,
        service_type or category): code, value (None where missing), received; by code, then value."""

    @abc.abstractmethod
    def analysis_trend(self, since: datetime, until: datetime, now: datetime, *, bucket: str = "day",
                       area: tuple[str, str] | None = None, repeat_days: int = 30) -> pd.DataFrame:
        """The cohort measures of the appeals reported in [since, until) (in ``area`` when given) per local
        day (``bucket`` day) or per week from Monday (week), Asia/Shanghai: bucket (YYYY-MM-DD of the day,
        or of the week's Monday), the cohort counts and rates; only buckets with appeals, in order."""

    # -- the daily briefing (services/store/briefing.py: "unresolved at the cut-off" defined there) ----
    @abc.abstractmethod
    def briefing_clearance(self, cut_off: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        """Per community with appeals unresolved at ``cut_off``: community_code, open_overnight, and the
        oldest one's oldest_id, oldest_reported_at, oldest_category; by code."""

    @abc.abstractmethod
    def briefing_grid_counts(self, cut_off: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        """The appeals unresolved at ``cut_off`` per grid and tier: code, tier, n (as ``counts``)."""

    @abc.abstractmethod
    def briefing_points(self, cut_off: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        """The red-tier or overdue appeals unresolved at ``cut_off``: id, lon, lat, tier, overdue (bool),
        grid_code, community_code; by id."""

    @abc.abstractmethod
    def briefing_red(self, since: datetime, until: datetime, *, area: tuple[str, str] | None = None) -> pd.DataFrame:
        """Red-tier appeals reported in [since, until): id, reported_at, category, community_code, status."""

    @abc.abstractmethod
    def briefing_gathering_members(self, since: datetime, until: datetime, *,
                                   area: tuple[str, str] | None = None) -> pd.DataFrame:
        """Every member of the gatherings with a member reported in [since, until) (in ``area``): id,
        category, lon, lat, reported_at, gathering_id, gathering_tier, tier, status, community_code."""

    @abc.abstractmethod
    def briefing_orders(self, since: datetime, until: datetime, *, area: tuple[str, str] | None = None
                        ) -> tuple[dict[str, int], pd.DataFrame]:
        """Orders issued in [since, until): ({issued, still_open: orders; checked_in_on_time,
        checked_in_late, not_checked_in: order x department}, late check-ins per department, late)."""

    @abc.abstractmethod
    def briefing_clock_span(self, *, area: tuple[str, str] | None = None) -> tuple[datetime | None, datetime | None]:
        """The earliest and latest next deadline of the open appeals (None, None when there are none)."""

    # -- the analysis summary (services/store/analysis_summary.py) ----------------------------------
    @abc.abstractmethod
    def refresh_analysis_summary(self, now: datetime) -> dict[str, int]:
        """Bring the analysis summary up to date for reads at ``now`` (each analysis read does it first):
        recount the report days the writes noted and count the days up to the horizon; returns
        ``{"days": recounted days, "rebuilt": 0 or 1}``."""
