"""Reading any input: a chunk of rows, column names to our fields, encoding and format detection.

Why apart from the per-format readers: CSV, JSON Lines and whole documents share these.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from services.intake.schema import (
    ALIAS_TO_FIELD,
    FIELD_ALIASES,
    FIELDS,
    REQUIRED,
    bilingual,
)


@dataclass
class Chunk:
    """Up to ``chunk_size`` input rows: canonical fields (object dtype), where they came from, and any
    error found while reading them (reason code and detail, None when the row parsed)."""

    records: pd.DataFrame
    line: np.ndarray
    raw: list[str]
    error: np.ndarray
    detail: np.ndarray
    fmt: str
    progress: int = 0  # bytes (or records) consumed, for the progress bar


def canonical(records: pd.DataFrame) -> pd.DataFrame:
    """Rename input columns to our field names; where several aliases of a field are present, the first
    non-empty value in alias order wins, row by row."""
    by_field: dict[str, list[str]] = {}
    for col in records.columns:
        f = ALIAS_TO_FIELD.get(str(col).strip().lower())
        if f is not None:
            by_field.setdefault(f, []).append(col)
    out = pd.DataFrame(index=records.index)
    for f in FIELDS:
        cols = sorted(by_field.get(f, []), key=lambda c: FIELD_ALIASES[f].index(str(c).strip().lower()))
        if not cols:
            continue
        s = records[cols[0]].astype(object)
        for c in cols[1:]:
            s = s.where(~blank(s), records[c].astype(object))
        out[f] = s
    return out


def header_notes(header: list[str], notes: list[str]) -> None:
    """Note, once per file, the required columns a header lacks and the columns it has that we ignore."""
    names = {str(h).strip().lower() for h in header}
    missing = [f for f in REQUIRED if not any(a in names for a in FIELD_ALIASES[f])]
    if missing:
        notes.append(bilingual("intake.summary.missing_columns", columns=", ".join(missing)))
    if extra := unknown_columns(header):
        notes.append(bilingual("intake.summary.unknown_columns", columns=", ".join(extra)))


def unknown_columns(columns: list[str]) -> list[str]:
    """Input columns that map to no field (reported once per file; their values are ignored)."""
    return [c for c in columns if str(c).strip().lower() not in ALIAS_TO_FIELD]


def blank(s: pd.Series) -> pd.Series:
    """True where a value is missing: None, NaN (only as a float from a reader), or whitespace only."""
    isnull = s.isna().to_numpy()
    text = s.astype("string").str.strip()
    return pd.Series(isnull | (text == "").fillna(True).to_numpy(), index=s.index)


def sniff_encoding(head: bytes) -> str:
    """``utf-16`` with a BOM; ``utf-8-sig`` (BOM optional) when the sample is UTF-8 but for a few bad
    bytes (those rows are quarantined as ``bad_encoding``); else ``gb18030`` (Excel in China) if that
    decodes it."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad <= 1 or bad <= 0.05 * len(re.findall(r"[^\x00-\x7f\ufffd]", text)):
        return "utf-8-sig"  # (one bad character may be a multi-byte character cut by the sample's end)
    try:
        head[:-4].decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8-sig"


def detect_format(path: Path, head: str) -> str:
    """The format from the file name, else from the first characters."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".geojson":
        return "geojson"
    stripped = head.lstrip("\ufeff \t\r\n")
    if suffix == ".json" or stripped[:1] in "[{":
        if stripped.startswith("["):
            return "open311"
        first_line = stripped.split("\n", 1)[0].strip()
        if first_line.endswith("}") and "\n" in stripped.strip():
            try:
                json.loads(first_line)
                return "jsonl"
            except json.JSONDecodeError:
                pass
        return "geojson" if '"FeatureCollection"' in stripped[:4096] or '"Feature"' in stripped[:4096] \
            else "open311"
    return "csv"

def records_frame(rows: list[list[str]] | list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    if columns is not None:
        return pd.DataFrame(rows, columns=columns, dtype=object)
    if not rows:
        return pd.DataFrame()
    # Column by column as Python objects: from_records would turn ids 1 and a missing one into 1.0 and NaN.
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return pd.DataFrame({k: pd.Series([r.get(k) for r in rows], dtype=object) for k in keys})


def estimate_rows(fmt: str, size: int, head: bytes) -> int:
    """A rough count of the records in a file of ``size`` bytes from its first bytes (``head``): what the
    store's bulk load needs to choose how to load (services.store.base.Store.bulk_load). Lines for CSV
    and JSON Lines; for whole documents, records of ~300 bytes (a GeoJSON feature or Open311 request)."""
    if not head:
        return 0
    if fmt in ("csv", "jsonl"):
        lines = head.count(b"\n")
        if lines == 0:
            return 1
        return max(1, round(size * lines / len(head)) - (1 if fmt == "csv" else 0))
    return max(1, size // 300)
