"""Coordinate reference systems: storage in WGS84 lon/lat, metric work in EPSG:4547.

Design rule: everything is stored and exchanged as EPSG:4326 with axis order (lon, lat); every buffer,
distance, area and siting computation happens in EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger, central
meridian 114E), whose scale error over Guangming (about 7 km from the meridian) is below 1e-6.
Never buffer in degrees.
"""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Geod, Transformer

STORAGE_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:4547"

_GEOD = Geod(ellps="WGS84")


@lru_cache(maxsize=8)
def transformer(src: str, dst: str) -> Transformer:
    """A cached pyproj transformer with (x=lon/easting, y=lat/northing) axis order."""
    return Transformer.from_crs(src, dst, always_xy=True)


def lonlat_to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 lon/lat arrays to EPSG:4547 easting/northing in metres."""
    return transformer(STORAGE_CRS, METRIC_CRS).transform(np.asarray(lon, float), np.asarray(lat, float))


def metric_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unproject EPSG:4547 metres back to WGS84 lon/lat arrays."""
    return transformer(METRIC_CRS, STORAGE_CRS).transform(np.asarray(x, float), np.asarray(y, float))


def geometry_to_metric(geoms: np.ndarray | shapely.Geometry) -> np.ndarray | shapely.Geometry:
    """Transform Shapely geometries (array or single) from storage lon/lat to EPSG:4547."""
    t = transformer(STORAGE_CRS, METRIC_CRS)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def geometry_to_lonlat(geoms: np.ndarray | shapely.Geometry) -> np.ndarray | shapely.Geometry:
    """Transform Shapely geometries (array or single) from EPSG:4547 back to storage lon/lat."""
    t = transformer(METRIC_CRS, STORAGE_CRS)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of a storage-CRS frame in EPSG:4547; refuses a frame without a CRS."""
    if gdf.crs is None:
        raise ValueError("GeoDataFrame has no CRS; set it (storage is EPSG:4326) before projecting")
    return gdf.to_crs(METRIC_CRS)


def buffer_lonlat(lon: np.ndarray, lat: np.ndarray, radius_m: float, quad_segs: int = 32) -> np.ndarray:
    """Circles of ``radius_m`` metres around lon/lat points, built in EPSG:4547, returned in lon/lat.

    For drawing service circles; membership "within 500 m" is a distance test (see ``distance_m``),
    because a polygonal buffer lies inside the true circle.
    """
    x, y = lonlat_to_metric(lon, lat)
    circles = shapely.buffer(shapely.points(x, y), radius_m, quad_segs=quad_segs)
    return geometry_to_lonlat(circles)


def distance_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Planar distance in metres between lon/lat points, measured in EPSG:4547 (vectorised)."""
    x1, y1 = lonlat_to_metric(lon1, lat1)
    x2, y2 = lonlat_to_metric(lon2, lat2)
    return np.hypot(np.asarray(x2) - x1, np.asarray(y2) - y1)


def geodesic_distance_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Ellipsoidal (WGS84) distance in metres; the reference our planar distances are checked against."""
    _, _, d = _GEOD.inv(np.asarray(lon1, float), np.asarray(lat1, float), np.asarray(lon2, float),
                        np.asarray(lat2, float))
    return np.asarray(d)


def area_m2(geoms: np.ndarray | shapely.Geometry) -> np.ndarray | float:
    """Area in square metres of lon/lat geometries, measured in EPSG:4547."""
    return shapely.area(geometry_to_metric(geoms))
