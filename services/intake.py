"""Intake: load appeals from CSV, JSON Lines, GeoJSON or Open311 GeoReport v2 JSON into the store.

``python -m services.intake PATH [--crs wgs84|cgcs2000|gcj02|bd09] [--source NAME]`` (``--help`` for
the rest). Why a module of its own: every appeal that does not come from the dashboard arrives through
here, and the rules for accepting one (coordinates, vocabularies, timestamps, idempotence) must be the
same for a clerk's spreadsheet, a hotline export and a GeoReport feed.

What happens to each row
------------------------
Each row is either stored as a new appeal, counted as a duplicate (its ``(source, external_id)`` is
already stored: importing the same file again changes nothing), or put in ``quarantine`` verbatim with
a ``reason_code`` and a message in Chinese then English that says what to fix. One bad row never stops
the file; a CSV line that cannot be parsed or a JSON line that is not JSON is quarantined like any other
row. Rows are processed in chunks (default 10,000) with numpy/pandas, not one by one.

- Coordinates: converted from ``--crs`` (or a per-row ``source_crs`` column) to WGS84 with
  ``geo.coords.to_wgs84``; the source system is kept in ``source_crs``. A point whose lon/lat are
  swapped (swapping them puts it inside the district) is quarantined as ``lonlat_swapped``, any other
  point outside Guangming as ``outside_district``.
- Area codes: subdistrict, community, grid, sub-grid and happiness unit from ``geo.assign`` over the
  layers of ``data.sample.load_layers()`` (indexes built once per process).
- Vocabularies: service type, channel, category and urgency accept our codes, the Chinese names and
  common short forms (法律服务/法律 -> legal, 扫码/二维码 -> qr_scan, 特急 -> 3); see
  ``services.vocabulary``. A missing service type is taken from a known category.
- Timestamps: ISO 8601 and the common Chinese spellings (2024/6/1 9:05, 2024年6月1日 9:05), with an
  optional zone (Z, +08:00, UTC+8, Asia/Shanghai, [Asia/Shanghai], 北京时间), or Unix epoch seconds /
  milliseconds (UTC). A timestamp without a zone is Asia/Shanghai time. Unparseable timestamps,
  impossible dates, unknown or impossible zones (``CST`` is ambiguous and refused), times more than
  five minutes in the future and times before 2000 are quarantined. No timestamp: the time of import.
- Tier and class come from ``services.tiers``; people involved defaults to 1, urgency to 1 (一般),
  amount to 0.
- Status (``status``: open/closed, 已办结…): without one, or open, an appeal starts at ``reported`` with
  a ``report`` event. Closed: stored ``closed`` (responded, accepted, resolved and closed at
  ``updated_datetime``, else the requested time), with a ``report`` and an ``import_close`` event and
  no next deadline. Open and reported more than ``[intake] backlog_hours`` before the import: imported
  backlog, its clocks start at the import (see ``imported_state``).
- Foreign service codes: ``config/open311_services.toml`` maps a source's own ``service_code`` /
  ``service_name`` to our service type and category (``services.service_map``); an unmapped one is
  quarantined as ``unknown_service_type`` naming the code and that file.
- The checks run in the order a clerk must act on them (``REASONS``): a point outside the district is
  reported as such before any unknown vocabulary.
- Quarantine is idempotent too: a row already quarantined for the same source, file name, line and
  verbatim text is not stored again (it is counted as quarantined, "already in quarantine").

Fields
------
Required: external_id, service_type (or a category), channel, lon, lat. Optional: category,
description, source_crs, people_involved, amount_involved, urgency, reported_at, reporter_name,
reporter_phone, building_code, address, status, updated_at, status_notes. Column names are matched
case-insensitively and may be Chinese (编号, 服务类型, 渠道, 类别, 描述, 经度, 纬度, 坐标系, 涉及人数,
涉案金额, 紧急程度, 上报时间, 上报人, 联系电话, 楼栋编码, 地址, 状态, 办结时间, 办理说明); see
``FIELD_ALIASES``.

Open311 GeoReport v2
--------------------
A JSON array of service requests (the body of ``GET requests.json``, or ``{"service_requests": [...]}``,
or POST-style objects) maps onto ours as follows:

==================================  =====================================================================
Open311 field                       appeal field
==================================  =====================================================================
service_request_id                  external_id (unique per ``--source``)
service_code                        service_type: the source's mapping (config/open311_services.toml),
                                    else our codes or Chinese names (services.vocabulary)
service_name                        the same, when service_code is neither mapped nor ours
status                              closed -> stored closed; open -> open (backlog when old)
updated_datetime                    closed_at of a closed request (else requested_datetime)
status_notes                        appended to the import_close event's note
description                         description
address / address_string            appended to description as "（地址：…）"
lat, long                           lat, lon (WGS84 by the standard; ``--crs`` overrides for GCJ-02 feeds)
requested_datetime                  reported_at (ISO 8601 with offset)
last_name + first_name, phone       reporter_name (family name first), reporter_phone (personal data)
attributes{...} / attribute[...]    our extension fields: channel, category, people_involved,
                                    amount_involved, urgency, building_code
(no channel given)                  channel ``hotline`` (12345 hotline hand-over), or --default-channel
agency_responsible, service_notice, expected_datetime, address_id, zipcode, media_url, email,
device_id, account_id, jurisdiction_id: not stored (the lifecycle from here on is ours).
==================================  =====================================================================

Exit status: 0 when every row was stored, a duplicate or quarantined; 1 when the file cannot be read
(missing, not JSON where JSON is required, unknown layout); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from geo.assign import OUTSIDE, PolygonIndex, assign_points
from geo.coords import SOURCE_SYSTEMS, to_wgs84
from services.config import rules
from services.service_map import ServiceMap, ServiceMapError, load_service_map
from services.store.base import APPEAL_COLUMNS, BulkLoad, Store
from services.tiers import appeal_classes, compute_tiers
from services.vocabulary import (
    CATEGORY_LOOKUP,
    CATEGORY_SERVICE,
    CHANNEL_LOOKUP,
    CHANNELS_NOTE,
    SERVICE_TYPE_LOOKUP,
    URGENCY_LOOKUP,
    normalise,
)

TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_CHUNK = 10_000
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
ASSIGN_LAYERS = ("district", "subdistrict", "community", "grid", "subgrid", "happiness_unit")
FORMATS = ("csv", "jsonl", "geojson", "open311")
OPEN311_DEFAULT_CHANNEL = "hotline"

# Canonical field -> accepted column names (matched after trimming and lower-casing), first wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "service_request_id", "id", "request_id", "case_id", "编号", "诉求编号",
                    "工单号", "工单编号", "案件编号"),
    "service_type": ("service_type", "service_code", "service", "服务类型", "诉求类型", "业务类型"),
    "service_name": ("service_name", "服务名称"),
    "channel": ("channel", "渠道", "来源渠道", "上报渠道", "来源"),
    "category": ("category", "类别", "诉求类别", "事项类别"),
    "description": ("description", "desc", "描述", "诉求内容", "内容", "事项描述"),
    "lon": ("lon", "lng", "long", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "source_crs": ("source_crs", "crs", "coord_system", "坐标系"),
    "people_involved": ("people_involved", "people", "涉及人数", "人数"),
    "amount_involved": ("amount_involved", "amount", "涉案金额", "金额"),
    "urgency": ("urgency", "紧急程度"),
    "reported_at": ("reported_at", "requested_datetime", "reported", "datetime", "time", "上报时间", "时间"),
    "reporter_name": ("reporter_name", "name", "上报人", "诉求人", "姓名"),
    "reporter_phone": ("reporter_phone", "phone", "联系电话", "电话", "手机"),
    "building_code": ("building_code", "building", "楼栋编码", "楼栋编号"),
    "address": ("address", "address_string", "地址"),
    "status": ("status", "状态", "办理状态"),
    "updated_at": ("updated_datetime", "updated_at", "办结时间"),
    "status_notes": ("status_notes", "办理说明", "办结说明"),
}
FIELDS = tuple(FIELD_ALIASES)
REQUIRED = ("external_id", "service_type", "channel", "lon", "lat")
FIELD_ZH = {"external_id": "编号", "service_type": "服务类型", "channel": "渠道", "category": "类别",
            "description": "描述", "lon": "经度", "lat": "纬度", "source_crs": "坐标系",
            "people_involved": "涉及人数", "amount_involved": "涉案金额", "urgency": "紧急程度",
            "reported_at": "上报时间", "reporter_name": "上报人", "reporter_phone": "联系电话",
            "building_code": "楼栋编码", "address": "地址", "service_name": "服务名称",
            "status": "状态", "updated_at": "办结时间", "status_notes": "办理说明"}
# Status values (Open311 ``status`` is open or closed; Chinese exports say 已办结 and the like), lower-cased.
STATUS_LOOKUP = {"open": "open", "closed": "closed", "未办结": "open", "办理中": "open", "处理中": "open",
                 "待办": "open", "已办结": "closed", "办结": "closed", "已关闭": "closed", "关闭": "closed",
                 "已完成": "closed", "完成": "closed"}
_ALIAS_TO_FIELD = {a: f for f, names in FIELD_ALIASES.items() for a in names}

# reason_code -> (Chinese, English) short label, in the order a clerk must act on them, which is the order
# the checks run in (the first failing one is the row's reason_code; the message lists every failing
# check): the row cannot be read; where the point is (a point outside the district means the row is not
# ours, whatever else is wrong with it); then the vocabularies, numbers, times and status.
REASONS: dict[str, tuple[str, str]] = {
    "malformed_row": ("CSV行格式错误", "malformed CSV line"),
    "invalid_json": ("JSON无法解析", "invalid JSON"),
    "not_an_object": ("不是JSON对象", "not a JSON object"),
    "bad_encoding": ("字符编码错误", "bad character encoding"),
    "bad_geometry": ("几何不是点", "geometry is not a point"),
    "missing_field": ("缺少必填字段", "missing required field"),
    "not_a_number": ("不是数字", "not a number"),
    "not_finite": ("数值为NaN或无穷大", "NaN or infinite number"),
    "unknown_crs": ("未知坐标系", "unknown coordinate system"),
    "lonlat_swapped": ("经纬度颠倒", "longitude and latitude swapped"),
    "outside_district": ("坐标不在光明区内", "point outside the district"),
    "unknown_service_type": ("未知服务类型", "unknown service type"),
    "unknown_channel": ("未知渠道", "unknown channel"),
    "unknown_category": ("未知诉求类别", "unknown category"),
    "out_of_range": ("数值超出范围", "value out of range"),
    "bad_timestamp": ("时间无法识别", "unparseable timestamp"),
    "bad_timezone": ("时区无效", "invalid time zone"),
    "future_timestamp": ("时间晚于当前时间", "timestamp in the future"),
    "unknown_status": ("未知办理状态", "unknown status"),
    "duplicate_in_file": ("同一文件内编号重复", "external id repeated in the file"),
}

_CRS_LOOKUP = {
    "wgs84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "crs84": "wgs84", "gps": "wgs84",
    "cgcs2000": "cgcs2000", "epsg:4490": "cgcs2000", "4490": "cgcs2000", "国家2000": "cgcs2000",
    "gcj02": "gcj02", "gcj": "gcj02", "火星坐标": "gcj02", "高德": "gcj02", "腾讯": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd09ll": "bd09", "百度": "bd09", "百度坐标": "bd09", "baidu": "bd09",
}


class IntakeError(Exception):
    """The file as a whole cannot be read, or the service mapping is invalid (exit status 1); no row of
    it was processed."""


# ------------------------------------------------------------------------------------------ reading
@dataclass
class Chunk:
    """Up to ``chunk_size`` input rows: canonical fields (object dtype), where they came from, and any
    error found while reading them (reason code and detail, None when the row parsed)."""

    records: pd.DataFrame
    line: np.ndarray
    raw: list[str]
    error: np.ndarray
    detail: np.ndarray
    fmt: str
    progress: int = 0  # bytes (or records) consumed, for the progress bar


def _canonical(records: pd.DataFrame) -> pd.DataFrame:
    """Rename input columns to our field names; where several aliases of a field are present, the first
    non-empty value in alias order wins, row by row."""
    by_field: dict[str, list[str]] = {}
    for col in records.columns:
        f = _ALIAS_TO_FIELD.get(str(col).strip().lower())
        if f is not None:
            by_field.setdefault(f, []).append(col)
    out = pd.DataFrame(index=records.index)
    for f in FIELDS:
        cols = sorted(by_field.get(f, []), key=lambda c: FIELD_ALIASES[f].index(str(c).strip().lower()))
        if not cols:
            continue
        s = records[cols[0]].astype(object)
        for c in cols[1:]:
            s = s.where(~_blank(s), records[c].astype(object))
        out[f] = s
    return out


def unknown_columns(columns: list[str]) -> list[str]:
    """Input columns that map to no field (reported once per file; their values are ignored)."""
    return [c for c in columns if str(c).strip().lower() not in _ALIAS_TO_FIELD]


def _blank(s: pd.Series) -> pd.Series:
    """True where a value is missing: None, NaN (only as a float from a reader), or whitespace only."""
    isnull = s.isna().to_numpy()
    text = s.astype("string").str.strip()
    return pd.Series(isnull | (text == "").fillna(True).to_numpy(), index=s.index)


def sniff_encoding(head: bytes) -> str:
    """``utf-16`` with a BOM; ``utf-8-sig`` (BOM optional) when the sample is UTF-8 but for a few bad
    bytes (those rows are quarantined as ``bad_encoding``); else ``gb18030`` (Excel in China) if that
    decodes it."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad <= 1 or bad <= 0.05 * len(re.findall(r"[^\x00-\x7f\ufffd]", text)):
        return "utf-8-sig"  # (one bad character may be a multi-byte character cut by the sample's end)
    try:
        head[:-4].decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8-sig"


def detect_format(path: Path, head: str) -> str:
    """The format from the file name, else from the first characters."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".geojson":
        return "geojson"
    stripped = head.lstrip("\ufeff \t\r\n")
    if suffix == ".json" or stripped[:1] in "[{":
        if stripped.startswith("["):
            return "open311"
        first_line = stripped.split("\n", 1)[0].strip()
        if first_line.endswith("}") and "\n" in stripped.strip():
            try:
                json.loads(first_line)
                return "jsonl"
            except json.JSONDecodeError:
                pass
        return "geojson" if '"FeatureCollection"' in stripped[:4096] or '"Feature"' in stripped[:4096] \
            else "open311"
    return "csv"


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


def _frame(rows: list[list[str]] | list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    if columns is not None:
        return pd.DataFrame(rows, columns=columns, dtype=object)
    return pd.DataFrame.from_records(rows).astype(object) if rows else pd.DataFrame()


def _unique(names: list[str]) -> list[str]:
    """Header names made unique: a repeated name gets ``.2``, ``.3``… (and is then an unknown column)."""
    seen: Counter = Counter()
    out = []
    for name in names:
        seen[name.lower()] += 1
        out.append(name if seen[name.lower()] == 1 else f"{name}.{seen[name.lower()]}")
    return out


def _csv_chunks(fh: io.TextIOBase, raw_fh: Any, chunk_size: int, notes: list[str]) -> Iterator[Chunk]:
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
        rec = _canonical(_frame(padded, header))
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
            delimiter = "\t" if first.count("\t") > first.count(",") else ","
            header = next(csv.reader([first], delimiter=delimiter))
            header = _unique([h.strip().lstrip("\ufeff") for h in header])
            tap.taken.clear()
            missing = [f for f in REQUIRED if not any(a in {h.lower() for h in header} for a in FIELD_ALIASES[f])]
            if missing:
                notes.append(f"表头缺少必填列 {', '.join(missing)}（header lacks required column(s)）")
            extra = unknown_columns(header)
            if extra:
                notes.append(f"忽略未识别的列 {', '.join(extra)}（ignored unknown columns）")
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
            continue  # blank line (or only delimiters): not a row
        if error is None and len(row) != len(header):
            error = "malformed_row"
            detail = f"{len(row)} fields, header has {len(header)}"
        if error is not None and len(taken) > 1:
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


def _json_chunk(objs: list[tuple[int, str, Any, str | None]], fmt: str, progress: int) -> Chunk:
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
    frame = _frame(recs)
    frame.index = pd.RangeIndex(len(objs))
    rec = _canonical(frame)
    if fmt == "open311" and len(rec):
        if "channel" not in rec:
            rec["channel"] = None
        rec["channel"] = rec["channel"].where(~_blank(rec["channel"]), OPEN311_DEFAULT_CHANNEL)
    return Chunk(rec, np.array([o[0] for o in objs], np.int64), [o[1] for o in objs], np.array(errs, object),
                 np.array(details, object), fmt, progress)


def _keep_constant(name: str) -> str:
    """json: keep NaN/Infinity as text so that they are reported as not finite, not as missing."""
    return name


def _jsonl_chunks(fh: io.TextIOBase, raw_fh: Any, chunk_size: int) -> Iterator[Chunk]:
    batch: list[tuple[int, str, Any, str | None]] = []
    for lineno, line in enumerate(fh, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            batch.append((lineno, text, json.loads(text, parse_constant=_keep_constant), None))
        except json.JSONDecodeError as exc:
            batch.append((lineno, text, None, str(exc)))
        if len(batch) >= chunk_size:
            yield _json_chunk(batch, "jsonl", raw_fh.tell())
            batch = []
    if batch:
        yield _json_chunk(batch, "jsonl", raw_fh.tell())


def _document_chunks(text: str, fmt: str, chunk_size: int) -> Iterator[Chunk]:
    """GeoJSON FeatureCollection / Feature, or Open311 requests: the whole document is one JSON value;
    ``line`` is the 1-based number of the feature or request in it."""
    try:
        doc = json.loads(text, parse_constant=_keep_constant)
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
        yield _json_chunk(batch, fmt, i + len(part))


# ------------------------------------------------------------------------------------------ checks
def clean_text(s: pd.Series) -> pd.Series:
    """Values as trimmed strings (pandas string dtype), NA where missing or blank: every check reads
    this form, converted once per column."""
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def _show(v: Any, width: int = 40) -> str:
    text = str(v)
    return repr(text if len(text) <= width else text[:width] + "…")


_NAN_WORDS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "null"}


def parse_numbers(s: pd.Series, *, money: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Float values and masks (missing, not a number, not finite) of a ``clean_text`` column, vectorised.

    Thousands separators are ignored; for money a trailing 元 is dropped and 万 multiplies by 10,000.
    """
    missing = s.isna().to_numpy()
    text = s
    odd = text.str.contains(r"[^0-9.eE+\-]").fillna(False).to_numpy(bool)
    scale = np.ones(len(s))
    if odd.any():  # the few values with separators or units (regex replace is slow: only on those)
        t = text[odd].str.replace(r"[,，\s]", "", regex=True)
        if money:
            t = t.str.replace(r"元$", "", regex=True)
            wan = t.str.endswith("万").fillna(False).to_numpy(bool)
            scale[np.flatnonzero(odd)[wan]] = 1e4
            t = t.str.replace(r"万$", "", regex=True)
        text = text.copy()
        text[odd] = t
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan) * scale
    bad = ~missing & ~np.isfinite(values)
    nan_word = text.str.lower().isin(_NAN_WORDS).fillna(False).to_numpy(bool)
    not_finite = bad & (nan_word | np.isinf(values))
    not_number = bad & ~not_finite
    return values, missing, not_number, not_finite


_DT_RE = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?:T|\s+)(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>.*)$")
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?\s*(?P<sign>[+-])(?P<hh>\d{1,2})(?::?(?P<mm>\d{2}))?(?:\[[^\]]*\])?$",
                        re.IGNORECASE)
_ZONE_RE = re.compile(r"^\[?(?P<zone>[A-Za-z][A-Za-z_]*(?:/[A-Za-z0-9_+\-]+)+|UTC|GMT|UCT)\]?$")
_UTC_WORDS = {"z", "utc", "gmt", "ut", "uct"}
_BEIJING_WORDS = {"北京时间", "beijing", "cct", "china standard time"}
_EPOCH_RE = re.compile(r"^\d{9,10}(?:\.\d+)?$|^\d{12,13}$")


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_ISO_RE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_ZONED_RE = r"[T ].*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def parse_timestamps(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray, pd.Series]:
    """Parse a ``clean_text`` column of timestamps to UTC, vectorised.

    Returns (UTC datetimes, missing mask, reason code per row or None, the offending text per row). Naive
    times are Asia/Shanghai; zones may be Z/UTC/GMT, +hh[:mm], UTC+h, an IANA name (bare or in
    brackets), or 北京时间. Unix epoch seconds or milliseconds are UTC. Strict ISO 8601 goes through
    pandas' C parser; everything else (and every ISO string it refuses) through ``_parse_loose``.
    """
    idx = s.index
    missing = s.isna().to_numpy()
    out = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns, UTC]")
    code = np.full(len(s), None, object)
    detail = pd.Series(None, index=idx, dtype=object)
    text = s
    iso = (~missing) & text.str.fullmatch(_ISO_RE).fillna(False).to_numpy(bool)
    zoned = iso & text.str.contains(_ZONED_RE).fillna(False).to_numpy(bool)
    if zoned.any():
        out[zoned] = pd.to_datetime(text[zoned], format="ISO8601", utc=True, errors="coerce")
    naive = iso & ~zoned
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = local.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    rest = (~missing) & out.isna().to_numpy()
    if rest.any():
        parsed, rcode = _parse_loose(text[rest])
        out[rest] = parsed
        code[rest] = rcode
        bad = rest & (code != None)  # noqa: E711 - elementwise on an object array
        detail[bad] = text[bad].astype(object)
    return out, missing, code, detail


def _parse_loose(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The irregular spellings: Chinese dates, unpadded fields, named zones, epochs (see above)."""
    n = len(text)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    code = np.full(n, None, object)
    norm = (text.str.replace(r"(\d)\s*年\s*(\d)", r"\1-\2", regex=True)
            .str.replace(r"(\d)\s*月\s*(\d)", r"\1-\2", regex=True)
            .str.replace(r"(\d)\s*日", r"\1 ", regex=True)
            .str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", regex=True)
            .str.replace(r"(\d)\s*[时点]\s*(\d)", r"\1:\2", regex=True)
            .str.replace(r"(\d)\s*分\s*(\d)", r"\1:\2", regex=True)
            .str.replace(r"(\d)\s*[分秒]", r"\1", regex=True))

    epoch = norm.str.fullmatch(_EPOCH_RE.pattern).fillna(False).to_numpy(bool)
    if epoch.any():
        e = norm[epoch].astype(float)
        ms = norm[epoch].str.len().to_numpy() >= 12
        out[epoch] = pd.to_datetime(np.where(ms, e / 1000.0, e), unit="s", utc=True)

    parts = norm.str.extract(_DT_RE)
    matched = (~epoch) & parts["y"].notna().to_numpy()
    if matched.any():
        p = parts[matched]
        nums = {k: pd.to_numeric(p[k], errors="coerce").fillna(0).astype("int64")
                for k in ("y", "mo", "d", "h", "mi", "s")}
        frac = p["f"].fillna("").str.ljust(9, "0").str[:9].replace("", "0")
        naive = pd.to_datetime(pd.DataFrame({"year": nums["y"], "month": nums["mo"], "day": nums["d"],
                                             "hour": nums["h"], "minute": nums["mi"], "second": nums["s"]}),
                               errors="coerce")
        naive = naive + pd.to_timedelta(pd.to_numeric(frac, errors="coerce").fillna(0), unit="ns")
        bad_fields = (nums["h"] > 23) | (nums["mi"] > 59) | (nums["s"] > 59)
        naive[bad_fields] = pd.NaT
        tz = p["tz"].fillna("").str.strip()
        tz_low = tz.str.lower()
        result = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns, UTC]")
        rcode = pd.Series(None, index=p.index, dtype=object)
        local = (tz == "") | tz_low.isin(_BEIJING_WORDS)  # naive, or Beijing time: Asia/Shanghai
        if local.any():
            result[local] = naive[local].dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        utc = tz_low.isin(_UTC_WORDS)
        if utc.any():
            result[utc] = naive[utc].dt.tz_localize("UTC")
        off = tz.str.extract(_OFFSET_RE)
        has_off = ~local & ~utc & off["sign"].notna()
        if has_off.any():
            hh = pd.to_numeric(off.loc[has_off, "hh"]).astype(int)
            mm = pd.to_numeric(off.loc[has_off, "mm"].fillna("0")).astype(int)
            sign = np.where(off.loc[has_off, "sign"] == "-", -1, 1)
            ok = ((hh * 60 + mm) <= 14 * 60) & (mm < 60)  # real offsets run from -12:00 to +14:00
            good = has_off.copy()
            good[has_off] = ok.to_numpy()
            bad = has_off.copy()
            bad[has_off] = ~ok.to_numpy()
            delta = pd.to_timedelta(sign * (hh * 60 + mm), unit="m")
            result[good] = (naive[good] - delta[ok]).dt.tz_localize("UTC")
            rcode[bad] = "bad_timezone"
        rest = ~local & ~utc & ~has_off
        for name in tz[rest].unique():
            m = rest & (tz == name)
            zm = _ZONE_RE.match(name)
            zone = _zone(zm.group("zone")) if zm else None
            if zone is None:
                rcode[m] = "bad_timezone"
            else:
                result[m] = naive[m].dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        rcode[result.isna() & rcode.isna() & naive.isna()] = "bad_timestamp"
        rcode[result.isna() & rcode.isna()] = "bad_timezone"  # a local time that does not exist in its zone
        out[matched] = result
        rc = rcode.to_numpy(object).copy()
        rc[pd.isna(rc)] = None
        code[matched] = rc
    for i in np.flatnonzero(~epoch & ~matched):  # anything else: few, parsed one by one
        try:
            ts = pd.Timestamp(str(text.iloc[i]))
        except (ValueError, TypeError, OverflowError):
            code[i] = "bad_timestamp"
            continue
        if pd.isna(ts):
            code[i] = "bad_timestamp"
            continue
        out.iloc[i] = (ts.tz_localize(TZ) if ts.tzinfo is None else ts).tz_convert("UTC")
    return out, code


# ------------------------------------------------------------------------------------------ appeals
_INDEX_CACHE: dict[str, PolygonIndex] = {}


def district_layers() -> dict[str, Any]:
    """The boundary layers appeals are assigned to (district first), from data.sample."""
    from data.sample import load_layers

    layers = load_layers()
    return {k: layers[k] for k in ASSIGN_LAYERS if k in layers}


def assign(lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Area codes of WGS84 points (indexes built once per process) and ``outside_district``."""
    return assign_points(np.asarray(lon, float), np.asarray(lat, float), district_layers(), _INDEX_CACHE)


def inside_district(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where a WGS84 point lies in the district."""
    layers = district_layers()
    first = next(iter(layers))
    idx = _INDEX_CACHE.get(first)
    if idx is None or len(idx) != len(layers[first]):
        idx = _INDEX_CACHE[first] = PolygonIndex.from_frame(layers[first])
    return idx.locate(np.asarray(lon, float), np.asarray(lat, float)) != OUTSIDE


def build_appeals(valid: pd.DataFrame, source: str) -> pd.DataFrame:
    """Store-ready appeal rows (APPEAL_COLUMNS) from rows that passed every check.

    ``valid`` has external_id, channel, service_type, lon/lat (WGS84), source_crs, people_involved,
    urgency, amount_involved, reported_at (aware) and optionally category, description, reporter_name,
    reporter_phone, building_code. Tier and class come from services.tiers; area codes from geo.assign.
    ``id`` is a temporary key (0..n-1) that events refer to; the store assigns the real ids.
    """
    n = len(valid)
    get = valid.get
    people = np.asarray(valid["people_involved"], np.int64)
    urgency = np.asarray(valid["urgency"], np.int64)
    amount = np.asarray(valid["amount_involved"], float)
    tier = compute_tiers(people, urgency, amount)
    klass = appeal_classes(tier, urgency)
    codes = assign(valid["lon"].to_numpy(float), valid["lat"].to_numpy(float))
    none = np.full(n, None, object)
    nat = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, Asia/Shanghai]")
    reported = pd.to_datetime(valid["reported_at"]).dt.tz_convert(TZ).reset_index(drop=True)
    data: dict[str, Any] = {
        "id": np.arange(n, dtype=np.int64),
        "source": np.full(n, source, object),
        "external_id": valid["external_id"].to_numpy(object),
        "channel": valid["channel"].to_numpy(object),
        "service_type": valid["service_type"].to_numpy(object),
        "category": _col(get("category"), n),
        "description": _col(get("description"), n),
        "lon": valid["lon"].to_numpy(float),
        "lat": valid["lat"].to_numpy(float),
        "source_crs": valid["source_crs"].to_numpy(object),
        "people_involved": people,
        "amount_involved": amount,
        "urgency": urgency,
        "tier": tier,
        "appeal_class": klass,
        "handling_level": np.full(n, "community", object),
        "status": np.full(n, "reported", object),
        "reopened_count": np.zeros(n, np.int64),
        "satisfaction": none,
        "gathering_id": none,
        "subdistrict_code": _codes(codes, "subdistrict_code", n),
        "community_code": _codes(codes, "community_code", n),
        "grid_code": _codes(codes, "grid_code", n),
        "subgrid_code": _codes(codes, "subgrid_code", n),
        "happiness_unit_code": _codes(codes, "happiness_unit_code", n),
        "building_code": _col(get("building_code"), n),
        "reporter_name": _col(get("reporter_name"), n),
        "reporter_phone": _col(get("reporter_phone"), n),
        "reported_at": reported,
    }
    for c in APPEAL_COLUMNS:
        if c not in data:
            data[c] = nat if c.endswith("_at") else none
    return object_frame({c: data[c] for c in APPEAL_COLUMNS})


def backlog_age() -> pd.Timedelta:
    """How long before its import an open appeal must have been reported to be imported backlog
    (config/rules.toml [intake] backlog_hours)."""
    return pd.Timedelta(hours=float(rules().get("intake", {}).get("backlog_hours", 72)))


# Steps of the loop a closed import is stamped with, all at its closing time (see imported_state).
CLOSED_STAMPS = ("responded_at", "accepted_at", "resolved_at", "closed_at")


def imported_state(appeals: pd.DataFrame, actor: str, source: str, now: pd.Timestamp, *, closed: np.ndarray,
                   closed_at: pd.Series, backlog: np.ndarray, requested_at: pd.Series,
                   status_notes: pd.Series | None = None) -> pd.DataFrame | None:
    """Give imported appeals the state they have in the sending system, and return the events of every
    appeal of ``appeals`` (None when no appeal is closed or backlog: the store's own report events fit).

    - Closed (``closed``): status ``closed``; responded, accepted, resolved and closed at ``closed_at``
      (the other system's steps are not known: the closing time is the latest each can have happened,
      so no rate counts a step as on time that we cannot show was, and resolved never exceeds accepted);
      no satisfaction (not rated). Events: ``report`` at reported_at and ``import_close`` at closed_at,
      both by ``actor`` and noting the import. The store computes no next deadline for a closed appeal.
    - Backlog (``backlog``): reported_at is ``now`` (the appeal reaches us now and its clocks start now).
      Events: ``report`` at the original ``requested_at`` and ``import_backlog`` at ``now``, noting both.
    ``appeals`` is changed in place; its ``id`` column keys the events.
    """
    if not closed.any() and not backlog.any():
        return None
    n = len(appeals)
    at_closed = pd.to_datetime(closed_at).dt.tz_convert(TZ).reset_index(drop=True)
    for c in CLOSED_STAMPS:
        appeals[c] = at_closed.where(pd.Series(closed)).astype(appeals["reported_at"].dtype)
    appeals["status"] = np.where(closed, "closed", appeals["status"].to_numpy(object)).astype(object)
    requested = pd.to_datetime(requested_at).dt.tz_convert(TZ).reset_index(drop=True)
    imported = closed | backlog
    channel_note = np.array([CHANNELS_NOTE.get(c, c) for c in appeals["channel"]], dtype=object)
    tag = f"导入：来自{source}（imported from {source}）"
    report_note = np.where(imported, [f"{c}；{tag}" if c else tag for c in channel_note], channel_note)
    ids = appeals["id"].to_numpy()
    report = pd.DataFrame({"appeal_id": ids, "at": appeals["reported_at"].where(~pd.Series(backlog), requested),
                           "actor": actor, "action": "report", "from_status": None, "to_status": "reported",
                           "note": report_note})
    notes = (status_notes if status_notes is not None else pd.Series(pd.NA, index=range(n))).reset_index(drop=True)
    close_note = [f"导入：{source}中已办结（imported: closed in {source}）" + ("" if pd.isna(x) else f"；{x}")
                  for x in notes[closed]]
    close = pd.DataFrame({"appeal_id": ids[closed], "at": at_closed[closed].array, "actor": actor,
                          "action": "import_close", "from_status": "reported", "to_status": "closed",
                          "note": close_note})
    local_now = pd.Timestamp(now).tz_convert(TZ)
    back_note = [f"积压导入：原于{r:%Y-%m-%d %H:%M}上报，时限自导入时{local_now:%Y-%m-%d %H:%M}起算（imported "
                 f"backlog: reported {r:%Y-%m-%d %H:%M}, clocks start at import）" for r in requested[backlog]]
    back = pd.DataFrame({"appeal_id": ids[backlog], "at": local_now, "actor": actor, "action": "import_backlog",
                         "from_status": "reported", "to_status": "reported", "note": back_note})
    parts = [f for f in (report, close, back) if len(f)]
    return pd.concat(parts, ignore_index=True)


def object_frame(data: dict[str, Any]) -> pd.DataFrame:
    """A frame whose object arrays stay object columns. Why: pandas would infer Arrow-backed strings, and
    converting them back to Python objects for the database costs more than building the frame."""
    return pd.DataFrame({c: pd.Series(v, dtype=object) if isinstance(v, np.ndarray) and v.dtype == object else v
                         for c, v in data.items()})


def _col(s: pd.Series | None, n: int) -> np.ndarray:
    """Values as an object array with None (not NaN/NA) where missing."""
    if s is None:
        return np.full(n, None, object)
    arr = np.asarray(s, dtype=object).copy()
    arr[pd.isna(arr)] = None
    return arr


def _codes(codes: pd.DataFrame, col: str, n: int) -> np.ndarray:
    """Area codes as an object array (None outside every polygon). The layers' codes are Arrow strings
    with few distinct values: factorised, each distinct code becomes a Python str once, not once per row."""
    s = codes.get(col)
    if s is None:
        return np.full(n, None, object)
    idx, uniq = pd.factorize(s, use_na_sentinel=True)
    table = np.empty(len(uniq) + 1, dtype=object)
    table[:-1] = np.asarray(uniq, dtype=object)
    table[-1] = None  # position -1: the NA sentinel
    return table[idx]


def estimate_rows(fmt: str, size: int, head: bytes) -> int:
    """A rough count of the records in a file of ``size`` bytes from its first bytes (``head``): what the
    store's bulk load needs to choose how to load (services.store.base.Store.bulk_load). Lines for CSV
    and JSON Lines; for whole documents, records of ~300 bytes (a GeoJSON feature or Open311 request)."""
    if not head:
        return 0
    if fmt in ("csv", "jsonl"):
        lines = head.count(b"\n")
        if lines == 0:
            return 1
        return max(1, round(size * lines / len(head)) - (1 if fmt == "csv" else 0))
    return max(1, size // 300)


# ------------------------------------------------------------------------------------------ the run
@dataclass
class Summary:
    """What one import did. ``rows == stored + duplicates + quarantined`` always holds."""

    path: str
    source: str
    fmt: str = ""
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    already_quarantined: int = 0
    by_reason: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accounted(self) -> bool:
        return self.rows == self.stored + self.duplicates + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "source": self.source, "format": self.fmt, "rows": self.rows,
                "stored": self.stored, "duplicates": self.duplicates, "quarantined": self.quarantined,
                "already_quarantined": self.already_quarantined, "by_reason": dict(self.by_reason),
                "seconds": round(self.seconds, 3)}

    def text(self) -> str:
        lines = [f"{self.path}（{self.fmt}，来源 source={self.source}）：共 {self.rows} 行 rows",
                 f"  新入库 stored: {self.stored}",
                 f"  重复（已入库）duplicates: {self.duplicates}",
                 f"  隔离 quarantined: {self.quarantined}"
                 + (f"（其中 {self.already_quarantined} 行此前已隔离 already in quarantine）"
                    if self.already_quarantined else "")]
        for code, n in self.by_reason.most_common():
            zh, en = REASONS.get(code, (code, code))
            lines.append(f"    {zh} {en} [{code}]: {n}")
        lines += [f"  注意 note: {n}" for n in self.notes]
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        lines.append(f"  用时 {self.seconds:.2f} s（{rate:,.0f} rows/s）")
        return "\n".join(lines)


class Intake:
    """Imports files into one store for one source; holds what must persist across chunks."""

    def __init__(self, store: Store, *, source: str, crs: str = "wgs84", now: datetime | None = None,
                 default_channel: str | None = None, chunk_size: int = DEFAULT_CHUNK,
                 future_tolerance: timedelta = FUTURE_TOLERANCE,
                 service_map: str | os.PathLike[str] | ServiceMap | None = None) -> None:
        """``service_map``: the foreign service codes of each source (a file, default
        config/open311_services.toml); an invalid file raises IntakeError naming the entry."""
        if crs.lower() not in SOURCE_SYSTEMS:
            raise ValueError(f"unknown --crs {crs!r}; choose one of {', '.join(SOURCE_SYSTEMS)}")
        if isinstance(service_map, ServiceMap):
            self.service_map = service_map
        else:
            try:
                self.service_map = load_service_map(service_map)
            except ServiceMapError as exc:
                raise IntakeError(str(exc)) from None
        self.store = store
        self.source = source
        self.crs = crs.lower()
        self.now = now
        self.default_channel = default_channel
        self.chunk_size = max(1, int(chunk_size))
        self.future_tolerance = future_tolerance
        self._seen: dict[str, int] = {}
        self._quarantined: set[tuple[str, int, str]] | None = None
        self._load: BulkLoad | None = None  # the store's bulk load of the file being imported

    # -- files -------------------------------------------------------------------------------------
    def import_file(self, path: str | os.PathLike[str], fmt: str = "auto", encoding: str | None = None,
                    progress: bool = False) -> Summary:
        """Import one file; raises IntakeError when it cannot be read at all."""
        t0 = time.perf_counter()
        path = Path(path)
        if not path.is_file():
            raise IntakeError(f"找不到文件或不是文件：{path}（no such file）")
        self._seen = {}
        try:
            raw_fh = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise IntakeError(f"无法读取文件：{exc}（cannot read the file）") from None
        with raw_fh:
            head = raw_fh.read(1 << 16)
            raw_fh.seek(0)
            enc = encoding or sniff_encoding(head)
            try:
                codecs.lookup(enc)
            except LookupError:
                raise IntakeError(f"未知编码 unknown encoding: {enc}") from None
            if fmt == "auto":
                fmt = detect_format(path, head.decode(enc, errors="replace"))
            if fmt not in FORMATS:
                raise IntakeError(f"未知格式 unknown format: {fmt}; choose one of {', '.join(FORMATS)}")
            summary = Summary(str(path), self.source, fmt)
            size = path.stat().st_size
            bar = _progress_bar(size if fmt in ("csv", "jsonl") else None, progress, path.name)
            done = 0
            if fmt in ("csv", "jsonl"):
                fh = io.TextIOWrapper(raw_fh, encoding=enc, errors="replace", newline="")
                chunks = (_csv_chunks(fh, raw_fh, self.chunk_size, summary.notes) if fmt == "csv"
                          else _jsonl_chunks(fh, raw_fh, self.chunk_size))
            else:
                try:
                    text = raw_fh.read().decode(enc)
                except UnicodeDecodeError as exc:
                    raise IntakeError(f"文件编码不是{enc}：{exc}（use --encoding）") from None
                chunks = _document_chunks(text, fmt, self.chunk_size)
            try:
                with self.store.bulk_load(estimate_rows(fmt, size, head)) as load:
                    self._load = load
                    for chunk in chunks:
                        appeals, quarantine, events = self.check(chunk)
                        summary.rows += len(chunk.line)
                        self._store(appeals, quarantine, path.name, summary, events)
                        if bar is not None:
                            if fmt in ("csv", "jsonl"):
                                bar.update(chunk.progress - done)
                                done = chunk.progress
                            else:
                                if bar.total is None:
                                    bar.reset(total=None)
                                bar.update(len(chunk.line))
                        summary.fmt = chunk.fmt
            finally:
                self._load = None
                if bar is not None:
                    bar.close()
        summary.seconds = time.perf_counter() - t0
        return summary

    # -- one chunk -----------------------------------------------------------------------------------
    def _store(self, appeals: pd.DataFrame, quarantine: pd.DataFrame, file: str, summary: Summary,
               events: pd.DataFrame | None = None) -> None:
        """Write one checked chunk: new appeals with their events (None: the store's report events;
        duplicates counted by the store) and new quarantine rows."""
        if len(appeals):
            actor = f"intake:{self.source}"
            result = (self._load.add(appeals, events, actor=actor) if self._load is not None
                      else self.store.insert_appeals(appeals, events, actor=actor))
            summary.stored += result.stored
            summary.duplicates += result.duplicates
        if len(quarantine):
            quarantine.insert(0, "file", file)
            quarantine.insert(0, "source", self.source)
            summary.quarantined += len(quarantine)
            summary.by_reason.update(quarantine["reason_code"].tolist())
            new = self._new_quarantine(quarantine)
            summary.already_quarantined += len(quarantine) - len(new)
            if len(new):
                (self._load or self.store).quarantine(new.reset_index(drop=True))

    def _new_quarantine(self, q: pd.DataFrame) -> pd.DataFrame:
        """Rows not already quarantined for this source (same file name, line and verbatim text)."""
        if self._quarantined is None:
            old = self.store.quarantined(source=self.source)
            self._quarantined = set()
            if len(old):
                self._quarantined = {(str(f), int(li), str(r)) for f, li, r in
                                     zip(old["file"], old["line"], old["raw"], strict=True)}
        keys = list(zip(q["file"], q["line"].astype(int), q["raw"], strict=True))
        fresh = np.array([k not in self._quarantined for k in keys], bool)
        self._quarantined.update(keys)
        return q[fresh]

    def check(self, chunk: Chunk) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """Split a chunk into store-ready appeals, quarantine rows (line, raw, reason, reason_code), and
        the appeals' events when some are imported closed or as backlog (else None: the store writes one
        ``report`` event per appeal, the fast path)."""
        records = chunk.records.reset_index(drop=True)
        n = len(chunk.line)
        na = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="string")
        rec = pd.DataFrame({f: clean_text(records[f]) if f in records else na for f in FIELDS})
        checks = _Checks(n)
        err = chunk.error
        for code in ("malformed_row", "invalid_json", "not_an_object", "bad_geometry"):
            m = err == code
            if m.any():
                det = pd.Series(chunk.detail[m], dtype=object).astype(str).to_numpy()
                checks.add(code, m, [f"{REASONS[code][0]}（{REASONS[code][1]}）：{d}" for d in det])
        failed_read = err != None  # noqa: E711
        enc_bad = np.array(["\ufffd" in r for r in chunk.raw], bool) & ~failed_read
        checks.add("bad_encoding", enc_bad, "含无法解码的字符，请以UTF-8或GB18030保存或用--encoding指明编码"
                                            "（undecodable characters: save as UTF-8/GB18030 or pass --encoding）")
        live = ~failed_read

        # The checks run in the order a clerk must act on them (the first failing one is the row's
        # reason_code): where the point is comes first, since a point outside the district means the row
        # is not ours at all, whatever else is wrong with it; then the vocabularies, numbers and times.
        ext = rec["external_id"]
        self._missing_checks(checks, live, {"lon": rec["lon"].notna(), "lat": rec["lat"].notna()})
        lon, lon_missing, lon_nan, lon_inf = parse_numbers(rec["lon"])
        lat, lat_missing, lat_nan, lat_inf = parse_numbers(rec["lat"])
        for name, raw_col, bad_num, bad_inf in (("lon", rec["lon"], lon_nan, lon_inf),
                                                 ("lat", rec["lat"], lat_nan, lat_inf)):
            self._number_checks(checks, live, name, raw_col, bad_num, bad_inf)

        crs_text = rec["source_crs"]
        crs = normalise_crs(crs_text)
        bad_crs = live & crs_text.notna().to_numpy() & crs.isna().to_numpy()
        checks.add("unknown_crs", bad_crs, [f"未知坐标系{_show(v)}，可用wgs84/cgcs2000/gcj02/bd09"
                                            f"（unknown coordinate system {_show(v)}）" for v in crs_text[bad_crs]])
        crs = crs.where(crs.notna(), self.crs)

        # Coordinates: convert per source system, then inside/swapped/outside.
        numeric = live & np.isfinite(lon) & np.isfinite(lat) & (crs.notna().to_numpy())
        wlon = np.full(n, np.nan)
        wlat = np.full(n, np.nan)
        slon = np.full(n, np.nan)
        slat = np.full(n, np.nan)
        for system in SOURCE_SYSTEMS:
            m = numeric & (crs == system).to_numpy()
            if m.any():
                wlon[m], wlat[m] = to_wgs84(lon[m], lat[m], system)
                slon[m], slat[m] = to_wgs84(lat[m], lon[m], system)
        inside = np.zeros(n, bool)
        if numeric.any():
            inside[numeric] = inside_district(wlon[numeric], wlat[numeric])
        outside = numeric & ~inside
        swapped = np.zeros(n, bool)
        if outside.any():
            swapped[outside] = inside_district(slon[outside], slat[outside])
        checks.add("lonlat_swapped", swapped,
                   [f"经纬度颠倒：经度{_fmt(a)}、纬度{_fmt(b)}交换后位于光明区内，请交换经度与纬度两列"
                    f"（longitude and latitude are swapped: lon={_fmt(a)}, lat={_fmt(b)} swapped falls inside "
                    f"the district; swap the two columns）" for a, b in zip(lon[swapped], lat[swapped], strict=True)])
        far = outside & ~swapped
        checks.add("outside_district", far,
                   [f"坐标({_fmt(a)}, {_fmt(b)}，{c})不在光明区内，请核对坐标与坐标系{_hint(a, b)}（point ({_fmt(a)}, "
                    f"{_fmt(b)}, {c}) is outside Guangming district; check the coordinates and --crs）"
                    for a, b, c in zip(lon[far], lat[far], crs[far], strict=True)])

        # Vocabularies: a source's own service codes (config/open311_services.toml) first, then ours; a
        # category stands in for a missing service type.
        svc_text = rec["service_type"]
        name_text = rec["service_name"]
        mapped_svc, mapped_cat = self.service_map.apply(self.source, svc_text, name_text)
        svc = mapped_svc.where(mapped_svc.notna(), normalise(svc_text, SERVICE_TYPE_LOOKUP))
        svc = svc.where(svc.notna(), normalise(name_text, SERVICE_TYPE_LOOKUP))
        cat_text = rec["category"]
        cat = normalise(cat_text, CATEGORY_LOOKUP)
        cat = cat.where(cat.notna() | cat_text.notna(), mapped_cat)
        named = svc_text.notna() | name_text.notna()
        svc = svc.where(svc.notna() | named, cat.map(CATEGORY_SERVICE))
        chan_text = rec["channel"]
        if self.default_channel:
            chan_text = chan_text.where(chan_text.notna(), self.default_channel)
        chan = normalise(chan_text, CHANNEL_LOOKUP)
        self._missing_checks(checks, live, {"external_id": ext.notna(), "service_type": named | svc.notna(),
                                                 "channel": chan_text.notna()})

        bad_svc = live & named.to_numpy() & svc.isna().to_numpy()
        checks.add("unknown_service_type", bad_svc, [self._unknown_service(c, nm) for c, nm in
                                                     zip(svc_text[bad_svc], name_text[bad_svc], strict=True)])
        bad_chan = live & chan_text.notna().to_numpy() & chan.isna().to_numpy()
        checks.add("unknown_channel", bad_chan,
                   [f"未知渠道{_show(v)}，可用：扫码、热线、书记在线、来访、主动发现（unknown channel {_show(v)}; "
                    f"use qr_scan, hotline, secretary_online, walk_in, active_discovery）" for v in chan_text[bad_chan]])
        bad_cat = live & cat_text.notna().to_numpy() & cat.isna().to_numpy()
        checks.add("unknown_category", bad_cat, [f"未知诉求类别{_show(v)}（unknown category {_show(v)}; see "
                                                 f"services.vocabulary.CATEGORIES）" for v in cat_text[bad_cat]])

        people, p_missing, p_nan, p_inf = parse_numbers(rec["people_involved"])
        amount, a_missing, a_nan, a_inf = parse_numbers(rec["amount_involved"], money=True)
        urg_text = rec["urgency"]
        urg_named = urg_text.str.lower().map(URGENCY_LOOKUP)
        urgency, u_missing, u_nan, u_inf = parse_numbers(
            urg_text.where(urg_named.isna(), urg_named.astype("string")).astype("string"))
        for name, col, bad_num, bad_inf in (("people_involved", rec["people_involved"], p_nan, p_inf),
                                            ("amount_involved", rec["amount_involved"], a_nan, a_inf),
                                            ("urgency", rec["urgency"], u_nan, u_inf)):
            self._number_checks(checks, live, name, col, bad_num, bad_inf)
        people = np.where(p_missing, 1.0, people)
        amount = np.where(a_missing, 0.0, amount)
        urgency = np.where(u_missing, 1.0, urgency)
        with np.errstate(invalid="ignore"):
            bad_people = live & np.isfinite(people) & ((people < 1) | (people > 100_000) | (people != np.round(people)))
            bad_amount = live & np.isfinite(amount) & ((amount < 0) | (amount > 1e11))
            bad_urg = live & np.isfinite(urgency) & ~np.isin(urgency, (1.0, 2.0, 3.0))
        checks.add("out_of_range", bad_people, [f"涉及人数应为1至100000的整数，实为{_show(v)}（people_involved must be "
                                                f"a whole number 1-100000, got {_show(v)}）"
                                                for v in rec["people_involved"][bad_people]])
        checks.add("out_of_range", bad_amount, [f"涉案金额应为0至1000亿元，实为{_show(v)}（amount_involved must be "
                                                f"0-1e11 yuan, got {_show(v)}）" for v in rec["amount_involved"][bad_amount]])
        checks.add("out_of_range", bad_urg, [f"紧急程度应为1一般、2紧急、3特急，实为{_show(v)}（urgency must be 1, 2 or 3,"
                                             f" got {_show(v)}）" for v in rec["urgency"][bad_urg]])

        reported, t_missing, t_code, t_detail = parse_timestamps(rec["reported_at"])
        now = pd.Timestamp(self.now or datetime.now(TZ)).tz_convert("UTC")
        for code, zh, en in (("bad_timestamp", "时间无法识别或日期不存在", "unparseable or impossible timestamp"),
                             ("bad_timezone", "时区无效或有歧义（如CST），请写+08:00或Asia/Shanghai",
                              "unknown, impossible or ambiguous time zone (e.g. CST); write +08:00 or Asia/Shanghai")):
            m = live & (t_code == code)
            checks.add(code, m, [f"{zh}：{_show(v)}（{en}: {_show(v)}）" for v in t_detail[m]])
        future = live & (reported > now + pd.Timedelta(self.future_tolerance)).fillna(False).to_numpy(bool)
        old = live & (reported < EARLIEST).fillna(False).to_numpy(bool)
        checks.add("future_timestamp", future,
                   [f"上报时间{v.tz_convert(TZ):%Y-%m-%d %H:%M:%S%z}晚于当前时间，请核对时区（reported_at "
                    f"{v.isoformat()} is in the future; check the time zone）" for v in reported[future]])
        checks.add("bad_timestamp", old, [f"上报时间{v.tz_convert(TZ):%Y-%m-%d}早于2000年（reported_at before 2000）"
                                          for v in reported[old]])

        # Status: a closed request (Open311 ``status`` closed) is stored closed at its closing time
        # (``updated_datetime``, else its requested time); an open one stays open.
        st_text = rec["status"]
        status = st_text.str.lower().map(STATUS_LOOKUP)
        bad_st = live & st_text.notna().to_numpy() & status.isna().to_numpy()
        checks.add("unknown_status", bad_st, [f"未知办理状态{_show(v)}，应为open（办理中）或closed（已办结）"
                                              f"（unknown status {_show(v)}; use open or closed）"
                                              for v in st_text[bad_st]])
        closed = (status == "closed").fillna(False).to_numpy(bool)
        updated, u_missing, u_code, u_detail = parse_timestamps(rec["updated_at"].where(pd.Series(closed)))
        for code, zh, en in (("bad_timestamp", "办结时间无法识别或日期不存在", "unparseable or impossible updated_datetime"),
                             ("bad_timezone", "办结时间的时区无效或有歧义（如CST）",
                              "updated_datetime has an unknown, impossible or ambiguous time zone")):
            m = live & closed & (u_code == code)
            checks.add(code, m, [f"{zh}：{_show(v)}（{en}: {_show(v)}）" for v in u_detail[m]])
        # No requested time: a closed request was reported no later than it closed.
        reported = reported.where(~pd.Series(t_missing) | updated.isna(), updated)
        reported = reported.where(reported.notna() | ~pd.Series(t_missing), now)
        closed_at = updated.where(updated.notna(), reported)
        u_future = live & closed & (closed_at > now + pd.Timedelta(self.future_tolerance)).fillna(False).to_numpy(bool)
        checks.add("future_timestamp", u_future,
                   [f"办结时间{v.tz_convert(TZ):%Y-%m-%d %H:%M:%S%z}晚于当前时间，请核对时区（updated_datetime "
                    f"{v.isoformat()} is in the future; check the time zone）" for v in closed_at[u_future]])
        early = live & closed & (closed_at < reported).fillna(False).to_numpy(bool)
        checks.add("bad_timestamp", early,
                   [f"办结时间{c.tz_convert(TZ):%Y-%m-%d %H:%M}早于上报时间{r.tz_convert(TZ):%Y-%m-%d %H:%M}"
                    f"（updated_datetime {c.isoformat()} is before requested_datetime {r.isoformat()}）"
                    for c, r in zip(closed_at[early], reported[early], strict=True)])
        # A request the sender says is open, reported long before it reaches us, is imported backlog: its
        # clocks start now. A row without a status is a report like any other (a clerk's list, a history
        # backfill) and keeps its report time as the start of its clocks.
        backlog = ((status == "open").fillna(False).to_numpy(bool) & ~t_missing
                   & (reported < now - backlog_age()).fillna(False).to_numpy(bool))

        # Repeated external id in this file (earlier chunk or earlier row of this one).
        ok_so_far = ~checks.failed
        dup = np.zeros(n, bool)
        first_line = np.zeros(n, np.int64)
        if ok_so_far.any():
            ids = ext.to_numpy(object)
            seen = self._seen
            idx = np.flatnonzero(ok_so_far)
            prior = pd.Series(ids[idx]).map(seen)
            within = pd.Series(ids[idx]).duplicated(keep="first").to_numpy()
            first_in_chunk = pd.Series(chunk.line[idx]).groupby(pd.Series(ids[idx])).transform("first").to_numpy()
            d = prior.notna().to_numpy() | within
            dup[idx] = d
            first_line[idx] = np.where(prior.notna(), prior.fillna(0).to_numpy(), first_in_chunk)
            for i in idx[~d]:
                seen[ids[i]] = int(chunk.line[i])
        checks.add("duplicate_in_file", dup,
                   [f"编号{_show(e)}在本文件第{fl}行已出现，请核对是否同一诉求（external id {_show(e)} already appears on "
                    f"line {fl} of this file）" for e, fl in zip(ext[dup], first_line[dup], strict=True)])

        good = ~checks.failed
        valid = object_frame({
            "external_id": ext[good].to_numpy(object), "channel": chan[good].to_numpy(object),
            "service_type": svc[good].to_numpy(object), "category": cat[good].to_numpy(object),
            "description": _description(rec)[good].to_numpy(object),
            "lon": wlon[good], "lat": wlat[good], "source_crs": crs[good].to_numpy(object),
            "people_involved": people[good].astype(np.int64), "amount_involved": amount[good],
            "urgency": urgency[good].astype(np.int64),
            "reported_at": reported.where(~pd.Series(backlog), now)[good].reset_index(drop=True),
            "reporter_name": rec["reporter_name"][good].to_numpy(object),
            "reporter_phone": rec["reporter_phone"][good].to_numpy(object),
            "building_code": rec["building_code"][good].to_numpy(object),
        })
        events = None
        if len(valid):
            appeals = build_appeals(valid, self.source)
            events = imported_state(appeals, f"intake:{self.source}", self.source, now,
                                    closed=closed[good], closed_at=closed_at[good].reset_index(drop=True),
                                    backlog=backlog[good], requested_at=reported[good].reset_index(drop=True),
                                    status_notes=rec["status_notes"][good].reset_index(drop=True))
        else:
            appeals = valid
        bad = np.flatnonzero(checks.failed)
        quarantine = pd.DataFrame({
            "line": chunk.line[bad].astype(np.int64),
            "raw": [chunk.raw[i] for i in bad],
            "reason": checks.message[bad],
            "reason_code": checks.code[bad],
        })
        return appeals, quarantine, events

    def _unknown_service(self, code: Any, name: Any) -> str:
        """The quarantine message of a service code/name that is neither ours nor mapped for the source."""
        what = " / ".join(_show(v) for v in (code, name) if not pd.isna(v))
        where = self.service_map.display
        return (f"未知服务类型{what}：不是本系统的服务类型（纠纷调处、投诉建议、帮扶救助、法律服务、心理服务），"
                f"{where}中来源[{self.source}]也没有它的映射，请改用本系统服务类型或在{where}中加入映射"
                f"（unknown service type {what}: not one of ours (dispute, complaint, assistance, legal, "
                f"psychological) and not mapped for source {self.source!r} in {where}; add it there）")

    @staticmethod
    def _missing_checks(checks: _Checks, live: np.ndarray, present: dict[str, pd.Series]) -> None:
        """``missing_field`` for the rows that lack any of the given required fields (one message each)."""
        miss = np.zeros(len(live), bool)
        names = pd.Series("", index=pd.RangeIndex(len(live)), dtype=object)
        for f, ok in present.items():
            m = live & ~ok.to_numpy(bool)
            miss |= m
            names[m] = names[m] + f"、{FIELD_ZH[f]}({f})"
        checks.add("missing_field", miss, [f"缺少必填字段：{s[1:]}（missing required field: "
                                           f"{', '.join(re.findall(r'[(]([a-z_]+)[)]', s))}）" for s in names[miss]])

    @staticmethod
    def _number_checks(checks: _Checks, live: np.ndarray, name: str, raw: pd.Series, bad_num: np.ndarray,
                       bad_inf: np.ndarray) -> None:
        m = live & bad_num
        checks.add("not_a_number", m, [f"{FIELD_ZH[name]}不是数字：{_show(v)}（{name} is not a number: {_show(v)}）"
                                       for v in raw[m]])
        m = live & bad_inf
        checks.add("not_finite", m, [f"{FIELD_ZH[name]}为NaN或无穷大：{_show(v)}（{name} is NaN or infinite）"
                                     for v in raw[m]])


class _Checks:
    """Failed checks per row: the first reason code, and every message joined by '；'."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, None, object)
        self.message = np.full(n, "", object)
        self.failed = np.zeros(n, bool)

    def add(self, code: str, mask: np.ndarray, messages: list[str] | str) -> None:
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        msgs = [messages] * len(idx) if isinstance(messages, str) else list(messages)
        first = ~self.failed[idx]
        self.code[idx[first]] = code
        for i, msg in zip(idx, msgs, strict=True):
            self.message[i] = msg if not self.message[i] else f"{self.message[i]}；{msg}"
        self.failed[idx] = True


def normalise_crs(values: pd.Series) -> pd.Series:
    """Coordinate-system names (WGS-84, EPSG:4490, GCJ-02, 百度…) to SOURCE_SYSTEMS codes; NaN if unknown."""
    key = values.astype("string").str.strip().str.lower()
    exact = key.map(_CRS_LOOKUP)
    loose = key.str.replace(r"[\s_\-]", "", regex=True).map(_CRS_LOOKUP)
    return exact.where(exact.notna(), loose).astype(object)


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _hint(lon: float, lat: float) -> str:
    if abs(lon) > 180 or abs(lat) > 90:
        return "；数值像投影坐标（米），应为经纬度（度）"
    return ""


def _description(rec: pd.DataFrame) -> pd.Series:
    desc = rec["description"]
    addr = rec["address"]
    has_addr = addr.notna()
    if has_addr.any():
        joined = desc.fillna("") + "（地址：" + addr.fillna("") + "）"
        desc = desc.where(~has_addr, joined)
    return desc


def _progress_bar(total: int | None, enabled: bool, name: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    if total is not None:
        return tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr, leave=False)
    return tqdm(unit="rows", desc=name, file=sys.stderr, leave=False)


# ------------------------------------------------------------------------------------------ CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.intake",
        description="Load appeals from CSV, JSON Lines, GeoJSON or Open311 GeoReport v2 JSON into the store "
                    "(DATABASE_URL). Every row is stored, counted as a duplicate, or quarantined with a reason.",
        epilog="Timestamps without a zone are Asia/Shanghai. Exit status: 0 every row accounted for; "
               "1 unreadable file; 2 bad arguments. Field names and the Open311 mapping: docs/intake.md.")
    p.add_argument("path", help="the file to import (.csv/.tsv, .jsonl/.ndjson, .geojson, .json)")
    p.add_argument("--crs", default="wgs84", type=str.lower, choices=SOURCE_SYSTEMS,
                   help="coordinate system of the file's lon/lat (default wgs84; a source_crs column overrides "
                        "it per row)")
    p.add_argument("--source", help="name of the sending system; (source, external id) is unique "
                                    "(default: the file name without extension)")
    p.add_argument("--format", dest="fmt", default="auto", choices=("auto",) + FORMATS,
                   help="input format (default: from the file name and content)")
    p.add_argument("--encoding", help="text encoding (default: UTF-8, else GB18030)")
    p.add_argument("--default-channel", help="channel for rows that have none (e.g. hotline for a 12345 export)")
    p.add_argument("--store", help="store URL (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="rows per chunk (default 10000)")
    p.add_argument("--service-map", help="mapping of other systems' service codes (default: "
                   "config/open311_services.toml; see docs/intake.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.chunk_size < 1:
        print("--chunk-size must be at least 1", file=sys.stderr)
        return 2
    if args.default_channel and normalise(pd.Series([args.default_channel]), CHANNEL_LOOKUP).isna().iloc[0]:
        print(f"unknown --default-channel {args.default_channel!r}", file=sys.stderr)
        return 2
    path = Path(args.path)
    if not path.is_file():
        print(f"找不到文件 no such file: {path}", file=sys.stderr)
        return 1
    from services.clocks import unofficial_cli_note
    from services.store import create_store

    source = args.source or path.stem
    store = create_store(args.store)
    try:
        intake = Intake(store, source=source, crs=args.crs, default_channel=args.default_channel,
                        chunk_size=args.chunk_size, service_map=args.service_map)
        big = path.stat().st_size > (1 << 20)
        summary = intake.import_file(path, fmt=args.fmt, encoding=args.encoding,
                                     progress=big and not args.no_progress)
    except IntakeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        store.close()
    print(summary.text())
    if note := unofficial_cli_note():  # deadlines on a computed calendar: say so
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    return 0 if summary.accounted else 1


def import_path(store: Store, path: str | os.PathLike[str], *, source: str | None = None, crs: str = "wgs84",
                fmt: str = "auto", now: datetime | None = None, **kw: Any) -> Summary:
    """Convenience: one file with a fresh ``Intake`` (source defaults to the file name's stem)."""
    return Intake(store, source=source or Path(path).stem, crs=crs, now=now, **kw).import_file(path, fmt=fmt)


def warm_up() -> None:
    """Load the layers and build the assignment indexes now (e.g. before timing a benchmark)."""
    assign(np.array([113.93]), np.array([22.77]))


if __name__ == "__main__":
    raise SystemExit(main())
