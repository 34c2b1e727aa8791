"""geo.coords: WGS84 / GCJ-02 / BD-09 conversion, checked against the independent ``prcoords`` package."""

from __future__ import annotations

import warnings

import numpy as np
import prcoords
import pytest

from geo import coords
from geo.crs import geodesic_distance_m

# Guangming district and a margin around it.
LON_RANGE = (113.85, 114.01)
LAT_RANGE = (22.68, 22.84)

# Forward transforms are closed-form and prcoords evaluates the same formulas, so the two agree to float64
# rounding (measured ~1e-14 degree); 1e-9 degree is ~0.1 mm on the ground.
FORWARD_TOL_DEG = 1e-9
# Inverse transforms: requirement is 1 m. prcoords' "bored" inverses stop once a step is below 1e-5 degree,
# which leaves them a few millimetres from the exact solution, so that is the size of the expected gap.
INVERSE_TOL_M = 1.0
# Round trips: the requirement is 1 m, the module promises sub-millimetre.
ROUND_TRIP_REQUIRED_M = 1.0
ROUND_TRIP_AIM_M = 1e-3

FORWARD = [
    (coords.wgs84_to_gcj02, prcoords.wgs_gcj),
    (coords.gcj02_to_bd09, prcoords.gcj_bd),
    (coords.wgs84_to_bd09, prcoords.wgs_bd),
]
INVERSE = [
    (coords.gcj02_to_wgs84, prcoords.gcj_wgs_bored),
    (coords.bd09_to_gcj02, prcoords.bd_gcj_bored),
    (coords.bd09_to_wgs84, prcoords.bd_wgs_bored),
]
ALL_FUNCTIONS = [
    coords.wgs84_to_gcj02,
    coords.gcj02_to_wgs84,
    coords.gcj02_to_bd09,
    coords.bd09_to_gcj02,
    coords.wgs84_to_bd09,
    coords.bd09_to_wgs84,
]


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(*LON_RANGE, n), rng.uniform(*LAT_RANGE, n)


def _prcoords(func, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a prcoords function (takes and returns (lat, lon)) point by point; return (lon, lat) arrays."""
    out = np.array([func((la, lo)) for lo, la in zip(lon.tolist(), lat.tolist(), strict=True)])
    return out[:, 1], out[:, 0]


@pytest.fixture(scope="module")
def guangming_sample() -> tuple[np.ndarray, np.ndarray]:
    return _sample(3000, seed=20240601)


@pytest.fixture(scope="module")
def million_points() -> tuple[np.ndarray, np.ndarray]:
    return _sample(1_000_000, seed=42)


@pytest.mark.parametrize(("ours", "theirs"), FORWARD, ids=["wgs84_to_gcj02", "gcj02_to_bd09", "wgs84_to_bd09"])
def test_forward_matches_prcoords(ours, theirs, guangming_sample):
    lon, lat = guangming_sample
    ref_lon, ref_lat = _prcoords(theirs, lon, lat)
    got_lon, got_lat = ours(lon, lat)
    assert got_lon.dtype == np.float64 and got_lat.dtype == np.float64
    assert got_lon.shape == lon.shape and got_lat.shape == lat.shape
    assert np.max(np.abs(got_lon - ref_lon)) < FORWARD_TOL_DEG
    assert np.max(np.abs(got_lat - ref_lat)) < FORWARD_TOL_DEG


@pytest.mark.parametrize(("ours", "theirs"), INVERSE, ids=["gcj02_to_wgs84", "bd09_to_gcj02", "bd09_to_wgs84"])
def test_inverse_matches_prcoords(ours, theirs, guangming_sample):
    # The sample is read as coordinates in the offset system (GCJ-02 or BD-09) to be converted back.
    lon, lat = guangming_sample
    ref_lon, ref_lat = _prcoords(theirs, lon, lat)
    got_lon, got_lat = ours(lon, lat)
    gap_m = geodesic_distance_m(got_lon, got_lat, ref_lon, ref_lat)
    assert np.max(gap_m) < INVERSE_TOL_M


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84),
        (coords.gcj02_to_bd09, coords.bd09_to_gcj02),
        (coords.wgs84_to_bd09, coords.bd09_to_wgs84),
    ],
    ids=["gcj02", "bd09-from-gcj02", "bd09-from-wgs84"],
)
def test_inverse_solves_forward(forward, inverse, guangming_sample):
    """inverse(p) really is the point that forward maps onto p (to the 1e-9 degree iteration tolerance)."""
    lon, lat = guangming_sample
    back_lon, back_lat = forward(*inverse(lon, lat))
    assert np.max(np.abs(back_lon - lon)) < 1e-9
    assert np.max(np.abs(back_lat - lat)) < 1e-9


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [(coords.wgs84_to_gcj02, coords.gcj02_to_wgs84), (coords.wgs84_to_bd09, coords.bd09_to_wgs84)],
    ids=["gcj02", "bd09"],
)
def test_round_trip_one_million_points(forward, inverse, million_points):
    lon, lat = million_points
    back_lon, back_lat = inverse(*forward(lon, lat))
    assert back_lon.shape == lon.shape
    err_m = geodesic_distance_m(lon, lat, back_lon, back_lat)
    assert np.isfinite(err_m).all()
    assert err_m.max() < ROUND_TRIP_REQUIRED_M
    assert err_m.max() < ROUND_TRIP_AIM_M


def test_offsets_at_guangming_are_the_expected_size():
    # Near the Guangming district government; GCJ-02 is ~600 m off WGS84 here, BD-09 ~1.2 km.
    lon, lat = 113.9355, 22.7487
    gcj_offset = geodesic_distance_m(lon, lat, *coords.wgs84_to_gcj02(lon, lat))
    bd_offset = geodesic_distance_m(lon, lat, *coords.wgs84_to_bd09(lon, lat))
    assert 400.0 < gcj_offset < 800.0
    assert 900.0 < bd_offset < 1600.0
    # And the inverses move the same distance back the other way.
    assert 400.0 < geodesic_distance_m(lon, lat, *coords.gcj02_to_wgs84(lon, lat)) < 800.0
    assert 900.0 < geodesic_distance_m(lon, lat, *coords.bd09_to_wgs84(lon, lat)) < 1600.0


OUTSIDE_CHINA_LON = np.array([-0.1278, 139.6917, 100.0, 100.0, 72.0, 137.84, 0.0])
OUTSIDE_CHINA_LAT = np.array([51.5074, 35.6895, 60.0, 0.5, 30.0, 30.0, 0.0])


@pytest.mark.parametrize("func", ALL_FUNCTIONS, ids=lambda f: f.__name__)
def test_outside_china_unchanged(func):
    lon, lat = func(OUTSIDE_CHINA_LON, OUTSIDE_CHINA_LAT)
    np.testing.assert_array_equal(lon, OUTSIDE_CHINA_LON)
    np.testing.assert_array_equal(lat, OUTSIDE_CHINA_LAT)
    # Mixed with a Guangming point: only that one moves (by hundreds of metres).
    mixed_lon, mixed_lat = func(np.append(OUTSIDE_CHINA_LON, 113.9355), np.append(OUTSIDE_CHINA_LAT, 22.7487))
    np.testing.assert_array_equal(mixed_lon[:-1], OUTSIDE_CHINA_LON)
    np.testing.assert_array_equal(mixed_lat[:-1], OUTSIDE_CHINA_LAT)
    assert geodesic_distance_m(113.9355, 22.7487, mixed_lon[-1], mixed_lat[-1]) > 400.0


@pytest.mark.parametrize("func", ALL_FUNCTIONS, ids=lambda f: f.__name__)
def test_nan_in_nan_out(func):
    lon = np.array([113.9, np.nan, 113.95, np.nan, np.inf])
    lat = np.array([22.75, 22.75, np.nan, np.nan, 22.75])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = func(lon, lat)
        scalar_lon, scalar_lat = func(np.nan, np.nan)
        all_nan = func(np.full(3, np.nan), np.full(3, np.nan))
        empty = func(np.array([]), np.array([]))
    assert np.isnan(out_lon[1:4]).all() and np.isnan(out_lat[1:4]).all()
    assert np.isnan(scalar_lon) and np.isnan(scalar_lat)
    assert np.isnan(all_nan[0]).all() and np.isnan(all_nan[1]).all()
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
    # Infinite longitude is outside China: unchanged, not NaN.
    assert out_lon[4] == np.inf and out_lat[4] == 22.75
    # A NaN elsewhere in the array does not disturb the valid point.
    ref_lon, ref_lat = func(113.9, 22.75)
    assert out_lon[0] == ref_lon and out_lat[0] == ref_lat
    assert geodesic_distance_m(113.9, 22.75, out_lon[0], out_lat[0]) > 400.0


@pytest.mark.parametrize("func", ALL_FUNCTIONS, ids=lambda f: f.__name__)
def test_scalars_lists_and_shapes(func):
    s_lon, s_lat = func(113.9, 22.75)
    assert isinstance(s_lon, np.ndarray) and s_lon.dtype == np.float64 and s_lon.shape == ()
    assert isinstance(s_lat, np.ndarray) and s_lat.dtype == np.float64 and s_lat.shape == ()
    l_lon, l_lat = func([113.9, 113.9], [22.75, 22.75])
    assert l_lon.tolist() == [float(s_lon)] * 2 and l_lat.tolist() == [float(s_lat)] * 2
    grid_lon, grid_lat = func(np.full((2, 3), 113.9), np.full((2, 3), 22.75))
    assert grid_lon.shape == (2, 3) and grid_lat.shape == (2, 3)
    assert (grid_lon == s_lon).all() and (grid_lat == s_lat).all()


def test_source_systems():
    assert coords.SOURCE_SYSTEMS == ("wgs84", "cgcs2000", "gcj02", "bd09")


@pytest.mark.parametrize("system", ["wgs84", "cgcs2000", "WGS84", " CGCS2000 "])
def test_to_wgs84_passthrough(system):
    lon = np.array([113.9, 113.95, 0.0])
    lat = np.array([22.75, 22.8, 0.0])
    out_lon, out_lat = coords.to_wgs84(lon, lat, system)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    assert out_lon.dtype == np.float64
    # A copy, so the caller's input cannot be mutated through the result.
    out_lon[0] = -1.0
    assert lon[0] == 113.9
    # Integer input comes back as float64.
    int_lon, _ = coords.to_wgs84([114, 113], [22, 23], system)
    assert int_lon.dtype == np.float64 and int_lon.tolist() == [114.0, 113.0]


def test_to_wgs84_dispatches_offset_systems(guangming_sample):
    lon, lat = guangming_sample
    for system, func in [("gcj02", coords.gcj02_to_wgs84), ("bd09", coords.bd09_to_wgs84)]:
        got = coords.to_wgs84(lon, lat, system)
        want = func(lon, lat)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert np.min(geodesic_distance_m(lon, lat, *got)) > 400.0


@pytest.mark.parametrize("system", ["epsg:4326", "gcj-02", "baidu", "", None, 4326])
def test_to_wgs84_unknown_system(system):
    with pytest.raises(ValueError) as excinfo:
        coords.to_wgs84(113.9, 22.75, system)
    message = str(excinfo.value)
    for name in coords.SOURCE_SYSTEMS:
        assert name in message
