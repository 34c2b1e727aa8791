"""``python -m services.intake``: the command line (options, exit status, printed summary); ``python -m
services.intake export --format open311 …`` writes appeals as an Open311 file (services.open311api.export)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd

from geo.coords import SOURCE_SYSTEMS
from services import audit
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
                    "(DATABASE_URL). Every row is stored, counted as a duplicate, or quarantined with a reason. "
                    "(The other way: python -m services.intake export --help.)",
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
    p.add_argument("--keep-reported", action="store_true",
                   help="an open request reported long ago keeps its requested time (moving or restoring our "
                        "own appeals, e.g. an Open311 export) instead of being imported backlog with clocks "
                        "from now")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    return p


def _export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.intake export",
        description="Write the store's appeals to a file as the Open311 API's GET requests.json gives them "
                    "(every matching appeal, no 90-day window or 1,000 cap; no personal field; the description "
                    "masked). The export is recorded in the audit log. See docs/open311.md.")
    p.add_argument("--format", dest="fmt", required=True, choices=("open311",), help="output format")
    p.add_argument("--since", type=date.fromisoformat, help="first local day reported (YYYY-MM-DD, inclusive)")
    p.add_argument("--until", type=date.fromisoformat, help="last local day reported (YYYY-MM-DD, inclusive)")
    p.add_argument("--area", help="a subdistrict, community or grid code (default: the whole district)")
    p.add_argument("--status", choices=("open", "closed"), help="only open or only closed appeals")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of names and status notes")
    p.add_argument("--store", help="store URL (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    p.add_argument("--out", required=True, help="the file to write (replaced whole when done)")
    return p


def export_main(argv: list[str]) -> int:
    """``python -m services.intake export …``: services.open311api.export over the store."""
    args = _export_parser().parse_args(argv)
    from services.access import Principal
    from services.errors import DomainError
    from services.open311api.export import ExportFilter, export_file
    from services.store import create_store

    flt = ExportFilter(since=args.since, until=args.until, area=args.area, status=args.status, lang=args.lang)
    store = create_store(args.store)
    try:
        n = export_file(store, args.out, flt, Principal(audit.cli_actor(), "admin"))
    except (DomainError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except OSError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"{args.out}: {n} requests (open311)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["export"]:
        return export_main(argv[1:])
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
                        chunk_size=args.chunk_size, service_map=args.service_map, date_order=args.date_format,
                        keep_reported=args.keep_reported)
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
