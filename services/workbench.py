"""The dispatch workbench (诉求处置) without Streamlit: a case handler's queue, one appeal's page and
every step of the closed loop, so that the page (pages/workbench.py) stays thin and the tests drive
exactly what it shows.

The queue holds the open appeals of the signed-in account's area (``access.area_filter``): new ones
(reported, nobody has responded yet) first, then by the nearest deadline. It reads no personal data and
no free text at all (not even masked): it is a list many people glance at. An appeal's page reads the
facts through ``wall.appeal_detail`` (unmasked for the handling dispatcher, and that view is logged),
the timeline newest first, the place around it (its grid, the nearest stations with their 500 m
service circles, other open appeals nearby within the gathering window), and for every step whether it
is allowed now and, if not, why. Every step goes through ``wall.perform`` with what the page showed
(status and version), so a change made meanwhile by somebody else is reported, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pydeck as pdk

from geo import mapview
from services import access, district, lifecycle, reference, wall
from services.errors import DomainError, IllegalTransition
from services.gathering import gathering_rules
from services.store.base import OPEN_STATUSES, Store

# The steps of the loop the workbench offers, in the order of the loop.
STEPS = ("respond", "accept", "dispatch", "order", "resolve", "request_judicial_confirmation",
         "record_judicial_confirmation", "confirm", "feedback", "return_visit", "update_facts", "escalate",
         "return_to_sender", "note")
# What the queue reads: no reporter field, no free text.
QUEUE_COLUMNS = ("id", "status", "tier", "appeal_class", "category", "channel", "service_type", "community_code",
                 "grid_code", "handling_level", "reopened_count", "reported_at", "responded_at",
                 "next_deadline_at", "next_deadline_kind", "lon", "lat")
SERVICE_RADIUS_M = 500.0   # the 500-metre service circle (500米诉求服务圈)
NEAREST_STATIONS = 3
_M_PER_DEG = 111_320.0


def _seconds_left(due: pd.Series, now: datetime) -> pd.Series:
    return (pd.to_datetime(due, utc=True) - pd.Timestamp(now).tz_convert("UTC")).dt.total_seconds()


def queue(store: Store, who: access.Principal, now: datetime, *, statuses: Sequence[str] | None = None,
          tiers: Sequence[str] | None = None, categories: Sequence[str] | None = None,
          channels: Sequence[str] | None = None, overdue_only: bool = False,
          reopened_only: bool = False) -> pd.DataFrame:
    """The open appeals of ``who``'s area, new (reported, not yet responded) first, then by the nearest
    deadline (none last), then oldest first; with ``seconds_left`` on the next clock (negative: overdue),
    ``overdue`` and ``new``. Filters narrow it; an empty filter is no filter."""
    wanted = [s for s in (statuses or OPEN_STATUSES) if s in OPEN_STATUSES]
    rows = store.query_appeals(statuses=wanted, tiers=list(tiers) if tiers else None,
                               categories=list(categories) if categories else None,
                               area=access.area_filter(who), columns=QUEUE_COLUMNS, order="oldest")
    rows = rows.reindex(columns=list(QUEUE_COLUMNS))
    if channels:
        rows = rows[rows["channel"].isin(list(channels))]
    rows = rows.assign(seconds_left=_seconds_left(rows["next_deadline_at"], now) if len(rows) else
                       pd.Series(dtype=float))
    rows["overdue"] = rows["seconds_left"] < 0
    rows["new"] = (rows["status"] == "reported") & rows["responded_at"].isna()
    rows["reopened_count"] = rows["reopened_count"].fillna(0).astype(int)
    if overdue_only:
        rows = rows[rows["overdue"]]
    if reopened_only:
        rows = rows[rows["reopened_count"] > 0]
    rows = rows.assign(_new=~rows["new"], _due=rows["seconds_left"].fillna(np.inf))
    rows = rows.sort_values(["_new", "_due", "reported_at", "id"], kind="stable")
    return rows.drop(columns=["_new", "_due"]).reset_index(drop=True)


def alerts(queue_frame: pd.DataFrame, seen_ids: Iterable[int]) -> pd.DataFrame:
    """The red or class-1 appeals of the queue not seen yet in this session (the page raises a visible
    and an audible alert for them, then adds their ids to what it has seen)."""
    if queue_frame.empty:
        return queue_frame
    urgent = (queue_frame["tier"] == "red") | (queue_frame["appeal_class"] == "class1")
    return queue_frame[urgent & ~queue_frame["id"].isin(list(seen_ids))].reset_index(drop=True)


# ------------------------------------------------------------------------------------- appeal page
@dataclass
class AppealPage:
    """What the workbench shows of one appeal for ``who``."""

    appeal: dict[str, Any]
    events: pd.DataFrame          # as wall.appeal_events gives them (notes masked for the role)
    version: int                  # the event count read: passed back with every step
    grid: list[dict[str, Any]]    # the grid's outline (path records)
    stations: pd.DataFrame        # nearest stations: code, lon, lat, distance_m
    nearby: pd.DataFrame          # other open appeals within the gathering radius and window
    steps: dict[str, DomainError | None]   # every STEP: None when allowed now, else why not


def refusal(appeal: dict[str, Any], action: str, who: access.Principal) -> DomainError | None:
    """Why ``who`` may not take ``action`` on ``appeal`` now (role, then area, then state, with what is
    allowed next and the lifecycle's reason), or None when it may."""
    try:
        access.check_act(who, action, appeal)
    except access.Forbidden as e:
        return e
    allowed = lifecycle.allowed_actions(appeal)
    if action in allowed:
        return None
    mine = [a for a in allowed if a in STEPS and access.may_do(who.role, a)]
    try:
        lifecycle.transition(appeal, action, pd.Timestamp(appeal["reported_at"]).to_pydatetime(), actor=who.name)
    except IllegalTransition as e:
        return IllegalTransition(action, appeal["status"], mine, e.reason)
    except DomainError as e:
        return e
    return IllegalTransition(action, appeal["status"], mine)


def _distance_m(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres on a local flat approximation (good to well under 1 % across the district)."""
    dx = (np.asarray(lon, float) - lon0) * _M_PER_DEG * np.cos(np.radians(lat0))
    dy = (np.asarray(lat, float) - lat0) * _M_PER_DEG
    return np.hypot(dx, dy)


def nearest_stations(store: Store, lon: float, lat: float, n: int = NEAREST_STATIONS) -> pd.DataFrame:
    """The ``n`` stations nearest to a point, with their distance in metres."""
    cols = ["code", "lon", "lat", "distance_m"]
    st = reference.points(store, "station")
    if st.empty or lon is None or pd.isna(lon):
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(st.drop(columns="geometry")).reindex(columns=["code", "lon", "lat"])
    out["distance_m"] = _distance_m(float(lon), float(lat), out["lon"].to_numpy(), out["lat"].to_numpy())
    return out.nsmallest(n, "distance_m").reset_index(drop=True)


def nearby(store: Store, who: access.Principal, appeal: dict[str, Any]) -> pd.DataFrame:
    """Other open appeals of ``who``'s area within the gathering radius and window of ``appeal``."""
    g = gathering_rules()
    at = pd.Timestamp(appeal["reported_at"]).to_pydatetime()
    window = timedelta(hours=float(g["window_hours"]))
    rows = store.query_appeals(statuses=OPEN_STATUSES, since=at - window, until=at + window,
                               area=access.area_filter(who),
                               columns=("id", "category", "tier", "status", "lon", "lat", "reported_at"))
    rows = rows[rows["id"] != appeal["id"]]
    if rows.empty or appeal.get("lon") is None:
        return rows.assign(distance_m=pd.Series(dtype=float))
    d = _distance_m(float(appeal["lon"]), float(appeal["lat"]), rows["lon"].to_numpy(), rows["lat"].to_numpy())
    return rows.assign(distance_m=d)[d <= float(g["radius_m"])].sort_values("distance_m").reset_index(drop=True)


def _grid_outline(code: str | None) -> list[dict[str, Any]]:
    grid = district.layers()["grid"]
    part = grid[grid["code"] == code]
    return [] if part.empty else mapview.path_records(part, ("code",), tolerance_m=2.0, precision=6)


def appeal_page(store: Store, who: access.Principal, appeal_id: int) -> AppealPage:
    """One appeal as the workbench shows it to ``who`` (``Forbidden`` outside its area)."""
    appeal = wall.appeal_detail(store, appeal_id, who, wall_mode=False)
    events = wall.appeal_events(store, appeal_id, who, wall_mode=False)
    stations = nearest_stations(store, appeal.get("lon"), appeal.get("lat"))
    return AppealPage(appeal=appeal, events=events, version=len(events), grid=_grid_outline(appeal.get("grid_code")),
                      stations=stations, nearby=nearby(store, who, appeal),
                      steps={s: refusal(appeal, s, who) for s in STEPS})


def act(store: Store, who: access.Principal, appeal_id: int, action: str, *, seen_status: str | None,
        seen_version: int | None, **params: Any) -> dict[str, Any]:
    """One step on an appeal, as ``who``, on the state the page showed (``seen_status``,
    ``seen_version``): ``AppealChanged`` when somebody acted in between, ``Forbidden`` or
    ``IllegalTransition`` as ``wall.perform`` says; nothing changes then."""
    return wall.perform(store, appeal_id, action, who, expected_status=seen_status, expected_version=seen_version,
                        **params)


# --------------------------------------------------------------------------------------------- map
def appeal_deck(page: AppealPage, tips: dict[str, Callable[..., str]]) -> pdk.Deck:
    """A small map around the appeal: its grid outline, the nearest stations with their 500 m circles,
    the nearby appeals and the appeal itself. ``tips`` makes the tooltip texts in the page's language:
    ``appeal(id=)``, ``station(code=, m=)``, ``nearby(id=)``."""
    a = page.appeal
    lon, lat = float(a["lon"]), float(a["lat"])
    layers: list[pdk.Layer] = []
    if page.grid:
        layers.append(mapview.line_layer("wb-grid", page.grid, color=[255, 213, 74, 220], width_px=2))
    s = page.stations
    if len(s):
        recs = mapview.point_records(s["lon"], s["lat"], {
            "tip": [tips["station"](code=c, m=int(d))
                    for c, d in zip(s["code"], s["distance_m"], strict=True)]})
        layers.append(mapview.points_layer("wb-circles", recs, color=[40, 180, 120, 40], radius_m=SERVICE_RADIUS_M,
                                           min_px=4, max_px=400, line=[40, 180, 120, 200], pickable=False))
        layers.append(mapview.points_layer("wb-stations", recs, color=[40, 180, 120, 255], radius_m=25, min_px=5,
                                           max_px=10, line=[255, 255, 255, 255]))
    n = page.nearby
    if len(n):
        recs = mapview.point_records(n["lon"], n["lat"], {
            "tip": [tips["nearby"](id=int(i)) for i in n["id"]],
            "color": [mapview.TIER_COLORS.get(v, [200, 200, 200, 200]) for v in n["tier"]]})
        layers.append(mapview.points_layer("wb-nearby", recs, color="color", radius_m=20, min_px=5, max_px=9,
                                           line=[20, 20, 20, 255]))
    me = mapview.point_records([lon], [lat], {"tip": [tips["appeal"](id=int(a["id"]))],
                                              "color": [mapview.TIER_COLORS.get(a["tier"], [200, 200, 200, 255])]})
    layers.append(mapview.points_layer("wb-appeal", me, color="color", radius_m=35, min_px=9, max_px=14,
                                       line=[255, 255, 255, 255]))
    pad = 0.008
    view = mapview.view_state((lon - pad, lat - pad, lon + pad, lat + pad), width_px=560, height_px=320)
    return mapview.deck(layers, view, tooltip=district.tip_tooltip(14))
