"""A daily briefing built by hand (services/briefing/model.py), with known numbers, for the renderer's tests:
what services/briefing/content.py would build from a store, without a store."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import shapely

from geo.crs import METRIC_CRS, STORAGE_CRS
from services import district
from services.briefing.model import HEADLINE, Briefing, Figure, MapData, Note
from services.i18n import label

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2025, 6, 1)
CUT_OFF = datetime(2025, 6, 2, 0, 0, tzinfo=TZ)

# code: (value, day before, 7-day average, is_rate); formatted as the PDF shows them in EXPECTED.
FIGURES = {
    "received": (137, 142, 128.571428, False),
    "accepted": (120, 131, 119.0, False),
    "resolved": (96, 101, 97.285714, False),
    "resolution_rate": (0.8, 101 / 131, 681 / 833, True),
    "same_day_rate": (2 / 3, None, 0.5, True),
    "class1_respond_on_time": (0.9, 1.0, 0.875, True),
    "overdue_now": (5, 7, 6.142857, False),
}
EXPECTED = {
    "received": ("137", "142", "128.6"),
    "accepted": ("120", "131", "119"),
    "resolved": ("96", "101", "97.3"),
    "resolution_rate": ("80.0%", "77.1%", "81.8%"),
    "same_day_rate": ("66.7%", "—", "50.0%"),
    "class1_respond_on_time": ("90.0%", "100.0%", "87.5%"),
    "overdue_now": ("5", "7", "6.1"),
}


def _map_data() -> MapData:
    grids = district.layers()["grid"]
    codes = grids["code"].tolist()[:3]
    centre = shapely.centroid(grids.to_crs(METRIC_CRS).geometry.values[:3])
    lonlat = gpd.GeoSeries(centre, crs=METRIC_CRS).to_crs(STORAGE_CRS)
    lon, lat = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    return MapData(
        grid_levels=pd.DataFrame({"grid": codes, "level": ["red", "yellow", "blue"], "open_total": [6, 3, 1]}),
        points=pd.DataFrame({"lon": lon[:2], "lat": lat[:2], "tier": ["red", "blue"], "overdue": [False, True]}),
        clusters=pd.DataFrame({"lon": lon[2:], "lat": lat[2:], "size": [4], "radius_m": [300.0], "tier": ["red"]}))


def _empty_map() -> MapData:
    return MapData(grid_levels=pd.DataFrame({"grid": [], "level": [], "open_total": []}),
                   points=pd.DataFrame({"lon": [], "lat": [], "tier": [], "overdue": []}),
                   clusters=pd.DataFrame({"lon": [], "lat": [], "size": [], "radius_m": [], "tier": []}))


def sample(lang: str = "zh", *, area: tuple[str, str] | None = None) -> Briefing:
    """The briefing of 2025-06-01 for the district (or ``area``) in ``lang``, with the numbers above:
    two communities with open items (光明社区 3, oldest #9001; 公明社区 1), the rest cleared, two red
    appeals, one gathering of 4, 6 orders (1 late, from 光明公安分局), three notes with items."""
    communities = district.names("community", lang)
    if area is not None:
        inside = district.communities_in(area)
        communities = {c: n for c, n in communities.items() if c in inside}
    codes = list(communities)
    busy = codes[:1] + (codes[5:6] if len(codes) > 5 else [])
    counts = {busy[0]: 3, **({busy[1]: 1} if len(busy) > 1 else {})}
    ids = {busy[0]: 9001, **({busy[1]: 9017} if len(busy) > 1 else {})}
    reported = {busy[0]: datetime(2025, 5, 30, 8, 15, tzinfo=TZ), **(
        {busy[1]: datetime(2025, 6, 1, 16, 40, tzinfo=TZ)} if len(busy) > 1 else {})}
    rows = [{"community": c, "name": communities[c], "open_overnight": counts[c], "oldest_id": ids[c],
             "oldest_reported_at": reported[c], "oldest_category": label("category", "labour_law", lang)}
            for c in busy]
    rows += [{"community": c, "name": communities[c], "open_overnight": 0, "oldest_id": None,
              "oldest_reported_at": None, "oldest_category": None} for c in codes if c not in counts]
    name0 = communities[busy[0]]
    area_name = (district.name_of(area[0], area[1], lang) if area else district.name_of("district", "440311", lang))
    return Briefing(
        area=area, area_name=area_name, report_date=DAY, cut_off=CUT_OFF, lang=lang,
        headline=tuple(Figure(code, *FIGURES[code]) for code in HEADLINE),
        clearance=pd.DataFrame(rows),
        red_warnings=pd.DataFrame([
            {"id": 9105, "reported_at": datetime(2025, 6, 1, 9, 5, tzinfo=TZ),
             "category": label("category", "labour_law", lang), "community": name0,
             "status": label("status", "dispatched", lang)},
            {"id": 9133, "reported_at": datetime(2025, 6, 1, 14, 30, tzinfo=TZ),
             "category": label("category", "family", lang), "community": name0,
             "status": label("status", "resolved", lang)}]),
        gatherings=pd.DataFrame([{"gathering_id": 77, "size": 4, "tier": "red", "community": name0,
                                  "first_reported_at": datetime(2025, 6, 1, 10, 0, tzinfo=TZ), "open": 2,
                                  "status": label("status", "dispatched", lang)}]),
        orders={"issued": 6, "checked_in_on_time": 4, "checked_in_late": 1, "not_checked_in": 1, "still_open": 2},
        late_departments=pd.DataFrame([{"department": "police", "name": district.name_of("department", "police", lang),
                                        "late": 1}]),
        notes=(Note("categories_rising", ({"name": label("category", "labour_law", lang), "day": 19,
                                           "average": 8.5, "change": 10.5},)),
               Note("reopened_communities", ({"name": name0, "reopened": 3},)),
               Note("unofficial_calendar", ({"year": 2026, "basis": "computed"},))),
        map=_map_data(), empty=False, made_at=CUT_OFF)


def empty_sample(lang: str = "zh") -> Briefing:
    """A day with nothing: no appeal received, none open, no orders, no notes' items."""
    communities = district.names("community", lang)
    return Briefing(
        area=None, area_name=district.name_of("district", "440311", lang), report_date=DAY, cut_off=CUT_OFF,
        lang=lang,
        headline=tuple(Figure(code, None if rate else 0, None if rate else 0, None if rate else 0.0, rate)
                       for code, (*_, rate) in ((c, FIGURES[c]) for c in HEADLINE)),
        clearance=pd.DataFrame([{"community": c, "name": n, "open_overnight": 0, "oldest_id": None,
                                 "oldest_reported_at": None, "oldest_category": None}
                                for c, n in communities.items()]),
        red_warnings=pd.DataFrame(), gatherings=pd.DataFrame(),
        orders={"issued": 0, "checked_in_on_time": 0, "checked_in_late": 0, "not_checked_in": 0, "still_open": 0},
        late_departments=pd.DataFrame(),
        notes=(Note("categories_rising"), Note("reopened_communities"), Note("unofficial_calendar")),
        map=_empty_map(), empty=True, made_at=CUT_OFF)
