"""PostgreSQL binary COPY encoding of whole columns with numpy (no per-row Python).

``COPY ... FROM STDIN (FORMAT BINARY)`` skips the server's text parsing of timestamps and floats, and
building the rows column by column in numpy avoids a Python call per value; together they make bulk
loads several times faster than CSV. Text columns are factorised first, so each distinct string is
encoded to UTF-8 once. Format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since the Unix epoch
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
KINDS = ("int8", "int4", "float8", "bool", "timestamptz", "text")


def _fixed(kind: str, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """(null mask, big-endian bytes as an (n, width) uint8 array) of a fixed-width column."""
    s = pd.Series(values).reset_index(drop=True)
    n = len(s)
    if kind == "timestamptz":
        null = s.isna().to_numpy()
        t = pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]")
        us = t.astype("int64").to_numpy() - PG_EPOCH_US
        return null, np.where(null, 0, us).astype(">i8").view(np.uint8).reshape(n, 8)
    if kind == "float8":
        a = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        null = np.isnan(a)
        return null, np.where(null, 0.0, a).astype(">f8").view(np.uint8).reshape(n, 8)
    null = s.isna().to_numpy()
    filled = s.astype(object).where(~null, 0).to_numpy()
    if kind == "bool":
        return null, filled.astype(bool).astype(np.uint8).reshape(n, 1)
    dtype = {"int8": ">i8", "int4": ">i4"}[kind]
    return null, filled.astype(np.int64).astype(dtype).view(np.uint8).reshape(n, -1)


def encode(columns: Sequence[tuple[str, Any]]) -> bytes:
    """The binary COPY stream (header, rows, trailer) for equally long columns of (kind, values).

    Kinds: int8, int4, float8 (NaN is NULL), bool, timestamptz (tz-aware or UTC-naive timestamps), text
    (None/NaN is NULL, anything else is ``str()``-ed).
    """
    n = len(columns[0][1]) if columns else 0
    parts = []
    for kind, values in columns:
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        if kind == "text":
            series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
            codes, uniq = pd.factorize(series)
            enc = [str(u).encode() for u in np.asarray(uniq, dtype=object)]
            ulen = np.fromiter((len(e) for e in enc), np.int64, len(enc))
            ustart = np.cumsum(ulen) - ulen
            null = codes < 0
            safe = np.where(null, 0, codes)
            blen = np.where(null, 0, ulen[safe]) if len(enc) else np.zeros(n, np.int64)
            starts = np.where(null, 0, ustart[safe]) if len(enc) else np.zeros(n, np.int64)
            parts.append((kind, null, blen, (np.frombuffer(b"".join(enc), np.uint8), starts)))
        else:
            null, data = _fixed(kind, values)
            parts.append((kind, null, np.full(n, data.shape[1], np.int64), data))
    if n == 0:
        return HEADER + TRAILER
    field_len = [4 + np.where(null, 0, blen) for _, null, blen, _ in parts]
    row_len = 2 + np.sum(field_len, axis=0)
    ends = np.cumsum(row_len)
    row_off = len(HEADER) + ends - row_len
    buf = np.empty(len(HEADER) + int(ends[-1]) + len(TRAILER), np.uint8)
    buf[: len(HEADER)] = np.frombuffer(HEADER, np.uint8)
    buf[-len(TRAILER):] = np.frombuffer(TRAILER, np.uint8)
    count = np.frombuffer(np.array(len(parts), ">i2").tobytes(), np.uint8)
    buf[row_off[:, None] + np.arange(2)] = count
    pos = row_off + 2
    four = np.arange(4)
    for (kind, null, blen, data), flen in zip(parts, field_len, strict=True):
        buf[pos[:, None] + four] = np.where(null, -1, blen).astype(">i4").view(np.uint8).reshape(n, 4)
        ok = ~null
        if kind == "text":
            udata, starts = data
            lens = blen[ok]
            run = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
            buf[np.repeat(pos[ok] + 4, lens) + run] = udata[np.repeat(starts[ok], lens) + run]
        else:
            buf[(pos[ok] + 4)[:, None] + np.arange(data.shape[1])] = data[ok]
        pos = pos + flen
    return buf.tobytes()


def encode_chunks(columns: Sequence[tuple[str, Any]], rows_per_chunk: int = 10_000) -> Iterator[bytes]:
    """``encode`` in pieces (header, row chunks, trailer), made lazily: the server parses one chunk
    while the next is encoded."""
    n = len(columns[0][1]) if columns else 0
    yield HEADER
    for start in range(0, n, rows_per_chunk):
        part = [(k, (v.iloc[start:start + rows_per_chunk] if isinstance(v, pd.Series)
                     else v[start:start + rows_per_chunk])) for k, v in columns]
        yield encode(part)[len(HEADER):-len(TRAILER)]
    yield TRAILER
