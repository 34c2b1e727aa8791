"""Reference data kept on the data screen (/data, issue 13 §4): departments, stations and the users' areas.

Every function takes the store and the acting ``access.Principal`` and checks ``manage_reference`` here
(the admin and the duty officer have it; anyone else gets ``access.Forbidden`` and nothing changes).
Every change is written to the audit log (``reference.<what>.<verb>``, or ``….refused`` with the reason)
with the actor's name and address, and drops the cached layer reads (``services.reference.invalidate``)
so that every screen sees it at its next run.

- Departments: listed with how many orders each received; added (code, Chinese and English name) and
  renamed. A code is unique and never reused: there is no delete at all, so a department that received
  orders (or any other) stays, and its code cannot be given to another.
- Stations: listed with their state (open / closed); added with a code, names, level, site type, the
  services offered (at least one of appeal / legal / psychological) and a WGS84 point; moved; their
  services changed; closed (a reason and the date, today or earlier) and reopened. A station's community
  is computed from its point with the point-in-area assignment intake uses (geo.assign over the district
  and community layers), and a point outside the district is refused. A closed station stays in the
  register but no screen counts it: ``Store.points("station")`` leaves it out, and every screen reads its
  stations there (services.reference.points).
- Users' areas: a read view of the accounts (role, area by name) for both roles; changing an account's
  area is services.admin.change_account (``manage_accounts``: the admin only).

Seeding (services/seed.py) stops replacing departments and stations from the layer folder once one was
edited here (``Store.reference_edited``), so an admin's changes survive a restart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from geo.assign import assign_points
from services import access, audit, reference
from services.clocks import TZ
from services.errors import Label, Labels, ValidationError
from services.store.base import Store

T = TypeVar("T")
SERVICES = ("appeal", "legal", "psychological")
LEVELS = ("district", "subdistrict", "community", "site")
SITE_TYPES = ("residential", "construction", "industrial", "school", "hospital")
DEPARTMENT_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
STATION_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
MAX_NAME = 80
MAX_REASON = 300
STATION_VIEW = ("code", "name", "name_en", "shown_name", "level", "site_type", "services", "community_code", "community",
                "lon", "lat", "state", "closed_at", "closed_by", "close_reason", "edited_at", "edited_by")
ACCOUNT_AREA_VIEW = ("name", "display_name", "role", "area_code", "area", "state")


def _may(who: access.Principal) -> None:
    access.check_principal(who)
    access.check_action(who.role, "manage_reference")


def _audited(store: Store, who: access.Principal, action: str, kind: str, code: Any, detail: dict[str, Any],
             step: Callable[[], T]) -> T:
    """``step`` recorded in the audit log (refusals too), then the cached layer reads dropped."""
    result = audit.audited(store, who.name, f"reference.{kind}.{action}", kind, code, detail, step, who.address)
    reference.invalidate(store)
    return result


def _name(value: Any, field: str, required: bool = True) -> str | None:
    text = " ".join(str(value or "").split())
    if not text:
        if required:
            raise ValidationError("error.reference_name_missing", field=Label("data_field", field))
        return None
    if len(text) > MAX_NAME:
        raise ValidationError("error.reference_name_too_long", field=Label("data_field", field), n=MAX_NAME)
    return text


# -- departments ----------------------------------------------------------------------------------------
def departments(store: Store, who: access.Principal) -> pd.DataFrame:
    """Every department: code, name, name_en, orders received, last edit."""
    _may(who)
    return store.department_register()


def add_department(store: Store, who: access.Principal, code: str, name: str, name_en: str = "") -> str:
    """Add a department; its code (lower-case letters, digits, ``_``) must be new. Returns the code."""
    _may(who)
    code = str(code or "").strip()
    detail = {"code": code, "name": name, "name_en": name_en}

    def step() -> str:
        if not DEPARTMENT_CODE.match(code):
            raise ValidationError("error.department_code_invalid", code=code[:40])
        store.add_department(code, _name(name, "name"), _name(name_en, "name_en", required=False), who.name)
        return code
    return _audited(store, who, "add", "department", code, detail, step)


def rename_department(store: Store, who: access.Principal, code: str, name: str, name_en: str = "") -> None:
    """Give a department new names (its code never changes)."""
    _may(who)
    detail = {"name": name, "name_en": name_en}
    _audited(store, who, "rename", "department", code, detail, lambda: store.rename_department(
        str(code), _name(name, "name"), _name(name_en, "name_en", required=False), who.name))


# -- stations -------------------------------------------------------------------------------------------
def community_of(lon: Any, lat: Any) -> str:
    """The community holding a WGS84 point (geo.assign over the district's layers, as intake assigns
    appeals); ``ValidationError`` for a point that is not a number or lies outside the district."""
    from data import sample

    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise ValidationError("error.station_point_missing") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValidationError("error.station_point_missing")
    layers = sample.load_layers()
    got = assign_points(np.array([x]), np.array([y]), {k: layers[k] for k in ("district", "community")})
    community = got["community_code"].iloc[0]
    if bool(got["outside_district"].iloc[0]) or pd.isna(community):
        raise ValidationError("error.station_outside_district", lon=f"{x:.6f}", lat=f"{y:.6f}")
    return str(community)


def _offers(offers: dict[str, bool] | list[str] | tuple[str, ...]) -> dict[str, bool]:
    chosen = {s for s, on in offers.items() if on} if isinstance(offers, dict) else set(offers)
    unknown = chosen - set(SERVICES)
    if unknown:
        raise ValidationError("error.unknown_service", service=sorted(unknown)[0], services=Labels("service", SERVICES))
    if not chosen:
        raise ValidationError("error.station_needs_service", services=Labels("service", SERVICES))
    return {f"offers_{s}": s in chosen for s in SERVICES}


def _level(level: str, site_type: str | None) -> tuple[str, str | None]:
    if level not in LEVELS:
        raise ValidationError("error.unknown_station_level", level=str(level), levels=Labels("station_level", LEVELS))
    site_type = site_type or None
    if level == "site":
        if site_type not in SITE_TYPES:
            raise ValidationError("error.station_needs_site_type", types=Labels("site_type", SITE_TYPES))
    elif site_type is not None:
        raise ValidationError("error.station_site_type_only_for_sites", level=Label("station_level", level))
    return level, site_type


def stations(store: Store, who: access.Principal, lang: str) -> pd.DataFrame:
    """Every station, closed ones too (``state`` open or closed), with the services it offers, its name and
    community by name in ``lang`` (``shown_name``: the English name in English where there is one) and
    the rest of ``STATION_VIEW``."""
    from services import district
    from services.i18n import label, normalise_lang

    _may(who)
    reg = store.station_register()
    communities = district.names("community", lang)
    out = reg.rename(columns={"parent_code": "community_code"})
    out["community"] = [communities.get(str(c), str(c)) if c else "" for c in out["community_code"]]
    english = normalise_lang(lang) == "en"
    out["shown_name"] = [en if english and isinstance(en, str) and en.strip() else (zh or code)
                         for code, zh, en in zip(reg["code"], reg["name"], reg["name_en"], strict=True)]
    out["services"] = [" / ".join(label("service", s, lang) for s in SERVICES if r[f"offers_{s}"] is True)
                       for _, r in reg.iterrows()]
    out["state"] = np.where(reg["closed_at"].isna(), "open", "closed")
    return out.reindex(columns=list(STATION_VIEW)).reset_index(drop=True)


def add_station(store: Store, who: access.Principal, *, code: str, name: str, level: str,
                offers: dict[str, bool] | list[str], lon: float, lat: float, site_type: str | None = None,
                name_en: str = "") -> dict[str, Any]:
    """Add a station at a WGS84 point inside the district; its community is computed from the point.
    Returns the station as stored."""
    _may(who)
    code = str(code or "").strip()
    detail = {"name": name, "name_en": name_en, "level": level, "site_type": site_type, "offers": offers,
              "lon": lon, "lat": lat}

    def step() -> dict[str, Any]:
        if not STATION_CODE.match(code):
            raise ValidationError("error.station_code_invalid", code=code[:40])
        lvl, kind = _level(level, site_type)
        row = {"code": code, "name": _name(name, "name"), "name_en": _name(name_en, "name_en", required=False),
               "level": lvl, "site_type": kind, **_offers(offers), "parent_code": community_of(lon, lat),
               "building_code": None, "lon": float(lon), "lat": float(lat)}
        store.add_station(row, who.name)
        return store.station(code)
    return _audited(store, who, "add", "station", code, detail, step)


def _open_station(store: Store, code: str) -> dict[str, Any]:
    station = store.station(str(code))
    if station["closed_at"] is not None:
        raise ValidationError("error.station_closed", code=code)
    return station


def move_station(store: Store, who: access.Principal, code: str, lon: float, lat: float) -> dict[str, Any]:
    """Move an open station to a new point inside the district (its community recomputed)."""
    _may(who)

    def step() -> dict[str, Any]:
        before = _open_station(store, code)
        community = community_of(lon, lat)
        store.update_station(str(code), {"lon": float(lon), "lat": float(lat), "parent_code": community}, who.name)
        return {**store.station(str(code)), "moved_from": (before["lon"], before["lat"], before["parent_code"])}
    return _audited(store, who, "move", "station", code, {"lon": lon, "lat": lat}, step)


def set_services(store: Store, who: access.Principal, code: str, offers: dict[str, bool] | list[str]
                 ) -> dict[str, Any]:
    """Change the services an open station offers (at least one)."""
    _may(who)

    def step() -> dict[str, Any]:
        _open_station(store, code)
        store.update_station(str(code), _offers(offers), who.name)
        return store.station(str(code))
    return _audited(store, who, "services", "station", code, {"offers": offers}, step)


def today() -> date:
    """The local (Asia/Shanghai) date: the latest day a station may be closed from. The machine's own date
    is a day behind for the first eight hours of every Shanghai day on a UTC server."""
    return datetime.now(TZ).date()


def close_station(store: Store, who: access.Principal, code: str, reason: str, on: date | None = None
                  ) -> dict[str, Any]:
    """Close an open station from ``on`` (today by default, never a later day) for ``reason``: it stays in
    the register, and no screen counts it from now on."""
    _may(who)
    latest = today()
    day = on or latest

    def step() -> dict[str, Any]:
        text = " ".join(str(reason or "").split())
        if not text:
            raise ValidationError("error.station_close_needs_reason")
        if len(text) > MAX_REASON:
            raise ValidationError("error.reference_name_too_long", field=Label("data_field", "reason"), n=MAX_REASON)
        if day > latest:
            raise ValidationError("error.station_close_in_future", day=day.isoformat())
        _open_station(store, code)
        store.update_station(str(code), {"closed_at": datetime.combine(day, time(), TZ), "closed_by": who.name,
                                         "close_reason": text}, who.name)
        return store.station(str(code))
    return _audited(store, who, "close", "station", code, {"reason": reason, "on": day.isoformat()}, step)


def reopen_station(store: Store, who: access.Principal, code: str) -> dict[str, Any]:
    """Reopen a closed station: it counts again on every screen."""
    _may(who)

    def step() -> dict[str, Any]:
        if store.station(str(code))["closed_at"] is None:
            raise ValidationError("error.station_not_closed", code=code)
        store.update_station(str(code), {"closed_at": None, "closed_by": None, "close_reason": None}, who.name)
        return store.station(str(code))
    return _audited(store, who, "reopen", "station", code, {}, step)


# -- users' areas ---------------------------------------------------------------------------------------
def may_change_areas(who: access.Principal) -> bool:
    """True when ``who`` may change an account's area (services.admin.change_account: the admin)."""
    return access.may_do(access.check_principal(who).role, "manage_accounts")


def account_areas(store: Store, who: access.Principal, lang: str) -> pd.DataFrame:
    """Every local account with its role and area (code and name in ``lang``) and state
    (``ACCOUNT_AREA_VIEW``); never a password hash."""
    from services import district

    _may(who)
    accounts = store.list_accounts()
    if accounts.empty:
        return pd.DataFrame(columns=list(ACCOUNT_AREA_VIEW))
    named = {kind: district.names(kind, lang, store) for kind in set(access.AREA_KINDS.values())}
    out = accounts.reindex(columns=["name", "display_name", "role", "area_code", "disabled"]).copy()
    out["area"] = [named.get(access.area_kind(r) or "", {}).get(str(a), str(a)) if isinstance(a, str) and a else ""
                   for r, a in zip(out["role"], out["area_code"], strict=True)]
    out["state"] = np.where(out["disabled"].astype(bool), "disabled", "active")
    return out.reindex(columns=list(ACCOUNT_AREA_VIEW)).reset_index(drop=True)
