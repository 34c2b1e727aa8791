"""Appeals as Open311 GeoReport v2 documents, and a POST body as an intake record.

Why a module apart from the app: what leaves the command center through GET (and what a POST may bring
in) is decided here, in one place, field by field (docs/open311.md lists each). Personal fields
(reporter name and phone, e-mail, device and account ids) never appear in an outgoing document: the
reporter's name is read only to mask it inside the description (services.access.mask_text, as on every
screen without the personal-data right) and dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo.coords import wgs84_to_gcj02
from services import access, facts
from services.clocks import TZ
from services.i18n import label, t
from services.vocabulary import CATEGORIES, CATEGORY_SERVICE, SERVICE_TYPES

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
# The columns GET reads (reporter_name only to mask the description; never written out).
READ_COLUMNS = ("id", "service_type", "category", "description", "lon", "lat", "tier", "appeal_class",
                "handling_level", "dispatched_to", "status", "reopened_count", "subdistrict_code",
                "community_code", "grid_code", "building_code", "channel", "reported_at", "responded_at",
                "accepted_at", "dispatched_at", "resolved_at", "confirmed_at", "feedback_at",
                "return_visit_at", "closed_at", "resolve_due_at", "reporter_name")
STAMPS = tuple(c for c in READ_COLUMNS if c.endswith("_at") and c != "resolve_due_at")
# Keys an outgoing document may never hold (tests check every GET body against these and any key that
# looks like one: phone, mobile, email, reporter, ...).
PERSONAL_KEYS = ("email", "first_name", "last_name", "phone", "device_id", "account_id", "reporter_name",
                 "reporter_phone", "mediator")
# Our fields beyond the spec, on every request document (docs/open311.md "Extensions").
EXTENSIONS = ("status_code", "tier", "appeal_class", "handling_level", "service_type", "channel",
              "subdistrict", "community", "grid", "reopened_count", "coord_system")
OUTPUT_SYSTEMS = ("wgs84", "gcj02")


def language(query_lang: str | None, accept_language: str | None) -> str:
    """``zh`` or ``en``: ``?lang=`` first, then the first Accept-Language entry naming zh or en; zh by default."""
    if query_lang in ("zh", "en"):
        return query_lang
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "zh"


# ------------------------------------------------------------------------------------------- services
def service_codes() -> tuple[str, ...]:
    """Our Open311 service codes: the categories of services.vocabulary, grouped by service type."""
    return tuple(CATEGORY_SERVICE)


def service(code: str, lang: str) -> dict[str, Any]:
    """One entry of services.json: a category, its service type as the ``group``."""
    svc = CATEGORY_SERVICE[code]
    return {"service_code": code, "service_name": label("category", code, lang),
            "description": t("open311_api.service_description", lang, category=label("category", code, lang),
                             service_type=label("service_type", svc, lang)),
            "metadata": True, "type": "realtime", "keywords": f"{code},{svc}",
            "group": label("service_type", svc, lang)}


def services(lang: str) -> list[dict[str, Any]]:
    """services.json: every category, in the order of services.vocabulary.CATEGORIES."""
    return [service(c, lang) for svc in CATEGORIES for c in CATEGORIES[svc] if svc in SERVICE_TYPES]


def definition(code: str, lang: str) -> dict[str, Any]:
    """services/{code}.json: the attributes a POST may give (people involved, amount, urgency), in the
    GeoReport v2 service definition format; limits from config/rules.toml [facts]."""
    lim = facts.limits()

    def attr(order: int, name: str, datatype: str, desc_key: str, values: list[dict[str, Any]] | None = None,
             **fmt: Any) -> dict[str, Any]:
        return {"variable": True, "code": name, "datatype": datatype, "required": False,
                "datatype_description": t(f"open311_api.attribute.{desc_key}", lang, **fmt), "order": order,
                "description": label("fact", name, lang), "values": values or []}

    return {"service_code": code, "attributes": [
        attr(1, "people_involved", "number", "people", people_max=f"{lim.people_max:,}"),
        attr(2, "amount_involved", "number", "amount", amount_max=f"{lim.amount_max:,.0f}"),
        attr(3, "urgency", "singlevaluelist", "urgency",
             values=[{"key": str(k), "name": label("urgency", str(k), lang)} for k in facts.URGENCIES]),
    ]}


# ------------------------------------------------------------------------------------------- requests
def iso(value: Any) -> str | None:
    """An ISO 8601 time with the +08:00 offset (seconds), or None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).tz_convert(TZ).isoformat(timespec="seconds")


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return str(v)


def requests(frame: pd.DataFrame, lang: str, coord_system: str = "wgs84") -> list[dict[str, Any]]:
    """Request documents of appeal rows (READ_COLUMNS); ``coord_system`` gcj02 converts lat/long.

    The same documents as ``request`` row by row, built column-wise: times are formatted and the
    latest stamp found for the whole page at once, labels looked up once per value, so a page of
    1,000 costs a few milliseconds instead of a pandas Timestamp per field (issue 16 §4)."""
    if frame.empty:
        return []
    n = len(frame)
    lon = frame["lon"].to_numpy(float)
    lat = frame["lat"].to_numpy(float)
    if coord_system == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)

    def col(name: str) -> pd.Series:
        return frame[name] if name in frame else pd.Series([None] * n, index=frame.index, dtype=object)

    texts = {c: _texts(col(c)) for c in ("category", "service_type", "description", "reporter_name",
                                          "dispatched_to", "community_code", "building_code", "tier",
                                          "appeal_class", "handling_level", "channel", "subdistrict_code",
                                          "grid_code")}
    stamps = pd.DataFrame({c: _utc(col(c)) for c in STAMPS}, index=frame.index)
    updated = _isos(stamps.max(axis=1, skipna=True)) if len(STAMPS) else [None] * n
    requested, expected = _isos(_utc(col("reported_at"))), _isos(_utc(col("resolve_due_at")))
    ids = [str(int(v)) for v in frame["id"].tolist()]
    statuses = [str(v) for v in frame["status"].tolist()]
    reopened = pd.to_numeric(col("reopened_count"), errors="coerce").fillna(0).astype(int).tolist()
    lats = [round(float(v), 7) if math.isfinite(v) else None for v in lat.tolist()]
    lons = [round(float(v), 7) if math.isfinite(v) else None for v in lon.tolist()]
    status_label: dict[str, str] = {}
    name_label: dict[tuple[str, str], str] = {}
    out = []
    for i in range(n):
        status, category = statuses[i], texts["category"][i]
        code = category or str(texts["service_type"][i])
        group = "category" if category else "service_type"
        if status not in status_label:
            status_label[status] = label("status", status, lang)
        if (group, code) not in name_label:
            name_label[group, code] = label(group, code, lang)
        out.append({
            "service_request_id": ids[i],
            "status": "closed" if status == "closed" else "open",
            "status_notes": status_label[status],
            "service_name": name_label[group, code],
            "service_code": code,
            "description": access.mask_text(texts["description"][i], texts["reporter_name"][i]),
            "agency_responsible": texts["dispatched_to"][i] or texts["community_code"][i],
            "service_notice": None,
            "requested_datetime": requested[i],
            "updated_datetime": updated[i],
            "expected_datetime": expected[i],
            "address": None,
            "address_id": texts["building_code"][i],
            "zipcode": None,
            "lat": lats[i],
            "long": lons[i],
            "media_url": None,
            "status_code": status,
            "tier": texts["tier"][i],
            "appeal_class": texts["appeal_class"][i],
            "handling_level": texts["handling_level"][i],
            "service_type": texts["service_type"][i],
            "channel": texts["channel"][i],
            "subdistrict": texts["subdistrict_code"][i],
            "community": texts["community_code"][i],
            "grid": texts["grid_code"][i],
            "reopened_count": reopened[i],
            "coord_system": coord_system,
        })
    return out


def _texts(values: pd.Series) -> list[str | None]:
    """A column as ``_text`` gives each value: None for missing ones, else str."""
    missing = values.isna().tolist()
    return [None if m else str(v) for v, m in zip(values.tolist(), missing, strict=True)]


def _utc(values: pd.Series) -> pd.Series:
    """A column of times (aware datetimes or ISO strings) as UTC datetimes, NaT where missing."""
    return pd.to_datetime(values, utc=True, errors="coerce")


def _isos(values: pd.Series) -> list[str | None]:
    """UTC datetimes as ``iso`` formats each (+08:00, seconds), None for NaT; one pass per column."""
    values = pd.Series(values)
    if values.isna().all():
        return [None] * len(values)
    local = values.dt.tz_convert(TZ)
    wall = local.dt.tz_localize(None)
    offset = ((wall - values.dt.tz_localize(None)) // pd.Timedelta(minutes=1)).tolist()
    text = np.datetime_as_string(wall.to_numpy("datetime64[ns]").astype("datetime64[s]"), unit="s").tolist()
    out: list[str | None] = []
    for t_, off in zip(text, offset, strict=True):
        if t_ == "NaT" or off is None or (isinstance(off, float) and math.isnan(off)):
            out.append(None)
            continue
        sign, minutes = ("-" if off < 0 else "+"), abs(int(off))
        out.append(f"{t_}{sign}{minutes // 60:02d}:{minutes % 60:02d}")
    return out


def request(row: Mapping[str, Any], lang: str, lon: float, lat: float, coord_system: str) -> dict[str, Any]:
    """One request document. The description is masked (mask_text with the appeal's own reporter name);
    the name itself is not written."""
    status = str(row["status"])
    code = _text(row.get("category")) or str(row["service_type"])
    group = "category" if _text(row.get("category")) else "service_type"
    stamps = [row.get(c) for c in STAMPS]
    stamps = [pd.Timestamp(s) for s in stamps if s is not None and not pd.isna(s)]
    return {
        "service_request_id": str(int(row["id"])),
        "status": "closed" if status == "closed" else "open",
        "status_notes": label("status", status, lang),
        "service_name": label(group, code, lang),
        "service_code": code,
        "description": access.mask_text(_text(row.get("description")), _text(row.get("reporter_name"))),
        "agency_responsible": _text(row.get("dispatched_to")) or _text(row.get("community_code")),
        "service_notice": None,
        "requested_datetime": iso(row.get("reported_at")),
        "updated_datetime": iso(max(stamps)) if stamps else None,
        "expected_datetime": iso(row.get("resolve_due_at")),
        "address": None,
        "address_id": _text(row.get("building_code")),
        "zipcode": None,
        "lat": round(lat, 7) if np.isfinite(lat) else None,
        "long": round(lon, 7) if np.isfinite(lon) else None,
        "media_url": None,
        # extensions (docs/open311.md)
        "status_code": status,
        "tier": _text(row.get("tier")),
        "appeal_class": _text(row.get("appeal_class")),
        "handling_level": _text(row.get("handling_level")),
        "service_type": _text(row.get("service_type")),
        "channel": _text(row.get("channel")),
        "subdistrict": _text(row.get("subdistrict_code")),
        "community": _text(row.get("community_code")),
        "grid": _text(row.get("grid_code")),
        "reopened_count": int(row.get("reopened_count") or 0),
        "coord_system": coord_system,
    }


# ---------------------------------------------------------------------------------------------- POST
POST_FIELDS = ("service_code", "lat", "long", "coord_system", "address_string", "address_id", "description",
               "email", "first_name", "last_name", "phone", "device_id", "account_id", "partner_request_id",
               "external_id", "jurisdiction_id", "api_key", "media_url", "lang")
ATTRIBUTES = ("people_involved", "amount_involved", "urgency")


def attributes(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``attribute[code]`` fields of a form body (or an ``attributes`` object of a JSON body)."""
    out: dict[str, Any] = {}
    nested = body.get("attributes")
    if isinstance(nested, Mapping):
        out.update(nested)
    for k, v in body.items():
        if k.startswith("attribute[") and k.endswith("]"):
            out[k[10:-1]] = v
    return out


def record(body: Mapping[str, Any], external_id: str) -> dict[str, Any]:
    """The POST body as an intake record (the names services.intake reads): a category code as
    ``category`` (a service-type code as ``service_type``; anything else as ``service_code``, which
    intake refuses as unknown_service_type), coordinates with their system, the address appended to the
    description by intake, the attributes as facts, first/last name as the reporter's name and phone as
    the reporter's phone. E-mail, device id and account id have no column in our schema: not stored."""
    rec: dict[str, Any] = {"external_id": external_id}
    code = body.get("service_code")
    if code in CATEGORY_SERVICE:
        rec["category"] = code
    elif code in SERVICE_TYPES:
        rec["service_type"] = code
    elif code is not None:
        rec["service_code"] = code
    for src, dst in (("long", "long"), ("lat", "lat"), ("description", "description"),
                     ("address_string", "address_string"), ("phone", "reporter_phone")):
        if body.get(src) not in (None, ""):
            rec[dst] = body[src]
    rec["coord_system"] = str(body.get("coord_system") or "wgs84").lower()
    if body.get("address_id"):
        rec["building_code"] = body["address_id"]
    name = f"{body.get('last_name') or ''}{body.get('first_name') or ''}".strip()
    if name:
        rec["reporter_name"] = name
    attrs = attributes(body)
    for a in ATTRIBUTES:
        if attrs.get(a) not in (None, ""):
            rec[a] = attrs[a]
    return rec
