"""The tamper-evident audit log (issue 12 §3): who did what, when, from which address, to which object.

``record`` appends one row through the store (``Store.append_audit``: the next id, ``prev_hash`` = the
previous row's hash, ``hash`` = SHA-256 over prev_hash and the canonical JSON of the row's fields, see
services/store/audit.py), under a lock so that two writers never fork the chain. ``verify`` walks the
chain in id order and names the first bad row: a row changed (its hash no longer matches), a row deleted
in the middle (a gap in the ids, and the next row's prev_hash points at nothing), or the newest rows
deleted (the head, kept in the same transaction as every row, names a later id, count or hash).

What it cannot see: someone who may write the database directly (the tables' owner) and rewrites every
hash from the changed row on, and the head too. Against that, the app's database role may only INSERT
and SELECT on PostGIS (README "Sign-in, roles and audit", ``AUDIT_GRANTS``), and a copy of the head hash kept
elsewhere (``python -m services.audit verify`` prints it) pins the chain up to then.

CLI: ``python -m services.audit verify | list | grant`` (``--help``).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from services.clocks import TZ
from services.errors import DomainError
from services.store.audit import GENESIS, row_hash
from services.store.base import Store

T = TypeVar("T")
# Rows read at a time by verify.
BATCH = 5000


def detail_text(detail: Any) -> str | None:
    """``detail`` (a dict, list, or any JSON value) as canonical JSON text (keys sorted, no spaces);
    values JSON does not know (datetimes) as their text."""
    if detail is None:
        return None
    return json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def record(store: Store, actor: str, action: str, object_kind: str | None = None, object_id: Any = None,
           detail: Any = None, address: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    """Append one audit row (``actor``: the signed-in account's name, or ``system``/``cli:<user>``/
    ``anonymous``); returns it with its id and hash."""
    return store.append_audit(actor, action, at=at, address=address, object_kind=object_kind,
                              object_id=object_id, detail=detail_text(detail))


def record_many(store: Store, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``record`` for each of ``entries`` (dicts of its arguments, ``detail`` any JSON-able value) in one
    transaction, in order; returns the rows."""
    return store.append_audit_many([{**e, "detail": detail_text(e.get("detail"))} for e in entries])


def audited(store: Store, actor: str, action: str, object_kind: str, object_id: Any, detail: Any,
            step: Callable[[], T], address: str | None = None) -> T:
    """Run ``step`` (one action on an appeal or an order) and record it: ``action`` when it was done,
    ``action.refused`` with the reason's key when a domain rule refused it (then re-raised)."""
    try:
        result = step()
    except DomainError as exc:
        record(store, actor, f"{action}.refused", object_kind, object_id,
               detail={"request": detail, "reason": exc.key or str(exc)}, address=address)
        raise
    record(store, actor, action, object_kind, object_id, detail=detail, address=address)
    return result


# Views of unmasked personal data already recorded in this process, as (session, appeal id): a session
# that keeps an appeal open is logged once, not at every refresh. Bounded; when full it starts again
# (a view is then logged a second time, never missed).
_VIEWS_SEEN: set[tuple[str, Any]] = set()
_VIEWS_MAX = 100_000


def personal_data_viewed(store: Store, who: Any, object_kind: str, object_id: Any,
                         fields: Sequence[str]) -> bool:
    """Record that ``who`` (an access.Principal) was shown the unmasked ``fields`` of an object, once per
    sign-in session and object (issue 12 §3); True when a row was written now."""
    key = (who.session or f"{who.name}@{who.address}", f"{object_kind}:{object_id}")
    if key in _VIEWS_SEEN:
        return False
    if len(_VIEWS_SEEN) >= _VIEWS_MAX:
        _VIEWS_SEEN.clear()
    record(store, who.name, "personal_data.viewed", object_kind, object_id, {"fields": sorted(fields)},
           who.address)
    _VIEWS_SEEN.add(key)
    return True


def cli_actor() -> str:
    """The actor of a command run from a shell: ``cli:<the system user>`` (``cli`` when it has no name)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def exported(store: Store, who: Any, what: str, detail: Any = None) -> None:
    """Record that ``who`` (an access.Principal) downloaded an export ``what`` (e.g. ``planning.coverage.xlsx``,
    ``audit.csv``), with what it held (filters, row count)."""
    record(store, who.name, "export", "export", what, detail, who.address)


def rule_files() -> dict[str, Path]:
    """The rule files whose change the log records: the rules in use (``GM_RULES`` or config/rules.toml)
    and the Open311 service map, by the name they are recorded under."""
    from services.config import DEFAULT_RULES

    config_dir = Path(DEFAULT_RULES).parent
    return {"rules.toml": Path(os.environ.get("GM_RULES") or DEFAULT_RULES),
            "open311_services.toml": config_dir / "open311_services.toml"}


def note_rule_files(store: Store, actor: str = "system") -> list[str]:
    """Record each rule file whose SHA-256 differs from the one last recorded for it (``rules.changed``,
    with the old and new hash; the first time ``rules.loaded``); called at start-up. Returns the names
    recorded now."""
    seen: dict[str, str] = {}
    for r in store.audit_rows(object_kind="rule_file").itertuples(index=False):
        seen[r.object_id] = json.loads(r.detail)["sha256"]
    recorded = []
    for name, path in rule_files().items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
        if seen.get(name) == digest:
            continue
        action = "rules.loaded" if name not in seen else "rules.changed"
        record(store, actor, action, "rule_file", name,
               {"sha256": digest, "previous": seen.get(name), "path": str(path)})
        recorded.append(name)
    return recorded


@dataclass(frozen=True)
class Verdict:
    """What ``check`` found: ``ok``, the first bad row's id (None when ok), why, how many rows were read,
    and the last good hash (the head, when ok)."""

    ok: bool
    first_bad_id: int | None
    reason: str
    rows: int
    head_hash: str


def check(store: Store) -> Verdict:
    """Walk the whole chain in id order (in batches) and compare its end with the head."""
    prev, expected, count = GENESIS, 1, 0
    after = 0
    while True:
        batch = store.audit_rows(after_id=after, limit=BATCH)
        if batch.empty:
            break
        for row in batch.to_dict("records"):
            rid = int(row["id"])
            if rid != expected:
                return Verdict(False, rid, f"rows {expected}..{rid - 1} are missing before row {rid}", count, prev)
            if row["prev_hash"] != prev:
                return Verdict(False, rid, f"row {rid} does not follow the row before it", count, prev)
            if row_hash(prev, row) != row["hash"]:
                return Verdict(False, rid, f"row {rid} was changed after it was written", count, prev)
            prev, expected, count = row["hash"], rid + 1, count + 1
        after = expected - 1
    head = store.audit_head()
    if head is None:
        return Verdict(count == 0, None if count == 0 else 1,
                       "empty log" if count == 0 else "the log has rows but no head", count, prev)
    if head["last_id"] != expected - 1 or head["row_count"] != count or head["hash"] != prev:
        return Verdict(False, expected, f"rows from {expected} to {head['last_id']} are missing (the head names "
                                        f"{head['row_count']} rows up to id {head['last_id']})", count, prev)
    return Verdict(True, None, "ok", count, prev)


def verify(store: Store) -> tuple[bool, int | None]:
    """``(True, None)`` when every row is as written and none is missing, else ``(False, first bad id)``
    (the id of a changed row, of the row after a gap, or of the first missing newest row)."""
    v = check(store)
    return v.ok, v.first_bad_id


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    ts = pd.Timestamp(text)
    return (ts.tz_localize(TZ) if ts.tzinfo is None else ts).to_pydatetime()


def main(argv: Sequence[str] | None = None) -> int:
    from services.store import create_store, database_url

    parser = argparse.ArgumentParser(prog="python -m services.audit",
                                     description="Verify, read, or protect the hash-chained audit log.")
    parser.add_argument("--store", metavar="URL",
                        help="sqlite:///path or postgresql://... (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check the chain; exits 1 and names the first bad row if any was changed or "
                                  "deleted")
    ls = sub.add_parser("list", help="print rows in id order as tab-separated text")
    ls.add_argument("--actor")
    ls.add_argument("--object", metavar="KIND[:ID]", help="e.g. account:zhang or appeal:42")
    ls.add_argument("--since", metavar="ISO", help="from this time (Asia/Shanghai if no offset)")
    ls.add_argument("--until", metavar="ISO", help="before this time")
    gr = sub.add_parser("grant", help="PostGIS: let database ROLE read and write the data, and only INSERT "
                                      "and SELECT on audit_log (run as the tables' owner)")
    gr.add_argument("role")
    args = parser.parse_args(argv)
    store = create_store(database_url(args.store))
    try:
        if args.command == "verify":
            v = check(store)
            if v.ok:
                print(f"audit log ok: {v.rows} rows, head {v.head_hash}")
                return 0
            print(f"audit log BROKEN at row {v.first_bad_id}: {v.reason}", file=sys.stderr)
            return 1
        if args.command == "grant":
            if not hasattr(store, "grant_audit"):
                print("grant applies to PostGIS only (SQLite has no database roles)", file=sys.stderr)
                return 2
            store.grant_audit(args.role)
            print(f"{args.role} may now read and write the data, and only INSERT and SELECT on audit_log")
            return 0
        kind, _, oid = (args.object or "").partition(":")
        rows = store.audit_rows(actor=args.actor, object_kind=kind or None, object_id=oid or None,
                                since=_when(args.since), until=_when(args.until))
        for r in rows.itertuples(index=False):
            print("\t".join("" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in
                            (r.id, f"{r.at:%Y-%m-%d %H:%M:%S}", r.actor, r.address, r.action, r.object_kind,
                             r.object_id, r.detail)))
        # Reading the log out is an export like the admin page's (who read which rows).
        record(store, cli_actor(), "export", "export", "audit.list",
               {"actor": args.actor, "object": args.object, "since": args.since, "until": args.until,
                "rows": len(rows)})
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
