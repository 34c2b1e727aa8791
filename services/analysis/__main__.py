"""``python -m services.analysis``: the analysis figures of one drill-down step, for operators.

    python -m services.analysis --level community --code 440311001 --period month --date 2025-10-09 \\
        [--format json|csv|xlsx] [--out FILE] [--store URL] [--now 2025-11-01T00:00]

One row (JSON: one object) per area of ``--level`` inside ``--code`` (default: the district), with every
measure of services/analysis/measures.py by its code name, the area's name and its flag. JSON goes to
stdout unless ``--out``; csv and xlsx (pandas, openpyxl) need ``--out`` for xlsx. It reads the store
directly (an operator's tool: no sign-in, no audit).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime

from services.analysis.periods import CALENDAR_KINDS, period
from services.analysis.service import area_figures, parent_area
from services.clocks import as_local
from services.errors import DomainError, describe
from services.store import create_store, database_url
from services.store.analysis import LEVELS
from services.store.common import now as _now


def _json_value(v: object) -> object:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return _json_value(v.item())  # numpy scalars
    return v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.analysis",
                                     description="Analysis figures (分析研判) per area for a period.")
    parser.add_argument("--level", required=True, choices=LEVELS, help="the level of the rows")
    parser.add_argument("--code", help="the area the rows lie in (default: the district)")
    parser.add_argument("--period", required=True, choices=CALENDAR_KINDS)
    parser.add_argument("--date", required=True, help="a day of the period, YYYY-MM-DD")
    parser.add_argument("--format", default="json", choices=("json", "csv", "xlsx"))
    parser.add_argument("--out", help="write here (default: stdout; required for xlsx)")
    parser.add_argument("--store", metavar="URL",
                        help="sqlite:///path or postgresql://... (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    parser.add_argument("--now", help="the time of the figures, ISO (default: now)")
    parser.add_argument("--lang", default="zh", choices=("zh", "en"), help="language of the area names")
    args = parser.parse_args(argv)
    if args.format == "xlsx" and not args.out:
        parser.error("--format xlsx needs --out FILE")
    try:
        when = _now() if not args.now else as_local(datetime.fromisoformat(args.now))
    except ValueError:
        parser.error(f"--now: bad time {args.now!r}")
    try:
        chosen = period(args.period, args.date)
        parent = parent_area(args.level, args.code)
    except DomainError as exc:
        print(f"error: {describe(exc, 'en')}", file=sys.stderr)
        return 2
    store = create_store(database_url(args.store))
    try:
        df = area_figures(store, args.level, parent, chosen, when, args.lang)
    finally:
        store.close()
    df.insert(2, "period", chosen.key())
    if args.format == "json":
        rows = [{k: _json_value(v) for k, v in r.items()} for r in df.to_dict("records")]
        text = json.dumps(rows, ensure_ascii=False, indent=1)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        else:
            print(text)
    elif args.format == "csv":
        df.to_csv(args.out or sys.stdout, index=False, encoding="utf-8")
    else:
        df.to_excel(args.out, index=False, sheet_name=args.level, engine="openpyxl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
