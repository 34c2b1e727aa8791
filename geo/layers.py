"""Boundary and point layers of the district: read, check, normalise to EPSG:4326.

Every layer is a GeoDataFrame in the storage CRS (EPSG:4326, lon/lat) with a unique string ``code``,
a ``name`` and, except the top, a ``parent_code`` naming a feature of the parent layer (LAYER_PARENTS).
Files come from surveyors and other departments, so the reader trusts nothing: a missing or wrong CRS,
missing columns, the wrong geometry type, duplicate codes or an unrepairable geometry is a LayerError
that names the file and says what to fix. Invalid polygons are repaired (shapely.make_valid) and the
repair is recorded in the LayerReport rather than done silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

STORAGE_CRS = "EPSG:4326"  # same as geo.crs.STORAGE_CRS; repeated to keep this module self-contained

LAYER_PARENTS: dict[str, str | None] = {
    "district": None,
    "subdistrict": "district",
    "community": "subdistrict",
    "grid": "community",
    "subgrid": "grid",
    "happiness_unit": "subdistrict",
    "station": "community",
    "building": "grid",
}
POINT_KINDS = frozenset({"station", "building"})
POLYGON_KINDS = frozenset(LAYER_PARENTS) - POINT_KINDS

DISTRICT_MARGIN_M = 20_000.0  # how far outside district_bounds a feature may lie before it is an error
MAX_LISTED = 10  # how many offending codes an error message shows

_FORMATS = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".shp": "shp", ".parquet": "parquet"}
_CRS_ADVICE = (
    "we expect EPSG:4326 (WGS84 lon/lat), EPSG:4490 (CGCS2000 lon/lat) or a projected CRS such as "
    "EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"
)
# CRSs a file about Guangming is commonly in; tried in order to suggest a fix for a wrong declaration.
_CANDIDATE_CRS = ("EPSG:4326", "EPSG:4547", "EPSG:4526", "EPSG:2383", "EPSG:32649", "EPSG:3857")
_CGCS2000_GEOGRAPHIC = 4490


class LayerError(ValueError):
    """A layer file that cannot be used as is; the message names the file and says what to fix."""


class Repair(NamedTuple):
    """One geometry that was invalid and was repaired with make_valid: its code and why it was invalid."""

    code: str
    reason: str


@dataclass
class LayerReport:
    """What read_layer did to one file: where it came from, its CRS and which geometries it repaired."""

    kind: str
    path: Path
    source_crs: str
    features: int
    repaired: list[Repair] = field(default_factory=list)
    layer: str | None = None


def read_layer(
    path: str | Path,
    kind: str,
    *,
    layer: str | None = None,
    district_bounds: tuple[float, float, float, float] | None = None,
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Read one layer file (GeoPackage, GeoJSON, Shapefile or GeoParquet) of the given kind.

    Returns the layer in EPSG:4326 with string codes, and a report of its source CRS and repairs.
    ``layer`` picks a GeoPackage layer (default: the only one, or the one named like ``kind``).
    ``district_bounds`` (lon_min, lat_min, lon_max, lat_max, WGS84) lets the reader catch a CRS that
    does not match the numbers: features more than 20 km outside it are an error.
    Raises LayerError for anything the user has to fix in the file.
    """
    path = Path(path)
    if kind not in LAYER_PARENTS:
        raise LayerError(f"{path}: unknown layer kind {kind!r}; use one of {', '.join(LAYER_PARENTS)}")
    gdf, layer = _read_file(path, kind, layer)
    where = f"{path} ({kind}" + (f", layer {layer!r})" if layer else ")")

    if len(gdf) == 0:
        raise LayerError(f"{where}: the layer has no features; check that this is the right file"
                         + (" and layer" if layer else ""))
    if gdf.crs is None:
        raise LayerError(
            f"{where}: the file does not declare a coordinate reference system. Define it before loading: "
            "for a Shapefile put the .prj file next to the .shp (or re-export it with the CRS set), for "
            f"other formats set the CRS when exporting; {_CRS_ADVICE}.")
    source_crs = CRS.from_user_input(gdf.crs)

    gdf = _normalise_columns(gdf, kind, where)
    _check_codes(gdf, kind, where)
    _check_geometry(gdf, kind, where)
    gdf = _to_storage_crs(gdf, source_crs, where, district_bounds)
    gdf, repaired = _repair(gdf, kind, where)

    report = LayerReport(kind=kind, path=path, source_crs=source_crs.to_string(), features=len(gdf),
                         repaired=repaired, layer=layer)
    return gdf, report


def validate_hierarchy(layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Check that every parent_code names a feature of the parent layer, when that layer is given.

    Raises LayerError listing the orphans (kind, code, missing parent), the first few and a count.
    """
    unknown = [k for k in layers if k not in LAYER_PARENTS]
    if unknown:
        raise LayerError(f"unknown layer kind(s) {', '.join(map(repr, unknown))}; "
                         f"use one of {', '.join(LAYER_PARENTS)}")
    orphans: list[str] = []
    for kind, gdf in layers.items():
        parent = LAYER_PARENTS[kind]
        if parent is None or parent not in layers:
            continue
        known = set(layers[parent]["code"].astype(str))
        parent_codes = gdf["parent_code"].astype(str)
        missing = ~parent_codes.isin(known) | gdf["parent_code"].isna()
        for code, parent_code in zip(gdf.loc[missing, "code"], gdf.loc[missing, "parent_code"], strict=True):
            orphans.append(f"{kind} {code} → {parent} {parent_code} (not found)")
    if orphans:
        raise LayerError(
            f"{len(orphans)} feature(s) name a parent that does not exist: " + _listing(orphans)
            + ". Fix their parent_code, or add the missing parent features to the parent layer.")


def load_layers(
    paths: Mapping[str, str | Path],
    *,
    layer_names: Mapping[str, str] | None = None,
    district_bounds: tuple[float, float, float, float] | None = None,
) -> tuple[dict[str, gpd.GeoDataFrame], list[LayerReport]]:
    """Read every layer in ``paths`` (kind → file), then check the hierarchy between them.

    ``layer_names`` gives a GeoPackage layer per kind. Problems in several files are reported together
    in one LayerError, so a user fixes them in one pass.
    """
    layer_names = layer_names or {}
    layers: dict[str, gpd.GeoDataFrame] = {}
    reports: list[LayerReport] = []
    errors: list[str] = []
    for kind, path in paths.items():
        try:
            gdf, report = read_layer(path, kind, layer=layer_names.get(kind), district_bounds=district_bounds)
        except LayerError as exc:
            errors.append(str(exc))
            continue
        layers[kind] = gdf
        reports.append(report)
    if errors:
        raise LayerError("\n".join(errors))
    validate_hierarchy(layers)
    return layers, reports


# --- reading -------------------------------------------------------------------------------------------

def _read_file(path: Path, kind: str, layer: str | None) -> tuple[gpd.GeoDataFrame, str | None]:
    """Read the file with the reader its suffix calls for; returns the frame and the layer actually read."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LayerError(f"{path}: unsupported file type {path.suffix!r}; export the {kind} layer as "
                         "GeoPackage (.gpkg), GeoJSON (.geojson), Shapefile (.shp) or GeoParquet (.parquet)")
    if not path.is_file():
        raise LayerError(f"{path}: file not found; check the path of the {kind} layer")
    try:
        if fmt == "parquet":
            return gpd.read_parquet(path), None
        if fmt == "gpkg":
            layer = _pick_gpkg_layer(path, kind, layer)
            return gpd.read_file(path, engine="pyogrio", layer=layer), layer
        return gpd.read_file(path, engine="pyogrio"), None
    except LayerError:
        raise
    except Exception as exc:  # pyogrio/pyarrow raise many types; all mean "this file cannot be read"
        raise LayerError(f"{path} ({kind}): cannot read the file ({exc}); check that it is a valid "
                         f"{fmt} file, e.g. by opening it in QGIS, and export it again") from exc


def _pick_gpkg_layer(path: Path, kind: str, layer: str | None) -> str:
    """The GeoPackage layer to read: the one asked for, the only one, or the one named like the kind."""
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        raise LayerError(f"{path} ({kind}): cannot open the GeoPackage ({exc}); export it again") from exc
    if layer is not None:
        if layer not in names:
            raise LayerError(f"{path} ({kind}): the GeoPackage has no layer {layer!r}; "
                             f"its layers are {', '.join(names) or '(none)'}")
        return layer
    if len(names) == 1:
        return names[0]
    if kind in names:
        return kind
    raise LayerError(f"{path} ({kind}): the GeoPackage has {len(names)} layers "
                     f"({', '.join(names) or 'none'}); say which one holds the {kind} layer")


# --- columns and codes -----------------------------------------------------------------------------------

def _normalise_columns(gdf: gpd.GeoDataFrame, kind: str, where: str) -> gpd.GeoDataFrame:
    """Find the required columns (case-insensitively; a Shapefile's 10-character ``parent_cod`` counts as
    ``parent_code``), rename them, and make code and parent_code strings."""
    required = ["code", "name"] + (["parent_code"] if LAYER_PARENTS[kind] else [])
    aliases = {"parent_code": ("parent_code", "parent_cod")}
    lower = {str(c).lower(): c for c in gdf.columns if c != gdf.geometry.name}
    rename: dict[str, str] = {}
    missing: list[str] = []
    for col in required:
        found = next((lower[a] for a in aliases.get(col, (col,)) if a in lower), None)
        if found is None:
            missing.append(col)
        elif found != col:
            rename[found] = col
    if missing:
        have = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name) or "(none)"
        raise LayerError(f"{where}: missing required column(s) {', '.join(missing)}; the file has {have}. "
                         "Add or rename the columns and export again.")
    gdf = gdf.rename(columns=rename)
    for col in ("code", "parent_code"):
        if col in gdf.columns:
            gdf[col] = _as_code_strings(gdf[col])
    gdf["name"] = pd.Series([None if _isna(v) else str(v) for v in gdf["name"]], index=gdf.index, dtype="str")
    rest = [c for c in gdf.columns if c not in required and c != gdf.geometry.name]
    return gdf[[*required, *rest, gdf.geometry.name]]


def _isna(value: object) -> bool:
    return value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value)))


def _code_string(value: object) -> str | None:
    """A code as text: integers (also integral floats, as Shapefile numeric fields give) without '.0'."""
    if _isna(value):
        return None
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _as_code_strings(series: pd.Series) -> pd.Series:
    return pd.Series([_code_string(v) for v in series], index=series.index, dtype="str")


def _check_codes(gdf: gpd.GeoDataFrame, kind: str, where: str) -> None:
    """Codes must be present and unique; children must name a parent."""
    blank = gdf["code"].isna()
    if blank.any():
        rows = [str(i) for i in np.flatnonzero(blank.to_numpy())]
        raise LayerError(f"{where}: {blank.sum()} feature(s) have no code (rows {_listing(rows)}); "
                         "give every feature a unique code")
    dup = gdf["code"][gdf["code"].duplicated(keep=False)]
    if len(dup):
        values = list(dict.fromkeys(dup))
        raise LayerError(f"{where}: codes must be unique, but {len(values)} code(s) appear more than once: "
                         f"{_listing(values)}; give each feature its own code")
    if "parent_code" in gdf.columns:
        no_parent = gdf["parent_code"].isna()
        if no_parent.any():
            raise LayerError(f"{where}: {no_parent.sum()} feature(s) have no parent_code "
                             f"({_listing(list(gdf.loc[no_parent, 'code']))}); set the code of the "
                             f"{LAYER_PARENTS[kind]} each belongs to")


# --- geometry ---------------------------------------------------------------------------------------------

def _check_geometry(gdf: gpd.GeoDataFrame, kind: str, where: str) -> None:
    """Null/empty geometries are errors; the geometry type must fit the kind (polygons or points)."""
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        raise LayerError(f"{where}: {empty.sum()} feature(s) have no geometry: "
                         f"{_listing(list(gdf.loc[empty, 'code']))}; draw them or remove them from the file")
    allowed = {"Point"} if kind in POINT_KINDS else {"Polygon", "MultiPolygon"}
    types = gdf.geom_type
    wrong = ~types.isin(allowed)
    if wrong.any():
        found = ", ".join(sorted(set(types[wrong])))
        wanted = "points (Point)" if kind in POINT_KINDS else "polygons (Polygon or MultiPolygon)"
        raise LayerError(f"{where}: a {kind} layer must hold {wanted}, but {wrong.sum()} feature(s) are "
                         f"{found}: {_listing(list(gdf.loc[wrong, 'code']))}; "
                         "check that this is the right file for this layer")


def _repair(gdf: gpd.GeoDataFrame, kind: str, where: str) -> tuple[gpd.GeoDataFrame, list[Repair]]:
    """Repair invalid polygons with make_valid, keeping only their polygonal part, and record each."""
    geoms = shapely.force_2d(gdf.geometry.to_numpy())
    repaired: list[Repair] = []
    if kind in POLYGON_KINDS:
        invalid = ~shapely.is_valid(geoms)
        collapsed: list[str] = []
        for i in np.flatnonzero(invalid):
            code = str(gdf["code"].iloc[i])
            reason = str(shapely.is_valid_reason(geoms[i]))
            fixed = _polygonal_part(shapely.make_valid(geoms[i]))
            if fixed.is_empty:
                collapsed.append(f"{code} ({reason})")
                continue
            geoms[i] = fixed
            repaired.append(Repair(code, reason))
        if collapsed:
            raise LayerError(f"{where}: {len(collapsed)} polygon(s) are invalid and have no area left after "
                             f"repair: {_listing(collapsed)}; redraw them")
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    return out, repaired


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The Polygon/MultiPolygon part of a make_valid result (lines and points from collapses dropped)."""
    if isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        return geom
    polys: list[shapely.Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, shapely.Polygon) and not part.is_empty:
            polys.append(part)
        elif isinstance(part, shapely.MultiPolygon | shapely.GeometryCollection):
            sub = _polygonal_part(part)
            polys.extend(shapely.get_parts(sub) if not sub.is_empty else [])
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


# --- CRS --------------------------------------------------------------------------------------------------

def _to_storage_crs(gdf: gpd.GeoDataFrame, source: CRS, where: str,
                    district_bounds: tuple[float, float, float, float] | None) -> gpd.GeoDataFrame:
    """Convert to EPSG:4326 (CGCS2000 lon/lat is relabelled) and check the numbers fit the declared CRS."""
    raw = tuple(float(v) for v in gdf.total_bounds)
    declared = source.to_string()
    if source.is_geographic and not _in_lonlat_range(raw):
        fb = gdf.geometry.bounds
        bad = ~((fb["minx"] >= -180) & (fb["maxx"] <= 180) & (fb["miny"] >= -90) & (fb["maxy"] <= 90))
        if bad.all():
            raise LayerError(_misfit(where, source, raw, None, district_bounds))
        raise LayerError(
            f"{where}: {bad.sum()} feature(s) have coordinates that are not valid longitude/latitude in the "
            f"declared CRS {declared}: {_listing(list(gdf.loc[bad, 'code']))}; fix their coordinates "
            "(swapped lon/lat, or metres in part of the file?)")
    if source.to_epsg() == _CGCS2000_GEOGRAPHIC:
        # CGCS2000 and WGS84 differ by centimetres here; a datum transformation would only add noise.
        out = gdf.set_crs(STORAGE_CRS, allow_override=True)
    else:
        try:
            out = gdf.to_crs(STORAGE_CRS)
        except Exception as exc:
            raise LayerError(f"{where}: cannot convert from {declared} to {STORAGE_CRS} ({exc}); check the "
                             f"declared CRS; {_CRS_ADVICE}") from exc
    bounds = tuple(float(v) for v in out.total_bounds)
    if not _in_lonlat_range(bounds):
        raise LayerError(_misfit(where, source, raw, bounds, district_bounds))
    if district_bounds is None:
        return out

    zone = _expand(district_bounds, DISTRICT_MARGIN_M)
    fb = out.geometry.bounds
    outside = (fb["minx"] > zone[2]) | (fb["maxx"] < zone[0]) | (fb["miny"] > zone[3]) | (fb["maxy"] < zone[1])
    if outside.all():
        raise LayerError(_misfit(where, source, raw, bounds, district_bounds))
    if outside.any():
        raise LayerError(
            f"{where}: {outside.sum()} feature(s) lie more than {DISTRICT_MARGIN_M / 1000:g} km outside the "
            f"district {_fmt(district_bounds)}: {_listing(list(out.loc[outside, 'code']))}; "
            "fix their coordinates (swapped lon/lat, or a different CRS in part of the file?)")
    return out


def _misfit(where: str, source: CRS, raw: tuple[float, ...], converted: tuple[float, ...] | None,
            district_bounds: tuple[float, float, float, float] | None) -> str:
    """The message for coordinates that do not fit their declared CRS (or the district), with a fix."""
    declared = source.to_string()
    seen = f"the file's bounds are {_fmt(raw)}"
    if converted is None:
        seen += ", which are not valid longitude/latitude"
    elif not all(math.isfinite(v) for v in converted):
        seen += f", which cannot be converted from {declared} to longitude/latitude"
    elif source != CRS.from_user_input(STORAGE_CRS):
        seen += f", {_fmt(converted)} as lon/lat"
    if district_bounds is not None:
        head = (f"the file's coordinates do not fall in the district with its declared CRS {declared}: "
                f"{seen}, but the district is {_fmt(district_bounds)} (lon/lat)")
    else:
        head = f"the coordinates do not fit the declared CRS {declared}: {seen}"
    return f"{where}: {head}. {_crs_hint(raw, source, district_bounds)}"


def _in_lonlat_range(b: tuple[float, ...]) -> bool:
    return (all(math.isfinite(v) for v in b)
            and -180.0 <= b[0] <= b[2] <= 180.0 and -90.0 <= b[1] <= b[3] <= 90.0)


def _expand(b: tuple[float, float, float, float], metres: float) -> tuple[float, float, float, float]:
    """A lon/lat box grown by ``metres`` on every side (spherical approximation, ample for a margin)."""
    dlat = metres / 111_320.0
    dlon = metres / (111_320.0 * max(math.cos(math.radians((b[1] + b[3]) / 2)), 0.01))
    return (b[0] - dlon, b[1] - dlat, b[2] + dlon, b[3] + dlat)


def _boxes_meet(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _as_lonlat(raw: tuple[float, float, float, float], crs: CRS | str) -> tuple[float, ...] | None:
    """The raw bounds read in ``crs``, as lon/lat bounds, or None when they make no sense there."""
    try:
        crs = CRS.from_user_input(crs)
        if crs.is_geographic:
            b = raw
        else:
            t = Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
            b = t.transform_bounds(*raw, densify_pts=5)
    except Exception:
        return None
    b = tuple(float(v) for v in b)
    return b if _in_lonlat_range(b) else None


def _crs_hint(raw: tuple[float, float, float, float], source: CRS,
              district_bounds: tuple[float, float, float, float] | None) -> str:
    """A sentence suggesting the likely fix for coordinates that do not fit their declared CRS."""
    swapped = (raw[1], raw[0], raw[3], raw[2])
    if district_bounds is not None:
        zone = _expand(district_bounds, DISTRICT_MARGIN_M)
        as_swapped = _as_lonlat(swapped, source)
        if as_swapped is not None and _boxes_meet(as_swapped, zone):
            return ("Longitude and latitude look swapped (the file holds lat, lon): re-export it with "
                    "x = longitude and y = latitude.")
        for cand in _CANDIDATE_CRS:
            cand_crs = CRS.from_user_input(cand)
            if cand_crs == source:
                continue
            b = _as_lonlat(raw, cand_crs)
            if b is not None and _boxes_meet(b, zone):
                unit = "degrees" if cand_crs.is_geographic else "metres"
                return (f"The numbers look like {unit} in {cand} ({cand_crs.name}), which lands in the "
                        f"district: declare {cand} instead of {source.to_string()} (fix the .prj, or set the "
                        "CRS when exporting) — do not reproject, the coordinates are right.")
    big = max(abs(v) for v in raw) if all(math.isfinite(v) for v in raw) else math.inf
    if source.is_geographic:
        if abs(raw[0]) <= 90 and abs(raw[2]) <= 90 and 90 < abs(raw[1]) <= 180 and 90 < abs(raw[3]) <= 180:
            return ("Longitude and latitude look swapped (the file holds lat, lon): re-export it with "
                    "x = longitude and y = latitude.")
        if big > 180:
            return ("The numbers look like metres (projected coordinates): declare the projected CRS they are "
                    "in, for Guangming usually EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E).")
    elif big <= 180:
        return ("The numbers look like degrees: declare EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000) "
                "instead of a projected CRS.")
    return f"Check that the declared CRS matches the coordinates and that the file covers the district; {_CRS_ADVICE}."


# --- messages ---------------------------------------------------------------------------------------------

def _fmt(b: tuple[float, ...]) -> str:
    """Bounds for a message: degrees to six significant digits, metres whole."""
    return "(" + ", ".join(f"{v:.0f}" if abs(v) >= 1000 else f"{v:.6g}" for v in b) + ")"


def _listing(items: list[str]) -> str:
    """At most MAX_LISTED items, then how many more."""
    shown = ", ".join(str(i) for i in items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return shown + (f" … and {more} more" if more > 0 else "")
