"""The district as the planners see it: its demand and stations (read from the store, services.reference,
and built again only when the stored points change), its bounds, English unit names, and which buildings
a network covers.

Why a module of its own: the what-if, tables, map and siting modules all start from the same demand
and the same coverage test, so they are computed (and cached) in one place.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from geo.coords import SOURCE_SYSTEMS, to_wgs84
from geo.coverage import CoverageResult, Demand, StationSet, compute_coverage, demand_from_layers
from services import district, reference
from services.planning.options import (
    BOUNDS_MARGIN_DEG,
    DEFAULT_RADIUS_M,
    PlanningError,
    check_radius,
    service_key,
)
from services.store.base import Store


def demand(kind: str = "building", *, store: Store) -> Demand:
    """The district's demand: the buildings ``store`` holds (default) or grid centroids weighted by them;
    built once per content of the stored buildings (services.reference)."""
    return _cached(store, "building", ("demand", kind),
                   lambda: demand_from_layers({**district.layers(), "building": district.points(store, "building")},
                                              kind=kind))


def base_stations(*, store: Store) -> StationSet:
    """The district's existing stations as ``store`` holds them (the network before any what-if edit);
    the same object while the stored stations are unchanged."""
    return _cached(store, "station", ("stations",), lambda: StationSet.from_frame(district.points(store, "station")))


_built: dict[tuple, object] = {}


def _cached(store: Store, kind: str, what: tuple, build):
    """``build()`` kept under ``what``, the store and the version of its ``kind`` points."""
    key = (what, store.url, reference.version(store, kind))
    if key not in _built:
        if len(_built) > 32:
            _built.clear()
        _built[key] = build()
    return _built[key]


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
             radius_m: float = DEFAULT_RADIUS_M, *, store: Store) -> CoverageResult:
    """Which of ``store``'s buildings have a station offering ``service`` (``any``: every station) within
    ``radius_m``."""
    return compute_coverage(demand(store=store), stations, service_key(service), check_radius(radius_m))


@lru_cache(maxsize=4)
def english_names(level: str) -> dict[str, str]:
    L = district.layers()
    gdf = L.get(level)
    if gdf is None or "name_en" not in gdf:
        return {}
    return dict(zip(gdf["code"].astype(str), gdf["name_en"].astype(str), strict=True))
