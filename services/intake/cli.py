"""``python -m services.intake``: the command line (options, exit status, printed summary)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from geo.coords import SOURCE_SYSTEMS
from services.intake.importer import Intake
from services.intake.parsing import DATE_ORDERS
from services.intake.schema import (
    DEFAULT_CHUNK,
    FORMATS,
    IntakeError,
    bilingual,
)
from services.vocabulary import (
    CHANNEL_LOOKUP,
    normalise,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.intake",
        description="Load appeals from CSV, JSON Lines, GeoJSON or Open311 GeoReport v2 JSON into the store "
                    "(DATABASE_URL). Every row is stored, counted as a duplicate, or quarantined with a reason.",
        epilog="Timestamps without a zone are Asia/Shanghai. Exit status: 0 every row accounted for (stored, "
               "a duplicate or quarantined; a file that is not what it claims gets one whole-file quarantine "
               "record); 1 a file that cannot be opened; 2 bad arguments. Field names and the Open311 mapping: docs/intake.md.")
    p.add_argument("path", help="the file to import (.csv/.tsv, .jsonl/.ndjson, .geojson, .json, .xlsx)")
    p.add_argument("--crs", default="wgs84", type=str.lower, choices=SOURCE_SYSTEMS,
                   help="coordinate system of the file's lon/lat (default wgs84; a source_crs column overrides "
                        "it per row)")
    p.add_argument("--source", help="name of the sending system; (source, external id) is unique "
                                    "(default: the file name without extension)")
    p.add_argument("--format", dest="fmt", default="auto", choices=("auto",) + FORMATS,
                   help="input format (default: from the file name and content)")
    p.add_argument("--encoding", help="text encoding (default: UTF-8, else GB18030)")
    p.add_argument("--sheet", help="the worksheet of an .xlsx workbook to read (default: the first)")
    p.add_argument("--date-format", choices=DATE_ORDERS,
                   help="how dates with the year last are written: dmy (03/04/2024 is 3 April) or mdy (4 March); "
                        "without it such dates are quarantined as ambiguous unless a day above 12 settles them")
    p.add_argument("--default-channel", help="channel for rows that have none (e.g. hotline for a 12345 export)")
    p.add_argument("--store", help="store URL (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="rows per chunk (default 10000)")
    p.add_argument("--service-map", help="mapping of other systems' service codes (default: "
                   "config/open311_services.toml; see docs/intake.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.chunk_size < 1:
        print("--chunk-size must be at least 1", file=sys.stderr)
        return 2
    if args.default_channel and normalise(pd.Series([args.default_channel]), CHANNEL_LOOKUP).isna().iloc[0]:
        print(f"unknown --default-channel {args.default_channel!r}", file=sys.stderr)
        return 2
    path = Path(args.path)
    if not path.is_file():
        print(bilingual("intake.summary.no_such_file", path=path), file=sys.stderr)
        return 1
    from services.clocks import unofficial_cli_note
    from services.store import create_store

    source = args.source or path.stem
    store = create_store(args.store)
    try:
        intake = Intake(store, source=source, crs=args.crs, default_channel=args.default_channel,
                        chunk_size=args.chunk_size, service_map=args.service_map, date_order=args.date_format)
        big = path.stat().st_size > (1 << 20)
        summary = intake.import_file(path, fmt=args.fmt, encoding=args.encoding,
                                     progress=big and not args.no_progress, sheet=args.sheet)
    except IntakeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        store.close()
    print(summary.text())
    if note := unofficial_cli_note():  # deadlines on a computed calendar: say so
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    return 0 if summary.accounted else 1
