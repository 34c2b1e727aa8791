"""Single records from many callers (the Open311 API's POSTs) checked and stored in groups.

Intake's checks are written for columns (services.intake.checks): one record costs about what a
hundred do, some 40 ms of fixed cost. A POST that ran them alone would cap a partner API at ~20 a
second. Callers hand ``Batches`` a record and wait. Its checker thread takes the first record waiting
and every other record already waiting (at most ``max_rows``), and checks each source's records as one
chunk. Its writer thread stores the good ones in one insert and hands each caller its own outcome,
while the checker already checks the next batch. A lone caller is checked at once. Records pile up
only while the checker is busy, so the batch grows with the load (group commit).

Each caller still gets its own answer: stored (with its id, or the id it already had), quarantined (the
reason code and message, the row kept under ``file`` as for any source), or refused by its ``gate``, a
check the caller adds (a partner key's scope, which needs the place intake assigned). Two records with
the same (source, external_id) never share a batch: the later waits for the next one, so it finds the
first stored and is answered as its duplicate, as if the two had come one after the other.

With ``in_process`` the checks run in a child process (one per server process, shared by every
``Batches``, started with the first batch): they are nearly all Python, and beside the API's own
threads they would share one interpreter lock. The parent only stores what the child returns.
A child that dies is replaced, and that batch is checked in the checker thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from services import audit
from services.intake.importer import Intake, warm_up
from services.intake.json_records import json_chunk
from services.store.base import Store

LOG = logging.getLogger(__name__)
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def check_records(source: str, now: datetime, records: list[tuple[str, dict[str, Any]]]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Intake's checks of ``records`` ((raw JSON text, record) each, lines 1..n) from ``source`` at
    ``now``: what ``Intake.check`` returns. Runs in the child process too: the checks read nothing from
    the store (the district's layers come from its files)."""
    chunk = json_chunk([(i + 1, raw, rec, None) for i, (raw, rec) in enumerate(records)], "open311", 1)
    return Intake(None, source=source, now=now).check(chunk)  # type: ignore[arg-type]


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=warm_up)
        return _POOL


def _drop_pool(broken: ProcessPoolExecutor) -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is broken:
            _POOL = None


@dataclass(frozen=True)
class Outcome:
    """What became of one record: ``appeal_id`` (new, or the one already stored under its key when
    ``duplicate``), or ``reason_code`` and ``reason`` (quarantined), or ``refused`` (its gate's exception)."""

    appeal_id: int | None = None
    duplicate: bool = False
    reason_code: str | None = None
    reason: str | None = None
    refused: Exception | None = None


@dataclass
class _Item:
    source: str
    record: dict[str, Any]
    raw: str
    gate: Callable[[dict[str, Any]], None] | None
    audit: Callable[[Outcome], dict[str, Any] | None] | None
    future: Future


class Batches:
    """The checker, the writer and their queues for one store (see the module docstring). ``now`` is the clock intake
    checks against; ``file`` names the quarantine rows of refused records."""

    def __init__(self, store: Store, *, file: str, now: Callable[[], datetime], max_rows: int = 200,
                 in_process: bool = False) -> None:
        self.store, self.file, self.now = store, file, now
        self.in_process = in_process
        self.max_rows = max(1, int(max_rows))
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._carry: list[_Item] = []  # records put off to the next batch (a key already in this one)
        self._lock = threading.Lock()
        # Checked batches on their way to the writer: one waits while another is written, so the checker
        # does not run ahead and batches keep forming from what arrives meanwhile.
        self._checked: queue.Queue[tuple[str, list[_Item], datetime, Any]] = queue.Queue(maxsize=1)
        self._workers: list[threading.Thread] = []
        self.batches = 0  # batches run (tests and benchmarks read it)

    def submit(self, source: str, record: dict[str, Any], raw: str,
               gate: Callable[[dict[str, Any]], None] | None = None,
               audit: Callable[[Outcome], dict[str, Any] | None] | None = None) -> Outcome:
        """Check and store one record of ``source`` (its JSON text ``raw``) and wait for its outcome.
        ``gate(appeal)`` runs on the checked appeal (a dict of the appeal's columns) before it is
        stored; whatever it raises refuses that record alone. ``audit(outcome)`` gives the caller's audit
        row (services.audit.record's arguments, or None): the writer puts the rows of a batch in one
        transaction once its appeals are stored, so callers never wait on each other for the audit
        log's lock. Other errors reach every caller of the batch they broke."""
        item = _Item(source, record, raw, gate, audit, Future())
        self._start()
        self._queue.put(item)
        return item.future.result()

    def _start(self) -> None:
        with self._lock:
            if not self._workers:
                self._workers = [threading.Thread(target=self._run, name="gm-intake-check", daemon=True),
                                 threading.Thread(target=self._write, name="gm-intake-write", daemon=True)]
                for worker in self._workers:
                    worker.start()

    def _take(self) -> list[_Item]:
        """The next batch: what was put off last time, then what is waiting, at most one per key."""
        items, self._carry = self._carry, []
        if not items:
            items.append(self._queue.get())
        while len(items) < self.max_rows:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        batch, keys = [], set()
        for item in items:
            key = (item.source, str(item.record.get("external_id")))
            (self._carry if key in keys else batch).append(item)
            keys.add(key)
        return batch

    def _run(self) -> None:
        """The checker: takes each batch, checks it (in the child, or here), and hands it to the writer.
        It takes the next batch as soon as the writer has this one, so that the next check runs while
        this batch is written and answered."""
        while True:
            batch = self._take()
            self.batches += 1
            by_source: dict[str, list[_Item]] = {}
            for item in batch:
                by_source.setdefault(item.source, []).append(item)
            for source, items in by_source.items():
                now = self.now()
                try:
                    checked: Any = self._check(source, now, [(it.raw, it.record) for it in items])
                except BaseException as exc:  # noqa: BLE001 - handed to each waiting caller by the writer
                    checked = exc
                self._checked.put((source, items, now, checked))

    def _write(self) -> None:
        """The writer: stores each checked batch, in the order checked, writes its audit rows and
        answers its callers (a key checked twice in two batches is stored by the first, so the second
        finds it: a duplicate)."""
        while True:
            source, items, now, checked = self._checked.get()
            try:
                if isinstance(checked, BaseException):
                    raise checked
                outcomes = self._store_checked(source, items, now, *checked)
                entries = [e for it, o in zip(items, outcomes, strict=True)
                           if it.audit is not None and (e := it.audit(o)) is not None]
                audit.record_many(self.store, entries)
            except BaseException as exc:  # noqa: BLE001 - handed to each waiting caller
                for item in items:
                    item.future.set_exception(exc)
                continue
            for item, outcome in zip(items, outcomes, strict=True):
                item.future.set_result(outcome)

    def _check(self, source: str, now: datetime, records: list[tuple[str, dict[str, Any]]]
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        if self.in_process:
            pool = _pool()
            try:
                return pool.submit(check_records, source, now, records).result()
            except BrokenProcessPool:
                LOG.warning("the intake checking process died; a new one is started, this batch is checked here")
                _drop_pool(pool)
        return check_records(source, now, records)

    def _store_checked(self, source: str, items: list[_Item], now: datetime, appeals: pd.DataFrame,
                       quarantine: pd.DataFrame, events: pd.DataFrame | None) -> list[Outcome]:
        """Gate the good ones of ``items`` (one source, checked as one chunk), store them in one insert
        with the quarantine rows, and give each item its outcome."""
        intake = Intake(self.store, source=source, now=now)
        outcomes: list[Outcome | None] = [None] * len(items)
        for line, code, reason in zip(quarantine["line"], quarantine["reason_code"], quarantine["reason"],
                                      strict=True):
            outcomes[int(line) - 1] = Outcome(reason_code=str(code), reason=str(reason))
        good = [i for i, o in enumerate(outcomes) if o is None]
        if len(good) != len(appeals):
            raise RuntimeError(f"intake returned {len(appeals)} appeals for {len(good)} good records")
        keep = []
        rows = appeals.to_dict("records") if any(items[i].gate is not None for i in good) else []
        for pos, i in enumerate(good):
            gate = items[i].gate
            try:
                if gate is not None:
                    gate(rows[pos])
                keep.append(pos)
            except Exception as exc:  # noqa: BLE001 - the gate's refusal is this record's answer
                outcomes[i] = Outcome(refused=exc)
        kept = appeals.iloc[keep].reset_index(drop=True)
        if events is not None:
            events = events[events["appeal_id"].isin(kept["id"])].reset_index(drop=True)
        # One POST is one "line": the same refused body posted again is recognised as already kept.
        quarantine = quarantine.assign(line=1)
        _, result = intake.write_checked(kept, quarantine, self.file, events if len(kept) else None)
        new = set(result.ids)
        external = [str(x) for x in appeals["external_id"].iloc[keep]]
        ids = self.store.appeal_ids_by_key(source, external)
        for pos, key in zip(keep, external, strict=True):
            appeal_id = ids.get(key)
            outcomes[good[pos]] = Outcome(appeal_id=appeal_id, duplicate=appeal_id not in new)
        return [o if o is not None else Outcome() for o in outcomes]

