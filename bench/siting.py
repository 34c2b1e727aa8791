"""Benchmark: maximal covering (MCLP) with geo.siting (HiGHS, reduced sparse model) against spopt (PuLP + CBC).

Run from the repo root: ``python bench/siting.py [--k 20] [--radius 500] [--candidates 3000] [--seed 1]
[--service appeal] [--repeat 5] [--skip-spopt]``. Prints human-readable figures, then exactly one JSON
line (the last line of output).

The instance: demand is the sample district's 1,734 grid centroids weighted by the population of the
grid's buildings; candidates are a fixed-seed sample of building points; existing stations are those
offering the chosen service (``appeal``: 195 of the 197; ``any``: all 197). spopt knows nothing of
existing stations, so both solvers get the same instance: demand already within the radius of an
existing station has weight zero. Both count a demand point as covered when its distance is <= radius.

What is timed: spopt from the projected coordinates to the solution (dense distance matrix with
scipy's cdist, ``MCLP.from_cost_matrix``, ``solve(PULP_CBC_CMD)``); ours from the same coordinates
to the solution (existing-station coverage and the sparse coverage matrix by KD-tree, reduction, HiGHS
model build and solve), the median of ``--repeat`` runs. Then the same MCLP on all 60,000 buildings
(exact; time and MIP gap), and the median time to recompute 60,000 buildings' coverage for the current
station set (``coverage_ms``: ``compute_coverage``; the time with the district, subdistrict and
community tables is printed too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from geo.coverage import StationSet, compute_coverage, coverage_table, demand_from_layers  # noqa: E402
from geo.siting import candidates_from_buildings, plan_mclp, prepare_siting, solve_mclp  # noqa: E402


def run_spopt(demand_xy: np.ndarray, site_xy: np.ndarray, weights: np.ndarray, radius: float,
              k: int) -> tuple[float, np.ndarray, float]:
    """spopt's MCLP from a dense cost matrix, solved by CBC: (objective, chosen sites, seconds)."""
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    cost = cdist(demand_xy, site_xy)
    model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=k)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False), results=False)
    seconds = time.perf_counter() - t0
    objective = float(pulp.value(model.problem.objective))
    chosen = np.flatnonzero([(v.value() or 0) > 0.5 for v in model.fac_vars])
    return objective, chosen, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20, help="new stations to site (default 20)")
    parser.add_argument("--radius", type=float, default=500.0, help="service radius in metres (default 500)")
    parser.add_argument("--candidates", type=int, default=3000, help="building points sampled as candidates")
    parser.add_argument("--seed", type=int, default=1, help="seed of the candidate sample")
    parser.add_argument("--service", default="appeal", choices=["appeal", "legal", "psychological", "any"],
                        help="existing stations offering this service count (default appeal; any: all)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of ours (median reported)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="HiGHS time limit per solve, seconds")
    parser.add_argument("--skip-spopt", action="store_true", help="do not run spopt (its figures become null)")
    args = parser.parse_args(argv)
    service = None if args.service == "any" else args.service

    from data.sample import load_layers

    layers = load_layers()
    stations = StationSet.from_frame(layers["station"])
    grid_demand = demand_from_layers(layers, "grid")
    building_demand = demand_from_layers(layers, "building")
    cands = candidates_from_buildings(layers["building"], n=args.candidates, seed=args.seed)
    print(f"instance: {len(grid_demand)} grid centroids ({grid_demand.population.sum():,.0f} people), "
          f"{len(cands)} candidate buildings (seed {args.seed}), "
          f"{len(stations.for_service(service))} existing stations ({args.service}), k={args.k}, "
          f"radius={args.radius:g} m")

    # ---- grid instance: ours (median of repeats) against spopt (once)
    times, inst, res = [], None, None
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        inst = prepare_siting(grid_demand, stations, cands, args.radius, service)
        res = solve_mclp(inst.A, inst.weight, args.k, time_limit_s=args.time_limit)
        times.append(time.perf_counter() - t0)
    ours_s = statistics.median(times)
    print(f"ours  (grid): objective {res.objective:,.0f} people newly covered, {len(res.chosen)} sites, "
          f"status {res.status}, gap {res.mip_gap:.2g}, model {res.reduced_rows}x{res.reduced_cols} "
          f"(from {inst.A.shape[0]}x{inst.A.shape[1]}), {ours_s * 1e3:.1f} ms median of {len(times)} "
          f"(HiGHS {res.solve_s * 1e3:.1f} ms)")
    spopt_obj, speedup = None, None
    if not args.skip_spopt:
        spopt_obj, spopt_chosen, spopt_s = run_spopt(grid_demand.xy, cands.xy, inst.weight, args.radius, args.k)
        check = float(inst.weight[np.asarray(inst.A[:, spopt_chosen].sum(axis=1)).ravel() > 0].sum())
        rel = abs(spopt_obj - res.objective) / max(abs(spopt_obj), 1.0)
        speedup = spopt_s / ours_s
        print(f"spopt (grid): objective {spopt_obj:,.0f} (its sites cover {check:,.0f} by our matrix), "
              f"{spopt_s:.2f} s; relative difference {rel:.2e} ({'OK' if rel < 1e-6 else 'MISMATCH'}); "
              f"speed-up {speedup:.0f}x")

    # ---- building instance: exact, time and gap
    t0 = time.perf_counter()
    binst = prepare_siting(building_demand, stations, cands, args.radius, service)
    t1 = time.perf_counter()
    bscen = plan_mclp(binst, args.k, "exact", time_limit_s=args.time_limit)
    buildings_s = time.perf_counter() - t0
    br = bscen.result
    gscen = plan_mclp(binst, args.k, "greedy")
    print(f"ours  (60,000 buildings): objective {br.objective:,.0f}, status {br.status}, gap {br.mip_gap:.2g}, "
          f"model {br.reduced_rows}x{br.reduced_cols} (from {binst.A.shape[0]}x{binst.A.shape[1]}, "
          f"nnz {binst.A.nnz:,}), {buildings_s:.2f} s total (matrix {t1 - t0:.2f} s, reduce+solve "
          f"{br.total_s:.2f} s, HiGHS {br.solve_s:.2f} s); greedy {gscen.result.objective:,.0f} in "
          f"{gscen.result.total_s * 1e3:.0f} ms; coverage {bscen.summary['population_share_before']:.2%} -> "
          f"{bscen.summary['population_share_after']:.2%}")

    # ---- coverage recomputation for the current station set
    cov_times, full_times = [], []
    for _ in range(15):
        t0 = time.perf_counter()
        cov = compute_coverage(building_demand, stations, service, args.radius)
        t1 = time.perf_counter()
        for level in ("district", "subdistrict", "community"):
            coverage_table(building_demand, cov, level)
        t2 = time.perf_counter()
        cov_times.append((t1 - t0) * 1e3)
        full_times.append((t2 - t0) * 1e3)
    coverage_ms = statistics.median(cov_times)
    print(f"coverage of 60,000 buildings ({cov.n_stations} stations): {coverage_ms:.1f} ms median "
          f"(with three level tables {statistics.median(full_times):.1f} ms); "
          f"population share {cov.covered @ building_demand.population / building_demand.population.sum():.2%}")

    out = {"bench": "siting", "grid_objective_ours": res.objective, "grid_objective_spopt": spopt_obj,
           "speedup_vs_spopt": None if speedup is None else round(speedup, 1),
           "buildings_exact_s": round(buildings_s, 3), "buildings_gap": br.mip_gap,
           "coverage_ms": round(coverage_ms, 2)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
