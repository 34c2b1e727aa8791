"""Whole JSON documents: a GeoJSON FeatureCollection / Feature or an Open311 array of requests.

Why its own reader: the document is parsed at once and split into chunks; ``line`` is the record's number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from services.intake.json_records import json_chunk, keep_constant
from services.intake.reading import (
    Chunk,
)
from services.intake.schema import (
    IntakeError,
)


def document_chunks(text: str, fmt: str, chunk_size: int) -> Iterator[Chunk]:
    """GeoJSON FeatureCollection / Feature, or Open311 requests: the whole document is one JSON value;
    ``line`` is the 1-based number of the feature or request in it."""
    try:
        doc = json.loads(text, parse_constant=keep_constant)
    except json.JSONDecodeError as exc:
        raise IntakeError(f"文件不是有效的JSON：{exc}（the file is not valid JSON）") from None
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
        raise IntakeError("无法识别的JSON结构：应为GeoJSON FeatureCollection或Open311请求数组"
                          "（unknown JSON layout: expected a GeoJSON FeatureCollection or an Open311 array of "
                          "requests）")
    if not isinstance(items, list):
        items = [items]
    for i in range(0, len(items), chunk_size):
        part = items[i:i + chunk_size]
        batch = [(i + k + 1, json.dumps(o, ensure_ascii=False), o, None) for k, o in enumerate(part)]
        yield json_chunk(batch, fmt, i + len(part))
