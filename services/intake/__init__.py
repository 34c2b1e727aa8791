"""Intake: load appeals from CSV, JSON Lines, GeoJSON or Open311 GeoReport v2 JSON into the store.

``python -m services.intake PATH [--crs wgs84|cgcs2000|gcj02|bd09] [--source NAME]`` (``--help`` for
the rest). Why a package of its own: every appeal that does not come from the dashboard arrives through
here, and the rules for accepting one (coordinates, vocabularies, timestamps, idempotence) must be the
same for a clerk's spreadsheet, a hotline export and a GeoReport feed.

Each row is stored as a new appeal, counted as a duplicate (its ``(source, external_id)`` is already
stored), or quarantined verbatim with a ``reason_code`` and a message in Chinese then English saying
what to fix; one bad row never stops the file. Fields, formats, the Open311 mapping and the exit status
are described in docs/intake.md; the limits are in config/rules.toml ``[intake]``.

Modules: ``schema`` (fields, reason codes), ``reading`` and the readers ``csv_reader``, ``jsonl_reader``,
``document_reader`` (with ``json_records``), ``parsing`` (text, numbers, timestamps), ``checks`` (one
function per check, in order), ``appeals`` (store-ready rows), ``importer`` (the ``Intake`` class) and
``cli`` (``__main__``). This module re-exports the names other code imports.
"""

from services.clocks import TZ
from services.intake.appeals import (
    CLOSED_STAMPS,
    assign,
    backlog_age,
    build_appeals,
    district_layers,
    imported_state,
    inside_district,
    object_frame,
)
from services.intake.cli import main
from services.intake.importer import Intake, Summary, warm_up
from services.intake.parsing import clean_text, normalise_crs, parse_numbers, parse_timestamps
from services.intake.reading import Chunk, detect_format, estimate_rows, sniff_encoding, unknown_columns
from services.intake.schema import (
    DEFAULT_CHUNK,
    FIELD_ALIASES,
    FIELDS,
    FORMATS,
    REASONS,
    REQUIRED,
    IntakeError,
)

__all__ = [
    "CLOSED_STAMPS", "DEFAULT_CHUNK", "FIELDS", "FIELD_ALIASES", "FORMATS", "REASONS", "REQUIRED", "TZ",
    "Chunk", "Intake", "IntakeError", "Summary", "assign", "backlog_age", "build_appeals", "clean_text",
    "detect_format", "district_layers", "estimate_rows", "imported_state", "inside_district",
    "main", "normalise_crs", "object_frame", "parse_numbers", "parse_timestamps", "sniff_encoding",
    "unknown_columns", "warm_up",
]
