"""Vectorised conversion between WGS84, GCJ-02 (Amap/WeChat/Tencent) and BD-09 (Baidu) lon/lat.

Why: Chinese web maps publish coordinates in deliberately offset systems. In Shenzhen GCJ-02 (the
"Mars" offset) sits roughly 600 m from WGS84 -- more than the 500 m service radius the dashboard works
with -- and BD-09 (Baidu's further offset on top of GCJ-02) roughly 1.2 km. A point taken from one of
those maps and stored as if it were WGS84 lands in the wrong service area. Intake therefore converts
every point to WGS84 (the storage system, see ``geo.crs``) on arrival with :func:`to_wgs84` and records
the source system it came from.

All functions take ``(lon, lat)`` array-likes or scalars (broadcast against each other) and return a
``(lon, lat)`` tuple of float64 numpy arrays; they are pure numpy (1,000,000 points per call is routine).
The forward transforms are the standard closed-form formulas (Krasovsky-1940 constants for GCJ-02;
``x_pi = pi * 3000 / 180`` and the 0.0065/0.006 offsets for BD-09). The inverse transforms solve the
forward transform by vectorised fixed-point iteration (seeded with the usual closed-form approximation)
until the largest residual is below ~1e-9 degree, so a WGS84 -> GCJ-02 -> WGS84 round trip is exact to
well under a millimetre, not the metre-level error of the one-step "subtract the offset" inverse.

Conventions shared by every function:

* Points outside China (the customary bounding box: lon < 72.004 or lon > 137.8347, lat < 0.8293 or
  lat > 55.8271) are returned unchanged -- the offsets are only applied inside China.
* NaN in gives NaN out (never an exception); infinite coordinates are outside China, so unchanged.
* CGCS2000 (China's geodetic datum) is treated as WGS84: the two differ by centimetres here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SOURCE_SYSTEMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]
LonLat = tuple[FloatArray, FloatArray]

SOURCE_SYSTEMS: tuple[str, ...] = ("wgs84", "cgcs2000", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323

# BD-09 constants.
_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006

# China bounding box outside which no offset is applied.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271

# Inverse iteration: stop once the largest forward residual is below this (degrees), or after _MAX_ITER.
# The step taken with that residual shrinks the error ~1000-fold again, to ~1e-12 degree (sub-micrometre).
_INVERSE_TOL_DEG = 1e-9
_MAX_ITER = 20


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y


def _outside_china(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    """True where the point is outside the China box (NaN compares False, so NaN is never 'outside')."""
    return (lon < _LON_MIN) | (lon > _LON_MAX) | (lat < _LAT_MIN) | (lat > _LAT_MAX)


def _keep_outside(lon: FloatArray, lat: FloatArray, new_lon: FloatArray, new_lat: FloatArray) -> LonLat:
    out = _outside_china(lon, lat)
    return np.where(out, lon, new_lon), np.where(out, lat, new_lat)


def _max_abs(*arrays: FloatArray) -> float:
    """Largest finite absolute value over the arrays (0.0 when there is none), ignoring NaN."""
    m = 0.0
    for a in arrays:
        a = np.abs(a)
        m = max(m, float(np.max(a, where=np.isfinite(a), initial=0.0)))
    return m


def _gcj_raw(lon: FloatArray, lat: FloatArray) -> LonLat:
    """The GCJ-02 forward formula with no China test (callers decide where it applies)."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
        + common * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
        + common * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return lon + d_lon, lat + d_lat


def _bd_raw(lon: FloatArray, lat: FloatArray) -> LonLat:
    """GCJ-02 -> BD-09 forward formula with no China test."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_inverse_approx(lon: FloatArray, lat: FloatArray) -> LonLat:
    """The customary closed-form BD-09 -> GCJ-02 approximation (~1e-7 degree); the iteration's seed."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[FloatArray, FloatArray], LonLat],
    lon: FloatArray,
    lat: FloatArray,
    guess_lon: FloatArray,
    guess_lat: FloatArray,
) -> LonLat:
    """Solve ``forward(p) = (lon, lat)`` for p by fixed-point iteration ``p -= forward(p) - target``.

    Converges because each forward transform is the identity plus a slowly varying offset (its
    Jacobian differs from the identity by ~1e-3), so every step shrinks the error ~1000-fold.
    """
    p_lon, p_lat = guess_lon, guess_lat
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(p_lon, p_lat)
        r_lon = f_lon - lon
        r_lat = f_lat - lat
        p_lon = p_lon - r_lon
        p_lat = p_lat - r_lat
        if _max_abs(r_lon, r_lat) < _INVERSE_TOL_DEG:
            break
    return p_lon, p_lat


def _inside_china(
    transform: Callable[[FloatArray, FloatArray], LonLat], lon: ArrayLike, lat: ArrayLike
) -> LonLat:
    """``transform`` applied to the points inside China; points outside China are returned unchanged.

    NaN propagates without a warning (``invalid`` floating-point errors are ignored inside).
    """
    x, y = _as_arrays(lon, lat)
    with np.errstate(invalid="ignore"):
        new_x, new_y = transform(x, y)
    return _keep_outside(x, y, new_x, new_y)


def _gcj_inverse(lon: FloatArray, lat: FloatArray) -> LonLat:
    """GCJ-02 -> WGS84 with no China test: the forward formula iterated, seeded with "subtract the offset"."""
    f_lon, f_lat = _gcj_raw(lon, lat)
    return _invert(_gcj_raw, lon, lat, lon - (f_lon - lon), lat - (f_lat - lat))


def _bd_inverse(lon: FloatArray, lat: FloatArray) -> LonLat:
    """BD-09 -> GCJ-02 with no China test: the forward formula iterated, seeded with the closed form."""
    return _invert(_bd_raw, lon, lat, *_bd_inverse_approx(lon, lat))


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS84 -> GCJ-02 (Amap/WeChat/Tencent). Points outside China are returned unchanged."""
    return _inside_china(_gcj_raw, lon, lat)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 -> WGS84 by iterating the forward transform to a residual below ~1e-9 degree.

    Points outside China are returned unchanged.
    """
    return _inside_china(_gcj_inverse, lon, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 -> BD-09 (Baidu). Points outside China are returned unchanged."""
    return _inside_china(_bd_raw, lon, lat)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 -> GCJ-02: the closed-form approximation refined by iterating the forward transform.

    Points outside China are returned unchanged.
    """
    return _inside_china(_bd_inverse, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS84 -> BD-09 (through GCJ-02). Points outside China are returned unchanged."""
    return _inside_china(lambda x, y: _bd_raw(*_gcj_raw(x, y)), lon, lat)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 -> WGS84 (through GCJ-02, both steps iterated). Points outside China are returned unchanged."""
    return _inside_china(lambda x, y: _gcj_inverse(*_bd_inverse(x, y)), lon, lat)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> LonLat:
    """Convert ``(lon, lat)`` given in ``system`` (one of :data:`SOURCE_SYSTEMS`) to WGS84.

    ``"wgs84"`` and ``"cgcs2000"`` come back unchanged (as float64 copies); ``"gcj02"`` and ``"bd09"``
    are inverted as above. The name is matched case-insensitively; anything else raises ValueError.
    Points outside China are returned unchanged.
    """
    key = system.strip().lower() if isinstance(system, str) else None
    if key in ("wgs84", "cgcs2000"):
        x, y = _as_arrays(lon, lat)
        return x.copy(), y.copy()
    if key == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if key == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(
        f"unknown coordinate system {system!r}; accepted systems are: {', '.join(SOURCE_SYSTEMS)}"
    )
