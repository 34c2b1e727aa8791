"""Import jobs (import_job) and the link of a settled quarantine row, in SQL written once: a job is
created queued, claimed by the one importer a store runs at a time, moved on as it reads, and finished;
running jobs whose thread is gone are marked interrupted (services/import_jobs.py decides when)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from services.clocks import as_local
from services.errors import Labels, NotFound, ValidationError
from services.store.common import IMPORT_JOB_COLUMNS, IMPORT_JOB_STATUSES, QUARANTINE_READ_COLUMNS, now, py
from services.store.dialect import SQLDialect

_TS = ("created_at", "started_at", "finished_at")
# What update_import_job may change (the rest is fixed when the job is made).
_CHANGEABLE = ("status", "progress", "total", "summary", "error", "started_at", "finished_at")


class SQLImportJobs(SQLDialect):
    """Store.create_import_job … Store.quarantine_row over the store's SQL primitives."""

    def create_import_job(self, *, source: str, file_name: str, fmt: str, crs: str, actor: str, path: str,
                          total: int | None = None, at: datetime | None = None) -> dict[str, Any]:
        values = {"source": str(source or "").strip(), "file_name": str(file_name or "").strip(),
                  "format": str(fmt or "").strip(), "crs": str(crs or "").strip(),
                  "actor": str(actor or "").strip(), "path": str(path or "").strip()}
        if missing := [k for k, v in values.items() if not v]:
            raise ValidationError("error.import_job_incomplete", fields=", ".join(missing))
        p = self.P
        with self._tx() as cx:
            rows = self._fetch(cx, "INSERT INTO import_job (source, file_name, format, crs, actor, path, status, "
                                   f"progress, total, created_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, 'queued', 0, "
                                   f"{p}, {p}) RETURNING id",
                               (*values.values(), None if total is None else int(total),
                                self._param_ts(as_local(at) if at is not None else now())))
        return self.import_job(int(rows[0][0]))

    def _job_frame(self, where: str = "", params: Any = (), limit: int | None = None) -> pd.DataFrame:
        sql = f"SELECT {', '.join(IMPORT_JOB_COLUMNS)} FROM import_job {where} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = self._local_times(pd.DataFrame(rows, columns=list(IMPORT_JOB_COLUMNS)), list(_TS))
        df["summary"] = [json.loads(v) if isinstance(v, str) else None for v in df["summary"]]
        for c in ("id", "progress"):
            df[c] = df[c].astype("int64")
        df["total"] = df["total"].astype("Int64")
        return df

    def import_jobs(self, *, statuses: Iterable[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        if statuses is None:
            return self._job_frame(limit=limit)
        wanted = list(statuses)
        if not wanted:
            return self._job_frame("WHERE 1 = 0")
        cond, param = self._any_of("status", wanted)
        return self._job_frame(f"WHERE {cond}", (param,), limit)

    def import_job(self, job_id: int) -> dict[str, Any]:
        df = self._job_frame(f"WHERE id = {self.P}", (int(job_id),))
        if df.empty:
            raise NotFound("error.no_import_job", id=job_id)
        out = {k: py(v) for k, v in df.iloc[0].to_dict().items()}
        out["summary"] = df["summary"].iloc[0]
        for c in _TS:
            out[c] = None if out[c] is None else pd.Timestamp(out[c]).to_pydatetime()
        return out

    def update_import_job(self, job_id: int, **changes: Any) -> dict[str, Any]:
        unknown = sorted(set(changes) - set(_CHANGEABLE))
        if unknown:
            raise ValidationError("error.import_job_fields", fields=", ".join(unknown))
        if "status" in changes and changes["status"] not in IMPORT_JOB_STATUSES:
            raise ValidationError("error.import_job_status", status=changes["status"],
                                  statuses=Labels("import_status", IMPORT_JOB_STATUSES))
        values = []
        for k, v in changes.items():
            if k in _TS:
                v = self._param_ts(None if v is None else as_local(v))
            elif k == "summary":
                v = None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
            values.append(py(v))
        if values:
            sets = ", ".join(f"{k} = {self.P}" for k in changes)
            with self._tx() as cx:
                cx.execute(f"UPDATE import_job SET {sets} WHERE id = {self.P}", (*values, int(job_id)))
        return self.import_job(job_id)

    def claim_import_job(self, at: datetime | None = None) -> dict[str, Any] | None:
        p = self.P
        with self._tx() as cx:
            if self._fetch(cx, "SELECT id FROM import_job WHERE status = 'running' LIMIT 1", ()):
                return None
            rows = self._fetch(cx, "SELECT id FROM import_job WHERE status = 'queued' ORDER BY id LIMIT 1 "
                                   f"{self._lock_clause('import_job')}", ())
            if not rows:
                return None
            cx.execute(f"UPDATE import_job SET status = 'running', started_at = {p} WHERE id = {p}",
                       (self._param_ts(as_local(at) if at is not None else now()), int(rows[0][0])))
        return self.import_job(int(rows[0][0]))

    def interrupt_import_jobs(self, ids: Iterable[int], at: datetime | None = None) -> int:
        keys = sorted({int(i) for i in ids})
        if not keys:
            return 0
        cond, param = self._any_of("id", keys)
        with self._tx() as cx:
            cur = cx.execute(f"UPDATE import_job SET status = 'interrupted', finished_at = {self.P} "
                             f"WHERE {cond} AND status = 'running'",
                             (self._param_ts(as_local(at) if at is not None else now()), param))
            return int(cur.rowcount)

    def quarantine_row(self, quarantine_id: int) -> dict[str, Any]:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(QUARANTINE_READ_COLUMNS)} FROM quarantine "
                                   f"WHERE id = {self.P}", (int(quarantine_id),))
        if not rows:
            raise NotFound("error.no_quarantine_row", id=quarantine_id)
        df = self._local_times(pd.DataFrame(rows, columns=list(QUARANTINE_READ_COLUMNS)),
                               ["received_at", "resolved_at"])
        out = {k: py(v) for k, v in df.iloc[0].to_dict().items()}
        for c in ("received_at", "resolved_at"):
            out[c] = None if out[c] is None else pd.Timestamp(out[c]).to_pydatetime()
        return out
