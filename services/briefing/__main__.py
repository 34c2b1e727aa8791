"""``python -m services.briefing``: make the daily briefing (每日简报) as a PDF and a map PNG.

    python -m services.briefing [--date YYYY-MM-DD] [--area CODE] [--lang zh|en] [--out DIR] [--store URL]

``--date`` defaults to yesterday (Asia/Shanghai), ``--area`` to the whole district (else a subdistrict or
community code), ``--out`` to ``var/briefings``. Writes ``DIR/briefing-<area>-<date>[-en].pdf`` and
``.png`` and prints their paths; on failure prints the reason, exits 1, and leaves earlier briefings as
they were (services/briefing/jobs.py). The timer and cron line in deploy/ run it at 07:00 every day.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta

from services.briefing import jobs
from services.clocks import as_local
from services.store import create_store, database_url
from services.store.common import now as _now


def yesterday(now: datetime | None = None) -> date:
    """The day before ``now`` (default: now) in Asia/Shanghai."""
    return as_local(now or _now()).date() - timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.briefing",
                                     description="Make the daily briefing (每日简报): a PDF and a map PNG.")
    parser.add_argument("--date", help="the report day, YYYY-MM-DD (default: yesterday, Asia/Shanghai)")
    parser.add_argument("--area", help="a subdistrict or community code (default: the whole district)")
    parser.add_argument("--lang", default="zh", choices=("zh", "en"))
    parser.add_argument("--out", help=f"the folder to write to (default: {jobs.default_dir()})")
    parser.add_argument("--store", metavar="URL",
                        help="sqlite:///path or postgresql://... (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    parser.add_argument("--now", help="the making time, ISO (default: now); the cut-off is never after it")
    args = parser.parse_args(argv)
    try:
        day = date.fromisoformat(args.date) if args.date else yesterday()
    except ValueError:
        parser.error(f"--date: bad day {args.date!r}, expected YYYY-MM-DD")
    try:
        when = as_local(datetime.fromisoformat(args.now)) if args.now else None
    except ValueError:
        parser.error(f"--now: bad time {args.now!r}")
    try:
        area = jobs.area_of(args.area)
    except ValueError as exc:
        parser.error(f"--area: {exc}")
    try:
        store = create_store(database_url(args.store))
    except Exception as exc:
        print(f"error: cannot open the store: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:
        paths = jobs.make(store, day, area=area, lang=args.lang, out_dir=args.out, now=when)
    except Exception as exc:
        print(f"error: the briefing of {day.isoformat()} was not made: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        store.close()
    print(paths["pdf"])
    print(paths["png"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
