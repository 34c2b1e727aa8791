"""The audit log (audit_log, audit_head) in SQL written once: appending a hash-chained row under the
writers' lock, reading rows in id order, and the chain's head.

Each row's ``hash`` is SHA-256 over the previous row's hash and the canonical JSON of the row's own
fields (``row_hash``), so changing or deleting a row breaks the chain from there on; the head (last id,
row count, last hash), rewritten in the same transaction as each row, shows deleted newest rows as well.
services/audit.py records and verifies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from services.clocks import as_local
from services.errors import ValidationError
from services.store.common import now
from services.store.dialect import SQLDialect

AUDIT_COLUMNS = ("id", "at", "actor", "address", "action", "object_kind", "object_id", "detail", "prev_hash",
                 "hash")
# The fields the hash covers, in the canonical JSON (keys sorted).
HASHED = ("id", "at", "actor", "address", "action", "object_kind", "object_id", "detail")
# The prev_hash of the first row.
GENESIS = "0" * 64


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def canonical(row: dict[str, Any]) -> str:
    """The canonical JSON of a row's hashed fields: the id an integer, ``at`` in UTC to the microsecond
    (2026-12-02T00:14:21.123456Z, the same from both stores), the rest text or null; keys sorted, no
    spaces, UTF-8 unescaped."""
    at = pd.Timestamp(row["at"]).tz_convert(UTC)
    fields = {k: _text(row.get(k)) for k in HASHED}
    fields["id"] = int(row["id"])
    fields["at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` followed by ``canonical(row)``."""
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


class SQLAudit(SQLDialect):
    """Store.append_audit, Store.audit_rows and Store.audit_head over the store's SQL primitives."""

    def _audit_lock(self, cx: Any) -> None:
        """Hold the audit writers' lock until the transaction ends (SQLite: the write transaction
        already excludes every other writer)."""

    def append_audit(self, actor: str, action: str, *, at: datetime | None = None, address: str | None = None,
                     object_kind: str | None = None, object_id: Any = None,
                     detail: str | None = None) -> dict[str, Any]:
        return self.append_audit_many([{"actor": actor, "action": action, "at": at, "address": address,
                                        "object_kind": object_kind, "object_id": object_id, "detail": detail}])[0]

    def append_audit_many(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for e in entries:  # every row checked before anything is written
            actor, action = str(e.get("actor") or "").strip(), str(e.get("action") or "").strip()
            if not actor or not action:
                raise ValidationError("error.audit_needs_actor")
            detail = e.get("detail")
            if detail is not None:
                json.loads(detail)  # JSON text, or a ValueError before anything is written
            at = e.get("at")
            rows.append({"at": as_local(at) if at is not None else now(), "actor": actor,
                         "address": _text(e.get("address")), "action": action,
                         "object_kind": _text(e.get("object_kind")), "object_id": _text(e.get("object_id")),
                         "detail": detail})
        if not rows:
            return []
        p = self.P
        with self._tx() as cx:
            self._audit_lock(cx)
            head = self._fetch(cx, "SELECT last_id, row_count, hash FROM audit_head WHERE one = 1", ())
            last_id, count, prev = (int(head[0][0]), int(head[0][1]), head[0][2]) if head else (0, 0, GENESIS)
            for row in rows:
                last_id, count = last_id + 1, count + 1
                row["id"], row["prev_hash"] = last_id, prev
                row["hash"] = prev = row_hash(prev, row)
            self._executemany(cx, f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) "
                                  f"VALUES ({', '.join([p] * len(AUDIT_COLUMNS))})",
                              [tuple(self._param_ts(r[c]) if c == "at" else r[c] for c in AUDIT_COLUMNS) for r in rows])
            cx.execute(f"INSERT INTO audit_head (one, last_id, row_count, hash) VALUES (1, {p}, {p}, {p}) "
                       "ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, row_count = excluded.row_count, "
                       "hash = excluded.hash", (last_id, count, prev))
        return [{c: r[c] for c in AUDIT_COLUMNS} for r in rows]

    def audit_rows(self, *, actor: str | None = None, object_kind: str | None = None, object_id: Any = None,
                   since: datetime | None = None, until: datetime | None = None, after_id: int | None = None,
                   limit: int | None = None) -> pd.DataFrame:
        where: list[str] = []
        params: list[Any] = []
        for col, value in (("actor", actor), ("object_kind", object_kind), ("object_id", _text(object_id))):
            if value is not None:
                where.append(f"{col} = {self.P}")
                params.append(value)
        if since is not None:
            where.append(f"at >= {self.P}")
            params.append(self._param_ts(as_local(since)))
        if until is not None:
            where.append(f"at < {self.P}")
            params.append(self._param_ts(as_local(until)))
        if after_id is not None:
            where.append(f"id > {self.P}")
            params.append(int(after_id))
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = self._local_times(pd.DataFrame(rows, columns=list(AUDIT_COLUMNS)), ["at"])
        df["id"] = df["id"].astype("int64")
        return df

    def audit_head(self) -> dict[str, Any] | None:
        with self._read() as cx:
            rows = self._fetch(cx, "SELECT last_id, row_count, hash FROM audit_head WHERE one = 1", ())
        if not rows:
            return None
        return {"last_id": int(rows[0][0]), "row_count": int(rows[0][1]), "hash": rows[0][2]}
