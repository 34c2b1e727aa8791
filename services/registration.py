"""Walk-in and hotline registration (来访登记) without Streamlit: a clerk types an appeal at a hall or on
the phone, and it becomes an appeal exactly as an imported row does.

Why a service of its own: the page (pages/register.py) stays thin, and a typed appeal goes through the
same rules as a file's row — the vocabularies of services.vocabulary, the facts' limits of
services.facts, the coordinate conversion of geo.coords (source system recorded), the area assignment
of services.intake.appeals (points outside the district refused) and the tier and class of
services.tiers (``build_appeals`` codes the row as intake does). On top of intake it checks who
registers: the role's ``register`` right and, for a scoped role, that the place lies in its area.
Before saving, ``likely_duplicates`` offers the open appeals on the same building with the same
category within the gathering window (config/rules.toml [gathering] window_hours), and their cluster.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from geo.coords import SOURCE_SYSTEMS, to_wgs84
from services import access, audit, facts, reference
from services.clocks import TZ
from services.errors import DomainError, Label, Labels, ValidationError
from services.gathering import gathering_rules
from services.intake.appeals import assign, build_appeals
from services.intake.schema import CONTROL
from services.store.base import OPEN_STATUSES, Store
from services.tiers import appeal_class, compute_tier
from services.vocabulary import CATEGORIES, CATEGORY_SERVICE, CHANNELS, SERVICE_TYPES

AREA_COLUMNS = ("subdistrict_code", "community_code", "grid_code", "subgrid_code", "happiness_unit_code")
# Channels a hall or a phone line registers; a hotline call is stored under source ``hotline``, every
# other registration under ``walk_in`` (the source keys the external id, see ``_external_id``).
SOURCES = ("walk_in", "hotline")
DESCRIPTION_MAX = 2000
NAME_MAX = 50
# A phone number as a clerk types it: digits with an optional leading +, spaces, dashes or brackets,
# 3 (short service numbers) to 20 digits. Intake takes a phone as given; a clerk can be asked again.
_PHONE = re.compile(r"^\+?[\d\s\-()（）]{3,30}$")


@dataclass(frozen=True)
class Place:
    """Where an appeal is: WGS84 lon/lat, the system it was given in (and the given numbers), the areas
    it falls in (AREA_COLUMNS) and the building, when it was placed by one."""

    lon: float
    lat: float
    source_crs: str
    given_lon: float
    given_lat: float
    areas: dict[str, str | None] = field(default_factory=dict)
    building_code: str | None = None

    def as_appeal(self) -> dict[str, Any]:
        """The place as appeal columns (what access.in_area reads)."""
        return {"lon": self.lon, "lat": self.lat, "source_crs": self.source_crs,
                "building_code": self.building_code, **self.areas}


@dataclass(frozen=True)
class Draft:
    """An appeal as the clerk typed it, before any check (numbers may still be text)."""

    channel: str
    service_type: str
    category: str
    description: str
    people_involved: Any
    amount_involved: Any
    urgency: Any
    place: Place | None = None
    reporter_name: str = ""
    reporter_phone: str = ""


@dataclass(frozen=True)
class Duplicates:
    """The likely duplicates of a draft: open appeals on its building with its category within the
    gathering window (newest first), and the gathering cluster among them, if any."""

    appeals: pd.DataFrame
    cluster_id: int | None = None
    cluster_tier: str | None = None

    def __bool__(self) -> bool:
        return not self.appeals.empty


# ------------------------------------------------------------------------------------------- preview
def preview(values: Mapping[str, Any]) -> tuple[str, str]:
    """The tier and class of the facts as typed (people_involved, amount_involved, urgency): checked by
    services.facts (a ValidationError for a value intake would refuse), tiered by services.tiers."""
    f = facts.check_facts({k: values.get(k) for k in facts.FACTS})
    tier = compute_tier(int(f["people_involved"]), int(f["urgency"]), float(f["amount_involved"]))
    return tier, appeal_class(tier, int(f["urgency"]))


# --------------------------------------------------------------------------------------------- place
def _degrees(name: str, value: Any) -> float:
    try:
        x = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        x = math.nan
    if not math.isfinite(x) or isinstance(value, bool):
        raise ValidationError("error.register_bad_coordinate", field=name, value=str(value)[:40])
    return x


def place(store: Store, *, lon: Any, lat: Any, crs: str = "wgs84", building_code: str | None = None) -> Place:
    """The place of a point given in ``crs`` (wgs84, cgcs2000, gcj02, bd09): converted to WGS84
    (geo.coords) and assigned to its areas (geo.assign, as intake does). A point outside the district is
    refused with a ValidationError saying so. ``store`` is the store the areas belong to (the layers are
    the district's, read as intake reads them)."""
    del store  # the boundary layers are the district's (services.intake.appeals.district_layers)
    system = str(crs or "").strip().lower()
    if system not in SOURCE_SYSTEMS:
        raise ValidationError("error.register_unknown_crs", crs=str(crs), systems=", ".join(SOURCE_SYSTEMS))
    x, y = _degrees("lon", lon), _degrees("lat", lat)
    if abs(x) > 180 or abs(y) > 90:
        raise ValidationError("error.register_outside_district", lon=f"{x:g}", lat=f"{y:g}", crs=system)
    wlon, wlat = to_wgs84(np.array([x]), np.array([y]), system)
    codes = assign(wlon, wlat)
    if bool(codes["outside_district"].iloc[0]):
        raise ValidationError("error.register_outside_district", lon=f"{x:.6f}", lat=f"{y:.6f}", crs=system)
    areas = {c: (None if pd.isna(codes[c].iloc[0]) else str(codes[c].iloc[0]))
             for c in AREA_COLUMNS if c in codes}
    return Place(float(wlon[0]), float(wlat[0]), system, x, y, areas, building_code)


def find_building(store: Store, code: str) -> dict[str, Any]:
    """A building of the store by its code (what its QR code holds), as a dict with lon/lat; a
    ValidationError when there is none."""
    key = str(code or "").strip().upper()
    b = reference.points(store, "building")
    hit = b[b["code"].astype(str).str.upper() == key] if len(b) and key else b.iloc[0:0]
    if hit.empty:
        raise ValidationError("error.register_unknown_building", code=str(code)[:40])
    row = hit.iloc[0]
    return {"code": str(row["code"]), "lon": float(row["lon"]), "lat": float(row["lat"])}


def place_by_building(store: Store, building_code: str) -> Place:
    """The place of a building (stored WGS84), with its code recorded."""
    b = find_building(store, building_code)
    return place(store, lon=b["lon"], lat=b["lat"], crs="wgs84", building_code=b["code"])


_BUILDING_AREAS: dict[tuple[str, str], pd.DataFrame] = {}


def buildings_in(store: Store, community_code: str | None) -> pd.DataFrame:
    """The store's buildings (code, lon, lat, community_code) in a community (all when None), for the
    page's map. Their communities are assigned once per content of the layer (reference.version)."""
    key = (store.url, reference.version(store, "building"))
    frame = _BUILDING_AREAS.get(key)
    if frame is None:
        b = reference.points(store, "building")
        lon, lat = b["lon"].to_numpy(float), b["lat"].to_numpy(float)
        codes = assign(lon, lat) if len(b) else pd.DataFrame({"community_code": []})
        frame = pd.DataFrame({"code": b["code"].astype(str).to_numpy(object), "lon": lon, "lat": lat,
                              "community_code": codes["community_code"].to_numpy(object)})
        _BUILDING_AREAS.clear()
        _BUILDING_AREAS[key] = frame
    return frame if community_code is None else frame[frame["community_code"] == community_code].reset_index(drop=True)


def buildings_near(store: Store, lon: float, lat: float, radius_m: float = 400.0, limit: int = 400) -> pd.DataFrame:
    """The store's buildings within ``radius_m`` of a WGS84 point (code, lon, lat, distance_m), nearest
    first: what the page draws for a map click (a flat approximation, good across the district)."""
    b = reference.points(store, "building")
    if b.empty:
        return pd.DataFrame({"code": [], "lon": [], "lat": [], "distance_m": []})
    dx = (b["lon"].to_numpy(float) - lon) * 111_320.0 * math.cos(math.radians(lat))
    dy = (b["lat"].to_numpy(float) - lat) * 110_540.0
    d = np.hypot(dx, dy)
    near = np.flatnonzero(d <= radius_m)
    near = near[np.argsort(d[near], kind="stable")][:limit]
    return pd.DataFrame({"code": b["code"].to_numpy(object)[near].astype(str), "lon": b["lon"].to_numpy(float)[near],
                         "lat": b["lat"].to_numpy(float)[near], "distance_m": d[near].round(1)})


# ---------------------------------------------------------------------------------------- validation
def _check_text(what: str, value: Any, cap: int) -> str:
    text = str(value or "").strip()
    if re.search(CONTROL, text):
        raise ValidationError("error.register_control_character", field=Label("register_field", what))
    if len(text) > cap:
        raise ValidationError("error.register_too_long", field=Label("register_field", what), max=cap)
    return text


def check_draft(draft: Draft) -> Draft:
    """The draft with every field checked as intake checks a row and typed: channel, service type and
    category codes of services.vocabulary (the category one of the service type's), the facts of
    services.facts, a description, a place; the reporter's name and phone as typed (a phone of digits).
    The first bad field raises a ValidationError."""
    if draft.channel not in CHANNELS:
        raise ValidationError("error.register_unknown_code", field=Label("register_field", "channel"),
                              value=str(draft.channel), codes=Labels("channel", list(CHANNELS)))
    if draft.service_type not in SERVICE_TYPES:
        raise ValidationError("error.register_unknown_code", field=Label("register_field", "service_type"),
                              value=str(draft.service_type), codes=Labels("service_type", list(SERVICE_TYPES)))
    if draft.category not in CATEGORY_SERVICE:
        raise ValidationError("error.register_unknown_code", field=Label("register_field", "category"),
                              value=str(draft.category), codes=Labels("category", list(CATEGORY_SERVICE)))
    if CATEGORY_SERVICE[draft.category] != draft.service_type:
        raise ValidationError("error.register_category_service", category=Label("category", draft.category),
                              service=Label("service_type", draft.service_type),
                              codes=Labels("category", list(CATEGORIES[draft.service_type])))
    f = facts.check_facts({"people_involved": draft.people_involved, "urgency": draft.urgency,
                           "amount_involved": draft.amount_involved})
    description = _check_text("description", draft.description, DESCRIPTION_MAX)
    if not description:
        raise ValidationError("error.register_missing", field=Label("register_field", "description"))
    if draft.place is None:
        raise ValidationError("error.register_missing", field=Label("register_field", "place"))
    name = _check_text("reporter_name", draft.reporter_name, NAME_MAX)
    phone = _check_text("reporter_phone", draft.reporter_phone, 30)
    if phone and (not _PHONE.match(phone) or not 3 <= len(re.sub(r"\D", "", phone)) <= 20):
        raise ValidationError("error.register_bad_phone", value=phone)
    return replace(draft, description=description, reporter_name=name, reporter_phone=phone,
                   people_involved=f["people_involved"], urgency=f["urgency"], amount_involved=f["amount_involved"])


def source_of(channel: str) -> str:
    """The source a registration is stored under: ``hotline`` for a hotline call, else ``walk_in``."""
    return "hotline" if channel == "hotline" else "walk_in"


def _external_id(source: str, now: datetime) -> str:
    """A new external id, unique by construction (time and a random part): a registration has no
    sending system to key it."""
    return f"{source}-{now.astimezone(TZ):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------------- duplicates
def likely_duplicates(store: Store, who: access.Principal, draft: Draft, now: datetime) -> Duplicates:
    """The open appeals of ``who``'s area on the draft's building with its category, reported within the
    gathering window before ``now`` (newest first; no reporter field, no free text), and the gathering
    cluster they belong to (the newest marked one). Empty when the draft has no building."""
    empty = Duplicates(pd.DataFrame(columns=["id", "status", "tier", "category", "building_code", "reported_at",
                                             "gathering_id", "gathering_tier"]))
    building = draft.place.building_code if draft.place else None
    if not building or not draft.category:
        return empty
    window = timedelta(hours=float(gathering_rules()["window_hours"]))
    rows = store.query_appeals(statuses=list(OPEN_STATUSES), categories=[draft.category], since=now - window,
                               until=now + timedelta(seconds=1), area=access.area_filter(who),
                               columns=list(empty.appeals.columns), order="newest")
    rows = rows[rows["building_code"] == building].reset_index(drop=True)
    if rows.empty:
        return empty
    marked = rows[pd.to_numeric(rows["gathering_id"], errors="coerce").notna()]
    if marked.empty:
        return Duplicates(rows)
    first = marked.iloc[0]
    tier = first["gathering_tier"] if isinstance(first["gathering_tier"], str) else None
    return Duplicates(rows, int(first["gathering_id"]), tier)


# -------------------------------------------------------------------------------------------- register
def register(store: Store, who: access.Principal, draft: Draft, *, link_to: int | None = None,
             now: datetime | None = None) -> int:
    """Store ``draft`` as a new appeal registered by ``who`` and return its id.

    Checked before anything is written: ``who`` may ``register`` (services.access) and, for a scoped
    role, the place lies in its area (else Forbidden); every field as ``check_draft`` says. Stored with
    source ``walk_in`` or ``hotline``, a new external id, the reporter as personal data, the coordinate
    system it was given in, status reported (it enters its community's workbench queue) and a report
    event by ``who``. ``link_to`` (an appeal offered by ``likely_duplicates``) puts the new appeal in
    that appeal's gathering cluster, or notes the link on it when there is no cluster. Audited as
    ``appeal.register`` (``appeal.register.refused`` with the reason)."""
    now = (now or datetime.now(TZ)).astimezone(TZ)
    request = {"channel": draft.channel, "service_type": draft.service_type, "category": draft.category,
               "link_to": link_to, "place": None if draft.place is None else {
                   k: v for k, v in asdict(draft.place).items() if k in ("source_crs", "building_code", "areas")}}
    try:
        access.check_principal(who)
        access.check_action(who.role, "register")
        d = check_draft(draft)
        assert d.place is not None
        # The place again from what was given, never as handed in: the store's building and the
        # district's boundaries decide where it is, and a point outside is refused here too.
        p = d.place
        d = replace(d, place=place_by_building(store, p.building_code) if p.building_code else
                    place(store, lon=p.given_lon, lat=p.given_lat, crs=p.source_crs))
        appeal = d.place.as_appeal()
        if not access.in_area(who.role, who.area_code, appeal):
            kind = access.area_kind(who.role)
            raise access.Forbidden("error.register_outside_area", role=Label("role", who.role),
                                   kind=Label("area_kind", kind), area=who.area_code,
                                   place=appeal.get(f"{kind}_code") or "—")
        target = _link_target(store, who, link_to) if link_to is not None else None
        new_id = _store(store, who, d, now)
    except DomainError as exc:
        audit.record(store, who.name if isinstance(who, access.Principal) else "anonymous",
                     "appeal.register.refused", "appeal", None,
                     detail={"request": request, "reason": exc.key or str(exc)},
                     address=getattr(who, "address", None))
        raise
    if target is not None:
        _link(store, who, new_id, target, now)
    audit.record(store, who.name, "appeal.register", "appeal", new_id, detail=request, address=who.address)
    return new_id


def _link_target(store: Store, who: access.Principal, link_to: int) -> dict[str, Any]:
    """The appeal to link to: it must exist and lie in ``who``'s area."""
    target = store.get_appeal(int(link_to), include_personal=False)
    access.check_in_area(who, target)
    return target


def _store(store: Store, who: access.Principal, d: Draft, now: datetime) -> int:
    """Code the checked draft as intake codes a row (services.intake.appeals.build_appeals) and insert it."""
    assert d.place is not None
    source = source_of(d.channel)
    valid = pd.DataFrame([{
        "external_id": _external_id(source, now), "channel": d.channel, "service_type": d.service_type,
        "category": d.category, "description": d.description, "lon": d.place.lon, "lat": d.place.lat,
        "source_crs": d.place.source_crs, "people_involved": int(d.people_involved), "urgency": int(d.urgency),
        "amount_involved": float(d.amount_involved), "reported_at": pd.Timestamp(now),
        "reporter_name": d.reporter_name or None, "reporter_phone": d.reporter_phone or None,
        "building_code": d.place.building_code}])
    rows = build_appeals(valid, source)
    result = store.insert_appeals(rows, actor=who.name)
    if result.stored != 1 or not result.ids:  # a fresh random id cannot collide; say so if it ever did
        raise ValidationError("error.register_not_stored")
    return int(result.ids[0])


def _link(store: Store, who: access.Principal, new_id: int, target: dict[str, Any], now: datetime) -> None:
    """Put the new appeal into the target's gathering cluster, or note the link when it has none."""
    gid = target.get("gathering_id")
    if gid is not None and not pd.isna(gid):
        tier = target.get("gathering_tier") or target.get("tier") or "blue"
        store.mark_gathering(pd.DataFrame({"appeal_id": [new_id], "gathering_id": [int(gid)],
                                           "gathering_tier": [tier]}), actor=who.name, at=now)
        return
    store.act(new_id, "note", who.name, now, note=f"关联诉求 #{target['id']}（linked to appeal #{target['id']}）")
