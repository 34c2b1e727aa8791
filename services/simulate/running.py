"""Running the simulator against the wall clock: a step every tick until stopped, riding out a busy store."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from services.simulate.simulator import TZ, Simulator


def run(sim: Simulator, *, speed: float = 1.0, duration_s: float | None = None, tick_s: float = 1.0,
        start: datetime | None = None, stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic, on_step: Callable[[datetime, dict], None] | None = None,
        ) -> None:
    """Step ``sim`` every ``tick_s`` wall seconds until ``stop`` is set or ``duration_s`` has passed.

    Simulated time is ``start + speed * wall time elapsed``. A stop request is honoured between steps,
    so the step in progress always finishes.
    """
    stop = stop or threading.Event()
    start = start or datetime.now(TZ)
    wall0 = clock()
    sim.step(start)
    while not stop.is_set():
        elapsed = clock() - wall0
        if duration_s is not None and elapsed >= duration_s:
            break
        wait = tick_s if duration_s is None else min(tick_s, max(duration_s - elapsed, 0.0))
        if stop.wait(wait):
            break
        elapsed = clock() - wall0
        now = start + timedelta(seconds=elapsed * speed)
        try:
            counts = sim.step(now)
        except Exception as exc:
            if not store_busy(exc):
                raise
            # A large import holds the store (SQLite has one writer): new arrivals wait in the
            # simulator and go in at a later step; a lifecycle step that failed is skipped.
            print(f"存储繁忙，稍后重试 store busy, retrying at the next step: {exc}", file=sys.stderr)
            continue
        if on_step is not None:
            on_step(now, counts)


def store_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is busy with another writer or briefly unreachable (worth retrying),
    rather than that something is wrong with what was written."""
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return False
    return isinstance(exc, psycopg.OperationalError)
