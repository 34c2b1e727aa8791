"""Benchmark: one wall-display refresh (data + map payload) on stores of 10k, 100k and 1M appeals.

For each size, each store (a fresh SQLite file; PostGIS in a fresh schema at TEST_DATABASE_URL or
DATABASE_URL) is filled with appeals resampled from the sample's history (about 1 % open, as in a real
year), then ``services.wall.snapshot`` + ``wall_deck(...).to_json()`` — exactly what the page does per
refresh — is timed (median of --repeat runs after one warm-up). The payload is the map JSON plus the
tables beside it. Goals at 1M appeals: under 300 ms to prepare a refresh, under 2 MB to the browser.

Ends with one JSON line:
{"bench": "wall", "appeals": 1000000, "sqlite_prep_ms": …, "postgis_prep_ms": …, "payload_bytes": …}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.common import postgis_url  # noqa: E402
from geo import mapview  # noqa: E402
from services import district, wall  # noqa: E402
from services.seed import history, seed_reference  # noqa: E402
from services.store.base import Store  # noqa: E402

GOAL_MS, GOAL_BYTES = 300, 2_000_000


def make_appeals(n: int, seed: int) -> pd.DataFrame:
    """n appeals resampled from the sample history: closed ones moved back by whole weeks (up to a year),
    open ones kept where they are, so the open share stays that of a real day."""
    base, _ = history()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), n)
    frame = base.iloc[pick].reset_index(drop=True).drop(columns=["id"])
    frame["external_id"] = [f"WALL-{i:08d}" for i in range(n)]
    frame["source"] = "bench-wall"
    closed = (frame["status"] == "closed").to_numpy()
    weeks = pd.to_timedelta(np.where(closed, rng.integers(0, 52, n) * 7, 0), unit="D")
    for col in [c for c in frame.columns if c.endswith("_at")]:
        frame[col] = frame[col] - weeks
    return frame


def payload_bytes(snap: wall.WallSnapshot, deck_json: str) -> int:
    """Map JSON plus the KPI, trend and list tables as JSON (what one refresh sends)."""
    tables = [snap.trend, snap.warnings]
    extra = sum(len(t.to_json(date_format="iso").encode()) for t in tables)
    return len(deck_json.encode()) + extra + len(json.dumps(snap.kpis, default=str).encode())


def time_refresh(store: Store, repeat: int) -> tuple[float, int, dict[str, float]]:
    """Median ms of one refresh (snapshot + deck JSON), payload bytes, and the last run's breakdown."""
    view = mapview.view_state(district.bounds(None), width_px=960, height_px=800)
    wall._trend_cache.clear()
    snap = wall.snapshot(store)  # warm-up: caches, pools, grid geometry
    wall.wall_deck(snap, "zh", view).to_json()
    times = []
    for _ in range(repeat):
        wall._trend_cache.clear()  # the trend cache would hide the store's cost; measure the worst case
        t0 = time.perf_counter()
        snap = wall.snapshot(store)
        deck_json = wall.wall_deck(snap, "zh", view).to_json()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), payload_bytes(snap, deck_json), snap.timings_ms


def fill(store: Store, frame: pd.DataFrame, chunk: int = 100_000) -> float:
    seed_reference(store)
    t0 = time.perf_counter()
    for i in range(0, len(frame), chunk):
        store.insert_appeals(frame.iloc[i:i + chunk])
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated store sizes")
    p.add_argument("--repeat", type=int, default=5, help="timed refreshes per store (median)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-postgis", action="store_true", help="SQLite only")
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    url = None if a.no_postgis else postgis_url()
    district.layers()
    result: dict[str, object] = {"bench": "wall"}
    with tempfile.TemporaryDirectory(prefix="gm-wall-") as tmp:
        for n in sizes:
            frame = make_appeals(n, a.seed)
            open_n = int((frame.status != "closed").sum())
            from services.store.sqlite import SQLiteStore

            stores: list[tuple[str, Store]] = [("sqlite", SQLiteStore(Path(tmp) / f"wall{n}.sqlite3"))]
            if url:
                from services.store.postgis import PostGISStore

                stores.append(("postgis", PostGISStore(url, schema=f"bench_wall_{uuid.uuid4().hex[:10]}")))
            row: dict[str, object] = {"appeals": n}
            for name, store in stores:
                try:
                    load_s = fill(store, frame)
                    ms, size, parts = time_refresh(store, a.repeat)
                finally:
                    if hasattr(store, "drop_schema"):
                        store.drop_schema()
                    else:
                        store.close()
                row[f"{name}_prep_ms"] = round(ms, 1)
                row["payload_bytes"] = size
                slowest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
                print(f"{n:>9,} appeals ({open_n:,} open) {name:8s}: loaded in {load_s:6.1f} s; refresh "
                      f"{ms:7.1f} ms (goal {GOAL_MS}); payload {size / 1e6:.2f} MB (goal {GOAL_BYTES / 1e6:.0f}); "
                      f"slowest parts {slowest}")
            if not url:
                row["postgis_prep_ms"] = None
            result.update(row)
    print(json.dumps({"bench": "wall", "appeals": result["appeals"], "sqlite_prep_ms": result.get("sqlite_prep_ms"),
                      "postgis_prep_ms": result.get("postgis_prep_ms"), "payload_bytes": result.get("payload_bytes")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
