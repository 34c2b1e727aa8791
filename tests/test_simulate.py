"""The live feed: simulated hours on a SQLite store produce appeals, lifecycle events and orders; it stops
cleanly on a stop request and on SIGINT."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.simulate import Profile, Simulator, parse_duration, parse_rate, run
from services.store.sqlite import SQLiteStore

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 6, 3, 9, 0, tzinfo=TZ)  # a Tuesday morning
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "sim.sqlite3")
    yield s
    s.close()


def test_simulated_hours_write_appeals_events_and_orders(store):
    profile = Profile(order_ordinary=0.2, order_major=0.8, gatherings_per_hour=0.0)
    sim = Simulator(store, np.random.default_rng(7), rate_per_s=0.01, profile=profile, run_tag="t1")
    for minutes in range(0, 181, 5):  # three simulated hours in 5-minute steps
        sim.step(START + timedelta(minutes=minutes))
    s = sim.stats
    appeals = store.query_appeals()
    assert s["appeals"] == len(appeals) > 50
    assert (appeals["source"] == "simulator").all()
    assert appeals["grid_code"].notna().all()
    assert set(appeals["status"]) - {"reported"}, "appeals moved through their lifecycle"
    assert s["accept"] > 0 and s["dispatch"] > 0 and s["resolve"] > 0
    assert store.event_count() > 2 * len(appeals)
    orders = store.orders()
    assert s["orders"] >= 1 and orders["order_id"].nunique() == s["orders"]
    assert s["check_ins_on_time"] + s["check_ins_late"] == orders["checked_in_at"].notna().sum() > 0
    assert s["skipped"] == 0, sim.last_error
    # Nothing is dated after the simulated clock.
    assert appeals["reported_at"].max() <= START + timedelta(minutes=180)


def test_a_gathering_is_clustered_and_ordered_on(store):
    profile = Profile(order_ordinary=0.0, order_major=0.0, gatherings_per_hour=0.0)
    sim = Simulator(store, np.random.default_rng(3), rate_per_s=0.0, profile=profile, run_tag="t2")
    sim.step(START)
    sim.start_gathering(START + timedelta(minutes=1))
    for minutes in range(0, 121, 2):
        sim.step(START + timedelta(minutes=minutes))
    appeals = store.query_appeals()
    assert len(appeals) >= Profile().gathering_size[0]
    assert (appeals["category"] == "wage_arrears").all()
    assert appeals["gathering_id"].notna().sum() >= 3 and sim.stats["gathering_marked"] >= 3
    assert (appeals.loc[appeals["gathering_id"].notna(), "tier"] != "blue").all()
    assert sim.stats["orders"] == 1  # the community orders departments on site for the crew
    assert set(store.orders()["department_code"]) <= {"hr_social", "housing", "police"}


def test_rate_and_duration_parsing():
    assert parse_rate("2/s") == 2 and parse_rate("30/min") == 0.5 and parse_rate("360/h") == 0.1
    assert parse_rate("4") == 4
    assert parse_duration("30s") == 30 and parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    for bad in ("fast", "2/week"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_rate(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("soon")


def stop_after(steps: int) -> tuple[threading.Event, list[datetime], Callable[[datetime, dict], None]]:
    """A stop event set by the ``on_step`` callback after ``steps`` steps, and the list of step times."""
    stop = threading.Event()
    seen: list[datetime] = []

    def on_step(now, counts):
        seen.append(now)
        if len(seen) == steps:
            stop.set()

    return stop, seen, on_step


def test_run_stops_between_steps_when_asked(store):
    sim = Simulator(store, np.random.default_rng(1), rate_per_s=0.05, run_tag="t3")
    stop, seen, on_step = stop_after(3)
    run(sim, speed=600, tick_s=0.01, start=START, stop=stop, on_step=on_step)
    assert len(seen) == 3  # the step in progress finished, no further step began
    assert seen == sorted(seen) and seen[-1] > START


def test_a_busy_store_delays_arrivals_instead_of_stopping_the_feed(store, monkeypatch, capsys):
    """While a large import holds the SQLite store, a step fails with "database is locked": the feed
    says so, goes on, and the appeals that arrived meanwhile are stored at a later step."""
    import sqlite3

    sim = Simulator(store, np.random.default_rng(5), rate_per_s=5, run_tag="busy")
    real = store.insert_appeals
    calls = {"n": 0}

    def locked_twice(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "insert_appeals", locked_twice)
    stop, steps, on_step = stop_after(3)
    run(sim, speed=60, tick_s=0.01, start=START, stop=stop, on_step=on_step)
    assert calls["n"] >= 3 and "store busy" in capsys.readouterr().err
    assert sim.stats["appeals"] > 0 and len(store.query_appeals()) == sim.stats["appeals"]
    with pytest.raises(ValueError):                                   # anything else still stops the feed
        monkeypatch.setattr(store, "insert_appeals", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad")))
        run(sim, speed=60, tick_s=0.01, start=steps[-1] + timedelta(seconds=5), stop=threading.Event())


def test_sigint_stops_cleanly_with_a_summary(tmp_path):
    db = tmp_path / "sigint.sqlite3"
    cmd = [sys.executable, "-m", "services.simulate", "--store", f"sqlite:///{db}", "--rate", "1/s",
           "--speed", "60", "--duration", "2m", "--tick", "0.2", "--seed", "5",
           "--start", "2025-06-03T09:00"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "appeals+" in line:  # a step has written appeals
                break
        assert any("appeals+" in x for x in lines), "".join(lines) + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "new appeals" in out


def test_a_new_run_adopts_open_appeals_of_earlier_runs(store):
    first = Simulator(store, np.random.default_rng(11), rate_per_s=0.02, run_tag="t5a")
    for minutes in range(0, 21, 5):
        first.step(START + timedelta(minutes=minutes))
    assert first.stats["appeals"] > 5
    later = START + timedelta(hours=1)
    second = Simulator(store, np.random.default_rng(12), rate_per_s=0.0, run_tag="t5b")
    adopted = second.adopt(later)
    assert adopted == len(store.query_appeals(statuses=["reported", "accepted", "dispatched"]))
    before = store.event_count()
    second.step(later)
    second.step(later + timedelta(hours=4))
    assert store.event_count() > before and second.stats["skipped"] == 0, second.last_error
