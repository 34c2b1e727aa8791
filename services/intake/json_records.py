"""JSON values (GeoJSON features, Open311 requests, plain objects) to a chunk of flat records.

Shared by the JSON Lines and whole-document readers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.intake.reading import (
    Chunk,
    blank,
    canonical,
    records_frame,
)
from services.intake.schema import (
    FIELD_ALIASES,
    OPEN311_DEFAULT_CHANNEL,
)


def _flatten(obj: Any, fmt: str) -> tuple[dict | None, str | None, str | None]:
    """One JSON value as a flat record of input fields, or (None, reason_code, detail)."""
    if not isinstance(obj, dict):
        return None, "not_an_object", type(obj).__name__
    if obj.get("type") == "Feature":
        rec = dict(obj.get("properties") or {})
        if obj.get("id") is not None and not any(k.lower() in FIELD_ALIASES["external_id"] for k in rec):
            rec["external_id"] = obj["id"]
        geom = obj.get("geometry")
        if geom is not None:
            coords = geom.get("coordinates") if isinstance(geom, dict) else None
            if not isinstance(geom, dict) or geom.get("type") != "Point":
                return None, "bad_geometry", str(geom.get("type") if isinstance(geom, dict) else geom)
            if isinstance(coords, list) and len(coords) >= 2:
                rec["lon"], rec["lat"] = coords[0], coords[1]
        return rec, None, None
    rec = dict(obj)
    attrs = rec.pop("attributes", None)
    if isinstance(attrs, dict):
        for k, v in attrs.items():
            rec.setdefault(k, v)
    for k in [k for k in rec if k.startswith("attribute[") and k.endswith("]")]:
        rec.setdefault(k[10:-1], rec.pop(k))
    if ("first_name" in rec or "last_name" in rec) and "reporter_name" not in rec:
        rec["reporter_name"] = f"{rec.get('last_name') or ''}{rec.get('first_name') or ''}" or None
    return rec, None, None


def json_chunk(objs: list[tuple[int, str, Any, str | None]], fmt: str, progress: int) -> Chunk:
    """Build a chunk from (line, raw, parsed value, parse error) tuples."""
    recs: list[dict] = []
    errs: list[str | None] = []
    details: list[str | None] = []
    for _line, _raw, obj, perr in objs:
        if perr is not None:
            rec, err, det = None, "invalid_json", perr
        else:
            rec, err, det = _flatten(obj, fmt)
        recs.append(rec or {})
        errs.append(err)
        details.append(det)
    frame = records_frame(recs)
    frame.index = pd.RangeIndex(len(objs))
    rec = canonical(frame)
    if fmt == "open311" and len(rec):
        if "channel" not in rec:
            rec["channel"] = None
        rec["channel"] = rec["channel"].where(~blank(rec["channel"]), OPEN311_DEFAULT_CHANNEL)
    return Chunk(rec, np.array([o[0] for o in objs], np.int64), [o[1] for o in objs], np.array(errs, object),
                 np.array(details, object), fmt, progress)


def keep_constant(name: str) -> str:
    """json: keep NaN/Infinity as text so that they are reported as not finite, not as missing."""
    return name
