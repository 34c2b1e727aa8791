"""Reading and checking district layers: formats, CRS handling, repairs and hierarchy (geo.layers)."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo.crs import area_m2
from geo.layers import (
    LAYER_PARENTS,
    LayerError,
    LayerReport,
    Repair,
    load_layers,
    read_layer,
    validate_hierarchy,
)

DISTRICT = (113.75, 22.6, 114.1, 22.9)


def box(lon: float, lat: float, d: float = 0.01) -> shapely.Polygon:
    return shapely.box(lon, lat, lon + d, lat + d)


def frame(rows: list[dict], crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def write(gdf: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    """Write in the format the suffix names (Shapefile field-name laundering warnings silenced)."""
    if path.suffix == ".parquet":
        gdf.to_parquet(path)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf.to_file(path, engine="pyogrio", **kwargs)
    return path


def communities(crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    """Two communities with integer codes, as many source files store them."""
    return frame([
        {"code": 101, "name": "凤凰社区", "parent_code": 1, "population": 5000, "geometry": box(113.90, 22.75)},
        {"code": 102, "name": "玉塘社区", "parent_code": 1, "population": 7000, "geometry": box(113.92, 22.75)},
    ], crs)


# --- formats --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".json", ".shp", ".parquet"])
def test_round_trip_each_format_codes_are_strings(tmp_path: Path, suffix: str) -> None:
    src = communities()
    path = write(src, tmp_path / f"community{suffix}")

    gdf, report = read_layer(path, "community", district_bounds=DISTRICT)

    assert gdf.crs.to_epsg() == 4326
    assert list(gdf.columns[:3]) == ["code", "name", "parent_code"]  # Shapefile's parent_cod is renamed
    assert list(gdf["code"]) == ["101", "102"]
    assert list(gdf["parent_code"]) == ["1", "1"]
    assert pd.api.types.is_string_dtype(gdf["code"].dtype)
    assert pd.api.types.is_string_dtype(gdf["parent_code"].dtype)
    assert all(isinstance(c, str) for c in gdf["code"])
    assert list(gdf["name"]) == ["凤凰社区", "玉塘社区"]
    assert list(gdf["population"]) == [5000, 7000]
    for got, want in zip(gdf.geometry, src.geometry, strict=True):
        assert got.normalize().equals_exact(want.normalize(), tolerance=1e-9)
    assert report == LayerReport(kind="community", path=path, source_crs="EPSG:4326", features=2,
                                 repaired=[], layer="community" if suffix == ".gpkg" else None)


def test_string_codes_keep_leading_zeros_and_integral_floats_lose_dot_zero(tmp_path: Path) -> None:
    gdf = communities()
    gdf["code"] = ["0101", " 0102 "]
    gdf["parent_code"] = [1.0, 1.0]  # e.g. a numeric Shapefile field read as float
    out, _ = read_layer(write(gdf, tmp_path / "c.parquet"), "community")
    assert list(out["code"]) == ["0101", "0102"]
    assert list(out["parent_code"]) == ["1", "1"]


def test_points_round_trip(tmp_path: Path) -> None:
    stations = frame([
        {"code": 9001, "name": "光明街道群众诉求服务站", "parent_code": 101, "level": "subdistrict",
         "geometry": shapely.Point(113.93, 22.77)},
    ])
    gdf, report = read_layer(write(stations, tmp_path / "station.geojson"), "station")
    assert list(gdf["code"]) == ["9001"]
    assert gdf.geometry.iloc[0].equals_exact(shapely.Point(113.93, 22.77), 1e-9)
    assert report.features == 1


def test_gpkg_layer_selection(tmp_path: Path) -> None:
    path = tmp_path / "district.gpkg"
    write(communities(), path, layer="community")
    other = communities()
    other["code"] = [201, 202]
    write(other, path, layer="grid_draft")

    with pytest.raises(LayerError, match="grid_draft"):
        read_layer(path, "grid")  # two layers, none named "grid": ambiguous, the message lists them
    gdf, report = read_layer(path, "community")  # the layer named like the kind
    assert list(gdf["code"]) == ["101", "102"] and report.layer == "community"
    gdf, report = read_layer(path, "community", layer="grid_draft")
    assert list(gdf["code"]) == ["201", "202"] and report.layer == "grid_draft"
    with pytest.raises(LayerError, match="no layer 'nope'"):
        read_layer(path, "community", layer="nope")


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"c\.csv.*unsupported"):
        read_layer(tmp_path / "c.csv", "community")
    with pytest.raises(LayerError, match=r"gone\.gpkg.*not found"):
        read_layer(tmp_path / "gone.gpkg", "community")
    with pytest.raises(LayerError, match="unknown layer kind"):
        read_layer(write(communities(), tmp_path / "c.gpkg"), "village")


# --- CRS ------------------------------------------------------------------------------------------------

def test_shapefile_without_prj_names_the_file(tmp_path: Path) -> None:
    path = write(communities(), tmp_path / "nocrs_community.shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(LayerError) as err:
        read_layer(path, "community")
    msg = str(err.value)
    assert "nocrs_community.shp" in msg
    assert ".prj" in msg and "EPSG:4326" in msg and "EPSG:4490" in msg and "EPSG:4547" in msg


def test_geoparquet_without_crs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"nocrs\.parquet.*does not declare a coordinate reference system"):
        read_layer(write(communities(crs=None), tmp_path / "nocrs.parquet"), "community")


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg"])
def test_projected_4547_is_converted_to_lonlat(tmp_path: Path, suffix: str) -> None:
    # x = 500000 is the central meridian (114E) of EPSG:4547, so that edge must come out at lon 114 exactly.
    poly = shapely.box(494_000, 2_513_000, 500_000, 2_517_000)
    src = frame([{"code": "G1", "name": "网格1", "parent_code": "101", "geometry": poly}], "EPSG:4547")
    gdf, report = read_layer(write(src, tmp_path / f"grid{suffix}"), "grid", district_bounds=DISTRICT)

    assert report.source_crs == "EPSG:4547"
    assert gdf.crs.to_epsg() == 4326
    coords = shapely.get_coordinates(gdf.geometry.iloc[0])
    lon, lat = Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True).transform(494_000, 2_513_000)
    assert 113.8 < lon < 114.0 and 22.6 < lat < 22.8
    assert ((abs(coords[:, 0] - lon) < 1e-9) & (abs(coords[:, 1] - lat) < 1e-9)).any()
    assert coords[:, 0].max() == pytest.approx(114.0, abs=1e-9)
    assert area_m2(gdf.geometry.iloc[0]) == pytest.approx(6000 * 4000, rel=1e-6)


def test_cgcs2000_lonlat_is_relabelled_not_shifted(tmp_path: Path) -> None:
    src = communities(crs="EPSG:4490")
    gdf, report = read_layer(write(src, tmp_path / "c.gpkg"), "community", district_bounds=DISTRICT)
    assert report.source_crs == "EPSG:4490"
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.iloc[0].equals_exact(src.geometry.iloc[0], tolerance=0)


def test_metres_declared_as_4326_outside_district(tmp_path: Path) -> None:
    # EPSG:4547 numbers, but the file says WGS84 degrees.
    src = frame([{"code": "G1", "name": "网格1", "parent_code": "101",
                  "geometry": shapely.box(494_000, 2_513_000, 500_000, 2_517_000)}], "EPSG:4326")
    path = write(src, tmp_path / "metres.gpkg")
    with pytest.raises(LayerError) as err:
        read_layer(path, "grid", district_bounds=DISTRICT)
    msg = str(err.value)
    assert "metres.gpkg" in msg
    assert "do not fall in the district" in msg and "EPSG:4326" in msg
    assert "494000" in msg  # the bounds are shown
    assert "metres" in msg and "declare EPSG:4547" in msg
    with pytest.raises(LayerError, match="look like metres"):  # caught without district bounds too
        read_layer(path, "grid")


def test_degrees_declared_as_projected_suggests_4326(tmp_path: Path) -> None:
    path = write(communities().set_crs("EPSG:4547", allow_override=True), tmp_path / "deg.parquet")
    with pytest.raises(LayerError, match=r"do not fall in the district.*declare EPSG:4326"):
        read_layer(path, "community", district_bounds=DISTRICT)


@pytest.mark.parametrize("bounds", [DISTRICT, None])
def test_swapped_lon_lat_detected(tmp_path: Path, bounds: tuple | None) -> None:
    src = communities()
    src.geometry = src.geometry.map(lambda g: shapely.transform(g, lambda xy: xy[:, ::-1]))
    with pytest.raises(LayerError, match=r"swapped\.geojson.*look swapped"):
        read_layer(write(src, tmp_path / "swapped.geojson"), "community", district_bounds=bounds)


def test_valid_coordinates_elsewhere_need_district_bounds_to_be_caught(tmp_path: Path) -> None:
    beijing = frame([{"code": 1, "name": "x", "parent_code": 0, "geometry": box(116.4, 39.9)}])
    path = write(beijing, tmp_path / "beijing.gpkg")
    read_layer(path, "community")  # plausible lon/lat: nothing to object to without the district
    with pytest.raises(LayerError, match=r"do not fall in the district.*116\.4"):
        read_layer(path, "community", district_bounds=DISTRICT)


def test_single_feature_far_outside_is_named(tmp_path: Path) -> None:
    src = communities()
    src.loc[1, "geometry"] = box(22.75, 113.92)  # one row typed lat, lon
    src = pd.concat([src, frame([{"code": 103, "name": "y", "parent_code": 1, "geometry": box(113.5, 22.75)}])],
                    ignore_index=True)  # 113.5 is ~25 km west of the district box
    with pytest.raises(LayerError) as err:
        read_layer(write(src, tmp_path / "c.parquet"), "community", district_bounds=DISTRICT)
    msg = str(err.value)
    assert "1 feature(s) have coordinates that are not valid longitude/latitude" in msg and "102" in msg
    assert "101" not in msg

    src.loc[1, "geometry"] = box(113.92, 22.75)
    with pytest.raises(LayerError) as err:
        read_layer(write(src, tmp_path / "c.parquet"), "community", district_bounds=DISTRICT)
    msg = str(err.value)
    assert "1 feature(s) lie more than 20 km outside" in msg and "103" in msg
    assert "101" not in msg and "102" not in msg


# --- geometry -------------------------------------------------------------------------------------------

def test_bow_tie_is_repaired_and_reported(tmp_path: Path) -> None:
    # A 200 m bow tie in EPSG:4547: two triangles meeting at the centre, each with base 200 m (the
    # vertical side) and height 100 m, so the repaired area is 2 * (200 * 100 / 2) = 20000 m².
    x, y = 494_000, 2_515_000
    bow = shapely.Polygon([(x, y), (x + 200, y + 200), (x + 200, y), (x, y + 200), (x, y)])
    src = frame([
        {"code": "S1", "name": "bow", "parent_code": "G1", "geometry": bow},
        {"code": "S2", "name": "ok", "parent_code": "G1", "geometry": shapely.box(x, y, x + 100, y + 100)},
    ], "EPSG:4547")
    assert not bow.is_valid and bow.area == 0  # the signed halves cancel: the bow tie has no area as drawn

    gdf, report = read_layer(write(src, tmp_path / "subgrid.gpkg"), "subgrid", district_bounds=DISTRICT)

    assert [r.code for r in report.repaired] == ["S1"]
    assert report.repaired[0].reason.startswith("Self-intersection")
    assert isinstance(report.repaired[0], Repair)
    fixed = gdf.geometry.iloc[0]
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert area_m2(fixed) == pytest.approx(20_000, abs=0.5)
    assert area_m2(gdf.geometry.iloc[1]) == pytest.approx(10_000, abs=0.5)


def test_geometry_empty_after_repair_is_an_error(tmp_path: Path) -> None:
    flat = shapely.Polygon([(113.90, 22.75), (113.91, 22.75), (113.92, 22.75), (113.90, 22.75)])  # a line
    src = communities()
    src.loc[1, "geometry"] = flat
    with pytest.raises(LayerError, match=r"no area left after repair: 102"):
        read_layer(write(src, tmp_path / "c.gpkg"), "community")


def test_null_and_empty_geometries_are_errors(tmp_path: Path) -> None:
    src = communities()
    src.loc[0, "geometry"] = None
    src.loc[1, "geometry"] = shapely.Polygon()
    with pytest.raises(LayerError, match=r"2 feature\(s\) have no geometry: 101, 102"):
        read_layer(write(src, tmp_path / "c.parquet"), "community")


@pytest.mark.parametrize(("kind", "geom", "found"), [
    ("community", shapely.LineString([(113.9, 22.7), (113.91, 22.71)]), "LineString"),
    ("station", box(113.9, 22.7), "Polygon"),
    ("building", shapely.MultiPoint([(113.9, 22.7), (113.91, 22.71)]), "MultiPoint"),
])
def test_wrong_geometry_type(tmp_path: Path, kind: str, geom: shapely.Geometry, found: str) -> None:
    src = frame([{"code": 1, "name": "x", "parent_code": 0, "geometry": geom}])
    with pytest.raises(LayerError, match=rf"wrong\.geojson \({kind}\): a {kind} layer must hold .* are {found}: 1"):
        read_layer(write(src, tmp_path / "wrong.geojson"), kind)


# --- columns and codes ----------------------------------------------------------------------------------

def test_missing_columns_are_listed(tmp_path: Path) -> None:
    src = communities().drop(columns=["name", "parent_code"])
    with pytest.raises(LayerError, match=r"missing required column\(s\) name, parent_code"):
        read_layer(write(src, tmp_path / "c.gpkg"), "community")
    # the top layer needs no parent_code
    district = frame([{"CODE": 1, "Name": "光明区", "geometry": box(113.85, 22.7, 0.15)}])
    gdf, _ = read_layer(write(district, tmp_path / "d.gpkg"), "district")
    assert list(gdf.columns) == ["code", "name", "geometry"] and list(gdf["code"]) == ["1"]


def test_duplicate_codes(tmp_path: Path) -> None:
    src = frame([{"code": c, "name": "x", "parent_code": 1, "geometry": box(113.9 + i / 100, 22.75)}
                 for i, c in enumerate([101, 102, 101, 103, 103, 103])])
    with pytest.raises(LayerError) as err:
        read_layer(write(src, tmp_path / "dups.gpkg"), "community")
    msg = str(err.value)
    assert "dups.gpkg" in msg and "2 code(s) appear more than once: 101, 103" in msg
    assert "102" not in msg


def test_missing_code_or_parent_code(tmp_path: Path) -> None:
    src = communities()
    src["parent_code"] = [1, None]
    with pytest.raises(LayerError, match=r"1 feature\(s\) have no parent_code \(102\)"):
        read_layer(write(src, tmp_path / "c.parquet"), "community")
    src = communities()
    src["code"] = ["101", "  "]
    with pytest.raises(LayerError, match=r"have no code"):
        read_layer(write(src, tmp_path / "c2.parquet"), "community")


# --- hierarchy ------------------------------------------------------------------------------------------

def test_layer_parents() -> None:
    assert LAYER_PARENTS["district"] is None
    chain, kind = [], "subgrid"
    while kind:
        chain.append(kind)
        kind = LAYER_PARENTS[kind]
    assert chain == ["subgrid", "grid", "community", "subdistrict", "district"]
    assert LAYER_PARENTS["happiness_unit"] == "subdistrict"
    assert LAYER_PARENTS["station"] == "community" and LAYER_PARENTS["building"] == "grid"


def codes(kind_codes: list[tuple[str, str]]) -> gpd.GeoDataFrame:
    return frame([{"code": c, "name": c, "parent_code": p, "geometry": box(113.9, 22.75)} for c, p in kind_codes])


def test_orphans_are_listed() -> None:
    layers = {
        "subdistrict": codes([("S1", "D"), ("S2", "D")]),
        "community": codes([("C1", "S1"), ("C2", "S9")]),
        "happiness_unit": codes([("H1", "S2"), ("H2", "S7")]),
        "grid": codes([("G1", "C1"), ("G2", "C2")]),
    }
    with pytest.raises(LayerError) as err:
        validate_hierarchy(layers)
    msg = str(err.value)
    assert "2 feature(s)" in msg
    assert "community C2 → subdistrict S9" in msg and "happiness_unit H2 → subdistrict S7" in msg
    assert "C1 " not in msg and "G2" not in msg
    # parents absent from the dict are not checked (no district layer here)
    validate_hierarchy({"subdistrict": layers["subdistrict"], "grid": layers["grid"]})


def test_many_orphans_are_truncated() -> None:
    layers = {"grid": codes([("G1", "C1")]), "building": codes([(f"B{i:02d}", "nope") for i in range(15)])}
    layers["building"].geometry = [shapely.Point(113.9, 22.75)] * 15
    with pytest.raises(LayerError) as err:
        validate_hierarchy(layers)
    msg = str(err.value)
    assert "15 feature(s)" in msg and "B09" in msg and "B10" not in msg and "and 5 more" in msg


def test_load_layers(tmp_path: Path) -> None:
    paths = {
        "district": write(frame([{"code": 1, "name": "光明区", "geometry": box(113.85, 22.7, 0.15)}]),
                          tmp_path / "district.geojson"),
        "subdistrict": write(frame([{"code": 10, "name": "光明街道", "parent_code": 1,
                                     "geometry": box(113.88, 22.72, 0.08)}]), tmp_path / "sub.shp"),
        "community": write(communities().assign(parent_code=10), tmp_path / "community.parquet"),
        "station": write(frame([{"code": "ST1", "name": "站", "parent_code": "102",
                                 "geometry": shapely.Point(113.925, 22.755)}]), tmp_path / "station.gpkg"),
    }
    layers, reports = load_layers(paths, district_bounds=DISTRICT)
    assert set(layers) == set(paths)
    assert [r.kind for r in reports] == list(paths)
    assert list(layers["community"]["parent_code"]) == ["10", "10"]

    paths["station"] = write(frame([{"code": "ST1", "name": "站", "parent_code": "999",
                                     "geometry": shapely.Point(113.925, 22.755)}]), tmp_path / "orphan.gpkg")
    with pytest.raises(LayerError, match="station ST1 → community 999"):
        load_layers(paths, district_bounds=DISTRICT)

    # problems in several files are reported together
    paths["community"] = tmp_path / "missing.parquet"
    paths["subdistrict"] = tmp_path / "missing.shp"
    with pytest.raises(LayerError, match=r"(?s)missing\.shp.*missing\.parquet"):
        load_layers(paths)
