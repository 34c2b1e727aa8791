"""The command line: ``python -m services.simulate [--rate 2/s] [--duration 1h] [--speed 1] [--seed N] ...``."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from datetime import datetime
from typing import Any

import numpy as np

from services.simulate.running import run
from services.simulate.simulator import TZ, Simulator


def parse_rate(text: str) -> float:
    """``2/s``, ``30/min``, ``100/h`` or a bare number (per second) -> appeals per second."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hr|hour))?\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: use e.g. 2/s, 30/min or 100/h")
    per = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}
    return float(m.group(1)) / per.get(m.group(2) or "s", 1)


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``1h``, ``1h30m`` or a bare number of seconds -> seconds."""
    parts = re.findall(r"([0-9]*\.?[0-9]+)\s*([smhd]?)", text or "")
    if not parts or re.sub(r"[0-9.\sSMHDsmhd]", "", text):
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: use e.g. 30s, 10m, 1h")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(v) * unit[u.lower()] for v, u in parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.simulate",
        description="Write realistic new appeals into the store and move open ones through their lifecycle "
                    "(orders, late check-ins, reopenings, gatherings), so that the wall display is alive. "
                    "Ctrl-C stops cleanly.")
    p.add_argument("--rate", type=parse_rate, default=parse_rate("2/s"),
                   help="new appeals per simulated time: 2/s, 30/min, 100/h (default 2/s)")
    p.add_argument("--duration", type=parse_duration, default=None,
                   help="wall-clock run time: 30s, 10m, 1h (default: until stopped)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated seconds per wall second (default 1; >1 runs ahead of the real clock)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    p.add_argument("--start", help="simulated start time, ISO 8601 (default now; naive = Asia/Shanghai)")
    p.add_argument("--tick", type=float, default=1.0, help="wall seconds between steps (default 1)")
    p.add_argument("--store", help="store URL (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    p.add_argument("--adopt", choices=("own", "all", "none"), default="own",
                   help="open appeals to take over at start: from earlier simulator runs (own, default), "
                        "every open appeal (all), or none")
    p.add_argument("--quiet", action="store_true", help="no line per step")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.speed <= 0 or args.tick <= 0:
        print("--speed and --tick must be positive", file=sys.stderr)
        return 2
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            print(f"bad --start {args.start!r}: use ISO 8601, e.g. 2025-06-01T09:00", file=sys.stderr)
            return 2
        start = start.replace(tzinfo=TZ) if start.tzinfo is None else start
    from services.clocks import unofficial_cli_note
    from services.store import create_store

    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    store = create_store(args.store)
    try:
        sim = Simulator(store, np.random.default_rng(args.seed), rate_per_s=args.rate)
        start = start or datetime.now(TZ)
        if args.adopt != "none":
            sim.adopt(start, own_only=args.adopt == "own")

        def show(now: datetime, counts: dict) -> None:
            if counts and not args.quiet:
                print(f"{now:%Y-%m-%d %H:%M:%S} " + " ".join(f"{k}+{v}" for k, v in sorted(counts.items())),
                      flush=True)

        print(f"模拟开始 simulating into {store.url} at {args.rate:g}/s x{args.speed:g} "
              f"(Ctrl-C to stop)", flush=True)
        run(sim, speed=args.speed, duration_s=args.duration, tick_s=args.tick, start=start, stop=stop,
            on_step=show)
        print("模拟结束 stopped." if stop.is_set() else "模拟结束 done.")
        print(sim.summary(), flush=True)
        if note := unofficial_cli_note():  # deadlines on a computed calendar: say so
            print(note, file=sys.stderr)
    finally:
        store.close()
    return 0

