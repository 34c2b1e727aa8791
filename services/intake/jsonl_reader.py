"""JSON Lines files read in chunks, one JSON value per line; a line that is not JSON is quarantined."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from services.intake.json_records import describe_json_error, json_chunk, keep_constant
from services.intake.reading import (
    Chunk,
)


def jsonl_chunks(fh: io.TextIOBase, raw_fh: Any, chunk_size: int, skipped: Counter) -> Iterator[Chunk]:
    """One record per non-blank line, in chunks; blank lines are counted in ``skipped``."""
    batch: list[tuple[int, str, Any, str | None]] = []
    for lineno, line in enumerate(fh, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            skipped["blank"] += 1
            continue
        try:
            batch.append((lineno, text, json.loads(text, parse_constant=keep_constant), None))
        except json.JSONDecodeError as exc:
            batch.append((lineno, text, None, describe_json_error(exc)))
        if len(batch) >= chunk_size:
            yield json_chunk(batch, "jsonl", raw_fh.tell())
            batch = []
    if batch:
        yield json_chunk(batch, "jsonl", raw_fh.tell())
