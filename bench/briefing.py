"""Benchmark: the daily briefing of the whole district (services.briefing.jobs.make: content, map, PDF)
from a store of 1M appeals.

Each store (a fresh SQLite file; PostGIS in a fresh schema at TEST_DATABASE_URL or DATABASE_URL unless
--no-postgis) is filled with --appeals appeals resampled from the sample's history over the year before
the report day (bench/analysis.py's maker, open ones among the last two days), plus --orders appeals of
the report day taken through the loop with an order each (accepted, ordered, checked in, some late), so
that every section of the briefing has something to show. The report day is yesterday; the briefing is
made at 07:00 today, as the timer does.

Timed: one make after a warm-up make of the same day (the first also counts the analysis summary), as
the median of --repeat; and, as the baseline in the same process, the same make from a store of
--baseline appeals. Goal: under 10 s at 1M appeals, and a PDF under 3 MB.

Ends with one JSON line:
{"bench": "briefing", "appeals": 1000000, "seconds": …, "pdf_bytes": …, "png_bytes": …, …}
where seconds is the slower store's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.analysis import LIFECYCLE, year_of_appeals  # noqa: E402
from bench.common import postgis_url  # noqa: E402
from bench.wall import make_appeals  # noqa: E402
from services import district  # noqa: E402
from services.briefing import jobs  # noqa: E402
from services.clocks import TZ  # noqa: E402
from services.seed import seed_reference  # noqa: E402
from services.store.base import Store  # noqa: E402

GOAL_S, GOAL_PDF = 10.0, 3_000_000


def orders_of_the_day(store: Store, n: int, seed: int, day_start: datetime) -> int:
    """n appeals of the report day accepted and ordered to one or two departments, checked in (about one
    in six late, one in ten not at all)."""
    import pandas as pd

    rng = np.random.default_rng(seed + 5)
    frame = make_appeals(n, seed + 6)
    frame["source"], frame["external_id"] = "bench-briefing-orders", [f"BRO-{i:06d}" for i in range(n)]
    frame["status"] = "reported"
    for col in LIFECYCLE:
        if col in frame:
            frame[col] = pd.NaT
    frame["reported_at"] = pd.Timestamp(day_start) + pd.to_timedelta(rng.integers(0, 20 * 3600, n), unit="s")
    ids = store.insert_appeals(frame).ids
    departments = sorted(district.names("department", "zh", store))
    for aid, reported in zip(ids, frame["reported_at"], strict=True):
        at = pd.Timestamp(reported).to_pydatetime() + timedelta(minutes=int(rng.integers(2, 30)))
        store.act(aid, "accept", "duty_officer", at=at)
        deps = list(rng.choice(departments, size=int(rng.integers(1, 3)), replace=False))
        order = store.issue_order(aid, deps, issued_by="community_handler", at=at + timedelta(minutes=5))
        limit = float(order.get("arrival_minutes") or 60)
        for dep in deps:
            if rng.random() < 0.1:
                continue
            arrive = at + timedelta(minutes=5 + limit * float(rng.uniform(0.2, 1.4)))
            store.check_in(int(order["id"]), dep, at=arrive.replace(microsecond=0))
    return len(ids)


def fill(store: Store, appeals: int, orders: int, seed: int, day_start: datetime) -> None:
    seed_reference(store)
    frame = year_of_appeals(appeals, seed, day_start + timedelta(days=1))
    with store.bulk_load(len(frame)) as load:
        for i in range(0, len(frame), 100_000):
            load.add(frame.iloc[i:i + 100_000])
    orders_of_the_day(store, orders, seed, day_start)


def timed_make(store: Store, out: Path, day_start: datetime, repeat: int) -> dict[str, Any]:
    """Median seconds of one make (after a warm-up), and the sizes of its files."""
    now = day_start + timedelta(days=1, hours=7)
    jobs.make(store, day_start.date(), out_dir=out, now=now)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        paths = jobs.make(store, day_start.date(), out_dir=out, now=now)
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "pdf_bytes": paths["pdf"].stat().st_size,
            "png_bytes": paths["png"].stat().st_size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--appeals", type=int, default=1_000_000, help="appeals in each store")
    p.add_argument("--baseline", type=int, default=10_000, help="appeals of the baseline store")
    p.add_argument("--orders", type=int, default=300, help="ordered appeals of the report day")
    p.add_argument("--repeat", type=int, default=3, help="timed makes (median)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--no-postgis", action="store_true", help="SQLite only")
    a = p.parse_args(argv)
    url = None if a.no_postgis else postgis_url()
    district.layers()
    today = datetime.now(TZ).date()
    day_start = datetime.combine(today - timedelta(days=1), datetime.min.time(), TZ)
    result: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gm-briefing-") as tmp:
        from services.store.sqlite import SQLiteStore

        makers: list[tuple[str, Callable[[str], Store]]] = [
            ("sqlite", lambda tag: SQLiteStore(Path(tmp) / f"{tag}.sqlite3"))]
        if url:
            from services.store.postgis import PostGISStore

            makers.append(("postgis", lambda tag: PostGISStore(url, schema=f"bench_br_{tag}_{uuid.uuid4().hex[:8]}")))
        for name, make in makers:
            runs = {}
            for tag, n in (("baseline", a.baseline), ("full", a.appeals)):
                store = make(tag)
                try:
                    t0 = time.perf_counter()
                    fill(store, n, min(a.orders, max(n // 100, 10)), a.seed, day_start)
                    filled = time.perf_counter() - t0
                    runs[tag] = timed_make(store, Path(tmp) / f"{name}-{tag}", day_start, a.repeat)
                    runs[tag]["filled_s"] = filled
                finally:
                    if hasattr(store, "drop_schema"):
                        store.drop_schema()
                    else:
                        store.close()
            full, base = runs["full"], runs["baseline"]
            full["ratio_vs_baseline"] = full["seconds"] / base["seconds"]
            result[name] = full
            print(f"{name:8s}: {a.appeals:,} appeals (filled in {full['filled_s']:.0f} s): {full['seconds']:.2f} s "
                  f"per briefing, {full['ratio_vs_baseline']:.2f}× the {a.baseline:,}-appeal store's "
                  f"{base['seconds']:.2f} s; PDF {full['pdf_bytes'] / 1e6:.2f} MB, map {full['png_bytes'] / 1e6:.2f} MB "
                  f"(goals {GOAL_S:.0f} s, {GOAL_PDF / 1e6:.1f} MB)", flush=True)
    slower = max(result.values(), key=lambda r: r["seconds"])
    print(json.dumps({"bench": "briefing", "appeals": a.appeals, "seconds": round(slower["seconds"], 2),
                      "pdf_bytes": slower["pdf_bytes"], "png_bytes": slower["png_bytes"],
                      "sqlite_seconds": round(result["sqlite"]["seconds"], 2),
                      "postgis_seconds": round(result["postgis"]["seconds"], 2) if "postgis" in result else None,
                      "ratio_vs_baseline": round(slower["ratio_vs_baseline"], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
