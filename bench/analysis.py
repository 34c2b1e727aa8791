"""Benchmark: the analysis page's drill-down steps and the department ranking on stores of 1M appeals.

Each store (a fresh SQLite file; PostGIS in a fresh schema at TEST_DATABASE_URL or DATABASE_URL) is
filled with --appeals appeals resampled from the sample's history over the year before the report date
(bench/wall.py's maker, with their report events), plus --orders appeals of the last quarter taken
through the loop with an order (发令) each: accepted, ordered to one or two departments of the register,
checked in (some late) and their outcomes reported, all through the store's own actions.

Timed (median of --repeat runs after one warm-up), for a month and for a quarter ending on the report
date, exactly what /analysis reads for one step of the drill path:
- ``district``: the district's own figures (services.analysis.service.figures at level district: the
  period, the previous one and the same one last year);
- ``subdistrict``, ``community``, ``grid``: the figures of the areas of that level inside their parent
  (the district; the first subdistrict; the first community) — the table and the map of the step;
- ``ranking``: services.assessment.departments for the quarter (the period and the previous one).
Goal: each under 300 ms on both stores at 1M appeals.

The baseline, in the same run: the quarter's district step once more with the summary switched off (the
plain grouped queries, services/store/analysis.py without services/store/analysis_summary.py).

Ends with one JSON line:
{"bench": "analysis", "appeals": 1000000, "sqlite_step_ms": …, "postgis_step_ms": …, "ranking_ms": …,
 "sqlite_ratio_vs_plain": …, "postgis_ratio_vs_plain": …}
where each step figure is the slowest step of that store, ranking_ms the slower store's ranking, and a
ratio the quarter's district step with the summary over the same step without it.
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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.common import postgis_url  # noqa: E402
from bench.wall import make_appeals  # noqa: E402
from services import access, assessment, district  # noqa: E402
from services.analysis import service  # noqa: E402
from services.analysis.periods import period  # noqa: E402
from services.clocks import TZ  # noqa: E402
from services.seed import seed_reference  # noqa: E402
from services.store.analysis_summary import without_summary  # noqa: E402
from services.store.base import Store  # noqa: E402

GOAL_MS = 300
LEADER = access.Principal("bench-leader", "leader")
# Columns an appeal taken afresh through the loop must not carry over from the resampled history.
LIFECYCLE = ("accepted_at", "responded_at", "dispatched_at", "resolved_at", "confirmed_at", "feedback_at",
             "closed_at", "next_deadline_at", "resolve_due_at")


def year_of_appeals(n: int, seed: int, until: datetime) -> pd.DataFrame:
    """n resampled appeals reported in the year before ``until``, spread evenly (whole seconds)."""
    frame = make_appeals(n, seed)
    frame["source"] = "bench-analysis"
    frame["external_id"] = [f"AN-{i:08d}" for i in range(n)]
    rng = np.random.default_rng(seed + 1)
    # Move each appeal (all its timestamps together) so that its report falls in the year before until.
    # Open ones (about 1 %) stay among the last two days, as in a real year.
    back = np.where(frame["status"].to_numpy() == "closed", rng.integers(3600, 365 * 86400, n),
                    rng.integers(600, 2 * 86400, n))
    target = pd.Timestamp(until) - pd.to_timedelta(back, unit="s")
    shift = target - pd.to_datetime(frame["reported_at"])
    for col in [c for c in frame.columns if c.endswith("_at")]:
        frame[col] = pd.to_datetime(frame[col]) + shift
    return frame


def add_orders(store: Store, n: int, seed: int, quarter_start: datetime, until: datetime) -> int:
    """n appeals of the quarter taken through the loop with one order each; returns orders issued."""
    rng = np.random.default_rng(seed + 2)
    frame = make_appeals(n, seed + 3)
    frame["source"], frame["external_id"] = "bench-analysis-orders", [f"ANO-{i:07d}" for i in range(n)]
    frame["status"] = "reported"
    for col in LIFECYCLE:
        if col in frame:
            frame[col] = pd.NaT
    span = int((until - quarter_start).total_seconds()) - 3 * 86400
    frame["reported_at"] = pd.Timestamp(quarter_start) + pd.to_timedelta(rng.integers(0, span, n), unit="s")
    ids = store.insert_appeals(frame).ids
    departments = sorted(district.names("department", "zh", store))
    for aid, reported in zip(ids, frame["reported_at"], strict=True):
        at = pd.Timestamp(reported).to_pydatetime() + timedelta(minutes=int(rng.integers(2, 30)))
        store.act(aid, "accept", "duty_officer", at=at)
        at += timedelta(minutes=int(rng.integers(5, 60)))
        deps = list(rng.choice(departments, size=int(rng.integers(1, 3)), replace=False))
        order = store.issue_order(aid, deps, issued_by="community_handler", at=at)
        limit = float(order.get("arrival_minutes") or 60)
        for dep in deps:
            arrive = at + timedelta(minutes=limit * float(rng.uniform(0.2, 1.4)))  # about 1 in 6 late
            store.check_in(int(order["id"]), dep, at=arrive.replace(microsecond=0))
            store.report_outcome(int(order["id"]), dep, "resolved",
                                 at=(arrive + timedelta(hours=float(rng.uniform(1, 30)))).replace(microsecond=0))
    return len(ids)


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: pools, caches, layer names
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def steps(store: Store, report: date, now: datetime, repeat: int) -> dict[str, float]:
    """Median ms of each drill-down step for a month and a quarter, and of the quarter's ranking."""
    first_sub = sorted(district.names("subdistrict", "zh"))[0]
    first_com = service.areas_in("community", ("subdistrict", first_sub))[0]
    path = (("district", None), ("subdistrict", None), ("community", first_sub), ("grid", first_com))
    out: dict[str, float] = {}
    for kind in ("month", "quarter"):
        p = period(kind, report)
        for level, code in path:
            out[f"{kind}_{level}"] = median_ms(
                lambda level=level, code=code, p=p: service.figures(store, LEADER, level, code, p, now=now), repeat)
    q = period("quarter", report)
    out["ranking"] = median_ms(lambda: assessment.departments(store, LEADER, q), repeat)
    return out


def plain_ms(store: Store, report: date, now: datetime) -> float:
    """The baseline: the quarter's district step once with the summary switched off (the plain grouped
    queries over every appeal of the three periods), as a store without the summary would answer it."""
    plain = without_summary(store)
    t0 = time.perf_counter()
    service.figures(plain, LEADER, "district", None, period("quarter", report), now=now)
    return (time.perf_counter() - t0) * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--appeals", type=int, default=1_000_000, help="appeals in each store")
    p.add_argument("--orders", type=int, default=3_000, help="ordered appeals in the last quarter")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per step (median)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--no-postgis", action="store_true", help="SQLite only")
    a = p.parse_args(argv)
    url = None if a.no_postgis else postgis_url()
    district.layers()
    now = datetime.now(TZ).replace(microsecond=0)
    report = (now - timedelta(days=1)).date()
    until = datetime.combine(report + timedelta(days=1), datetime.min.time(), TZ)
    quarter = period("quarter", report)
    frame = year_of_appeals(a.appeals, a.seed, until)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gm-analysis-") as tmp:
        from services.store.sqlite import SQLiteStore

        stores: list[tuple[str, Callable[[], Store]]] = [("sqlite", lambda: SQLiteStore(Path(tmp) / "an.sqlite3"))]
        if url:
            from services.store.postgis import PostGISStore

            stores.append(("postgis", lambda: PostGISStore(url, schema=f"bench_an_{uuid.uuid4().hex[:10]}")))
        for name, make in stores:
            store = make()
            try:
                seed_reference(store)
                t0 = time.perf_counter()
                with store.bulk_load(len(frame)) as load:
                    for i in range(0, len(frame), 100_000):
                        load.add(frame.iloc[i:i + 100_000])
                load_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                orders = add_orders(store, a.orders, a.seed, quarter.since, until)
                orders_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                store.refresh_analysis_summary(now)   # the summary's first count (later writes: a few days)
                summary_s = time.perf_counter() - t0
                ms = steps(store, report, now, a.repeat)
                ms["plain_quarter_district"] = plain_ms(store, report, now)
            finally:
                if hasattr(store, "drop_schema"):
                    store.drop_schema()
                else:
                    store.close()
            result[name] = ms
            shown = ", ".join(f"{k} {v:.0f}" for k, v in ms.items())
            print(f"{name:8s}: {a.appeals:,} appeals loaded in {load_s:.0f} s, {orders:,} orders in {orders_s:.0f} s, "
                  f"summary counted in {summary_s:.1f} s; "
                  f"ms: {shown} (goal {GOAL_MS} each)", flush=True)

    def slowest(name: str) -> float | None:
        ms = result.get(name)
        return round(max(v for k, v in ms.items() if k not in ("ranking", "plain_quarter_district")), 1) if ms else None

    def ratio(name: str) -> float | None:
        ms = result.get(name)
        return round(ms["quarter_district"] / ms["plain_quarter_district"], 4) if ms else None

    ranking = max((ms["ranking"] for ms in result.values()), default=None)
    print(json.dumps({"bench": "analysis", "appeals": a.appeals, "sqlite_step_ms": slowest("sqlite"),
                      "postgis_step_ms": slowest("postgis"),
                      "ranking_ms": None if ranking is None else round(ranking, 1),
                      "sqlite_ratio_vs_plain": ratio("sqlite"), "postgis_ratio_vs_plain": ratio("postgis")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
