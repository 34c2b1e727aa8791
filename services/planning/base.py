"""The district as the planners see it: its demand and stations (built once per process), its bounds,
English unit names, and which buildings a network covers.

Why a module of its own: the what-if, tables, map and siting modules all start from the same demand
and the same coverage test, so they are computed (and cached) in one place.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from geo.coords import SOURCE_SYSTEMS, to_wgs84
from geo.coverage import CoverageResult, Demand, StationSet, compute_coverage, demand_from_layers
from services import district
from services.planning.options import (
    BOUNDS_MARGIN_DEG,
    DEFAULT_RADIUS_M,
    PlanningError,
    check_radius,
    service_key,
)


@lru_cache(maxsize=2)
def demand(kind: str = "building") -> Demand:
    """The district's demand, built once per process: buildings (default) or grid centroids."""
    return demand_from_layers(_layers_with_points(), kind=kind)


def _layers_with_points() -> dict:
    """The area layers and the layer files' stations and buildings. The planner still reads its points from
    the files (data.sample), not yet from the store like the district map and the wall (issue 10)."""
    from data import sample

    return {**district.layers(), **{k: v for k, v in sample.load_layers().items() if k in district.POINT_KINDS}}


@lru_cache(maxsize=1)
def base_stations() -> StationSet:
    """The district's existing stations (the network before any what-if edit)."""
    return StationSet.from_frame(_layers_with_points()["station"])


def district_bounds(margin: float = BOUNDS_MARGIN_DEG) -> tuple[float, float, float, float]:
    """The district's lon/lat bounding box widened by ``margin`` degrees."""
    minx, miny, maxx, maxy = district.bounds()
    return (minx - margin, miny - margin, maxx + margin, maxy + margin)


def to_district_point(lon: float, lat: float, system: str = "wgs84") -> tuple[float, float]:
    """A point entered by a planner, converted from ``system`` to WGS84 and checked to be in the district's
    bounding box (a GCJ-02 point taken for WGS84 is about 600 m off, more than the radius)."""
    if system not in SOURCE_SYSTEMS:
        raise PlanningError("planning.err_system", system=system)
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise PlanningError("planning.err_coords") from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise PlanningError("planning.err_coords")
    wlon, wlat = to_wgs84(np.array([lon]), np.array([lat]), system)
    wlon, wlat = float(wlon[0]), float(wlat[0])
    minx, miny, maxx, maxy = district_bounds()
    if not (minx <= wlon <= maxx and miny <= wlat <= maxy):
        raise PlanningError("planning.err_outside", lon=round(lon, 6), lat=round(lat, 6))
    return wlon, wlat


def coverage(stations: StationSet, service: str | None = "appeal",
             radius_m: float = DEFAULT_RADIUS_M) -> CoverageResult:
    """Which buildings have a station offering ``service`` (``any``: every station) within ``radius_m``."""
    return compute_coverage(demand(), stations, service_key(service), check_radius(radius_m))


@lru_cache(maxsize=4)
def english_names(level: str) -> dict[str, str]:
    L = district.layers()
    gdf = L.get(level)
    if gdf is None or "name_en" not in gdf:
        return {}
    return dict(zip(gdf["code"].astype(str), gdf["name_en"].astype(str), strict=True))
