"""Benchmark: point-to-grid assignment with geo.assign against geopandas.sjoin, on the same points.

Run from the repo root: ``python bench/assign.py [--points N] [--seed S] [--synthetic]``. Prints
human-readable figures, then exactly one JSON line (the last line of output).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

from geo.assign import DEFAULT_CELL_DEG, OUTSIDE, PolygonIndex  # noqa: E402


def synthetic_grids(n: int = 1734, seed: int = 7) -> gpd.GeoDataFrame:
    """Stand-in grid layer: ``n`` Voronoi cells tiling a 13 x 12 km box around lon 113.93, lat 22.77."""
    rng = np.random.default_rng(seed)
    w, h = 13_000 / 102_600, 12_000 / 110_750  # degrees of lon / lat at 22.77 N
    x0, y0 = 113.93 - w / 2, 22.77 - h / 2
    box = shapely.box(x0, y0, x0 + w, y0 + h)
    seeds = shapely.multipoints(np.column_stack([x0 + rng.random(n) * w, y0 + rng.random(n) * h]))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box)
    return gpd.GeoDataFrame({"code": [f"G{i:04d}" for i in range(len(cells))]}, geometry=cells, crs="EPSG:4326")


def load_grids(synthetic: bool) -> tuple[gpd.GeoDataFrame, str]:
    """The sample district's grid layer (or the synthetic stand-in) and a label saying which."""
    if synthetic:
        return synthetic_grids(), "synthetic"
    from data.sample import load_layers

    return load_layers()["grid"], "sample"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="number of random points (default 1e6)")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed for the points")
    parser.add_argument("--cell-deg", type=float, default=DEFAULT_CELL_DEG, help="raster cell size, degrees")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of our locate (best is reported)")
    parser.add_argument("--synthetic", action="store_true",
                        help="use 1,734 synthetic Voronoi grids instead of data.sample.load_layers()")
    args = parser.parse_args(argv)

    grids, source = load_grids(args.synthetic)
    grids = grids.to_crs("EPSG:4326").reset_index(drop=True)
    minx, miny, maxx, maxy = grids.total_bounds
    rng = np.random.default_rng(args.seed)
    lon = minx + rng.random(args.points) * (maxx - minx)
    lat = miny + rng.random(args.points) * (maxy - miny)

    t = time.perf_counter()
    index = PolygonIndex.from_frame(grids, cell_deg=args.cell_deg)
    build_s = time.perf_counter() - t

    ours_s = float("inf")
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        ours = index.locate(lon, lat)
        ours_s = min(ours_s, time.perf_counter() - t)

    t = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(points, grids[["geometry"]], predicate="intersects", how="left")
    sjoin_s = time.perf_counter() - t
    right = joined["index_right"]
    expected = right.groupby(level=0).min().reindex(range(args.points)).fillna(OUTSIDE).to_numpy(np.int64)

    mismatches = int(np.count_nonzero(ours != expected))
    ours_pps = args.points / ours_s
    sjoin_pps = args.points / sjoin_s
    print(f"layer: {source} grid, {len(grids)} polygons; points: {args.points:,} (seed {args.seed})")
    print(f"index build: {build_s:.3f} s; raster {index.nx} x {index.ny} cells of {index.cell:g} deg, "
          f"{index.boundary_fraction:.1%} boundary cells")
    print(f"ours : {ours_s:.3f} s  {ours_pps:,.0f} points/s (best of {max(1, args.repeat)})")
    print(f"sjoin: {sjoin_s:.3f} s  {sjoin_pps:,.0f} points/s")
    print(f"outside: {int(np.count_nonzero(ours == OUTSIDE)):,}; mismatches vs sjoin: {mismatches}")
    if mismatches:
        print("FAIL: results differ from geopandas.sjoin", file=sys.stderr)
    print(json.dumps({"bench": "assign", "points": args.points, "points_per_s": round(ours_pps),
                      "ratio_vs_sjoin": round(ours_pps / sjoin_pps, 2), "index_build_s": round(build_s, 3)}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
