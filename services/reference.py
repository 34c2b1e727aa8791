"""Stations and buildings as the screens read them: from the store (``Store.points``), cached.

The store is the one source of the district's point layers: seeding (services.seed) writes the sample's
or the user's own layers there, and every screen (district map, wall, planner) reads them back through
``points(store, kind)``. Reading 60,000 buildings from SQLite and building their GeoDataFrame costs about
half a second, so a read is kept per store URL and kind, and handed out again until

- the points are replaced through ``load_points`` here (seeding does that): the next read is fresh, or
- ``RECHECK_S`` seconds have passed (another process, e.g. ``python -m services.seed``, may have
  replaced them): the layer is read again, and its ``version`` changes only when the content did.

``version(store, kind)`` is a digest of the layer's content; what is derived from a layer (names, map
records, demand) is cached under it, so it is rebuilt exactly when the points change.
"""

from __future__ import annotations

import threading
import time

import geopandas as gpd
import pandas as pd

from services.store.base import Store

KINDS = ("station", "building")
RECHECK_S = 300.0
_cache: dict[tuple[str, str], tuple[float, str, gpd.GeoDataFrame]] = {}
_lock = threading.Lock()


def _read(store: Store, kind: str) -> tuple[str, gpd.GeoDataFrame]:
    frame = store.points(kind)
    digest = f"{len(frame)}:{int(pd.util.hash_pandas_object(frame, index=False).sum()) & 0xFFFFFFFFFFFF:x}"
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"].astype(float),
                                                              frame["lat"].astype(float)), crs="EPSG:4326")
    return digest, gdf


def _entry(store: Store, kind: str) -> tuple[float, str, gpd.GeoDataFrame]:
    if kind not in KINDS:
        raise ValueError(f"unknown point layer {kind!r}; expected one of {', '.join(KINDS)}")
    key = (store.url, kind)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < RECHECK_S:
            return hit
        digest, gdf = _read(store, kind)
        if hit is not None and hit[1] == digest:
            gdf = hit[2]  # unchanged: keep the frame that derived caches were built from
        entry = _cache[key] = (time.monotonic(), digest, gdf)
        return entry


def points(store: Store, kind: str) -> gpd.GeoDataFrame:
    """The ``station`` or ``building`` layer of ``store`` (EPSG:4326 points with the stored columns,
    by code); cached, do not modify in place. Empty when nothing was loaded."""
    return _entry(store, kind)[2]


def version(store: Store, kind: str) -> str:
    """A digest of the layer's content: equal while the points are unchanged."""
    return _entry(store, kind)[1]


def invalidate(store: Store | None = None) -> None:
    """Forget the cached layers (of one store, or of all): the next read goes to the store."""
    with _lock:
        for key in [k for k in _cache if store is None or k[0] == store.url]:
            _cache.pop(key, None)


def load_points(store: Store, kind: str, frame: pd.DataFrame) -> int:
    """Replace a point layer in the store (``Store.load_points``) and drop its cached read."""
    n = store.load_points(kind, frame)
    with _lock:
        _cache.pop((store.url, kind), None)
    return n
