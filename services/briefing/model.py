"""What a daily briefing (每日简报, issue 15) holds, as plain data: built from the store by
services/briefing/content.py, drawn by geo/print_map.py (the map) and services/briefing/render.py
(the PDF). Nothing here holds personal data: no names, phones or descriptions of citizens.

Texts are already in the briefing's language (``lang``) where they are names or labels (area names,
category and status labels); numbers stay numbers, so the renderer formats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

# The headline figures, by their code names in services/analysis/measures.py (one definition each).
HEADLINE = ("received", "accepted", "resolved", "resolution_rate", "same_day_rate",
            "class1_respond_on_time", "overdue_now")


@dataclass(frozen=True)
class Figure:
    """One headline figure: the report day's value, the day before's, and the average of the 7 days
    before the report day (a rate over the 7 days pooled: sum of numerators ÷ sum of denominators; a count
    as the daily mean). ``None`` where a rate has nothing to divide by."""

    code: str
    value: float | None
    day_before: float | None
    week_average: float | None
    is_rate: bool


@dataclass(frozen=True)
class Note:
    """One note computed from the data. ``kind`` is one of ``categories_rising`` (items: name, day,
    average, change), ``reopened_communities`` (items: name, reopened), ``unofficial_calendar`` (items:
    year, basis). ``items`` empty: nothing to report of that kind (the renderer says so)."""

    kind: str
    items: tuple[dict, ...] = ()


@dataclass(frozen=True)
class MapData:
    """What the briefing map draws (WGS84 lon/lat):
    - ``grid_levels``: grid (code), level (red/yellow/blue or None), open_total — open appeals per grid at
      the cut-off, with the wall's warning levels (services/wall.py grid_levels);
    - ``points``: lon, lat, tier, overdue (bool) — the red-tier and the overdue open appeals;
    - ``clusters``: lon, lat, size, radius_m, tier — the gathering clusters to ring."""

    grid_levels: pd.DataFrame
    points: pd.DataFrame
    clusters: pd.DataFrame


@dataclass(frozen=True)
class Briefing:
    """The briefing of ``area`` (kind, code; None: the whole district) for ``report_date``.

    - ``cut_off``: the moment the data is read at (the end of the report day, or the making time if the
      report day is not over), Asia/Shanghai; ``made_at`` equals it, so two runs are byte-identical.
    - ``headline``: one Figure per code of HEADLINE, in that order.
    - ``clearance`` (每日清零): one row per community of the area — community (code), name,
      open_overnight (appeals reported up to the cut-off and not resolved by it), oldest_id,
      oldest_reported_at, oldest_category (label); the communities with items first, oldest item first,
      then the cleared ones (open_overnight 0) by code.
    - ``red_warnings``: red-tier appeals reported on the report day — id, reported_at, category (label),
      community (name), status (label of the state now). ``gatherings``: gathering clusters of the day —
      gathering_id, size, tier, community (name), first_reported_at, open (members still open), status
      (label: open while any member is).
    - ``orders``: issued, checked_in_on_time, checked_in_late, not_checked_in, still_open (orders issued on
      the report day); ``late_departments``: department (code), name, late — departments with a late
      check-in that day, most first (每日一提醒).
    - ``notes``: three Note, kinds in the order categories_rising, reopened_communities,
      unofficial_calendar.
    - ``empty``: nothing was received on the report day and nothing is open (the briefing says so).
    """

    area: tuple[str, str] | None
    area_name: str
    report_date: date
    cut_off: datetime
    lang: str
    headline: tuple[Figure, ...]
    clearance: pd.DataFrame
    red_warnings: pd.DataFrame
    gatherings: pd.DataFrame
    orders: dict[str, int]
    late_departments: pd.DataFrame
    notes: tuple[Note, ...]
    map: MapData
    empty: bool = False
    made_at: datetime | None = field(default=None)

    @property
    def area_code(self) -> str:
        """The area's code for file names: the district's code when ``area`` is None."""
        from services import district

        return self.area[1] if self.area else next(iter(district.names("district", "zh")))
