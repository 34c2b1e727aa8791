"""Building store-ready appeals from checked rows: area codes, tier and class, imported state.

Also used by services.simulate and services.seed_today, so that every appeal is coded the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.assign import OUTSIDE, PolygonIndex, assign_points
from services.clocks import TZ
from services.intake.schema import (
    bilingual,
    limit,
)
from services.store.base import APPEAL_COLUMNS
from services.tiers import appeal_classes, compute_tiers
from services.vocabulary import (
    CHANNELS_NOTE,
)

ASSIGN_LAYERS = ("district", "subdistrict", "community", "grid", "subgrid", "happiness_unit")
_INDEX_CACHE: dict[str, PolygonIndex] = {}


def district_layers(kinds: tuple[str, ...] = ASSIGN_LAYERS) -> dict[str, Any]:
    """The boundary layers appeals are assigned to (district first), or the given kinds, from data.sample."""
    from data.sample import load_layers

    layers = load_layers()
    return {k: layers[k] for k in kinds if k in layers}


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
    return pd.Timedelta(hours=limit("backlog_hours", 72))


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
    tag = bilingual("intake.event.imported", source=source)
    report_note = np.where(imported, [f"{c}；{tag}" if c else tag for c in channel_note], channel_note)
    ids = appeals["id"].to_numpy()
    report = pd.DataFrame({"appeal_id": ids, "at": appeals["reported_at"].where(~pd.Series(backlog), requested),
                           "actor": actor, "action": "report", "from_status": None, "to_status": "reported",
                           "note": report_note})
    notes = (status_notes if status_notes is not None else pd.Series(pd.NA, index=range(n))).reset_index(drop=True)
    closed_tag = bilingual("intake.event.closed", source=source)
    close_note = [closed_tag + ("" if pd.isna(x) else f"；{x}") for x in notes[closed]]
    close = pd.DataFrame({"appeal_id": ids[closed], "at": at_closed[closed].array, "actor": actor,
                          "action": "import_close", "from_status": "reported", "to_status": "closed",
                          "note": close_note})
    local_now = pd.Timestamp(now).tz_convert(TZ)
    back_note = [bilingual("intake.event.backlog", reported=f"{r:%Y-%m-%d %H:%M}", now=f"{local_now:%Y-%m-%d %H:%M}")
                 for r in requested[backlog]]
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


def description_with_address(rec: pd.DataFrame) -> pd.Series:
    desc = rec["description"]
    addr = rec["address"]
    has_addr = addr.notna()
    if has_addr.any():
        joined = desc.fillna("") + "（地址：" + addr.fillna("") + "）"
        desc = desc.where(~has_addr, joined)
    return desc
