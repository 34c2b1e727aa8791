"""Vectorised assignment of WGS84 lon/lat points to polygon layers (grids, communities, subdistricts...).

Answers are exactly those of a Shapely point-in-polygon query (``STRtree.query(points,
predicate="intersects")``, lowest polygon index where a point touches several polygons, -1 where it
touches none), but most points are answered by one numpy lookup in a raster of small cells:

* every cell within a small margin of any polygon boundary (ring) is marked "boundary", conservatively:
  boundary segments are sampled at a quarter of the cell size and every cell meeting a box around each
  sample is marked, so an unmarked cell lies at least ``cell/16`` from every boundary;
* the unmarked cells are split into 4-connected components; no boundary crosses a component, so every
  point of it lies in the same set of polygons, found once by a Shapely query at one cell centre;
* points in boundary cells fall back to the STRtree query. Points outside the raster (which is padded
  beyond the layer's bounds) and NaN coordinates are outside every polygon.

Everything is computed in lon/lat degrees (the storage CRS, see ``geo.crs``); no metric work happens here.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from geo.crs import STORAGE_CRS

OUTSIDE = -1
"""Code returned for points in no polygon (also for NaN coordinates)."""

_BOUNDARY = -2  # raster code: cell near a boundary, ask Shapely
DEFAULT_CELL_DEG = 5e-5  # about 5 m at Guangming's latitude
MAX_CELLS = 25_000_000  # raster size cap; the cell is enlarged to stay below it
_PAD = 2  # raster cells added on each side of the layer's bounds
_PARALLEL_MIN = 200_000  # below this many points, locate() stays on one thread


class PolygonIndex:
    """A point-in-polygon index over an array of (Multi)Polygons in lon/lat, built once and reused.

    ``locate(lon, lat)`` returns, per point, the lowest index of a polygon that intersects it (contains
    it or has it on its boundary), or ``OUTSIDE`` (-1). Missing or empty geometries never match.
    """

    def __init__(self, geoms: np.ndarray | list | gpd.GeoSeries, cell_deg: float = DEFAULT_CELL_DEG,
                 max_cells: int = MAX_CELLS) -> None:
        geoms = np.asarray(geoms, dtype=object)
        if geoms.ndim != 1:
            raise ValueError("geoms must be a one-dimensional array of (Multi)Polygons")
        kinds = shapely.get_type_id(geoms)
        bad = (kinds != -1) & (kinds != 3) & (kinds != 6) & ~shapely.is_empty(geoms)
        if bad.any():
            raise ValueError(f"only Polygon/MultiPolygon geometries can be indexed; got "
                             f"{shapely.get_type_id(geoms[bad][0])!r} at position {int(np.flatnonzero(bad)[0])}")
        if not cell_deg > 0:
            raise ValueError("cell_deg must be positive")
        self.geoms = geoms
        shapely.prepare(geoms)
        self.tree = shapely.STRtree(geoms)
        self._build_raster(float(cell_deg), int(max_cells))

    @classmethod
    def from_frame(cls, gdf: gpd.GeoDataFrame | gpd.GeoSeries, cell_deg: float = DEFAULT_CELL_DEG,
                   max_cells: int = MAX_CELLS) -> PolygonIndex:
        """Index a frame's geometries (converted to EPSG:4326 if needed; a frame without a CRS is refused)."""
        if gdf.crs is None:
            raise ValueError("GeoDataFrame has no CRS; set it (storage is EPSG:4326) before indexing")
        if not gdf.crs.equals(STORAGE_CRS):
            gdf = gdf.to_crs(STORAGE_CRS)
        geoms = gdf.geometry.values if isinstance(gdf, gpd.GeoDataFrame) else gdf.values
        return cls(np.asarray(geoms, dtype=object), cell_deg=cell_deg, max_cells=max_cells)

    def __len__(self) -> int:
        return len(self.geoms)

    # -- build ---------------------------------------------------------------------------------------

    def _build_raster(self, cell: float, max_cells: int) -> None:
        present = ~(shapely.is_missing(self.geoms) | shapely.is_empty(self.geoms))
        if not present.any():  # nothing to hit: a 1x1 raster that says "outside"
            self.cell, self.x0, self.y0, self.nx, self.ny = 1.0, 0.0, 0.0, 1, 1
            self.table = np.full((1, 1), OUTSIDE, np.int8)
            return
        minx, miny, maxx, maxy = shapely.total_bounds(self.geoms[present])
        span = max(maxx - minx, maxy - miny)
        if span > 0:  # keep the raster below max_cells
            while (np.ceil((maxx - minx) / cell) + 2 * _PAD + 1) * (np.ceil((maxy - miny) / cell) + 2 * _PAD + 1) \
                    > max_cells:
                cell *= 2.0
        self.cell = cell
        self.x0 = minx - _PAD * cell
        self.y0 = miny - _PAD * cell
        self.nx = int(np.ceil((maxx - minx) / cell)) + 2 * _PAD + 1
        self.ny = int(np.ceil((maxy - miny) / cell)) + 2 * _PAD + 1

        boundary = np.zeros((self.ny, self.nx), dtype=bool)
        sx, sy = self._boundary_samples(self.geoms[present], step=cell / 4.0)
        # Every boundary point is within cell/8 (per axis) of a sample; marking every cell that meets the
        # box sample +- cell/4 marks every cell within cell/8 of the boundary (margins >> rounding error).
        r = cell / 4.0
        inv = 1.0 / cell
        ix = np.floor((np.concatenate([sx - r, sx + r]) - self.x0) * inv).astype(np.intp)
        iy = np.floor((np.concatenate([sy - r, sy + r]) - self.y0) * inv).astype(np.intp)
        n = len(sx)
        for xs in (ix[:n], ix[n:]):
            for ys in (iy[:n], iy[n:]):
                boundary[ys, xs] = True

        labels, n_comp = ndimage.label(~boundary)
        del boundary
        flat = labels.ravel()
        rep = np.zeros(n_comp + 1, dtype=np.intp)
        rep[flat] = np.arange(flat.size, dtype=np.intp)  # any cell of each component will do
        rep = rep[1:]
        cx = self.x0 + (rep % self.nx + 0.5) * cell
        cy = self.y0 + (rep // self.nx + 0.5) * cell
        comp_code = np.empty(n_comp + 1, dtype=np.int64)
        comp_code[0] = _BOUNDARY
        comp_code[1:] = self._query(cx, cy)
        dtype = np.int16 if len(self.geoms) < np.iinfo(np.int16).max else np.int32
        self.table = comp_code.astype(dtype)[labels]

    @staticmethod
    def _boundary_samples(geoms: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
        """Points along every ring of ``geoms``, consecutive ones at most ``step`` apart on each axis."""
        rings = shapely.get_rings(shapely.get_parts(geoms))
        coords, ring_id = shapely.get_coordinates(rings, return_index=True)
        same = ring_id[:-1] == ring_id[1:]
        a = coords[:-1][same]
        d = coords[1:][same] - a
        n = np.maximum(np.ceil(np.abs(d).max(axis=1) / step), 1).astype(np.intp)  # sub-steps per segment
        counts = n + 1
        seg = np.repeat(np.arange(len(a)), counts)
        starts = np.cumsum(counts) - counts
        t = (np.arange(counts.sum()) - starts[seg]) / n[seg]
        return a[seg, 0] + t * d[seg, 0], a[seg, 1] + t * d[seg, 1]

    # -- queries -------------------------------------------------------------------------------------

    def _query(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The exact Shapely answer: lowest intersecting polygon index per point, else OUTSIDE."""
        out = np.full(len(lon), len(self.geoms), dtype=np.int64)
        if len(lon):
            pairs = self.tree.query(shapely.points(lon, lat), predicate="intersects")
            np.minimum.at(out, pairs[0], pairs[1])
        out[out == len(self.geoms)] = OUTSIDE
        return out

    def _locate_chunk(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        inv = 1.0 / self.cell
        fx = (lon - self.x0) * inv
        fy = (lat - self.y0) * inv
        ok = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)  # False for NaN
        np.copyto(fx, 0.0, where=~ok)
        np.copyto(fy, 0.0, where=~ok)
        flat = fy.astype(np.intp)
        flat *= self.nx
        flat += fx.astype(np.intp)
        code = self.table.ravel()[flat].astype(np.int64)
        np.copyto(code, OUTSIDE, where=~ok)
        slow = np.flatnonzero(code == _BOUNDARY)
        code[slow] = self._query(lon[slow], lat[slow])
        return code

    def locate(self, lon: np.ndarray, lat: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Polygon index (int64) per point: lowest intersecting polygon, ``OUTSIDE`` (-1) if none or NaN.

        Large inputs are split over ``threads`` threads (default: 2); numpy and Shapely release the GIL.
        """
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if lon.shape != lat.shape:
            raise ValueError(f"lon and lat shapes differ: {lon.shape} vs {lat.shape}")
        shape = lon.shape
        lon, lat = lon.ravel(), lat.ravel()
        threads = 2 if threads is None else max(1, int(threads))
        if threads == 1 or lon.size < _PARALLEL_MIN:
            return self._locate_chunk(lon, lat).reshape(shape)
        bounds = np.linspace(0, lon.size, threads + 1).astype(np.intp)
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(lambda i: self._locate_chunk(lon[bounds[i]:bounds[i + 1]],
                                                               lat[bounds[i]:bounds[i + 1]]), range(threads)))
        return np.concatenate(parts).reshape(shape)

    @property
    def boundary_fraction(self) -> float:
        """Share of raster cells that defer to Shapely (a diagnostic for choosing ``cell_deg``)."""
        return float(np.mean(self.table == _BOUNDARY))


_CACHE: dict[tuple[int, float], tuple[weakref.ref, PolygonIndex]] = {}


def index_for(gdf: gpd.GeoDataFrame, cell_deg: float = DEFAULT_CELL_DEG) -> PolygonIndex:
    """The ``PolygonIndex`` of a frame, built on first use and cached by frame identity.

    The cache holds the frame weakly; frames are treated as immutable (build a new frame, or call
    ``PolygonIndex.from_frame`` directly, after editing geometries in place).
    """
    key = (id(gdf), float(cell_deg))
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is gdf and len(hit[1]) == len(gdf):
        return hit[1]
    for k in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
        del _CACHE[k]
    index = PolygonIndex.from_frame(gdf, cell_deg=cell_deg)
    _CACHE[key] = (weakref.ref(gdf), index)
    return index


def _codes_of(kind: str, gdf: gpd.GeoDataFrame) -> pd.api.extensions.ExtensionArray:
    """The code of each polygon: column ``code``, else ``<kind>_code``, else the frame's index."""
    for col in ("code", f"{kind}_code"):
        if col in gdf.columns:
            values = gdf[col]
            break
    else:
        values = gdf.index.to_series()
    arr = values.array
    if pd.api.types.is_integer_dtype(arr.dtype) or pd.api.types.is_bool_dtype(arr.dtype):
        arr = pd.array(np.asarray(arr), dtype="Int64" if pd.api.types.is_integer_dtype(arr.dtype) else "boolean")
    return arr


def assign_points(lon: np.ndarray | pd.Series, lat: np.ndarray | pd.Series,
                  layers: Mapping[str, gpd.GeoDataFrame],
                  index_cache: MutableMapping[str, PolygonIndex] | None = None) -> pd.DataFrame:
    """One row per input point, in input order: ``<kind>_code`` per layer and ``outside_district``.

    ``<kind>_code`` is the code of the polygon holding the point (missing where it is in none);
    ``outside_district`` is True where the point is in no polygon of the first layer given. Points are
    flagged, never dropped. Indices come from ``index_cache`` (keyed by kind, filled on a miss) when
    given, otherwise from the identity cache of ``index_for``.
    """
    if not layers:
        raise ValueError("assign_points needs at least one layer")
    index = lon.index if isinstance(lon, pd.Series) else None
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.ndim != 1 or lon.shape != lat.shape:
        raise ValueError("lon and lat must be one-dimensional arrays of equal length")
    columns: dict[str, object] = {}
    outside = None
    for kind, gdf in layers.items():
        pidx = None if index_cache is None else index_cache.get(kind)
        if pidx is None or len(pidx) != len(gdf):
            pidx = index_for(gdf) if index_cache is None else PolygonIndex.from_frame(gdf)
            if index_cache is not None:
                index_cache[kind] = pidx
        where = pidx.locate(lon, lat)
        if outside is None:
            outside = where == OUTSIDE
        columns[f"{kind}_code"] = _codes_of(kind, gdf).take(where, allow_fill=True)
    columns["outside_district"] = outside
    return pd.DataFrame(columns, index=index)
