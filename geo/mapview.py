"""pydeck layers drawn from the district's own geometry: no tiles, no base map, no request off the machine.

The district's boundaries are the base map (``map_provider=None``). Geometry sent to the browser is
simplified in metres (EPSG:4547) and rounded to about a metre, so that the payload stays small; every
layer has an ``id`` so that deck.gl keeps its state across refreshes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from geo.crs import geometry_to_lonlat, geometry_to_metric

# Colours (RGBA). Tiers follow the red/yellow/blue warning convention.
TIER_COLORS = {"red": [230, 40, 40, 230], "yellow": [245, 190, 30, 230], "blue": [40, 120, 230, 220]}
UNIT_TYPE_COLORS = {
    "commercial": [171, 99, 250, 90], "industrial": [0, 160, 160, 90], "residential": [99, 180, 90, 90],
    "urban_village": [240, 130, 60, 90], "construction": [200, 180, 40, 90],
}
STATION_COLORS = {"district": [255, 255, 255, 255], "subdistrict": [255, 215, 0, 255],
                  "community": [0, 200, 255, 255], "site": [120, 220, 120, 230]}
LINE_COLORS = {"district": [240, 240, 240, 255], "subdistrict": [250, 250, 250, 230],
               "community": [180, 190, 200, 200], "grid": [120, 130, 140, 110], "subgrid": [230, 60, 60, 200]}
CJK_FONT = "Noto Sans CJK SC, Noto Sans SC, WenQuanYi Micro Hei, sans-serif"


def simplify_lonlat(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Simplify lon/lat geometries with a tolerance in metres (done in EPSG:4547)."""
    if tolerance_m <= 0:
        return geoms
    return geometry_to_lonlat(shapely.simplify(geometry_to_metric(geoms), tolerance_m, preserve_topology=True))


def _ring(coords: np.ndarray, precision: int) -> list[list[float]]:
    return np.round(coords[:, :2], precision).tolist()


def polygon_records(gdf: gpd.GeoDataFrame, props: Sequence[str] = (), *, tolerance_m: float = 5.0,
                    precision: int = 5, extra: dict[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
    """One record per polygon part: ``{"polygon": [outer, *holes], **props}`` for a PolygonLayer."""
    geoms = simplify_lonlat(np.asarray(gdf.geometry.values), tolerance_m)
    columns = {p: gdf[p].tolist() for p in props}
    if extra:
        columns.update({k: list(v) for k, v in extra.items()})
    out: list[dict[str, Any]] = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        for part in shapely.get_parts(g):
            if part.geom_type != "Polygon":
                continue
            rings = [_ring(np.asarray(part.exterior.coords), precision)]
            rings += [_ring(np.asarray(r.coords), precision) for r in part.interiors]
            rec = {"polygon": rings}
            rec.update({k: _plain(v[i]) for k, v in columns.items()})
            out.append(rec)
    return out


def path_records(gdf: gpd.GeoDataFrame, props: Sequence[str] = (), *, tolerance_m: float = 5.0,
                 precision: int = 5) -> list[dict[str, Any]]:
    """Outline paths (exterior and interior rings) for a PathLayer: cheaper to draw than fills."""
    geoms = simplify_lonlat(np.asarray(gdf.geometry.values), tolerance_m)
    columns = {p: gdf[p].tolist() for p in props}
    out: list[dict[str, Any]] = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        for ring in shapely.get_parts(shapely.boundary(g)):
            for line in shapely.get_parts(ring):
                rec = {"path": _ring(np.asarray(line.coords), precision)}
                rec.update({k: _plain(v[i]) for k, v in columns.items()})
                out.append(rec)
    return out


def point_records(lon: Iterable[float], lat: Iterable[float], props: dict[str, Sequence[Any]] | None = None,
                  precision: int = 5) -> list[dict[str, Any]]:
    """Records ``{"position": [lon, lat], **props}`` for Scatterplot/Text layers."""
    lon = np.round(np.asarray(lon, float), precision)
    lat = np.round(np.asarray(lat, float), precision)
    props = props or {}
    return [{"position": [float(x), float(y)], **{k: _plain(v[i]) for k, v in props.items()}}
            for i, (x, y) in enumerate(zip(lon, lat, strict=True))]


def _plain(v: Any) -> Any:
    """JSON-friendly scalars (numpy types and NaN become Python values / None)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def view_state(bounds: Sequence[float], width_px: int = 1200, height_px: int = 700, pitch: float = 0,
               padding: float = 0.02) -> pdk.ViewState:
    """A view that fits lon/lat ``bounds`` (minx, miny, maxx, maxy) into a viewport of the given size."""
    minx, miny, maxx, maxy = bounds
    lon = (minx + maxx) / 2
    lat = (miny + maxy) / 2
    span_x = max((maxx - minx) * (1 + 2 * padding), 1e-6)
    span_y = max((maxy - miny) * (1 + 2 * padding), 1e-6)
    # deck.gl (like Mapbox GL) uses 512-px tiles: 512 px cover 360 degrees of longitude at zoom 0.
    zoom_x = np.log2(width_px * 360 / (512 * span_x))
    zoom_y = np.log2(height_px * 360 / (512 * span_y / np.cos(np.radians(lat))))
    return pdk.ViewState(longitude=lon, latitude=lat, zoom=float(min(zoom_x, zoom_y)), pitch=pitch, bearing=0)


def fill_layer(layer_id: str, records: list[dict], *, fill: Any, line: Any = None, line_width_px: float = 1,
               pickable: bool = True, stroked: bool = True) -> pdk.Layer:
    """A PolygonLayer; ``fill``/``line`` are RGBA lists or pydeck accessor strings."""
    return pdk.Layer("PolygonLayer", records, id=layer_id, get_polygon="polygon", get_fill_color=fill,
                     get_line_color=line or [0, 0, 0, 0], line_width_units=_literal("pixels"),
                     get_line_width=line_width_px, stroked=stroked, filled=True, pickable=pickable,
                     auto_highlight=pickable)


def line_layer(layer_id: str, records: list[dict], *, color: Any, width_px: float) -> pdk.Layer:
    """A PathLayer of boundaries with a constant pixel width."""
    return pdk.Layer("PathLayer", records, id=layer_id, get_path="path", get_color=color, width_units=_literal("pixels"),
                     get_width=width_px, width_min_pixels=1, pickable=False)


def points_layer(layer_id: str, records: list[dict], *, color: Any, radius_m: float = 30,
                 min_px: float = 3, max_px: float = 30, pickable: bool = True, line: Any = None) -> pdk.Layer:
    """A ScatterplotLayer with a radius in metres, clamped in pixels so it stays visible when zoomed out."""
    return pdk.Layer("ScatterplotLayer", records, id=layer_id, get_position="position", get_fill_color=color,
                     get_radius=radius_m, radius_min_pixels=min_px, radius_max_pixels=max_px, pickable=pickable,
                     stroked=line is not None, get_line_color=line or [0, 0, 0, 0], line_width_min_pixels=1,
                     auto_highlight=pickable)


def text_layer(layer_id: str, records: list[dict], *, size_px: float = 16, color: Any = None) -> pdk.Layer:
    """Labels drawn with a locally installed CJK font (no web font is fetched)."""
    return pdk.Layer("TextLayer", records, id=layer_id, get_position="position", get_text="text",
                     get_size=size_px, size_units=_literal("pixels"), get_color=color or [255, 255, 255, 240],
                     font_family=_literal(CJK_FONT), character_set=_literal("auto"), outline_width=2,
                     outline_color=[0, 0, 0, 200], font_settings={"sdf": True}, get_text_anchor=_literal("middle"),
                     get_alignment_baseline=_literal("center"), pickable=False)


def _literal(text: str) -> str:
    """A string prop that deck.gl must take as text: pydeck turns bare strings into accessor functions."""
    return f'"{text}"'


class CompactDeck(pdk.Deck):
    """A Deck whose JSON is compact: pydeck pretty-prints with indent=2, which doubles the bytes sent to
    the browser and forces Python's slow JSON encoder; Streamlit sends whatever ``to_json`` returns."""

    def to_json(self) -> str:
        return json.dumps(self, default=default_serialize, separators=(",", ":"), ensure_ascii=False)


def deck(layers: list[pdk.Layer], view: pdk.ViewState, tooltip: dict | bool = True) -> pdk.Deck:
    """A Deck with no map provider and no base-map style: nothing is fetched from the internet.

    ``map_style`` is left at pydeck's placeholder on purpose: Streamlit replaces ``map_style=None`` with a
    Carto style fetched from the internet, but drops the placeholder and draws no base map at all.
    """
    return CompactDeck(layers=layers, initial_view_state=view, map_provider=None, tooltip=tooltip)


def label_points(gdf: gpd.GeoDataFrame, text_col: str = "name") -> list[dict[str, Any]]:
    """One label per feature at a point guaranteed inside it."""
    pts = shapely.point_on_surface(np.asarray(gdf.geometry.values))
    return point_records(shapely.get_x(pts), shapely.get_y(pts), {"text": gdf[text_col].tolist()})
