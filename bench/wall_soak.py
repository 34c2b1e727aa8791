"""Benchmark: the wall display's data path through a simulated working day, for memory growth.

A fresh SQLite store (or PostGIS with --store) is seeded with the sample history; then simulated time
advances in refresh steps (default 10 s for 8 hours = 2,880 refreshes) while ``services.simulate`` writes
new appeals and moves open ones through their lifecycle, and every step runs exactly what the page runs
per refresh: ``wall.snapshot`` and the map's JSON. Resident memory is read from /proc before and after
(after a warm-up hour is subtracted, so caches that fill once do not count as growth).

Ends with one JSON line:
{"bench": "wall_soak", "refreshes": …, "simulated_hours": …, "rss_start_mb": …, "rss_end_mb": …,
 "rss_growth_mb": …, "growth_mb_per_hour": …, "median_refresh_ms": …}
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from geo import mapview  # noqa: E402
from services import district, wall  # noqa: E402
from services.clocks import TZ  # noqa: E402
from services.seed import ensure_seeded  # noqa: E402
from services.simulate import Simulator  # noqa: E402
from services.store import create_store  # noqa: E402


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=8.0, help="simulated hours (default 8)")
    p.add_argument("--refresh-s", type=float, default=10.0, help="simulated seconds between refreshes")
    p.add_argument("--rate", type=float, default=0.02, help="new appeals per simulated second (default 0.02)")
    p.add_argument("--store", help="store URL (default: a fresh SQLite file in a temp folder)")
    p.add_argument("--seed", type=int, default=11)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gm-soak-") as tmp:
        store = create_store(a.store or f"sqlite:///{tmp}/soak.sqlite3")
        ensure_seeded(store)
        sim = Simulator(store, np.random.default_rng(a.seed), rate_per_s=a.rate)
        view = mapview.view_state(district.bounds(None), width_px=960, height_px=800)
        now = datetime.now(TZ)
        steps = int(a.hours * 3600 / a.refresh_s)
        warm = min(steps // 8, int(3600 / a.refresh_s))
        times: list[float] = []
        start_rss = None
        t_wall = time.perf_counter()
        for i in range(steps):
            now += timedelta(seconds=a.refresh_s)
            sim.step(now)
            t0 = time.perf_counter()
            snap = wall.snapshot(store, now)
            wall.wall_deck(snap, "zh", view).to_json()
            times.append((time.perf_counter() - t0) * 1000)
            if i == warm:
                gc.collect()
                start_rss = rss_mb()
            if i % max(steps // 8, 1) == 0:
                print(f"simulated {i * a.refresh_s / 3600:4.1f} h: rss {rss_mb():7.1f} MB, refresh {times[-1]:6.1f} ms, "
                      f"open points {len(snap.points)}, received today {snap.kpis['received']}", flush=True)
        gc.collect()
        end_rss = rss_mb()
        store.close()
    hours_measured = (steps - warm) * a.refresh_s / 3600
    growth = end_rss - (start_rss or end_rss)
    result = {"bench": "wall_soak", "refreshes": steps, "simulated_hours": a.hours,
              "rss_start_mb": round(start_rss or 0, 1), "rss_end_mb": round(end_rss, 1),
              "rss_growth_mb": round(growth, 1), "growth_mb_per_hour": round(growth / max(hours_measured, 1e-9), 2),
              "median_refresh_ms": round(statistics.median(times), 1),
              "real_seconds": round(time.perf_counter() - t_wall, 1), "simulator": sim.summary()}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
