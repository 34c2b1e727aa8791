"""Excel workbooks (.xlsx) read directly, a sheet at a time, in chunks.

Why: government staff keep their lists in Excel, and "save as CSV" is where encodings, leading zeros
and dates go wrong. The first sheet is read unless ``--sheet`` names another; its first non-empty row is
the header; ``line`` is the Excel row number, and the raw text of a row is its cells as one CSV line.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np

from services.intake.reading import Chunk, canonical, header_notes, records_frame
from services.intake.sniffing import FileRefused, file_message


def cell_text(value: Any) -> str | None:
    """A cell as the text a CSV export would hold: whole numbers without ``.0`` (ids, phone numbers),
    dates and times in ISO form without a zone (read as Asia/Shanghai, like any naive time)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _csv_line(cells: list[str | None]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["" if c is None else c for c in cells])
    return out.getvalue()


def xlsx_chunks(path: Path, chunk_size: int, notes: list[str], skipped: Counter,
                sheet: str | None = None) -> Iterator[Chunk]:
    """The rows of one sheet as chunks; raises FileRefused when the workbook cannot be opened or has no
    such sheet."""
    from openpyxl import load_workbook

    fh = open(path, "rb")  # noqa: SIM115 - closed below; a file object, since openpyxl judges a name by its suffix
    try:
        wb = load_workbook(fh, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any failure to open means the clerk must re-save it
        fh.close()
        raise FileRefused("excel_workbook", file_message("unreadable_workbook", name=path.name)) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise FileRefused("excel_workbook", file_message("sheet_missing", sheet=sheet,
                                                             sheets="、".join(wb.sheetnames)))
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        header: list[str] | None = None
        rows: list[list[str | None]] = []
        lines: list[int] = []
        raws: list[str] = []
        errs: list[str | None] = []
        details: list[str | None] = []

        def flush(progress: int) -> Chunk:
            assert header is not None
            rec = canonical(records_frame(rows, header))
            chunk = Chunk(rec, np.array(lines, np.int64), list(raws), np.array(errs, object),
                          np.array(details, object), "xlsx", progress)
            rows.clear(), lines.clear(), raws.clear(), errs.clear(), details.clear()
            return chunk

        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [cell_text(v) for v in values]
            if not any(c is not None and c.strip() for c in cells):
                if header is not None:
                    skipped["blank"] += 1
                continue
            if header is None:
                last = max(i for i, c in enumerate(cells) if c is not None and c.strip())
                header = [(c or f"column{i + 1}").strip() for i, c in enumerate(cells[:last + 1])]
                header_notes(header, notes)
                continue
            cells = (cells + [None] * len(header))[:len(header)]
            rows.append(cells)
            lines.append(number)
            raws.append(_csv_line(cells))
            errs.append(None)
            details.append(None)
            if len(rows) >= chunk_size:
                yield flush(number)
        if rows:
            yield flush(len(lines))
    finally:
        wb.close()
        fh.close()
