"""Benchmark: the Open311 API (issue 16 §4) over loopback on stores of 1,000,000 appeals.

Each store (a fresh SQLite file; PostGIS in a fresh schema at TEST_DATABASE_URL or DATABASE_URL unless
--no-postgis) is filled with --appeals appeals resampled from the sample's history over the year before
now (bench/analysis.py's maker, one ``Store.bulk_load``). The API (services.open311api.create_app) is
then served by uvicorn in a background thread of this process on 127.0.0.1 (a free port) and timed with
one httpx client (keep-alive), as a partner system would call it:

- ``GET requests.json``: --gets requests, each with a different window (start_date/end_date, a few days
  to a few weeks inside the year) and area (the ``subdistrict`` or ``community`` extension, taking turns),
  wide enough that each answers the spec's page of 1,000 requests; p50 and p99 in ms.
- ``POST requests.json``: single appeals (one per request, form-encoded as FixMyStreet sends them) with a
  partner's api_key, each a distinct partner id, at points and categories of real appeals (inside the
  district, so intake stores them): first from one client (each POST waits for the one before), then
  from --post-clients clients at once (partner systems posting in parallel; the API checks and stores
  POSTs that arrive together as one batch, services/intake/batches.py); --posts of them or
  --post-seconds, whichever ends first; posts/s and the latency of one POST. The headline ``post_per_s``
  is the many clients' figure; ``*_post_one_client_per_s`` the lone client's.

The baseline, in the same run and the same store: the raw ``store.query_appeals`` call each GET makes
(same filters, columns and limit, no HTTP and no mapping), run in a second pass over the same queries,
each followed by its GET again (``warm_*``: pages already read once); the ratio is that warm GET p50 over
the raw-query p50 (the API's own cost). The headline p50/p99 are the first pass (pages read for the
first time since the load).
The rate limit of [open311] is lifted for the run (the bench measures the API, not the limiter).
Goals: GET p99 under 200 ms on both stores, at least 200 POSTs/s on SQLite.

Ends with one JSON line (headline figures are the slower store's; per-store figures as extra keys):
{"bench": "open311", "appeals": 1000000, "get_p50_ms": …, "get_p99_ms": …, "post_per_s": …, …}
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.analysis import year_of_appeals  # noqa: E402
from bench.common import postgis_url  # noqa: E402
from services import api_keys, district  # noqa: E402
from services.clocks import TZ  # noqa: E402
from services.open311api import mapping  # noqa: E402
from services.open311api.app import create_app  # noqa: E402
from services.seed import seed_reference  # noqa: E402
from services.store.base import Store  # noqa: E402

GOAL_GET_P99_MS, GOAL_POST_PER_S = 200, 200
V2 = "/open311/v2"
PAGE = 1000


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """The API over ``store`` served by uvicorn in a daemon thread of this process (``with`` stops it)."""

    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        import uvicorn

        app = create_app(store, now=now, config={"rate_per_minute": 1e9})
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return f"http://127.0.0.1:{self.port}{V2}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def queries(frame: pd.DataFrame, n: int, until: datetime, seed: int) -> list[dict[str, str]]:
    """n GET parameter sets: areas taking turns between a subdistrict and a community (weighted by their
    appeals, so most answer a full page), windows ending at random days of the year and wide enough for
    1,000 appeals of that area at its average daily rate (with a margin), at most the API's 90 days."""
    rng = np.random.default_rng(seed)
    per_day = {}
    for level in ("subdistrict", "community"):
        counts = frame[f"{level}_code"].dropna().value_counts()
        per_day[level] = (counts / 365.0).to_dict()
    out = []
    for i in range(n):
        level = "subdistrict" if i % 2 == 0 else "community"
        codes = [c for c, r in per_day[level].items() if r * 90 >= PAGE * 1.3] or [max(per_day[level],
                                                                                      key=per_day[level].get)]
        code = str(codes[int(rng.integers(0, len(codes)))])
        days = min(90.0, PAGE * 1.3 / per_day[level][code] * float(rng.uniform(1.0, 1.6)))
        end = until - timedelta(days=float(rng.uniform(0, 360 - days)))
        start = end - timedelta(days=days)
        out.append({"start_date": start.isoformat(timespec="seconds"), "end_date": end.isoformat(timespec="seconds"),
                    level: code})
    return out


def raw_query(store: Store, params: dict[str, str]) -> pd.DataFrame:
    """The store call a GET makes for ``params`` (app._query's arguments), without HTTP or mapping."""
    area = ("community", params["community"]) if "community" in params else ("subdistrict", params["subdistrict"])
    return store.query_appeals(since=pd.Timestamp(params["start_date"]).to_pydatetime(),
                               until=pd.Timestamp(params["end_date"]).to_pydatetime(), area=area, limit=PAGE,
                               order="newest", include_personal=True, columns=list(mapping.READ_COLUMNS))


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of values, interpolated."""
    return float(np.percentile(np.asarray(values), q))


class GcClock:
    """Milliseconds spent in full (generation 2) garbage collections while ``on`` (any thread)."""

    def __init__(self) -> None:
        self.ms, self._t0, self.on = 0.0, 0.0, False
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2 or not self.on:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._t0) * 1000


GC = GcClock()


def time_gets(http: Any, root: str, store: Store, params: list[dict[str, str]]) -> dict[str, float]:
    """GET each parameter set over HTTP, then the same raw store queries; p50/p99 of each and full-page share."""
    for p in params[:5]:  # warm-up: connection, caches, page cache of the store
        http.get(f"{root}/requests.json", params=p).raise_for_status()
        raw_query(store, p)
    http_ms, raw_ms, full = [], [], 0
    GC.ms, GC.on = 0.0, True
    for p in params:
        t0 = time.perf_counter()
        r = http.get(f"{root}/requests.json", params=p)
        http_ms.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        full += len(r.json()) == PAGE
    warm_ms = []
    for p in params:  # the same queries again: raw (the baseline) and over HTTP, each now on warm pages
        t0 = time.perf_counter()
        raw_query(store, p)
        raw_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        http.get(f"{root}/requests.json", params=p).raise_for_status()
        warm_ms.append((time.perf_counter() - t0) * 1000)
    return {"get_p50_ms": pct(http_ms, 50), "get_p99_ms": pct(http_ms, 99), "raw_p50_ms": pct(raw_ms, 50),
            "raw_p99_ms": pct(raw_ms, 99), "warm_p50_ms": pct(warm_ms, 50), "warm_p99_ms": pct(warm_ms, 99),
            "full_pages": full / len(params), "gc_ms": GC.ms}


def post_bodies(frame: pd.DataFrame, n: int, key: str, seed: int) -> list[dict[str, str]]:
    """n POST bodies at the points and categories of resampled appeals, each with its own partner id."""
    rng = np.random.default_rng(seed)
    rows = frame.iloc[rng.integers(0, len(frame), n)]
    rows = rows[rows["category"].isin(list(mapping.service_codes()))]
    run = uuid.uuid4().hex[:8]
    return [{"api_key": key, "service_code": str(r.category), "lat": f"{r.lat:.7f}", "long": f"{r.lon:.7f}",
             "description": "open311 bench: 路灯不亮", "attribute[people_involved]": "1",
             "partner_request_id": f"BENCH-{run}-{i:06d}", "first_name": "明", "last_name": "陈",
             "phone": "13511112222"} for i, r in enumerate(rows.itertuples(index=False))]


def time_posts(root: str, bodies: list[dict[str, str]], seconds: float, clients: int) -> dict[str, float]:
    """POST the bodies from ``clients`` threads at once (each its own keep-alive httpx client, each POST
    waiting for its answer before the next) until they or ``seconds`` run out; posts/s over them all, and
    p50/p99 ms of one POST."""
    import httpx

    ms: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    shares = [bodies[i::clients] for i in range(clients)]
    t_start = time.perf_counter()

    def client(share: list[dict[str, str]]) -> None:
        with httpx.Client(timeout=60) as http:
            for b in share:
                t0 = time.perf_counter()
                if t0 - t_start > seconds:
                    return
                r = http.post(f"{root}/requests.json", data=b)
                with lock:
                    ms.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors.append(f"POST answered {r.status_code}: {r.text[:300]}")
                    return

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    total = time.perf_counter() - t_start
    if errors:
        raise RuntimeError(errors[0])
    return {"post_per_s": len(ms) / total, "posts": len(ms), "post_p50_ms": pct(ms, 50), "post_p99_ms": pct(ms, 99)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--appeals", type=int, default=1_000_000, help="appeals in each store")
    p.add_argument("--gets", type=int, default=300, help="timed GET requests per store")
    p.add_argument("--posts", type=int, default=3000, help="timed POSTs per store (at most)")
    p.add_argument("--post-seconds", type=float, default=20.0, help="stop POSTing after this many seconds")
    p.add_argument("--post-clients", type=int, default=16,
                   help="partner systems POSTing at once (each one POST at a time)")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--no-postgis", action="store_true", help="SQLite only")
    p.add_argument("--no-sqlite", action="store_true", help="PostGIS only")
    a = p.parse_args(argv)
    import httpx

    url = None if a.no_postgis else postgis_url()
    district.layers()
    now = datetime.now(TZ).replace(microsecond=0)
    until = now - timedelta(hours=1)
    frame = year_of_appeals(a.appeals, a.seed, until)
    frame["source"], frame["external_id"] = "bench-open311", [f"O311-{i:08d}" for i in range(len(frame))]
    params = queries(frame, a.gets, until, a.seed + 1)
    result: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gm-open311-") as tmp:
        from services.store.sqlite import SQLiteStore

        stores: list[tuple[str, Callable[[], Store]]] = []
        if not a.no_sqlite:
            stores.append(("sqlite", lambda: SQLiteStore(Path(tmp) / "o311.sqlite3")))
        if url:
            from services.store.postgis import PostGISStore

            stores.append(("postgis", lambda: PostGISStore(url, schema=f"bench_o311_{uuid.uuid4().hex[:10]}")))
        for name, make in stores:
            store = make()
            try:
                seed_reference(store)
                t0 = time.perf_counter()
                with store.bulk_load(len(frame)) as load:
                    for i in range(0, len(frame), 100_000):
                        load.add(frame.iloc[i:i + 100_000])
                load_s = time.perf_counter() - t0
                key = api_keys.issue(store, f"bench-{name}", actor="bench")
                bodies = post_bodies(frame, 2 * a.posts + 3, key, a.seed + 2)
                with Served(store, lambda: datetime.now(TZ)) as root, httpx.Client(timeout=60) as http:
                    figures = time_gets(http, root, store, params)
                    for b in bodies[:3]:  # warm-up
                        http.post(f"{root}/requests.json", data=b).raise_for_status()
                    one = time_posts(root, bodies[3:a.posts + 3], a.post_seconds, 1)
                    figures.update(time_posts(root, bodies[a.posts + 3:], a.post_seconds, a.post_clients))
                    figures["post_one_client_per_s"] = one["post_per_s"]
                    figures["post_one_client_p50_ms"] = one["post_p50_ms"]
            finally:
                if hasattr(store, "drop_schema"):
                    store.drop_schema()
                else:
                    store.close()
            figures["ratio_vs_raw"] = figures["warm_p50_ms"] / figures["raw_p50_ms"]
            result[name] = figures
            print(f"{name:8s}: {a.appeals:,} appeals loaded in {load_s:.0f} s; GET requests.json p50 "
                  f"{figures['get_p50_ms']:.1f} ms, p99 {figures['get_p99_ms']:.1f} ms (goal {GOAL_GET_P99_MS}), "
                  f"{figures['full_pages']:.0%} full pages, {figures['gc_ms']:.0f} ms in full GCs; raw query_appeals p50 {figures['raw_p50_ms']:.1f} ms "
                  f"(p99 {figures['raw_p99_ms']:.1f}), the same GETs again p50 {figures['warm_p50_ms']:.1f} ms, "
                  f"p99 {figures['warm_p99_ms']:.1f} ms, GET/raw {figures['ratio_vs_raw']:.2f}; "
                  f"POST {figures['post_per_s']:.0f}/s over {figures['posts']:.0f} from {a.post_clients} clients "
                  f"(p50 {figures['post_p50_ms']:.1f} ms, p99 {figures['post_p99_ms']:.1f} ms; goal {GOAL_POST_PER_S}/s "
                  f"on SQLite), {figures['post_one_client_per_s']:.0f}/s from one client "
                  f"(p50 {figures['post_one_client_p50_ms']:.1f} ms)", flush=True)

    def worst(key: str, higher_is_worse: bool = True) -> float:
        vals = [f[key] for f in result.values()]
        return round(max(vals) if higher_is_worse else min(vals), 2)

    out: dict[str, Any] = {"bench": "open311", "appeals": a.appeals, "get_p50_ms": worst("get_p50_ms"),
                           "get_p99_ms": worst("get_p99_ms"), "post_per_s": worst("post_per_s", False),
                           "ratio_vs_raw": worst("ratio_vs_raw"), "post_clients": a.post_clients}
    for name, f in result.items():
        for k in ("get_p50_ms", "get_p99_ms", "warm_p99_ms", "raw_p50_ms", "post_per_s", "post_p99_ms",
                  "post_one_client_per_s", "ratio_vs_raw"):
            out[f"{name}_{k}"] = round(f[k], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
