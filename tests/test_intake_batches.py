"""services/intake/batches.py on both stores: records handed in one by one from many threads are checked
and stored in groups, and each caller gets its own answer (stored with its id, quarantined with the
reason, refused by its gate, or the duplicate of a record with the same key, even in the same batch).

The first batch's check is held until the other callers have queued their records, so the second
batch holds all of them and the number of batches is known.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.intake import batches as batch_module
from services.intake.batches import Batches
from services.open311api import mapping
from tests.helpers import STORES, fresh_store

TZ = ZoneInfo("Asia/Shanghai")
FILE = "batches-test"


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from fresh_store(request, tmp_path, "t_batches_")


def _inside(layers, n: int) -> list[tuple[float, float, str]]:
    g = layers["grid"]
    out = []
    for i in np.linspace(0, len(g) - 1, n).astype(int):
        p = g.geometry.iloc[i].representative_point()
        out.append((p.x, p.y, str(g["code"].iloc[i])))
    return out


def _record(pid: str, lon: float, lat: float, **extra) -> tuple[dict, str]:
    body = {"service_code": "noise", "long": str(lon), "lat": str(lat), "description": "广场舞噪音扰民",
            "attribute[people_involved]": "2", **extra}
    rec = mapping.record(body, pid)
    return rec, json.dumps(rec, ensure_ascii=False, sort_keys=True)


class Held(Batches):
    """Batches whose first check waits until ``release`` is set."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.release = threading.Event()
        self.held = False

    def _check(self, *a, **k):
        if not self.held:
            self.held = True
            assert self.release.wait(10)
        return super()._check(*a, **k)


def _submit_all(batches: Held, jobs: list[tuple[str, dict, str, object]]) -> list:
    """Submit ``jobs`` (source, record, raw, gate) from one thread each, the first alone: its check waits
    until all the others are queued. Returns the outcomes in job order."""
    out: list = [None] * len(jobs)

    def run(i: int) -> None:
        source, rec, raw, gate = jobs[i]
        out[i] = batches.submit(source, rec, raw, gate=gate)

    first = threading.Thread(target=run, args=(0,))
    first.start()
    while batches.batches < 1:
        time.sleep(0.005)
    rest = [threading.Thread(target=run, args=(i,)) for i in range(1, len(jobs))]
    for t in rest:
        t.start()
    deadline = time.monotonic() + 10
    while batches._queue.qsize() < len(rest) and time.monotonic() < deadline:
        time.sleep(0.005)
    batches.release.set()
    for t in [first, *rest]:
        t.join(20)
    return out


@pytest.mark.parametrize("in_process", [False, True], ids=["checked-here", "checked-in-child"])
def test_each_caller_gets_its_own_answer_from_one_batch(store, layers, in_process):
    now = datetime.now(TZ)
    batches = Held(store, file=FILE, now=lambda: now, in_process=in_process)
    (x1, y1, g1), (x2, y2, g2), (x3, y3, _) = _inside(layers, 3)

    def no_second_grid(appeal):
        if appeal["grid_code"] == g2:
            raise PermissionError("not your area")

    jobs = [
        ("p1", *_record("first", x1, y1), None),          # the batch of its own (its check held)
        ("p1", *_record("good", x1, y1), None),
        ("p1", *_record("bad", 113.2, 23.5), None),       # outside the district: quarantined
        ("p1", *_record("gated", x2, y2), no_second_grid),  # refused by its gate, nothing stored
        ("p1", *_record("twice", x3, y3), None),
        ("p1", *_record("twice", x3, y3), None),           # same key in the same batch: put off, a duplicate
        ("p2", *_record("good", x2, y2), None),            # another source, same partner id: its own appeal
    ]
    out = _submit_all(batches, jobs)
    assert batches.batches == 3  # the held first; the other six less one; the put-off duplicate
    first, good, bad, gated, twice_a, twice_b, other = out
    stored = store.query_appeals(columns=["id", "source", "external_id", "grid_code"]).set_index("id")
    assert first.appeal_id in stored.index and not first.duplicate
    assert stored.loc[good.appeal_id, ["source", "external_id", "grid_code"]].tolist() == ["p1", "good", g1]
    assert bad.appeal_id is None and bad.reason_code == "outside_district" and bad.reason
    assert isinstance(gated.refused, PermissionError) and gated.appeal_id is None
    assert twice_a.appeal_id == twice_b.appeal_id and [twice_a.duplicate, twice_b.duplicate].count(True) == 1
    assert stored.loc[other.appeal_id, ["source", "external_id"]].tolist() == ["p2", "good"]
    assert sorted(stored["external_id"]) == ["first", "good", "good", "twice"]  # nothing else stored
    q = store.quarantined(source="p1")
    assert q["file"].tolist() == [FILE] and q["reason_code"].tolist() == ["outside_district"]


def test_a_batch_that_breaks_answers_its_callers_and_the_next_batch_runs(store, layers, monkeypatch):
    now = datetime.now(TZ)
    batches = Batches(store, file=FILE, now=lambda: now)
    (x, y, _), = _inside(layers, 1)
    real = store.insert_appeals

    def broken(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "insert_appeals", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        batches.submit("p1", *_record("lost", x, y))
    monkeypatch.setattr(store, "insert_appeals", real)
    after = batches.submit("p1", *_record("kept", x, y))
    assert after.appeal_id is not None and not after.duplicate
    assert store.query_appeals(columns=["external_id"])["external_id"].tolist() == ["kept"]


def test_a_dead_checking_process_is_replaced_and_nothing_is_lost(store, layers):
    now = datetime.now(TZ)
    batches = Batches(store, file=FILE, now=lambda: now, in_process=True)
    (x, y, _), = _inside(layers, 1)
    assert batches.submit("p1", *_record("one", x, y)).appeal_id is not None
    pool = batch_module._pool()
    for proc in list(pool._processes.values()):  # the child dies between two batches
        proc.kill()
        proc.join(10)
    two = batches.submit("p1", *_record("two", x, y))      # checked in the worker thread this time
    three = batches.submit("p1", *_record("three", x, y))  # and in a new child again
    assert two.appeal_id is not None and three.appeal_id is not None
    assert batch_module._pool() is not pool
    assert sorted(store.query_appeals(columns=["external_id"])["external_id"]) == ["one", "three", "two"]

