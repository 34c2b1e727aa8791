"""geo.crs_guess: which system a set of points is in, against places whose true position is known."""

from __future__ import annotations

import numpy as np

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.crs_guess import guess_system

# Three places in Guangming (WGS84), and points 20 m east of them (a phone's fix).
TRUE_LON = np.array([113.93, 113.95, 113.90])
TRUE_LAT = np.array([22.77, 22.75, 22.79])
NEAR_LON = TRUE_LON + 20 / 102_700  # a degree of longitude is about 102.7 km at 22.8° N


def test_points_in_wgs84_fit_wgs84():
    g = guess_system(NEAR_LON, TRUE_LAT, TRUE_LON, TRUE_LAT)
    assert g.best == "wgs84" and 15 < g.medians["wgs84"] < 25 and g.points == 3
    assert not g.doubts("wgs84", max_miss_m=150, min_points=3)


def test_gcj02_points_are_about_600_m_off_and_fit_gcj02():
    lon, lat = wgs84_to_gcj02(TRUE_LON, TRUE_LAT)
    g = guess_system(lon, lat, TRUE_LON, TRUE_LAT)
    assert g.best == "gcj02" and g.medians["gcj02"] < 1 and 450 < g.medians["wgs84"] < 750
    assert g.doubts("wgs84", max_miss_m=150, min_points=3)
    assert g.doubts("cgcs2000", max_miss_m=150, min_points=3)  # the same frame as WGS84 to a metre here
    assert not g.doubts("wgs84", max_miss_m=150, min_points=4)  # too few points to judge
    assert not g.doubts("gcj02", max_miss_m=150, min_points=3)


def test_bd09_points_fit_bd09():
    lon, lat = wgs84_to_bd09(TRUE_LON, TRUE_LAT)
    g = guess_system(lon, lat, TRUE_LON, TRUE_LAT)
    assert g.best == "bd09" and g.medians["bd09"] < 1 and 900 < g.medians["wgs84"] < 1500


def test_scattered_points_doubt_nothing():
    lon = TRUE_LON + np.array([0.01, -0.02, 0.015])  # kilometres off in every direction: badly placed
    g = guess_system(lon, TRUE_LAT, TRUE_LON, TRUE_LAT)
    assert not g.doubts("wgs84", max_miss_m=150, min_points=3)
