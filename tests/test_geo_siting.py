"""geo.siting: exact MCLP/LSCP against brute force, reduction, greedy, explanations and exports."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
import scipy.sparse as sp

from geo.coverage import StationSet, compute_coverage, coverage_delta, demand_from_layers, make_demand
from geo.crs import distance_m, lonlat_to_metric, metric_to_lonlat
from geo.siting import (
    candidates_from_buildings,
    candidates_from_grids,
    candidates_from_points,
    concat_candidates,
    coverage_matrix,
    greedy_lscp,
    greedy_mclp,
    plan_lscp,
    plan_mclp,
    prepare_siting,
    read_candidate_table,
    reduce_problem,
    siting_summary_frame,
    solve_lscp,
    solve_mclp,
)

X0, Y0 = (float(v[0]) for v in lonlat_to_metric(np.array([113.93]), np.array([22.77])))


def _random_instance(seed: int, n: int = 30, m: int = 10, density: float = 0.2):
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)) < density
    dense[rng.integers(0, n, 3)] = False  # some rows nobody reaches
    dense[:, rng.integers(0, m)] = dense[:, rng.integers(0, m)]  # a duplicate column
    w = rng.integers(0, 20, n).astype(float)
    return sp.csc_matrix(dense.astype(np.int8)), w, dense


def _brute_mclp(dense: np.ndarray, w: np.ndarray, k: int) -> float:
    best = 0.0
    for combo in itertools.combinations(range(dense.shape[1]), min(k, dense.shape[1])):
        best = max(best, float(w[dense[:, list(combo)].any(axis=1)].sum()))
    return best


def _brute_lscp(dense: np.ndarray, required: np.ndarray) -> int:
    need = required & dense.any(axis=1)
    if not need.any():
        return 0
    for size in range(1, dense.shape[1] + 1):
        for combo in itertools.combinations(range(dense.shape[1]), size):
            if dense[need][:, list(combo)].any(axis=1).all():
                return size
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(12))
def test_mclp_matches_brute_force_and_greedy_is_not_better(seed):
    A, w, dense = _random_instance(seed)
    for k in (1, 2, 3, 4):
        best = _brute_mclp(dense, w, k)
        for reduce in (True, False):
            res = solve_mclp(A, w, k, reduce=reduce, time_limit_s=10)
            assert res.status == "optimal" and res.mip_gap == pytest.approx(0, abs=1e-9)
            assert res.objective == pytest.approx(best)
            assert len(res.chosen) <= k and len(set(res.chosen.tolist())) == len(res.chosen)
            # the reported objective is what the chosen columns really cover
            assert float(w[dense[:, res.chosen].any(axis=1)].sum()) == pytest.approx(best)
            assert res.gains.sum() == pytest.approx(best) and (np.diff(res.gains) <= 1e-9).all()
        g = greedy_mclp(A, w, k)
        assert g.objective <= best + 1e-9
        assert float(w[dense[:, g.chosen].any(axis=1)].sum()) == pytest.approx(g.objective)


@pytest.mark.parametrize("seed", range(12))
def test_lscp_matches_brute_force_and_reports_unreachable(seed):
    A, w, dense = _random_instance(seed, n=25, m=10, density=0.25)
    required = w > 3
    best = _brute_lscp(dense, required)
    res = solve_lscp(A, required, w, time_limit_s=10)
    assert res.status == "optimal" and res.objective == best == len(res.chosen)
    need = required & dense.any(axis=1)
    assert dense[need][:, res.chosen].any(axis=1).all()
    np.testing.assert_array_equal(np.sort(res.unreachable), np.flatnonzero(required & ~dense.any(axis=1)))
    g = greedy_lscp(A, required, w)
    assert g.objective >= best
    assert dense[need][:, g.chosen].any(axis=1).all()


def test_greedy_is_beaten_on_the_textbook_instance():
    # rows a..f weight 1; c0 = {a,b,c,d}, c1 = {a,b,e}, c2 = {c,d,f}. Greedy takes c0 then one more: 5.
    dense = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=bool)
    A, w = sp.csc_matrix(dense.astype(np.int8)), np.ones(6)
    g = greedy_mclp(A, w, 2)
    assert g.objective == 5 and g.chosen[0] == 0
    ex = solve_mclp(A, w, 2)
    assert ex.objective == 6 and sorted(ex.chosen.tolist()) == [1, 2]
    # LSCP: c1 + c2 cover everything; greedy needs three.
    assert solve_lscp(A, np.ones(6, bool)).objective == 2
    assert greedy_lscp(A, np.ones(6, bool)).objective == 3


def test_reduction_merges_rows_and_drops_dominated_and_empty_columns():
    dense = np.array([
        [1, 1, 0, 0, 0],   # rows 0 and 1 are identical -> one row, weight 5
        [1, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],   # nobody reaches it
        [0, 0, 0, 0, 1],   # weight zero: dropped, so column 4 covers nothing
    ], dtype=np.int8)
    w = np.array([2.0, 3.0, 4.0, 1.0, 7.0, 0.0])
    red = reduce_problem(sp.csc_matrix(dense), w)
    # column 0 ⊂ column 1, column 3 and 4 empty -> columns 1, 2 remain
    assert red.columns.tolist() == [1, 2]
    assert red.A.shape == (3, 2) and sorted(red.weight.tolist()) == [1.0, 4.0, 5.0]
    assert red.unreachable.tolist() == [4]
    assert red.stats["cols_dominated"] == 1 and red.stats["cols_empty"] == 2
    # LSCP row dominance: row {1,2} is implied by row 3 ({2}) -> dropped
    red_l = reduce_problem(sp.csc_matrix(dense), w, "lscp", required=w > 0)
    assert red_l.stats["rows_dominated"] >= 1
    assert solve_lscp(sp.csc_matrix(dense), w > 0).objective == 2


def test_k_larger_than_useful_returns_only_useful_sites():
    dense = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.int8)
    res = solve_mclp(sp.csc_matrix(dense), np.array([1.0, 1.0, 1.0]), 3)
    assert res.objective == 3 and sorted(res.chosen.tolist()) == [0, 1]
    assert solve_mclp(sp.csc_matrix(dense), np.ones(3), 0).chosen.size == 0


def test_coverage_matrix_is_the_distance_test():
    rng = np.random.default_rng(5)
    sites = rng.uniform(0, 3000, (12, 2))
    ang = rng.uniform(0, 2 * np.pi, 24)
    pts = [sites[i % 12] + r * np.array([np.cos(a), np.sin(a)]) for i, a in enumerate(ang) for r in (499.9, 500.1)]
    demand = np.vstack([np.array(pts), rng.uniform(0, 3000, (400, 2))])
    A = coverage_matrix(demand, sites, 500.0).toarray().astype(bool)
    dist = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    np.testing.assert_array_equal(A, dist <= 500.0)
    assert A[0, 0] and not A[1, 0]  # 499.9 m in, 500.1 m out


# ------------------------------------------------------------------------------------------ geometry layer
GRIDS = pd.DataFrame({"code": ["G1", "G2"], "name": ["g1", "g2"], "parent_code": ["C1", "C1"]})
COMMS = pd.DataFrame({"code": ["C1"], "name": ["c1"], "parent_code": ["S1"]})
SUBS = pd.DataFrame({"code": ["S1"], "name": ["s1"], "parent_code": ["D"]})


def _lonlat(dx, dy):
    return metric_to_lonlat(X0 + np.asarray(dx, float), Y0 + np.asarray(dy, float))


def _world():
    """Buildings along a line; one existing station at 0 m; candidates every 400 m from 50 m (no distance is
    exactly 500 m); one building 9 km away that no candidate reaches."""
    dx = np.array([0, 300, 1000, 1100, 1900, 2000, 2800, 3000, 9000, 1500])
    pop = np.array([50, 40, 30, 60, 20, 25, 70, 10, 15, 0])
    lon, lat = _lonlat(dx, np.zeros(len(dx)))
    d = make_demand([f"B{i}" for i in range(len(dx))], lon, lat, pop, ["G1"] * 5 + ["G2"] * 5, GRIDS, COMMS, SUBS,
                    district_code="D", district_name="d")
    slon, slat = _lonlat([0.0], [0.0])
    st = StationSet.from_arrays(["S0"], slon, slat, name=["hall"])
    clon, clat = _lonlat(np.arange(50, 3651, 400), np.zeros(10))
    cands = candidates_from_points(clon, clat, ids=[f"c{i}" for i in range(10)])
    return d, st, cands


def test_plan_mclp_counts_only_new_people_and_explains_each_site():
    d, st, cands = _world()
    inst = prepare_siting(d, st, cands, 500.0, "appeal")
    assert inst.covered_before.tolist()[:2] == [True, True] and inst.weight[0] == 0
    scen = plan_mclp(inst, 2, "exact")
    # New people per candidate: c2 {B2,B3} 90, c3 {B2,B3,B9(empty)} 90, c4 {B4,B5} 45, c5 {B4,B5} 45,
    # c6 {B5,B6} 95, c7 {B6,B7} 80, c8 {B6,B7} 80. Best pair: c6 + c2 (or c3) = 185.
    assert scen.summary["objective"] == 185 and scen.summary["status"] == "optimal"
    assert scen.sites["candidate_id"].iloc[0] == "c6" and scen.sites["candidate_id"].iloc[1] in ("c2", "c3")
    assert scen.sites["gain_population"].tolist() == [95, 90]
    assert scen.sites["gain_buildings"].tolist()[0] == 2
    assert scen.sites["nearest_station_code"].tolist() == ["S0", "S0"]
    exp = distance_m(scen.sites["lon"].to_numpy(), scen.sites["lat"].to_numpy(), st.lon[[0, 0]], st.lat[[0, 0]])
    np.testing.assert_allclose(scen.sites["nearest_station_m"], exp, atol=0.1)
    assert scen.summary["population_covered_before"] == 90
    assert scen.summary["population_covered_after"] == 275
    # Applying the sites as stations gains exactly the objective.
    before = compute_coverage(d, st, "appeal")
    after = compute_coverage(d, scen.apply_to(st), "appeal")
    assert coverage_delta(d, before, after)["population_gained"] == 185
    greedy = plan_mclp(inst, 2, "greedy")
    assert greedy.summary["objective"] <= scen.summary["objective"]
    assert siting_summary_frame({"greedy": greedy, "exact": scen})["objective"].tolist() == [
        greedy.summary["objective"], 185]


def test_plan_lscp_covers_everyone_reachable_and_lists_the_rest():
    d, st, cands = _world()
    inst = prepare_siting(d, st, cands, 500.0, "appeal")
    scen = plan_lscp(inst, "exact")
    # Uncovered populated: B2..B7 and B8 (9 km away, nobody reaches it). No two candidates cover B2..B7
    # (B2,B3 need c2/c3; B4 needs c4/c5; B7 needs c7/c8), three do.
    assert scen.summary["objective"] == 3 and scen.summary["status"] == "optimal"
    assert scen.unreachable["code"].tolist() == ["B8"]
    assert scen.summary["unreachable_population"] == 15
    after = compute_coverage(d, scen.apply_to(st), "appeal")
    populated = d.population > 0
    assert after.covered[populated].sum() == populated.sum() - 1
    assert plan_lscp(inst, "greedy").summary["objective"] >= 3


def test_scenario_exports_parse_back():
    d, st, cands = _world()
    scen = plan_mclp(prepare_siting(d, st, cands), 2)
    doc = json.loads(scen.to_geojson())
    assert doc["type"] == "FeatureCollection" and doc["summary"]["objective"] == 185
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("site") == 2 and kinds.count("unreachable") == 1
    site = next(f for f in doc["features"] if f["properties"]["kind"] == "site")
    assert site["geometry"]["coordinates"] == pytest.approx([site["properties"]["lon"], site["properties"]["lat"]])
    back = pd.read_csv(io.BytesIO(scen.to_csv()), encoding="utf-8-sig")
    assert back["candidate_id"].tolist() == scen.sites["candidate_id"].tolist()
    wb = openpyxl.load_workbook(io.BytesIO(scen.to_xlsx()))
    assert wb.sheetnames == ["summary", "sites", "unreachable"]
    sheets = pd.read_excel(io.BytesIO(scen.to_xlsx()), sheet_name=None)
    assert sheets["sites"]["gain_population"].sum() == 185
    assert sheets["unreachable"]["code"].tolist() == ["B8"]


def test_candidate_table_upload_rejects_bad_rows_and_converts_gcj02():
    table = pd.DataFrame({"名称": ["a", "b", "c", "d", "e"], "经度": [113.93, "x", None, 200.0, 113.95],
                          "纬度": [22.77, 22.7, 22.7, 22.7, 22.78]})
    cands, rejected = read_candidate_table(table)
    assert cands.id.tolist() == ["a", "e"] and (cands.source == "upload").all()
    assert rejected["名称"].tolist() == ["b", "c", "d"]
    assert set(rejected["reason"]) == {"missing or non-numeric lon/lat", "lon/lat out of range"}
    gcj, _ = read_candidate_table(pd.DataFrame({"lon": [113.93], "lat": [22.77]}), system="gcj02")
    shift = distance_m(gcj.lon, gcj.lat, np.array([113.93]), np.array([22.77]))[0]
    assert 300 < shift < 900  # the GCJ-02 offset in Shenzhen is more than the radius
    _, out = read_candidate_table(pd.DataFrame({"lon": [114.5], "lat": [22.77]}), bounds=(113.8, 22.65, 114.05, 22.88))
    assert out["reason"].tolist() == ["outside the district's bounds"]
    with pytest.raises(ValueError):
        read_candidate_table(pd.DataFrame({"a": [1], "b": [2]}))


def test_sample_district_grid_instance(layers):
    d = demand_from_layers(layers, "grid")
    st = StationSet.from_frame(layers["station"])
    cands = concat_candidates(candidates_from_buildings(layers["building"], n=1500, seed=2),
                              candidates_from_grids(layers["grid"]))
    assert len(cands) == 1500 + 1734
    inst = prepare_siting(d, st, cands, 500.0, "appeal")
    exact = solve_mclp(inst.A, inst.weight, 10, time_limit_s=20)
    plain = solve_mclp(inst.A, inst.weight, 10, time_limit_s=20, reduce=False)
    assert exact.status == plain.status == "optimal"
    assert exact.objective == pytest.approx(plain.objective, rel=1e-9)
    assert exact.reduced_cols < inst.A.shape[1] / 2
    assert greedy_mclp(inst.A, inst.weight, 10).objective <= exact.objective + 1e-6
    lscp = plan_lscp(inst, "exact", time_limit_s=20)
    assert lscp.summary["status"] == "optimal"
    assert lscp.summary["population_covered_after"] + lscp.summary["unreachable_population"] == pytest.approx(
        d.population.sum())
