"""CRS rules: metric work in EPSG:4547 is accurate to 0.1 % anywhere in the district."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from geo.crs import (
    METRIC_CRS,
    STORAGE_CRS,
    area_m2,
    buffer_lonlat,
    distance_m,
    geodesic_distance_m,
    lonlat_to_metric,
    metric_to_lonlat,
    to_metric,
)


def _points_in_district(layers, n, seed=1):
    poly = layers["district"].geometry.values[0]
    minx, miny, maxx, maxy = poly.bounds
    rng = np.random.default_rng(seed)
    x = rng.uniform(minx, maxx, n * 3)
    y = rng.uniform(miny, maxy, n * 3)
    ok = shapely.contains_xy(poly, x, y)
    return x[ok][:n], y[ok][:n]


def test_crs_constants():
    assert STORAGE_CRS == "EPSG:4326"
    assert METRIC_CRS == "EPSG:4547"


def test_central_meridian_maps_to_false_easting():
    # EPSG:4547 has its central meridian at 114E with a false easting of 500,000 m.
    x, _ = lonlat_to_metric(np.array([114.0]), np.array([22.77]))
    assert x[0] == pytest.approx(500_000.0, abs=1e-6)


def test_round_trip_metric_lonlat():
    lon, lat = np.array([113.93, 113.86]), np.array([22.77, 22.70])
    back = metric_to_lonlat(*lonlat_to_metric(lon, lat))
    np.testing.assert_allclose(back[0], lon, atol=1e-9)
    np.testing.assert_allclose(back[1], lat, atol=1e-9)


def test_500m_buffer_area_matches_circle_anywhere_in_district(layers):
    lon, lat = _points_in_district(layers, 200)
    circles = buffer_lonlat(lon, lat, 500.0, quad_segs=256)
    # Measure the lon/lat polygons independently of our projection: geodesic area on the ellipsoid.
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    areas = np.array([abs(geod.geometry_area_perimeter(c)[0]) for c in circles])
    rel = np.abs(areas / (math.pi * 500.0**2) - 1)
    assert rel.max() < 1e-3, rel.max()


def test_planar_distance_agrees_with_geodesic(layers):
    lon, lat = _points_in_district(layers, 2000, seed=2)
    lon2, lat2 = np.roll(lon, 1), np.roll(lat, 1)
    d = distance_m(lon, lat, lon2, lat2)
    g = geodesic_distance_m(lon, lat, lon2, lat2)
    keep = g > 50
    assert (np.abs(d[keep] / g[keep] - 1) < 1e-3).all()


def test_distance_of_a_known_offset():
    # 0.01 degree of latitude at 22.77N is 1,107.9 m on WGS84 (meridian arc), checkable in any table.
    d = distance_m(np.array([113.93]), np.array([22.77]), np.array([113.93]), np.array([22.78]))
    assert d[0] == pytest.approx(1107.9, rel=1e-3)


def test_area_of_district_is_about_156_km2(layers):
    # domain.md: 156.1 km2; the public outline we use measures about 157 km2.
    assert area_m2(layers["district"].geometry.values[0]) / 1e6 == pytest.approx(156.1, rel=0.02)


def test_to_metric_refuses_missing_crs():
    import geopandas as gpd

    with pytest.raises(ValueError, match="no CRS"):
        to_metric(gpd.GeoDataFrame(geometry=[shapely.Point(113.9, 22.7)]))
