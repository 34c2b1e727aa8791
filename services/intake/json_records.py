"""JSON values (GeoJSON features, Open311 requests, plain objects) to a chunk of flat records.

Shared by the JSON Lines and whole-document readers.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd

from services.intake.parsing import show
from services.intake.reading import (
    Chunk,
    blank,
    canonical,
    records_frame,
)
from services.intake.schema import (
    FIELD_ALIASES,
    OPEN311_DEFAULT_CHANNEL,
    SURROGATE,
    bilingual,
    pair,
)
from services.vocabulary import CATEGORY_SERVICE

# json's error messages (their start) -> what it expected there (config/strings/intake.toml [intake.json]).
_EXPECTED = (("Expecting value", "value"), ("Expecting ',' delimiter", "comma"), ("Expecting ':' delimiter", "colon"),
             ("Expecting property name", "key"), ("Unterminated string", "quote"), ("Extra data", "end"),
             ("Invalid \\escape", "escape"), ("Invalid \\uXXXX escape", "escape"),
             ("Invalid control character", "plain_character"))


def _term(key: str) -> tuple[str, str]:
    return pair(f"intake.json.{key}")


def json_expectation(exc: json.JSONDecodeError) -> dict[str, tuple[str, str] | str]:
    """Where json stopped (line, column), what it expected there and what it found, for a message."""
    expected = next((k for start, k in _EXPECTED if exc.msg.startswith(start)), "something")
    rest = exc.doc[exc.pos:exc.pos + 12]
    return {"line": f"{exc.lineno:,}", "column": f"{exc.colno:,}", "expected": _term(expected),
            "found": show(rest, 12) if rest else _term("end_of_text")}


def describe_json_error(exc: json.JSONDecodeError) -> str:
    """What a clerk reads for a line that is not JSON: what was expected where, and what was found."""
    where = json_expectation(exc)
    return bilingual("intake.msg.invalid_json", column=where["column"], expected=where["expected"],
                     found=where["found"])


def json_kind(obj: Any) -> tuple[str, str]:
    """The JSON name of a value's type, in both languages."""
    if isinstance(obj, bool):
        return _term("boolean")
    if obj is None:
        return _term("null")
    if isinstance(obj, list):
        return _term("array")
    if isinstance(obj, str):
        return _term("string")
    return _term("number")


def _flatten(obj: Any, fmt: str) -> tuple[dict | None, str | None, str | None]:
    """One JSON value as a flat record of input fields, or (None, reason_code, detail)."""
    if not isinstance(obj, dict):
        return None, "not_an_object", bilingual("intake.msg.not_an_object", found=json_kind(obj))
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
    if fmt == "open311" and "category" not in rec and rec.get("service_code") in CATEGORY_SERVICE:
        # Our own service codes are categories (services/open311api): the category, and its service
        # type unless the record names one (our export's ``service_type`` extension).
        rec["category"] = rec["service_code"]
        rec.setdefault("service_type", CATEGORY_SERVICE[rec["service_code"]])
    if ("first_name" in rec or "last_name" in rec) and "reporter_name" not in rec:
        rec["reporter_name"] = f"{rec.get('last_name') or ''}{rec.get('first_name') or ''}" or None
    return rec, None, None


_SURROGATE = re.compile(SURROGATE)


def _whole_characters(rec: dict) -> dict:
    """The record with every lone surrogate (a JSON escape such as \\ud800 that is half a character)
    replaced by U+FFFD: text columns cannot hold them, and the row is quarantined as bad_encoding."""
    for k, v in rec.items():
        if isinstance(v, str) and not v.isascii() and _SURROGATE.search(v):
            rec[k] = _SURROGATE.sub("\ufffd", v)
    return rec


def json_chunk(objs: list[tuple[int, str, Any, str | None]], fmt: str, progress: int) -> Chunk:
    """Build a chunk from (line, raw, parsed value, parse error) tuples; a parse error is the message
    of ``describe_json_error``."""
    recs: list[dict] = []
    errs: list[str | None] = []
    details: list[str | None] = []
    for _line, _raw, obj, perr in objs:
        if perr is not None:
            rec, err, det = None, "invalid_json", perr
        else:
            rec, err, det = _flatten(obj, fmt)
        recs.append(_whole_characters(rec) if rec else {})
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
