"""What quarantine keeps of a refused row or file, in a form every store accepts.

Why its own module: quarantine must never fail, or a bad row would take its whole file down with it.
PostgreSQL text cannot hold NUL, and no UTF-8 store can hold a lone surrogate (a JSON ``"\\ud800"``), so
both are written as visible escapes (``\\x00``, ``\\ud800``); a backslash stays as it is, so a clerk
reads the row as it was sent. Very long raw text is cut to ``[intake] quarantine_raw_max`` characters
and the reason says how long the original was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from services.intake.schema import limit, message

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def escape(text: str) -> str:
    """``text`` with NUL and lone surrogates written as visible escapes; unchanged when it has none."""
    if not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "\\x00" if m.group() == "\x00" else f"\\u{ord(m.group()):04x}", text)


def raw_max() -> int:
    """The most characters of raw text a quarantine row keeps ([intake] quarantine_raw_max)."""
    return int(limit("quarantine_raw_max", 20_000))


def storable(raw: Iterable[str], reason: Iterable[str]) -> tuple[list[str], list[str]]:
    """Raw texts escaped and cut to ``raw_max``, with their reasons (a cut one says its full length)."""
    cap = raw_max()
    out_raw, out_reason = [], []
    for text, why in zip(raw, reason, strict=True):
        text = "" if text is None else str(text)
        why = escape("" if why is None else str(why))
        if len(text) > cap:
            why = f"{why}；{message('raw_cut', length=f'{len(text):,}', kept=f'{cap:,}')}"
            text = text[:cap]
        out_raw.append(escape(text))
        out_reason.append(why)
    return out_raw, out_reason


def file_record(reason_code: str, reason: str, raw: str = "") -> pd.DataFrame:
    """One quarantine row for a whole file (``line`` empty): what the file is, and what to do."""
    raws, reasons = storable([raw], [reason])
    return pd.DataFrame({"line": pd.array([pd.NA], dtype="Int64"), "raw": raws, "reason": reasons,
                         "reason_code": [reason_code]})
