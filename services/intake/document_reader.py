"""Whole JSON documents: a GeoJSON FeatureCollection / Feature or an Open311 array of requests.

Why its own reader: the document is parsed at once and split into chunks; ``line`` is the record's number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from services.intake.json_records import json_chunk, json_expectation, keep_constant
from services.intake.reading import (
    Chunk,
)
from services.intake.schema import bilingual
from services.intake.sniffing import FileRefused, file_message


def _refusal(exc: json.JSONDecodeError, text: str) -> FileRefused:
    """A document that is not JSON: truncated (the text stops inside it: an export or download that did
    not finish), or invalid where json stopped."""
    end = len(text.rstrip())
    if exc.pos >= end - 1 or (exc.msg.startswith("Unterminated string") and '"' not in text[exc.pos + 1:]):
        size = len(text.encode("utf-8", errors="surrogatepass"))
        return FileRefused("truncated_json", file_message("truncated", byte=f"{size:,}"), text[-200:])
    return FileRefused("invalid_document", bilingual("intake.file.invalid", **json_expectation(exc)),
                       text[max(0, exc.pos - 100):exc.pos + 100])


def document_chunks(text: str, fmt: str, chunk_size: int) -> Iterator[Chunk]:
    """GeoJSON FeatureCollection / Feature, or Open311 requests: the whole document is one JSON value;
    ``line`` is the 1-based number of the feature or request in it."""
    try:
        doc = json.loads(text, parse_constant=keep_constant)
    except json.JSONDecodeError as exc:
        raise _refusal(exc, text) from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        items, fmt = doc.get("features"), "geojson"
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        items, fmt = [doc], "geojson"
    elif isinstance(doc, dict) and isinstance(doc.get("service_requests"), list | dict):
        items = doc["service_requests"]
        items = items.get("request", items) if isinstance(items, dict) else items
        fmt = "open311"
    elif isinstance(doc, list):
        fmt = "geojson" if doc and all(isinstance(o, dict) and o.get("type") == "Feature" for o in doc[:10]) \
            else "open311"
        items = doc
    else:
        raise FileRefused("invalid_document", file_message("layout"), text[:200])
    if not isinstance(items, list):
        items = [items]
    for i in range(0, len(items), chunk_size):
        part = items[i:i + chunk_size]
        batch = [(i + k + 1, json.dumps(o, ensure_ascii=False), o, None) for k, o in enumerate(part)]
        yield json_chunk(batch, fmt, i + len(part))
