"""Imports started from the browser (/data, issue 13 §4) run as jobs that outlive the tab.

``start`` saves the uploaded bytes to a file under the store's var dir (``services.accounts.var_dir_for``,
``imports/``), records a ``queued`` job (Store.create_import_job) and audits the start (``import.start``;
``import.start.refused`` with the reason). A worker thread of the server process, one per store, claims
the queued jobs one at a time, oldest first (Store.claim_import_job), and runs the intake
(services.intake.importer.Intake, the same checks, duplicates and quarantine as ``python -m
services.intake``), keeping its progress (bytes of a CSV or JSON Lines file, rows of the others; in this
process while the load holds the store's one write transaction, in the job when it ends) and at
the end the summary the CLI prints (``Summary.as_dict``) into the job. A file the intake cannot read
fails the job with the reason; nothing is lost: the file stays where it was saved.

A job ``running`` without a live thread in this process (the server stopped or restarted while it ran)
is marked ``interrupted`` when the jobs are listed or the worker starts: its bulk load is one
transaction, so none of its appeals was stored, and it can be started again from the same file. One
server process per store is assumed (as for the SQLite file): another process's running job would be
taken for an interrupted one.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from geo.coords import SOURCE_SYSTEMS
from services import access, audit
from services.clocks import TZ
from services.errors import DomainError, Label, ValidationError
from services.intake.importer import Intake
from services.intake.schema import FORMATS, IntakeError
from services.store.base import Store

# The upload's file name as kept (on disk and in the job): word characters (Chinese included), dot and
# dash; anything else becomes "_" (a name a browser sends is never a path here).
_SAFE = re.compile(r"[^\w.\-]+")
_LOCK = threading.Lock()
_WORKERS: dict[str, threading.Thread] = {}
_RUNNING: dict[str, set[int]] = {}
_PROGRESS: dict[tuple[str, int], tuple[int, int | None]] = {}


def imports_dir(store: Store) -> Path:
    """Where uploaded files are kept for the store (``var_dir_for(store.url)/imports``)."""
    from services.accounts import var_dir_for

    return var_dir_for(store.url) / "imports"


def check_may_import(who: access.Principal) -> None:
    """Raises ``Forbidden`` unless ``who`` may ``import_data``."""
    access.check_principal(who)
    access.check_action(who.role, "import_data")


@dataclass(frozen=True)
class Upload:
    """What the clerk sends: the file's name and bytes, its format (``auto`` or one of intake's FORMATS),
    the coordinate system of its points and the name of the sending system (the source)."""

    file_name: str
    data: bytes
    source: str
    crs: str = "wgs84"
    fmt: str = "auto"


def _checked(up: Upload) -> Upload:
    name = Path(str(up.file_name or "").replace("\\", "/")).name.strip()
    source = str(up.source or "").strip()
    if not name or not up.data:
        raise ValidationError("error.import_no_file")
    if not source:
        raise ValidationError("error.import_no_source")
    if up.crs not in SOURCE_SYSTEMS:
        raise ValidationError("error.import_bad_crs", crs=up.crs, systems=", ".join(SOURCE_SYSTEMS))
    if up.fmt != "auto" and up.fmt not in FORMATS:
        raise ValidationError("error.import_bad_format", fmt=up.fmt, formats=", ".join(FORMATS))
    return Upload(name, up.data, source, up.crs, up.fmt)


def start(store: Store, who: access.Principal, upload: Upload, *, run: bool = True) -> dict[str, Any]:
    """Save the upload, queue its job and (``run``) wake the store's worker; returns the job. Audited."""
    request = {"file": getattr(upload, "file_name", None), "source": getattr(upload, "source", None),
               "crs": getattr(upload, "crs", None), "format": getattr(upload, "fmt", None),
               "bytes": len(getattr(upload, "data", b"") or b"")}
    try:
        check_may_import(who)
        up = _checked(upload)
        folder = imports_dir(store)
        folder.mkdir(parents=True, exist_ok=True)
        # One folder per upload, the file under its own name: quarantine rows name the file as the clerk
        # knows it (intake records the file's name), and two uploads of one name never collide.
        name = _SAFE.sub("_", up.file_name)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**9}" / name
        path.parent.mkdir(parents=True)
        path.write_bytes(up.data)
        job = store.create_import_job(source=up.source, file_name=name, fmt=up.fmt, crs=up.crs,
                                      actor=who.name, path=str(path), total=len(up.data))
    except DomainError as exc:
        audit.record(store, getattr(who, "name", None) or "anonymous", "import.start.refused", "import_job", None,
                     detail={"request": request, "reason": exc.key or str(exc)}, address=getattr(who, "address", None))
        raise
    audit.record(store, who.name, "import.start", "import_job", job["id"], detail=request, address=who.address)
    if run:
        wake(store)
    return job


# ------------------------------------------------------------------------------------------ the worker
class _JobProgress:
    """The progress bar of a job: counts what the intake reports. While the load runs the count is kept in
    this process (``_PROGRESS``, which ``jobs`` shows): the load holds the store's write transaction, and
    SQLite has one writer; it is written to the job when the load has ended."""

    def __init__(self, store: Store, job_id: int, total: int | None) -> None:
        self.store, self.job_id, self.done = store, job_id, 0
        self.key = (_key(store), job_id)
        with _LOCK:
            _PROGRESS[self.key] = (0, total)

    def update(self, n: int) -> None:
        self.done += int(n)
        with _LOCK:
            _PROGRESS[self.key] = (self.done, _PROGRESS.get(self.key, (0, None))[1])

    def close(self) -> None:
        with _LOCK:
            total = _PROGRESS.pop(self.key, (0, None))[1]
        self.store.update_import_job(self.job_id, progress=self.done, total=total)


class JobIntake(Intake):
    """The intake of one job: its progress goes to the job's row."""

    def __init__(self, store: Store, job_id: int, **kw: Any) -> None:
        super().__init__(store, **kw)
        self.job_id = job_id

    def progress_bar(self, total: int | None, enabled: bool, name: str) -> Any:
        return _JobProgress(self.store, self.job_id, total)


def run_job(store: Store, job: dict[str, Any]) -> dict[str, Any]:
    """Run one claimed job to its end (``done`` with the summary, or ``failed`` with the error)."""
    jid = int(job["id"])
    try:
        intake = JobIntake(store, jid, source=job["source"], crs=job["crs"])
        summary = intake.import_file(job["path"], fmt=job["format"], progress=True)
    except (IntakeError, ValueError, OSError) as exc:
        return store.update_import_job(jid, status="failed", error=str(exc), finished_at=datetime.now(TZ))
    result = summary.as_dict()
    result["path"] = job["file_name"]  # the clerk's name for the file, not where it was kept
    result["text"] = summary.text().replace(str(Path(job["path"])), job["file_name"])
    result["file_reason"] = summary.file_reason
    return store.update_import_job(jid, status="done", summary=result, finished_at=datetime.now(TZ))


def _key(store: Store) -> str:
    return f"{store.url}#{id(store)}"


def _work(store: Store) -> None:
    """The worker of one store: claims and runs queued jobs until none is left."""
    key = _key(store)
    try:
        while True:
            job = store.claim_import_job()
            if job is None:
                return
            with _LOCK:
                _RUNNING.setdefault(key, set()).add(int(job["id"]))
            try:
                run_job(store, job)
            except Exception as exc:  # noqa: BLE001 - the job records why it stopped, the worker goes on
                store.update_import_job(int(job["id"]), status="failed", error=f"{type(exc).__name__}: {exc}",
                                        finished_at=datetime.now(TZ))
            finally:
                with _LOCK:
                    _RUNNING.get(key, set()).discard(int(job["id"]))
    finally:
        with _LOCK:
            if _WORKERS.get(key) is threading.current_thread():
                _WORKERS.pop(key, None)


def mark_interrupted(store: Store) -> int:
    """Mark ``interrupted`` every ``running`` job no thread of this process runs; returns how many."""
    running = store.import_jobs(statuses=["running"])
    with _LOCK:
        live = set(_RUNNING.get(_key(store), set()))
    return store.interrupt_import_jobs([int(i) for i in running["id"] if int(i) not in live])


def wake(store: Store) -> threading.Thread | None:
    """Start the store's worker unless it runs already (after marking orphaned jobs interrupted);
    returns the running worker."""
    key = _key(store)
    with _LOCK:
        worker = _WORKERS.get(key)
        if worker is not None and worker.is_alive():
            return worker
    mark_interrupted(store)
    with _LOCK:
        worker = _WORKERS.get(key)
        if worker is not None and worker.is_alive():
            return worker
        worker = threading.Thread(target=_work, args=(store,), name=f"import-jobs-{len(_WORKERS)}", daemon=True)
        _WORKERS[key] = worker
        worker.start()
        return worker


# ------------------------------------------------------------------------------------------ reading
def jobs(store: Store, who: access.Principal, limit: int | None = 100) -> pd.DataFrame:
    """The job history, newest first, for a role that may import or fix quarantine (running jobs whose
    thread is gone marked interrupted first). Queued jobs left by a stopped server are started."""
    access.check_principal(who)
    if not (access.may_do(who.role, "import_data") or access.may_do(who.role, "fix_quarantine")):
        access.check_action(who.role, "import_data")
    mark_interrupted(store)
    out = store.import_jobs(limit=limit)
    with _LOCK:
        live = {jid: v for (k, jid), v in _PROGRESS.items() if k == _key(store)}
    for i in out.index[out["status"] == "running"]:
        if int(out.at[i, "id"]) in live:
            done, total = live[int(out.at[i, "id"])]
            out.at[i, "progress"] = done
            out.at[i, "total"] = pd.NA if total is None else total
    if (out["status"] == "queued").any() and access.may_do(who.role, "import_data"):
        wake(store)
    return out.drop(columns=["path"])


def current(store: Store, who: access.Principal) -> dict[str, Any] | None:
    """The running job, else the newest queued one, else None (what the progress bar follows)."""
    df = jobs(store, who, limit=None)
    for status in ("running", "queued"):
        rows = df[df["status"] == status]
        if len(rows):
            return {k: v for k, v in rows.iloc[-1].to_dict().items()}
    return None


def fraction(job: dict[str, Any]) -> float | None:
    """How far a job is, 0..1, when its total is known (None otherwise: rows counted only)."""
    total = job.get("total")
    if total is None or pd.isna(total) or int(total) <= 0:
        return None
    return min(1.0, int(job.get("progress") or 0) / int(total))


def status_label(status: str) -> Label:
    return Label("import_status", status)
