"""geo.coverage: the distance test, tables per level, what-if edits, map aggregates and exports."""

from __future__ import annotations

import io

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from geo.coverage import (
    SERVICES,
    StationSet,
    compute_coverage,
    coverage_delta,
    coverage_report,
    coverage_table,
    demand_from_layers,
    make_demand,
    service_circles,
    to_csv_bytes,
    to_xlsx_bytes,
    uncovered_by_grid,
    uncovered_cells,
)
from geo.crs import area_m2, geometry_to_metric, lonlat_to_metric, metric_to_lonlat

X0, Y0 = (float(v[0]) for v in lonlat_to_metric(np.array([113.93]), np.array([22.77])))

GRIDS = pd.DataFrame({"code": ["G1", "G2", "G3", "G4"], "name": ["g1", "g2", "g3", "g4"],
                      "parent_code": ["C1", "C1", "C2", "C3"]})
COMMUNITIES = pd.DataFrame({"code": ["C1", "C2", "C3"], "name": ["c1", "c2", "c3"], "parent_code": ["S1", "S1", "S2"]})
SUBDISTRICTS = pd.DataFrame({"code": ["S1", "S2"], "name": ["s1", "s2"], "parent_code": ["D", "D"]})


def _demand(dx: np.ndarray, dy: np.ndarray, pop: np.ndarray, grid: list[str]):
    lon, lat = metric_to_lonlat(X0 + np.asarray(dx, float), Y0 + np.asarray(dy, float))
    return make_demand([f"B{i}" for i in range(len(dx))], lon, lat, pop, grid, GRIDS, COMMUNITIES, SUBDISTRICTS,
                       district_code="D", district_name="district")


def _stations(dx: list[float], dy: list[float], **offers: list[bool]) -> StationSet:
    lon, lat = metric_to_lonlat(X0 + np.asarray(dx, float), Y0 + np.asarray(dy, float))
    return StationSet.from_arrays([f"S{i}" for i in range(len(dx))], lon, lat,
                                  offers={k: np.asarray(v) for k, v in offers.items()})


def test_coverage_is_the_exact_distance_test_at_the_boundary():
    rng = np.random.default_rng(3)
    st_dx, st_dy = np.array([0.0, 1800.0, -900.0]), np.array([0.0, 300.0, 1500.0])
    # Points 499.9 m and 500.1 m from each station in many directions, plus random points around.
    ang = rng.uniform(0, 2 * np.pi, 40)
    ring = [(sx + r * np.cos(a), sy + r * np.sin(a), r) for sx, sy in zip(st_dx, st_dy, strict=True)
            for a in ang for r in (499.9, 500.1)]
    ring_dx = np.array([p[0] for p in ring])
    ring_dy = np.array([p[1] for p in ring])
    rand_dx, rand_dy = rng.uniform(-2000, 3000, 3000), rng.uniform(-1500, 2500, 3000)
    dx, dy = np.r_[ring_dx, rand_dx], np.r_[ring_dy, rand_dy]
    d = _demand(dx, dy, np.ones(len(dx)), ["G1"] * len(dx))
    st = _stations(list(st_dx), list(st_dy))
    res = compute_coverage(d, st, "appeal", 500.0)

    dist = np.hypot((X0 + dx)[:, None] - (X0 + st_dx)[None, :], (Y0 + dy)[:, None] - (Y0 + st_dy)[None, :])
    np.testing.assert_array_equal(res.n_within, (dist <= 500.0).sum(axis=1))
    np.testing.assert_array_equal(res.covered, (dist <= 500.0).any(axis=1))
    # The boundary points specifically (no other station is near them).
    near = np.array([p[2] for p in ring])
    lonely = (dist[: len(ring)] <= 600).sum(axis=1) == 1
    assert res.covered[: len(ring)][lonely & (near == 499.9)].all()
    assert not res.covered[: len(ring)][lonely & (near == 500.1)].any()


def test_a_point_the_drawn_circle_misses_is_still_covered():
    # 499.7 m at a bearing halfway between two vertices of a 16-segment-per-quadrant buffer.
    st = _stations([0.0], [0.0])
    a = np.pi / 2 / 16 / 2
    d = _demand(np.array([499.7 * np.cos(a)]), np.array([499.7 * np.sin(a)]), np.array([5.0]), ["G1"])
    circle = service_circles(st, 500.0, quad_segs=16).geometry.iloc[0]
    assert not circle.contains(shapely.Point(d.lon[0], d.lat[0]))
    assert compute_coverage(d, st, None, 500.0).covered[0]


def _tiny():
    """Ten buildings in four grids; S0 at the origin covers what lies within 500 m of it."""
    dx = np.array([0, 100, 200, 700, 50, 900, 0, 2000, 2100, 30])
    dy = np.array([0, 0, 0, 0, 400, 0, 450, 0, 0, -30])
    pop = np.array([10, 20, 30, 40, 0, 5, 7, 100, 0, 3])
    grid = ["G1", "G1", "G1", "G1", "G2", "G2", "G2", "G3", "G3", "G4"]
    return _demand(dx, dy, pop, grid)


def test_tables_per_level_by_hand():
    d = _tiny()
    st = _stations([0.0], [0.0])
    res = compute_coverage(d, st, "appeal")
    # covered: B0,B1,B2,B4,B6,B9 ; not: B3(700m), B5(900m), B7, B8
    np.testing.assert_array_equal(res.covered, [1, 1, 1, 0, 1, 0, 1, 0, 0, 1])
    dist = coverage_table(d, res, "district").iloc[0]
    assert dist["population"] == 215 and dist["population_covered"] == 70
    assert dist["population_uncovered"] == 145
    assert dist["buildings"] == 10 and dist["buildings_covered"] == 6
    assert dist["population_share"] == pytest.approx(70 / 215)
    # grids: G1 has uncovered populated B3 -> not covered; G2: B5 (5 people) uncovered -> not covered;
    # G3: B7 uncovered -> not; G4: covered. Every grid has people, so 1 of 4.
    assert (dist["grids"], dist["grids_covered"]) == (4, 1)

    comm = coverage_table(d, res, "community").set_index("code")
    assert comm.loc["C1", "population"] == 112 and comm.loc["C1", "population_covered"] == 67
    assert comm.loc["C1", "grids"] == 2 and comm.loc["C1", "grids_covered"] == 0
    assert comm.loc["C3", "grids_covered"] == 1 and comm.loc["C3", "grids_share"] == 1.0
    sub = coverage_table(d, res, "subdistrict").set_index("code")
    assert sub.loc["S1", "population"] == 212 and sub.loc["S2", "population"] == 3
    # Every level adds up to the district.
    for level in ("subdistrict", "community", "grid"):
        t = coverage_table(d, res, level)
        assert t["population_covered"].sum() == 70 and t["grids_covered"].sum() == 1
        assert t["buildings"].sum() == 10


def test_grid_without_people_is_not_counted_and_zero_population_buildings_do_not_block():
    d = _tiny()
    # A station at B7 covers B7 and B8 (B8 has nobody); G3 becomes covered.
    st = _stations([0.0, 2000.0], [0.0, 0.0])
    res = compute_coverage(d, st, None)
    row = coverage_table(d, res, "grid").set_index("code").loc["G3"]
    assert row["grids"] == 1 and row["grids_covered"] == 1
    # Make G3's only populated building empty: the grid then has no people and leaves the count.
    pop = d.population.copy()
    pop[7] = 0
    d2 = make_demand(d.code, d.lon, d.lat, pop, ["G1", "G1", "G1", "G1", "G2", "G2", "G2", "G3", "G3", "G4"],
                     GRIDS, COMMUNITIES, SUBDISTRICTS)
    row2 = coverage_table(d2, compute_coverage(d2, st, None), "grid").set_index("code").loc["G3"]
    assert row2["grids"] == 0 and np.isnan(row2["grids_share"])


def test_services_filter_stations():
    d = _tiny()
    st = _stations([0.0, 2000.0], [0.0, 0.0], appeal=[True, False], legal=[False, True],
                   psychological=[False, False])
    rep = coverage_report(d, st, SERVICES)
    dist = rep["district"].set_index("service")
    assert dist.loc["appeal", "population_covered"] == 70
    assert dist.loc["legal", "population_covered"] == 100
    assert dist.loc["psychological", "population_covered"] == 0
    assert dist.loc["psychological", "stations"] == 0
    assert set(rep) == {"district", "subdistrict", "community"}


def test_what_if_remove_move_add():
    d = _tiny()
    st = _stations([0.0, 2000.0], [0.0, 0.0])
    base = compute_coverage(d, st, None)
    assert base.covered.sum() == 8

    removed = st.remove("S1")
    after = compute_coverage(d, removed, None)
    delta = coverage_delta(d, base, after)
    assert delta["population_lost"] == 100 and delta["buildings_lost"] == 2 and delta["population_gained"] == 0

    # Move S0 800 m east: B3 (100 m) and B5 (100 m) gain; B0-B2 (>= 600 m), B4, B6, B9 lose.
    lon, lat = metric_to_lonlat(np.array([X0 + 800.0]), np.array([Y0]))
    moved = st.move("S0", float(lon[0]), float(lat[0]))
    m = compute_coverage(d, moved, None)
    np.testing.assert_array_equal(m.covered, [0, 0, 0, 1, 0, 1, 0, 1, 1, 0])
    assert len(moved) == 2 and moved.code.tolist() == ["S0", "S1"]

    # Add a station 450 m north: B6 (450 m away) was covered already; B4 now has two stations.
    lon, lat = metric_to_lonlat(np.array([X0]), np.array([Y0 + 450.0]))
    added = st.add(float(lon[0]), float(lat[0]), services=["legal"])
    assert added.code[-1] == "NEW-001" and added.offers["legal"][-1] and not added.offers["appeal"][-1]
    assert compute_coverage(d, added, "appeal").n_within[4] == 1
    assert compute_coverage(d, added, "legal").n_within[4] == 2
    assert compute_coverage(d, added, None).covered.sum() == 8

    with pytest.raises(KeyError):
        st.remove("nope")
    with pytest.raises(ValueError):
        st.add(113.9, 22.7, code="S0")
    with pytest.raises(ValueError):
        compute_coverage(d, st, "appeal", radius_m=0)


def test_no_stations_covers_nobody():
    d = _tiny()
    empty = _stations([0.0], [0.0]).remove("S0")
    res = compute_coverage(d, empty, "appeal")
    assert not res.covered.any() and res.n_stations == 0
    assert coverage_table(d, res).iloc[0]["population_share"] == 0.0


def test_uncovered_aggregates_add_up():
    d = _tiny()
    res = compute_coverage(d, _stations([0.0], [0.0]), None)
    cells = uncovered_cells(d, res, 250.0)
    grids = uncovered_by_grid(d, res)
    assert cells["buildings"].sum() == 4 and cells["population"].sum() == 145
    assert grids["buildings"].sum() == 4 and grids["population"].sum() == 145
    g = grids.set_index("code")
    assert set(g.index) == {"G1", "G2", "G3"}
    assert g.loc["G2", "population"] == 5
    # G3's representative point is people-weighted: B7 holds all 100, so it sits on B7.
    assert g.loc["G3", "lon"] == pytest.approx(d.lon[7]) and g.loc["G3", "lat"] == pytest.approx(d.lat[7])
    # cell centres are cell_m apart on the metric lattice
    cx, cy = lonlat_to_metric(cells["cell_lon"].to_numpy(), cells["cell_lat"].to_numpy())
    assert np.allclose((np.asarray(cx) / 125.0) % 2, 1.0, atol=1e-6)
    full = compute_coverage(d, _stations([0.0, 800.0, 2000.0], [0.0, 0.0, 0.0]), None)
    assert uncovered_cells(d, full).empty and uncovered_by_grid(d, full).empty


def test_service_circles_are_drawn_in_lonlat_with_the_right_area():
    st = _stations([0.0, 3000.0], [0.0, 0.0], psychological=[True, False])
    circles = service_circles(st, 500.0, service="psychological", quad_segs=32)
    assert len(circles) == 1 and circles.crs.to_epsg() == 4326
    assert area_m2(circles.geometry.values)[0] == pytest.approx(np.pi * 500**2, rel=2e-3)
    metric = geometry_to_metric(circles.geometry.values[0])
    assert metric.centroid.distance(shapely.Point(X0, Y0)) < 0.01


def test_exports_parse_back():
    d = _tiny()
    rep = coverage_report(d, _stations([0.0], [0.0]))
    csv = to_csv_bytes(rep["community"])
    assert csv.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(csv), encoding="utf-8-sig", dtype={"code": str, "parent_code": str})
    assert back["population_covered"].tolist() == rep["community"]["population_covered"].tolist()
    assert back["code"].tolist() == rep["community"]["code"].tolist()
    xlsx = to_xlsx_bytes(rep)
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert wb.sheetnames == ["district", "subdistrict", "community"]
    sheets = pd.read_excel(io.BytesIO(xlsx), sheet_name=None)
    assert sheets["district"]["population"].iloc[0] == 215
    circles = service_circles(_stations([0.0], [0.0]))
    wkt = pd.read_csv(io.BytesIO(to_csv_bytes(circles)), encoding="utf-8-sig")["geometry_wkt"].iloc[0]
    assert shapely.from_wkt(wkt).geom_type == "Polygon"


def test_sample_district_coverage_matches_brute_force(layers):
    d = demand_from_layers(layers)
    assert len(d) == 60_000 and d.population.sum() == 1_400_000
    assert (d.level_idx["grid"] >= 0).all() and (d.level_idx["subdistrict"] >= 0).all()
    st = StationSet.from_frame(layers["station"])
    res = compute_coverage(d, st, "appeal")
    sxy = st.for_service("appeal").xy
    count = np.zeros(len(d), dtype=np.int64)
    for chunk in np.array_split(np.arange(len(d)), 10):
        dist = np.hypot(d.x[chunk, None] - sxy[None, :, 0], d.y[chunk, None] - sxy[None, :, 1])
        count[chunk] = (dist <= 500.0).sum(axis=1)
    np.testing.assert_array_equal(res.n_within, count)
    table = coverage_table(d, res, "subdistrict")
    assert len(table) == 6 and table["population"].sum() == 1_400_000
    assert table["population_covered"].sum() == int(d.population[count > 0].sum())
    grid_demand = demand_from_layers(layers, "grid")
    assert len(grid_demand) == 1734 and grid_demand.population.sum() == 1_400_000
