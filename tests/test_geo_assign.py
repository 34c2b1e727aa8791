"""geo.assign: hand-checkable cases, then equivalence with a plain Shapely STRtree answer."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.assign import OUTSIDE, PolygonIndex, assign_points, index_for

NAN = float("nan")
CELLS = [0.01, 0.3, None]  # None: the default cell size (auto-enlarged to fit the raster cap)


def make(geoms, cell):
    return PolygonIndex(geoms) if cell is None else PolygonIndex(geoms, cell_deg=cell)


def locate(index, pts):
    xy = np.asarray(pts, dtype=float)
    return index.locate(xy[:, 0], xy[:, 1]).tolist()


def reference(geoms, lon, lat):
    """Lowest index of an intersecting polygon per point, -1 for none, via a plain STRtree."""
    tree = shapely.STRtree(geoms)
    out = np.full(len(lon), len(geoms), dtype=np.int64)
    pairs = tree.query(shapely.points(lon, lat), predicate="intersects")
    np.minimum.at(out, pairs[0], pairs[1])
    out[out == len(geoms)] = -1
    return out


@pytest.mark.parametrize("cell", CELLS)
def test_two_adjacent_squares(cell):
    idx = make([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], cell)
    assert locate(idx, [(0.5, 0.5), (1.5, 0.5)]) == [0, 1]
    assert locate(idx, [(1, 0.5), (1, 0), (1, 1)]) == [0, 0, 0]  # shared edge and shared vertices
    assert locate(idx, [(0, 0), (2, 1), (2, 0.25), (0.5, 0)]) == [0, 1, 1, 0]  # own vertices and edges
    assert locate(idx, [(3, 3), (-0.5, 0.5), (1, 1.0000001), (2.0000001, 0.5)]) == [OUTSIDE] * 4


@pytest.mark.parametrize("cell", CELLS)
def test_shared_edge_goes_to_lowest_index_not_leftmost(cell):
    idx = make([shapely.box(1, 0, 2, 1), shapely.box(0, 0, 1, 1)], cell)
    assert locate(idx, [(1, 0.5), (0.5, 0.5), (1.5, 0.5), (1, 1)]) == [0, 1, 0, 0]


@pytest.mark.parametrize("cell", CELLS)
def test_polygon_with_hole(cell):
    ring = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], holes=[[(1, 1), (3, 1), (3, 3), (1, 3)]])
    idx = make([ring], cell)
    assert locate(idx, [(2, 2), (1.5, 2.5), (0.5, 0.5), (1, 2), (3, 3), (5, 5)]) == [-1, -1, 0, 0, 0, -1]
    idx = make([ring, shapely.box(1, 1, 3, 3)], cell)  # the hole filled by a second polygon
    assert locate(idx, [(2, 2), (1.5, 2.5), (0.5, 0.5), (1, 2), (3, 3)]) == [1, 1, 0, 0, 0]


@pytest.mark.parametrize("cell", CELLS)
def test_multipolygon(cell):
    multi = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(3, 0, 4, 1)])
    idx = make([multi, shapely.box(0, 2, 4, 3)], cell)
    assert locate(idx, [(0.5, 0.5), (3.5, 0.5), (2, 0.5), (2, 2.5), (4, 1), (2, 1.5)]) == [0, 0, -1, 1, 0, -1]


@pytest.mark.parametrize("cell", CELLS)
def test_overlapping_polygons_take_lowest_index(cell):
    idx = make([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)], cell)
    assert locate(idx, [(1.5, 1.5), (2.5, 2.5), (0.5, 0.5), (1.2, 1.7)]) == [0, 1, 0, 0]
    idx = make([shapely.box(1, 1, 3, 3), shapely.box(0, 0, 2, 2)], cell)
    assert locate(idx, [(1.5, 1.5), (2.5, 2.5), (0.5, 0.5), (1.2, 1.7)]) == [0, 0, 1, 0]


@pytest.mark.parametrize("cell", CELLS)
def test_nan_inf_and_missing_geometries(cell):
    idx = make([None, shapely.Polygon(), shapely.box(0, 0, 1, 1)], cell)
    got = locate(idx, [(NAN, 0.5), (0.5, NAN), (NAN, NAN), (np.inf, 0.5), (0.5, -np.inf), (0.5, 0.5)])
    assert got == [-1, -1, -1, -1, -1, 2]


def test_empty_index_and_empty_input():
    assert PolygonIndex([None]).locate([0.0, 1.0], [0.0, 1.0]).tolist() == [-1, -1]
    idx = PolygonIndex([shapely.box(0, 0, 1, 1)])
    assert idx.locate(np.array([]), np.array([])).shape == (0,)


def test_shape_is_kept_and_mismatch_refused():
    idx = PolygonIndex([shapely.box(0, 0, 1, 1)], cell_deg=0.1)
    assert idx.locate(np.full((2, 3), 0.5), np.full((2, 3), 0.5)).tolist() == [[0, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError):
        idx.locate(np.zeros(3), np.zeros(2))


def test_non_polygons_refused():
    with pytest.raises(ValueError, match="Polygon"):
        PolygonIndex([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 1)])])


def voronoi_cells(n, seed, box=(0.0, 0.0, 1.0, 1.0)):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    seeds = shapely.multipoints(np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)]))
    clip = shapely.box(*box)
    return shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=clip)), clip)


def tricky_points(geoms, n, seed, box):
    """Uniform points plus vertices, points on edges (box sides exactly) and points near edges."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    verts = np.unique(shapely.get_coordinates(geoms), axis=0)
    k = n // 8
    vx, vy = verts[rng.integers(0, len(verts), k)].T
    edges = shapely.get_parts(shapely.boundary(geoms))
    on = shapely.get_coordinates(shapely.line_interpolate_point(edges[rng.integers(0, len(edges), k)],
                                                                rng.random(k), normalized=True))
    near = on[rng.integers(0, k, k)] + rng.normal(scale=1e-9, size=(k, 2))
    t = rng.uniform(0, 1, k)
    side = rng.integers(0, 4, k)  # exactly on the clipping box's sides
    sx = np.choose(side, [x0 + t * (x1 - x0), x1 + 0 * t, x0 + t * (x1 - x0), x0 + 0 * t])
    sy = np.choose(side, [y0 + 0 * t, y0 + t * (y1 - y0), y1 + 0 * t, y0 + t * (y1 - y0)])
    m = n - 4 * k
    ux = rng.uniform(x0 - 0.05 * (x1 - x0), x1 + 0.05 * (x1 - x0), m)
    uy = rng.uniform(y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0), m)
    lon = np.concatenate([ux, vx, on[:, 0], near[:, 0], sx])
    lat = np.concatenate([uy, vy, on[:, 1], near[:, 1], sy])
    perm = rng.permutation(n)
    return lon[perm], lat[perm]


@pytest.mark.parametrize(("seed", "cell"), [(1, 1e-3), (2, 2e-4), (3, 2e-3)])
def test_random_voronoi_matches_strtree(seed, cell, monkeypatch):
    box = (113.87, 22.72, 113.99, 22.82)  # lon/lat, roughly the district
    geoms = voronoi_cells(300, seed, box)
    lon, lat = tricky_points(geoms, 200_000, seed, box)
    expected = reference(geoms, lon, lat)
    idx = PolygonIndex(geoms, cell_deg=cell)
    sent = []
    real = idx._query
    monkeypatch.setattr(idx, "_query", lambda x, y: sent.append(len(x)) or real(x, y))
    got = idx.locate(lon, lat)
    np.testing.assert_array_equal(got, expected)
    assert (expected == -1).any() and (expected >= 0).any()
    assert sum(sent) < 0.9 * len(lon)  # the raster answered a real share of the points itself
    # also single-threaded and on a grid-aligned tiling whose edges are exactly representable
    np.testing.assert_array_equal(idx.locate(lon, lat, threads=1), expected)


def test_lattice_points_on_exact_edges():
    xs = np.arange(0, 8) * 0.125  # dyadic: every lattice point and edge is exact in binary floating point
    squares = [shapely.box(x, y, x + 0.125, y + 0.125) for y in xs for x in xs]
    rng = np.random.default_rng(5)
    n = 50_000
    lon = rng.integers(0, 65, n) / 64.0  # on edges, vertices, and midway
    lat = np.where(rng.random(n) < 0.5, rng.integers(0, 9, n) * 0.125, rng.random(n))
    idx = PolygonIndex(squares, cell_deg=0.01)
    np.testing.assert_array_equal(idx.locate(lon, lat), reference(np.array(squares), lon, lat))


def test_raster_is_mostly_interior():
    geoms = voronoi_cells(200, 9, (0, 0, 1, 1))
    idx = PolygonIndex(geoms, cell_deg=1e-3)
    assert 0 < idx.boundary_fraction < 0.3


def frame(geoms, codes, crs="EPSG:4326"):
    return gpd.GeoDataFrame({"code": codes}, geometry=list(geoms), crs=crs)


def test_from_frame_crs_handling():
    with pytest.raises(ValueError, match="CRS"):
        PolygonIndex.from_frame(gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]))
    metric = frame([shapely.box(500_000 + i * 300, 2_520_000, 500_300 + i * 300, 2_520_300) for i in range(3)],
                   ["a", "b", "c"], crs="EPSG:4547")
    lonlat = metric.to_crs("EPSG:4326")
    pts = lonlat.geometry.representative_point()
    got = PolygonIndex.from_frame(metric, cell_deg=1e-4).locate(pts.x.to_numpy(), pts.y.to_numpy())
    assert got.tolist() == [0, 1, 2]


def test_assign_points_one_row_per_point_outside_flagged():
    sub = frame([shapely.box(0, 0, 2, 1)], ["S1"])
    grid = frame([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(5, 5, 6, 6)], ["G1", "G2", "G3"])
    lon = np.array([0.5, 1.5, 3.0, NAN, 1.0, 5.5, 0.5])
    lat = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 5.5, 0.5])
    cache: dict[str, PolygonIndex] = {}
    out = assign_points(lon, lat, {"subdistrict": sub, "grid": grid}, index_cache=cache)
    assert list(out.columns) == ["subdistrict_code", "grid_code", "outside_district"]
    assert len(out) == len(lon)
    assert out["grid_code"].tolist()[:2] == ["G1", "G2"]
    assert out["grid_code"].tolist()[4:] == ["G1", "G3", "G1"]
    assert out["grid_code"].isna().tolist() == [False, False, True, True, False, False, False]
    assert out["subdistrict_code"].isna().tolist() == [False, False, True, True, False, True, False]
    assert out["outside_district"].tolist() == [False, False, True, True, False, True, False]
    assert set(cache) == {"subdistrict", "grid"}
    again = assign_points(pd.Series(lon, index=list("abcdefg")), pd.Series(lat), {"grid": grid}, cache)
    assert list(again.index) == list("abcdefg")
    assert again["outside_district"].tolist() == [False, False, True, True, False, False, False]


def test_assign_points_integer_codes_and_identity_cache():
    grid = gpd.GeoDataFrame({"grid_code": [10, 20]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
                            crs="EPSG:4326")
    out = assign_points([0.5, 9.0, 1.5], [0.5, 9.0, 0.5], {"grid": grid})
    assert out["grid_code"].tolist()[::2] == [10, 20]
    assert out["grid_code"].isna().tolist() == [False, True, False]
    assert index_for(grid) is index_for(grid)
