"""What a file really is, from its first bytes, before any row of it is read.

Why: an Excel workbook saved with a .csv name, a gzip archive or a PDF would otherwise be "read" as
text and give hundreds of per-row ``bad_encoding`` records that tell a clerk nothing. Such a file gets
one quarantine record for the whole file (``line`` empty) saying what it is and what to do. A workbook
that says it is one (.xlsx, or ``--format xlsx``) is read directly (services/intake/xlsx_reader.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

from services.intake.schema import ALIAS_TO_FIELD, bilingual

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".geojson")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# Signatures of files that are not text: (leading bytes, kind of [intake.file]).
_SIGNATURES = ((b"\x1f\x8b", "gzip"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"), (b"%PDF", "pdf"),
               (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07", "rar"), (b"\x89PNG", "image"), (b"\xff\xd8\xff", "image"))
_CODE_OF_KIND = {"gzip": "archive", "zip": "archive", "7z": "archive", "rar": "archive", "xls": "excel_workbook",
                 "xlsx": "excel_workbook", "pdf": "binary_file", "image": "binary_file", "binary": "binary_file"}


class FileRefused(Exception):
    """The whole file is not what it claims to be: one quarantine record (reason code and message),
    none of its rows read."""

    def __init__(self, code: str, reason: str, sample: str = "") -> None:
        super().__init__(reason)
        self.code, self.reason, self.sample = code, reason, sample


def file_message(key: str, **values: object) -> str:
    """A file-level message of config/strings/intake.toml ``[intake.file]``: Chinese, then English."""
    return bilingual(f"intake.file.{key}", **values)


def sample_of(head: bytes) -> str:
    """The first bytes of a file as text a clerk can look at (undecodable bytes as \\xNN escapes)."""
    return head[:200].decode("utf-8", errors="backslashreplace")


def is_xlsx(head: bytes) -> bool:
    """An Office Open XML workbook: a zip archive whose first entries are the workbook's parts."""
    return head.startswith(b"PK\x03\x04") and (b"[Content_Types].xml" in head or b"xl/" in head)


def kind_of(head: bytes) -> str | None:
    """``xlsx``, an archive, an old workbook, a PDF, an image or other ``binary`` data; None for text."""
    if is_xlsx(head):
        return "xlsx"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte-order mark is text
        return None
    # Text with a stray NUL or control character is text: those rows are quarantined one by one
    # (control_character). Binary data is full of them (random bytes: one in eight).
    sample = head[:4096]
    controls = sum(b < 9 or 13 < b < 32 for b in sample)
    if controls > max(8, 0.02 * len(sample)):
        return "binary"
    return None


def refuse_non_text(path: Path, head: bytes, fmt: str) -> str:
    """The format to read ``path`` in: ``xlsx`` for a workbook named or declared as one, else ``fmt``
    unchanged. Raises FileRefused for a file that is not text (a misnamed workbook included)."""
    kind = kind_of(head)
    if kind is None:
        return fmt
    if kind == "xlsx" and (fmt == "xlsx" or (fmt == "auto" and path.suffix.lower() not in TEXT_SUFFIXES)):
        return "xlsx"
    raise FileRefused(_CODE_OF_KIND[kind], file_message(kind, name=path.name), sample_of(head))


def refuse_wrong_delimiter(first_line: str) -> None:
    """Raises FileRefused for a CSV header that is delimited by semicolons (Excel in some locales):
    read with commas it would be one unknown column, and every row malformed."""
    if "," in first_line or "\t" in first_line or ";" not in first_line:
        return
    names = next(csv.reader([first_line], delimiter=";"))
    known = [n for n in names if n.strip().lstrip("\ufeff").lower() in ALIAS_TO_FIELD]
    if len(known) >= 2:
        raise FileRefused("wrong_delimiter", file_message("semicolons", fields=len(names)), first_line[:200])
