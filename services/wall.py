"""The wall display's data path (大屏): one refresh = one ``snapshot`` from the store + one map.

Everything a refresh needs is computed here, outside Streamlit, so that the benchmark (bench/wall.py)
and the tests drive exactly what the page draws. Aggregates come from the store's SQL; only open
appeals travel as points, capped and ordered red first, newest first; the grid geometry is simplified
and rounded once per process. Nothing personal is read: the store's queries omit reporter fields, and
the snapshot names its columns so that no free text (``access.TEXT_FIELDS``: a description can carry a
phone number or an ID) is read for the wall at all.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pydeck as pdk

from geo import mapview
from services import access, audit, district, lifecycle
from services.clocks import TZ
from services.config import rules
from services.errors import DomainError, IllegalTransition, Label, Labels, ValidationError
from services.gathering import gathering_rules, marked_clusters
from services.i18n import label, t
from services.store.base import APPEAL_COLUMNS, OPEN_STATUSES, PERSONAL_COLUMNS, Store

LEVELS = ("red", "yellow", "blue")
LEVEL_FILL = {"red": [230, 40, 40, 120], "yellow": [245, 190, 30, 105], "blue": [40, 120, 230, 80]}
NO_LEVEL_FILL = [0, 0, 0, 0]
# The appeal columns a snapshot reads: everything but the reporter's details and the free text.
POINT_COLUMNS = tuple(c for c in APPEAL_COLUMNS if c not in PERSONAL_COLUMNS and c not in access.TEXT_FIELDS)


def warning_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [warning_map] section: how a grid's open appeals make its warning level."""
    return (cfg or rules())["warning_map"]


@dataclass
class WallSnapshot:
    """What one refresh of the wall shows (no personal data in any field)."""

    now: datetime
    kpis: dict[str, Any]
    open_orders: int
    check_in_rate: float | None
    trend: pd.DataFrame
    grid_levels: pd.DataFrame
    points: pd.DataFrame
    overdue: pd.DataFrame
    warnings: pd.DataFrame
    clusters: pd.DataFrame
    area: tuple[str, str] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


def day_start(now: datetime) -> datetime:
    """Local midnight (Asia/Shanghai) of ``now``'s day."""
    local = now.astimezone(TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def grid_levels(counts: pd.DataFrame, cfg: dict[str, Any] | None = None) -> pd.DataFrame:
    """Warning level per grid from open-appeal counts by tier (code, tier, status, n).

    Red when a grid has ``red_open`` red appeals open (or ``red_total`` open in all); yellow at
    ``yellow_open`` yellow ones (or ``yellow_total`` in all); blue when anything is open.
    """
    r = warning_rules(cfg)
    cols = ["code", "level", "open_total", "red", "yellow", "blue"]
    if counts.empty:
        return pd.DataFrame(columns=cols)
    wide = counts.pivot_table(index="code", columns="tier", values="n", aggfunc="sum", fill_value=0)
    for tier in LEVELS:
        if tier not in wide:
            wide[tier] = 0
    total = wide[list(LEVELS)].sum(axis=1)
    level = np.where((wide["red"] >= r["red_open"]) | (total >= r["red_total"]), "red",
                     np.where((wide["yellow"] >= r["yellow_open"]) | (total >= r["yellow_total"]), "yellow",
                              np.where(total > 0, "blue", "")))
    out = pd.DataFrame({"code": wide.index, "level": level, "open_total": total.to_numpy(),
                        "red": wide["red"].to_numpy(), "yellow": wide["yellow"].to_numpy(),
                        "blue": wide["blue"].to_numpy()})
    return out[out.level != ""].reset_index(drop=True)


_trend_cache: dict[tuple, tuple[float, dict[str, Any]]] = {}


def _day_kpis(store: Store, day: datetime, now: datetime, ttl_s: float = 300,
              area: tuple[str, str] | None = None) -> dict[str, Any]:
    """KPIs of one past day (of one area), cached for a few minutes (late resolutions still change them)."""
    key = (store.url, day.date().isoformat(), area)
    hit = _trend_cache.get(key)
    if hit and time.monotonic() - hit[0] < ttl_s:
        return hit[1]
    k = store.kpis(day, min(day + timedelta(days=1), now), area=area)
    _trend_cache[key] = (time.monotonic(), k)
    if len(_trend_cache) > 512:
        for old in sorted(_trend_cache, key=lambda x: _trend_cache[x][0])[:256]:
            _trend_cache.pop(old, None)
    return k


def trend(store: Store, now: datetime, days: int = 7, area: tuple[str, str] | None = None) -> pd.DataFrame:
    """Received and resolved per day for the ``days - 1`` days before today (of one area when given)."""
    today = day_start(now)
    rows = []
    for back in range(days - 1, 0, -1):
        d = today - timedelta(days=back)
        k = _day_kpis(store, d, now, area=area)
        rows.append({"day": d.date(), "received": k["received"], "resolved": k["resolved"]})
    return pd.DataFrame(rows)


def snapshot(store: Store, now: datetime | None = None, *, max_points: int | None = None,
             trend_days: int = 7, area: tuple[str, str] | None = None,
             who: access.Principal | None = None) -> WallSnapshot:
    """Everything one refresh shows, read from ``store`` at time ``now``.

    ``area`` (level, code), e.g. ``("subdistrict", "440311001")``, scopes every figure, the points, the
    red list and the orders to that area; the grid shading stays district-wide (it is the base map).
    ``who`` (the principal the screen is drawn for; None is the district-wide wall) limits it further:
    a scoped role sees only its own area (``scoped_area``)."""
    area = scoped_area(who, area)
    now = (now or datetime.now(TZ)).astimezone(TZ)
    cfg = warning_rules()
    max_points = max_points or int(cfg["max_points"])
    timings: dict[str, float] = {}

    def timed(name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        out = fn(*a, **kw)
        timings[name] = round((time.perf_counter() - t0) * 1000, 1)
        return out

    start = day_start(now)
    kpis = timed("kpis", store.kpis, start, now, area=area)
    past = timed("trend", trend, store, now, trend_days, area)
    today_row = pd.DataFrame([{"day": start.date(), "received": kpis["received"], "resolved": kpis["resolved"]}])
    trend_frame = pd.concat([past, today_row], ignore_index=True) if len(past) else today_row
    levels = timed("grid_levels", lambda: grid_levels(store.counts("grid", open_only=True)))
    points = timed("points", store.query_appeals, statuses=OPEN_STATUSES, order="tier", limit=max_points, area=area,
                   columns=POINT_COLUMNS)
    points = _with_clock(points, now)
    overdue = timed("overdue", store.overdue, now, limit=int(cfg["list_size"]), area=area)
    orders = timed("orders", store.orders, open_only=True)
    if area is not None and len(orders):
        orders = orders[orders["community_code"].isin(district.communities_in(area))]
    open_orders = int(orders["order_id"].nunique()) if len(orders) else 0
    stats = timed("department_stats", store.department_stats, now - timedelta(days=int(cfg["check_in_days"])), now,
                  area=area)
    check_in_rate = _overall_rate(stats)
    g = gathering_rules()
    recent = timed("recent_open", store.query_appeals, statuses=OPEN_STATUSES,
                   since=now - timedelta(hours=float(g["window_hours"])), until=now + timedelta(seconds=1),
                   columns=("id", "category", "lon", "lat", "reported_at", "tier", "gathering_id",
                            "gathering_tier"), area=area)
    # The clusters intake and the simulator marked (Store.mark_gathering), not a new clustering here.
    clusters = timed("clusters", marked_clusters, recent)
    warnings = _warnings(points, overdue, now, int(cfg["list_size"]))
    return WallSnapshot(now=now, kpis=kpis, open_orders=open_orders, check_in_rate=check_in_rate,
                        trend=trend_frame, grid_levels=levels, points=points, overdue=overdue, warnings=warnings,
                        clusters=clusters, area=area, timings_ms=timings)


def scoped_area(who: access.Principal | None, area: tuple[str, str] | None) -> tuple[str, str] | None:
    """The area a screen for ``who`` reads: ``area`` as asked for a district-wide role (or none given),
    the role's own area (``access.area_filter``) when none is asked, or a community inside a subdistrict
    officer's subdistrict; any other area of a scoped role is ``Forbidden``, and so is a department (its
    officer reads its orders, not the wall)."""
    if who is None:
        return area
    own = access.area_filter(who)
    if own is None or area is None or tuple(area) == own:
        area = own if area is None else tuple(area)
    elif not (own[0] == "subdistrict" and area[0] == "community" and area[1] in district.communities_in(own)):
        raise access.Forbidden("error.area_not_yours", role=Label("role", who.role),
                               kind=Label("area_kind", own[0]), own=own[1], area=area[1])
    if area is not None and area[0] == "department":
        raise access.Forbidden("error.role_may_not", role=Label("role", who.role), action=Label("action", "view_wall"))
    return area


def _overall_rate(stats: pd.DataFrame) -> float | None:
    """Timely check-in rate over all departments: sum(timely) / sum(due) as the store counts them,
    None when nothing is due."""
    if stats.empty:
        return None
    due = int(stats["due_check_ins"].sum())
    return None if due == 0 else int(stats["timely_check_ins"].sum()) / due


def _with_clock(points: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Adds seconds_left (negative when overdue) and the overdue flag to open appeals."""
    out = points.copy()
    if out.empty:
        out["seconds_left"] = pd.Series(dtype=float)
        out["overdue"] = pd.Series(dtype=bool)
        return out
    due = pd.to_datetime(out["next_deadline_at"], utc=True)
    out["seconds_left"] = (due - pd.Timestamp(now).tz_convert("UTC")).dt.total_seconds()
    out["overdue"] = out["seconds_left"] < 0
    return out


def _warnings(points: pd.DataFrame, overdue: pd.DataFrame, now: datetime, size: int) -> pd.DataFrame:
    """Red warnings and overdue appeals, newest first, with the time left (or past) on their clock."""
    cols = ["id", "tier", "category", "status", "community_code", "reported_at", "next_deadline_kind",
            "next_deadline_at", "seconds_left", "overdue"]
    parts = []
    if len(points):
        red = points[points.tier == "red"]
        parts.append(red.reindex(columns=cols))
    if len(overdue):
        od = overdue.copy()
        od["seconds_left"] = -od["minutes_overdue"].astype(float) * 60
        od["overdue"] = True
        if "reported_at" not in od:
            od = od.merge(points[["id", "reported_at"]], on="id", how="left") if len(points) else od
        parts.append(od.reindex(columns=cols))
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    out = out.drop_duplicates("id", keep="last")
    out = out.sort_values(["reported_at", "id"], ascending=False, na_position="last").head(size)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------- appeal and actions
# The wall's dispatch actions, in button order (orders go through issue_order).
WALL_ACTIONS = ("respond", "accept", "dispatch", "order", "escalate")
# Every action a principal may take on an appeal through ``perform``: the wall's, then those of the case
# handler (a community or subdistrict). Orders' check-ins and outcomes are services.orders'.
APPEAL_ACTIONS = (*WALL_ACTIONS, "resolve", "confirm", "feedback", "return_visit", "update_facts",
                  "return_to_sender", "note", "request_judicial_confirmation", "record_judicial_confirmation")
# The parameters each action takes from ``perform``'s keywords (everything else is ignored).
_PARAMS = {"dispatch": {"target"}, "escalate": {"level"}, "return_visit": {"satisfaction"},
           "update_facts": {"people_involved", "urgency", "amount_involved"}, "return_to_sender": {"reason"},
           "note": {"note"}, "resolve": {"note", "settlement", "mediator", "agreement_amount"},
           "request_judicial_confirmation": {"note"}, "record_judicial_confirmation": {"result", "note"}}
# What the caller saw (``perform``'s ``expected_status`` / ``expected_version``): checked by the store.
_EXPECTED = ("expected_status", "expected_version")


def _visible(store: Store, appeal_id: int, who: access.Principal, *, include_personal: bool = False
             ) -> dict[str, Any]:
    """The stored appeal when ``who`` may see it: ``Forbidden`` outside its area, ``NotFound`` unknown."""
    access.check_principal(who)
    appeal = store.get_appeal(appeal_id, include_personal=include_personal)
    access.check_in_area(who, appeal)
    return appeal


def appeal_detail(store: Store, appeal_id: int, who: access.Principal, *, wall_mode: bool) -> dict[str, Any]:
    """One appeal as the wall's panel shows it to ``who``: personal fields and free text as
    ``access.redact`` allows for its role (none on the unattended wall, whatever the role: the reporter's
    details are not even read there). Off the wall the reporter's name is read for every role, so that
    ``access.mask_text`` can mask it inside the description. Raises ``access.Forbidden`` for an unknown
    role or an appeal outside ``who``'s area, and ``NotFound`` for an unknown appeal. A view of the
    unmasked reporter fields is a row of the audit log (once per session and appeal)."""
    shown = access.redact(_visible(store, appeal_id, who, include_personal=not wall_mode), who.role,
                          wall_mode=wall_mode)
    if access.may_see_personal(who.role, wall_mode=wall_mode):
        fields = [c for c in access.PERSONAL_COLUMNS if shown.get(c)]
        if fields:
            audit.personal_data_viewed(store, who, "appeal", appeal_id, fields)
    return shown


def appeal_events(store: Store, appeal_id: int, who: access.Principal, *, wall_mode: bool) -> pd.DataFrame:
    """The appeal's events as the panel's timeline shows them: notes (free text a clerk typed) masked for
    a role without the right, and left out on the unattended wall; ``Forbidden`` outside ``who``'s area."""
    appeal = _visible(store, appeal_id, who, include_personal=not wall_mode)
    events = store.events(appeal_id)
    if wall_mode:
        return events.assign(note="")
    name = appeal.get("reporter_name") if not access.may_see_personal(who.role, wall_mode=False) else None
    return access.redact_notes(events, who.role, reporter_name=name)


def actions_for(appeal: dict[str, Any], who: access.Principal) -> list[str]:
    """The wall actions ``who`` may take on ``appeal`` now: allowed by its state, by the role and by the
    area (none outside it)."""
    access.check_principal(who)
    if not access.in_area(who.role, who.area_code, appeal):
        return []
    allowed = set(lifecycle.allowed_actions(appeal))
    return [a for a in WALL_ACTIONS if a in allowed and access.may_do(who.role, a)]


def refusal(appeal: dict[str, Any], action: str, who: access.Principal) -> DomainError | None:
    """Why ``who`` may not take ``action`` on ``appeal`` now (the error ``perform`` would raise), or
    None when it may: the role's right first, then the area, then the appeal's state with what is
    allowed next."""
    try:
        access.check_act(who, action, appeal)
    except access.Forbidden as e:
        return e
    allowed = actions_for(appeal, who)
    if action in allowed:
        return None
    reason = ""
    if action in lifecycle.TRANSITIONS.get(appeal["status"], {}):
        reason = "already_responded" if action == "respond" else "at_district"
    return IllegalTransition(action, appeal["status"], allowed, reason)


def perform(store: Store, appeal_id: int, action: str, who: access.Principal, **params: Any) -> dict[str, Any]:
    """Apply one action on an appeal for ``who`` (recorded as done by ``who.name``) and return the
    updated appeal as ``who`` may see it.

    ``who`` is checked first (``access.check_act``: a role that may not do ``action``, or an appeal
    outside its area, gets ``Forbidden`` and nothing changes), then the store checks the appeal's state.
    ``order`` takes ``departments``, ``dispatch`` a ``target``, ``escalate`` a ``level``,
    ``return_visit`` a ``satisfaction``, ``update_facts`` the facts, ``return_to_sender`` a ``reason``,
    ``note`` a ``note``, ``resolve`` a ``note`` and the ``settlement`` (``mediator``, ``agreement_amount``),
    ``request_judicial_confirmation`` a ``note`` and ``record_judicial_confirmation`` the ``result`` and a
    ``note``. ``expected_status`` / ``expected_version`` (the status and
    event count the caller's screen showed) make the store refuse with ``AppealChanged`` when somebody
    else acted in between, instead of acting on a state the caller never saw. Every request, done or refused, is a
    row of the audit log (services/audit.py ``audited``)."""
    if action not in APPEAL_ACTIONS:
        raise ValidationError("error.unknown_action", action=action, actions=Labels("action", APPEAL_ACTIONS))
    access.check_principal(who)
    kw = {k: v for k, v in params.items() if k in _PARAMS.get(action, set())}
    if action == "order":
        kw = {"departments": list(params.get("departments") or [])}
    seen = {k: params[k] for k in _EXPECTED if params.get(k) is not None}

    def step() -> dict[str, Any]:
        access.check_action(who.role, action)
        access.check_in_area(who, store.get_appeal(appeal_id))
        if action == "order":
            store.issue_order(appeal_id, kw["departments"], issued_by=who.name, **seen)
            return appeal_detail(store, appeal_id, who, wall_mode=False)
        return access.redact(store.act(appeal_id, action, who.name, **kw, **seen), who.role, wall_mode=False)

    # The log keeps what was asked, with free text (a note, a reason) masked: the audit log is read by
    # the admin, who has no right to the reporter's data a note may carry; the note itself is the event's.
    logged = {k: access.mask_text(v) if isinstance(v, str) and k in access.FREE_TEXT_PARAMS else v
              for k, v in kw.items()}
    return audit.audited(store, who.name, f"appeal.{action}", "appeal", appeal_id, logged, step, who.address)


# ---------------------------------------------------------------------------------------------- map
# Sizes of what the wall draws. Points keep at least POINT_MIN_PX on screen (readable from 5 m on a
# 1920x1080 wall); labels are LABEL_PX. The grid fill is pickable but not stroked: outlines drawn by a
# pickable layer are drawn again in every picking pass, which on a machine without a GPU delays the
# click past deck.gl's tap limit (a click then selects nothing). The outlines are a separate path layer.
POINT_MIN_PX = 6
LABEL_PX = 22
# The map's size in CSS px on a 1920x1080 screen, per layout: the view is fitted to it, and the chart is
# drawn MAP_HEIGHT_PX high. The unattended wall has no sidebar and a wider map column.
MAP_FIT_PX = {"wall": (880, 790), "operator": (680, 800)}
MAP_HEIGHT_PX = {"wall": 810, "operator": 820}


def map_view(bounds: tuple[float, float, float, float], layout: str) -> pdk.ViewState:
    """The initial view fitting ``bounds`` into the map of ``layout`` (``wall`` or ``operator``)."""
    width, height = MAP_FIT_PX[layout]
    return mapview.view_state(bounds, width_px=width, height_px=height)


@lru_cache(maxsize=2)
def _grid_polygons(tolerance_m: float) -> tuple[dict, ...]:
    """Grid polygons simplified for the wall (one record per part; code kept for joining levels)."""
    grid = district.layers()["grid"]
    return tuple(mapview.polygon_records(grid, ("code",), tolerance_m=tolerance_m, precision=5))


@lru_cache(maxsize=2)
def _grid_outlines(tolerance_m: float) -> tuple[dict, ...]:
    return tuple(mapview.path_records(district.layers()["grid"], (), tolerance_m=tolerance_m, precision=5))


def grid_tip(name: str, level: str, open_total: int, lang: str) -> str:
    """Tooltip text of one grid: its name, warning level and open appeals."""
    if not level:
        return f"{name}\n{t('wall.tip_grid_quiet', lang)}"
    return f"{name}\n{t('wall.tip_grid', lang, level=label('tier', level, lang), open=open_total)}"


def point_tip(appeal_id: int, tier: str, category: str, status: str, lang: str) -> str:
    """Tooltip text of one appeal point: number, tier, category and status (nothing personal)."""
    return t("wall.tip_point", lang, id=appeal_id, tier=label("tier", tier, lang),
             category=label("category", category, lang), status=label("status", status, lang))


def map_layers(snap: WallSnapshot, lang: str, *, tolerance_m: float = 8.0, point_layer_id: str = "appeal-points",
               selectable: bool = True) -> list[pdk.Layer]:
    """Base boundaries and happiness units, grids shaded by warning level, live points, overdue rings,
    gathering clusters. Every layer has a stable id; every pickable record has its own ``tip``.
    ``selectable=False`` (the unattended wall) keeps the tooltips and drops nothing else."""
    levels = dict(zip(snap.grid_levels.code, snap.grid_levels.level, strict=True))
    opens = dict(zip(snap.grid_levels.code, snap.grid_levels.open_total, strict=True))
    grid_names = district.names("grid", lang)
    grid_recs = []
    for rec in _grid_polygons(tolerance_m):
        code = rec["code"]
        lvl = levels.get(code, "")
        grid_recs.append({**rec, "fill": LEVEL_FILL.get(lvl, NO_LEVEL_FILL),
                          "tip": grid_tip(grid_names.get(code, code), lvl, int(opens.get(code, 0)), lang)})
    layers = district.base_layers(("subdistrict", "community", "happiness_unit"), lang, labels=True, unit_alpha=40,
                                  label_px=LABEL_PX, unit_stroke=False)
    # Draw the warning grids under the community/subdistrict lines: insert after happiness units.
    at = next((i for i, layer in enumerate(layers) if layer.id == "happiness-unit"), -1) + 1
    layers.insert(at, mapview.fill_layer("grid-warning", grid_recs, fill="fill", pickable=True, stroked=False))
    layers.insert(at + 1, mapview.line_layer("grid-outline", list(_grid_outlines(tolerance_m)),
                                             color=[110, 120, 130, 90], width_px=0.5))
    pts = snap.points
    if len(pts):
        recs = mapview.point_records(pts.lon, pts.lat, {
            "id": pts.id.tolist(), "tier": pts.tier.tolist(),
            "tip": [point_tip(int(i), tr, c, st, lang)
                    for i, tr, c, st in zip(pts.id, pts.tier, pts.category, pts.status, strict=True)],
            "color": [mapview.TIER_COLORS.get(v, [200, 200, 200, 200]) for v in pts.tier],
        })
        late = [r for r, o in zip(recs, pts.overdue, strict=True) if o]
        layers.append(mapview.points_layer(point_layer_id, recs, color="color", radius_m=40, min_px=POINT_MIN_PX,
                                           max_px=12, line=[20, 20, 20, 255]))
        if late:
            layers.append(pdk.Layer("ScatterplotLayer", late, id="overdue-rings", get_position="position",
                                    get_radius=120, radius_min_pixels=POINT_MIN_PX + 5, radius_max_pixels=20,
                                    filled=False, stroked=True, get_line_color=[255, 255, 255, 255],
                                    line_width_min_pixels=2, pickable=False))
    if len(snap.clusters):
        c = snap.clusters
        recs = mapview.point_records(c.lon, c.lat, {
            "size": c["size"].astype(int).tolist(), "text": [str(int(s)) for s in c["size"]],
            "tip": [t("wall.tip_cluster", lang, size=int(n), category=label("category", cat, lang))
                    for n, cat in zip(c["size"], c.category, strict=True)],
            "radius": [150 + 40 * int(s) for s in c["size"]],
        })
        layers.append(mapview.points_layer("gathering-clusters", recs, color=[255, 60, 200, 90], radius_m="radius",
                                           min_px=14, max_px=60, line=[255, 60, 200, 255], pickable=True))
        layers.append(mapview.text_layer("gathering-sizes", recs, size_px=LABEL_PX))
    return layers


def tooltip(lang: str) -> dict[str, Any]:
    """Tooltip for picked objects: each layer's own ``tip`` text, in ``lang``; nothing personal."""
    return district.tip_tooltip(20, "#101822")


def point_layer_id(snap: WallSnapshot) -> str:
    """The appeal layer's id, new whenever the set or order of points changes.

    Streamlit keeps a map selection as (layer id, row index) and, when the data change under the same
    id, moves it to whatever row now has that index: another appeal. A new id drops the old selection."""
    ids = snap.points["id"].to_numpy(dtype="int64") if len(snap.points) else np.zeros(0, "int64")
    return f"appeal-points~{zlib.crc32(ids.tobytes()):08x}"


def wall_deck(snap: WallSnapshot, lang: str, view: pdk.ViewState, *, point_layer: str = "appeal-points") -> pdk.Deck:
    """The wall's map: district boundaries as the base, nothing fetched from the internet."""
    return mapview.deck(map_layers(snap, lang, point_layer_id=point_layer), view, tooltip=tooltip(lang))


def payload_bytes(deck: pdk.Deck) -> int:
    """Bytes of the map's JSON as sent to the browser."""
    return len(deck.to_json().encode("utf-8"))


def countdown(seconds: float | None, lang: str) -> str:
    """'剩余 12:30' / '超时 1:05:00' style countdown text."""
    if seconds is None or (isinstance(seconds, float) and np.isnan(seconds)):
        return ""
    s = int(abs(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    clock = f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
    return t("wall.overdue_by" if seconds < 0 else "wall.time_left", lang, clock=clock)
