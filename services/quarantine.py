"""Quarantine as people may see it, and its retention (issue 11 §5).

``quarantine.raw`` keeps refused input rows verbatim, so it holds whatever the sender typed: names,
mobile numbers, ID and card numbers. Screens read quarantine through ``quarantined(store, role)``, never
``Store.quarantined`` directly: a role that may see personal data (services/access.py) reads ``raw`` as
stored; every other role reads it, and the reason (which can quote a refused value), through
``access.mask_text``. The reporter's name is not known for a row that never became an appeal, so there the
numbers are masked and the name is not.

A row settled with ``Store.resolve_quarantine`` (fixed or dismissed) is deleted ``[quarantine]
retention_days`` after it was settled (config/rules.toml); unsettled rows stay.
``python -m services.quarantine purge [--days N] [--dry-run] [--store URL]`` applies the retention once and
prints what it did (run it daily, e.g. from cron).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta

import pandas as pd

from services import access
from services.clocks import TZ, as_local
from services.config import rules
from services.store.base import Store

MASKED_COLUMNS = ("raw", "reason")


def retention_days(cfg: dict | None = None) -> int:
    """Days a settled quarantine row is kept ([quarantine] retention_days)."""
    return int((cfg or rules())["quarantine"]["retention_days"])


def quarantined(store: Store, role: str, source: str | None = None) -> pd.DataFrame:
    """The store's quarantine rows (newest first) as ``role`` may read them: ``raw`` and ``reason`` as
    stored for a role that may see personal data, masked with ``access.mask_text`` for any other;
    ``access.Forbidden`` for an unknown role."""
    access.check_role(role)
    rows = store.quarantined(source=source)
    if access.may_see_personal(role, wall_mode=False):
        return rows
    out = rows.copy()
    for col in MASKED_COLUMNS:
        if col in out:
            out[col] = [access.mask_text(v) if isinstance(v, str) else v for v in out[col]]
    return out


def purge_before(now: datetime | None = None, days: int | None = None) -> datetime:
    """The moment before which settled rows are deleted: ``now`` minus the retention."""
    now = as_local(now) if now is not None else datetime.now(TZ)
    return now - timedelta(days=retention_days() if days is None else int(days))


def purge(store: Store, *, now: datetime | None = None, days: int | None = None) -> tuple[int, datetime]:
    """Delete settled rows older than the retention; returns (rows deleted, the cut-off)."""
    before = purge_before(now, days)
    return store.purge_quarantine(before), before


def due(store: Store, before: datetime) -> int:
    """How many rows a purge at ``before`` would delete (for --dry-run)."""
    rows = store.quarantined()
    settled = pd.to_datetime(rows["resolved_at"], utc=True)
    return int((settled < pd.Timestamp(as_local(before))).sum())


def main(argv: list[str] | None = None) -> int:
    from services.store import create_store, database_url

    parser = argparse.ArgumentParser(
        prog="python -m services.quarantine",
        description="Quarantine upkeep: 'purge' deletes quarantine rows settled (fixed or dismissed) more than "
                    "[quarantine] retention_days ago (config/rules.toml); unsettled rows are kept.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("purge", help="delete settled rows past the retention and say how many")
    p.add_argument("--days", type=int, help="retention in days (default: [quarantine] retention_days)")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    p.add_argument("--store", metavar="URL",
                   help="sqlite:///path or postgresql://... (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    args = parser.parse_args(argv)
    if args.days is not None and args.days < 0:
        parser.error("--days must be 0 or more")
    days = retention_days() if args.days is None else args.days
    store = create_store(database_url(args.store))
    try:
        if args.dry_run:
            before = purge_before(days=days)
            n, verb = due(store, before), "would delete"
        else:
            n, before = purge(store, days=days)
            verb = "deleted"
        left = len(store.quarantined())
    finally:
        store.close()
    print(f"quarantine: {verb} {n} settled row(s) settled before {before:%Y-%m-%d %H:%M} "
          f"(retention {days} days); {left} row(s) left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
