"""CSV (and TSV) files read in chunks; a line that cannot be parsed becomes a ``malformed_row``.

Why its own reader: csv.reader is fed line by line so that an unclosed quote costs one row, not the file.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from services.intake.reading import (
    Chunk,
    canonical,
    header_notes,
    records_frame,
)
from services.intake.sniffing import refuse_wrong_delimiter


class _LineTap:
    """A line iterator for csv.reader that remembers the lines of the current record and can take lines
    back (to re-read them one by one after a record swallowed several lines by an unclosed quote)."""

    def __init__(self, fh: io.TextIOBase) -> None:
        self.fh = fh
        self.pending: list[str] = []
        self.taken: list[str] = []
        self.lineno = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = self.pending.pop() if self.pending else next(self.fh)
        self.lineno += 1
        self.taken.append(line)
        return line

    def give_back(self, lines: list[str]) -> None:
        self.pending.extend(reversed(lines))
        self.lineno -= len(lines)


def _unique(names: list[str]) -> list[str]:
    """Header names made unique: a repeated name gets ``.2``, ``.3``… (and is then an unknown column)."""
    seen: Counter = Counter()
    out = []
    for name in names:
        seen[name.lower()] += 1
        out.append(name if seen[name.lower()] == 1 else f"{name}.{seen[name.lower()]}")
    return out


# Most lines a record cut short by csv's field size limit may still take to close its quotes.
_MAX_CONTINUATION = 1000


def _rest_of_record(tap: _LineTap, taken: list[str]) -> list[str]:
    """The lines of a record csv stopped reading at a field over its size limit: csv resumes at the next
    line, which may still be inside a quoted field of the same record. Lines are read on while the
    record's quotes are open (an odd count: doubled quotes inside a field count two); a quote that never
    closes gives them back, to be read as rows of their own (as for any unclosed quote)."""
    extra: list[str] = []
    quotes = "".join(taken).count('"')
    while quotes % 2 and len(extra) < _MAX_CONTINUATION:
        try:
            line = next(tap)
        except StopIteration:
            break
        extra.append(line)
        quotes += line.count('"')
    tap.taken = []
    if quotes % 2:
        tap.give_back(taken[1:] + extra)
        return taken[:1]
    return taken + extra


def csv_chunks(fh: io.TextIOBase, raw_fh: Any, chunk_size: int, notes: list[str], skipped: Counter) -> Iterator[Chunk]:
    """The file's rows in chunks after its header; blank and delimiter-only lines are counted in
    ``skipped``; a header delimited by semicolons refuses the file (services/intake/sniffing.py)."""
    tap = _LineTap(fh)
    header: list[str] | None = None
    delimiter = ","
    reader: Any = None
    rows: list[list[str]] = []
    lines: list[int] = []
    raws: list[str] = []
    errs: list[str | None] = []
    details: list[str | None] = []

    def flush() -> Chunk:
        assert header is not None
        padded = [r if e is None else [""] * len(header) for r, e in zip(rows, errs, strict=True)]
        rec = canonical(records_frame(padded, header))
        chunk = Chunk(rec, np.array(lines, np.int64), list(raws), np.array(errs, object), np.array(details, object),
                      "csv", raw_fh.tell())
        rows.clear(), lines.clear(), raws.clear(), errs.clear(), details.clear()
        return chunk

    while True:
        if header is None:
            try:
                first = next(tap)
            except StopIteration:
                return
            if not first.strip():
                tap.taken.clear()
                continue
            refuse_wrong_delimiter(first)
            delimiter = "\t" if first.count("\t") > first.count(",") else ","
            header = next(csv.reader([first], delimiter=delimiter))
            header = _unique([h.strip().lstrip("\ufeff") for h in header])
            tap.taken.clear()
            header_notes(header, notes)
            reader = csv.reader(tap, delimiter=delimiter, strict=True)
            continue
        start = tap.lineno + 1
        try:
            row = next(reader)
            error, detail = None, None
        except StopIteration:
            break
        except csv.Error as exc:
            row, error, detail = [], "malformed_row", str(exc)
        taken = tap.taken
        tap.taken = []
        if error is None and not any(v.strip() for v in row):
            skipped["blank" if not "".join(taken).strip() else "delimiters_only"] += 1  # not a row
            continue
        if error is None and len(row) != len(header):
            error = "malformed_row"
            detail = f"{len(row)} fields, header has {len(header)}"
        if error is not None and "field larger than field limit" in detail:
            taken = _rest_of_record(tap, taken)  # the record is one row, however many lines it spans
        elif error is not None and len(taken) > 1:
            # An unclosed quote swallowed following lines: quarantine the first, re-read the rest.
            tap.give_back(taken[1:])
            taken = taken[:1]
            detail = f"{detail}; unbalanced quote"
        rows.append(row)
        lines.append(start)
        raws.append("".join(taken).rstrip("\r\n"))
        errs.append(error)
        details.append(detail)
        if len(rows) >= chunk_size:
            yield flush()
    if rows:
        yield flush()
