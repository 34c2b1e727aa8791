"""The planner map's pydeck layers: service circles, uncovered cells, stations, proposed sites and
candidate points, with their colours and tooltips, and the Deck (no base-map provider).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pydeck as pdk

from geo import mapview
from geo.coverage import SERVICES, StationSet, service_circles
from geo.siting import SitingScenario
from services import district
from services.i18n import label, t
from services.planning.clicks import (
    CANDIDATE_LAYER,
    CIRCLE_LAYER,
    GAP_LAYER,
    SITE_CIRCLE_LAYER,
    SITE_LABEL_LAYER,
    SITE_LAYER,
    STATION_LAYER,
    layer_id,
)
from services.planning.options import (
    CIRCLE_QUAD_SEGS,
    DEFAULT_RADIUS_M,
    GAP_CELL_M,
    check_radius,
    service_key,
    service_label,
)
from services.planning.tables import gap_cells
from services.planning.whatif import station_status
from services.store.base import Store

STATUS_COLORS = {"new": [255, 80, 200, 255], "moved": [255, 150, 0, 255]}
OFF_SERVICE_COLOR = [130, 130, 130, 140]
SITE_COLOR = [255, 60, 160, 240]
GAP_STEPS = ((2000, [200, 20, 40, 220]), (800, [240, 70, 40, 210]), (300, [250, 140, 40, 200]),
             (0, [250, 210, 70, 190]))
"""Colour of an uncovered cell by its people (the first threshold it reaches)."""


def gap_color(people: float) -> list[int]:
    """Colour of an uncovered cell with ``people`` uncovered residents."""
    return next(c for lo, c in GAP_STEPS if people >= lo)


def circle_records(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
                   quad_segs: int = CIRCLE_QUAD_SEGS) -> list[dict[str, Any]]:
    """Polygon records of the service circles (drawing only), rounded to about a metre."""
    circles = service_circles(stations, check_radius(radius_m), service_key(service), quad_segs=quad_segs)
    return mapview.polygon_records(circles, ("code",), tolerance_m=0, precision=5)


def gap_records(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
                lang: str = "zh", cell_m: float = GAP_CELL_M, *, store: Store) -> list[dict[str, Any]]:
    """One point per uncovered cell at its people-weighted centre, sized and coloured by people."""
    cells = gap_cells(stations, service, radius_m, cell_m, store=store)
    if cells.empty:
        return []
    pop = cells["population"].to_numpy(float)
    title = t("planning.tip_gap_title", lang)
    details = [t("planning.tip_gap", lang, people=f"{int(p):,}", buildings=int(b))
               for p, b in zip(pop, cells["buildings"], strict=True)]
    return mapview.point_records(cells["lon"], cells["lat"], {
        "radius": np.round(np.clip(np.sqrt(pop) * 2.5, 12, cell_m * 0.6)).astype(int).tolist(),
        "color": [gap_color(p) for p in pop], "title": [title] * len(details), "detail": details})


def station_records(stations: StationSet, service: str | None = "appeal", lang: str = "zh", *,
                    store: Store) -> list[dict[str, Any]]:
    """Stations coloured by level (new and moved ones stand out, those not offering ``service`` are grey)."""
    key = service_key(service)
    offers = np.ones(len(stations), bool) if key is None else stations.offers[key]
    status = station_status(stations, store=store)
    colors, titles, details = [], [], []
    for i in range(len(stations)):
        lvl = str(stations.level[i])
        color = STATUS_COLORS.get(status[i]) or mapview.STATION_COLORS.get(lvl, mapview.STATION_COLORS["site"])
        colors.append(color if offers[i] else OFF_SERVICE_COLOR)
        sep = "、" if lang == "zh" else ", "
        svc = sep.join(service_label(s, lang) for s in SERVICES if stations.offers[s][i])
        titles.append(f"{stations.name[i]} ({stations.code[i]})")
        details.append(t("planning.tip_station", lang, level=label("station_level", lvl, lang),
                         services=svc or "-", status=t(f"planning.status_{status[i]}", lang)))
    return mapview.point_records(stations.lon, stations.lat, {
        "code": stations.code.tolist(), "color": colors, "title": titles, "detail": details,
        "radius": [{"district": 110, "subdistrict": 85, "community": 60}.get(str(v), 40) for v in stations.level]})


def site_records(scenario: SitingScenario | None, lang: str = "zh") -> list[dict[str, Any]]:
    """Proposed sites with their rank and the people each newly covers."""
    if scenario is None or scenario.sites.empty:
        return []
    s = scenario.sites
    titles = [t("planning.tip_site_title", lang, order=int(o)) for o in s["order"]]
    details = [t("planning.tip_site", lang, gain=f"{int(g):,}", lon=f"{lo:.5f}", lat=f"{la:.5f}")
               for g, lo, la in zip(s["gain_population"], s["lon"], s["lat"], strict=True)]
    return mapview.point_records(s["lon"], s["lat"], {"order": s["order"].astype(int).tolist(),
                                                      "text": [str(int(o)) for o in s["order"]], "title": titles,
                                                      "detail": details})


def candidate_records(points: Sequence[tuple[float, float]], lang: str = "zh") -> list[dict[str, Any]]:
    """Planner-added candidate points (WGS84)."""
    if not points:
        return []
    lon, lat = zip(*points, strict=True)
    titles = [t("planning.tip_candidate", lang, i=i + 1) for i in range(len(points))]
    details = [f"{lo:.5f}, {la:.5f}" for lo, la in points]
    return mapview.point_records(lon, lat, {"title": titles, "detail": details, "index": list(range(len(points)))})


def planner_layers(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
                   lang: str = "zh", scenario: SitingScenario | None = None,
                   candidate_points: Sequence[tuple[float, float]] = (), show_circles: bool = True,
                   show_gaps: bool = True, show_grids: bool = False, generation: int = 0, *,
                   store: Store) -> list[pdk.Layer]:
    """The planner map: district base map, service circles, uncovered cells, stations, proposed sites
    (with their circles and rank) and planner candidate points; every layer has an id (the clickable
    ones carry ``generation``, see :func:`layer_id`)."""
    visible = ("subdistrict", "community") + (("grid",) if show_grids else ())
    out = district.base_layers(visible, lang)
    if show_circles:
        out.append(mapview.fill_layer(CIRCLE_LAYER, circle_records(stations, service, radius_m),
                                      fill=[0, 170, 255, 26], line=[0, 170, 255, 110], line_width_px=1,
                                      pickable=False))
    if scenario is not None and not scenario.sites.empty:
        sites = StationSet.from_arrays([f"S{i}" for i in scenario.sites["order"]],
                                       scenario.sites["lon"].to_numpy(), scenario.sites["lat"].to_numpy())
        out.append(mapview.fill_layer(SITE_CIRCLE_LAYER, circle_records(sites, None, radius_m),
                                      fill=[255, 60, 160, 30], line=[255, 60, 160, 170], line_width_px=1.5,
                                      pickable=False))
    if show_gaps:
        out.append(mapview.points_layer(layer_id(GAP_LAYER, generation),
                                        gap_records(stations, service, radius_m, lang, store=store), color="color",
                                        radius_m="radius", min_px=2, max_px=22))
    out.append(mapview.points_layer(layer_id(STATION_LAYER, generation),
                                    station_records(stations, service, lang, store=store),
                                    color="color", radius_m="radius", min_px=3, max_px=12, line=[20, 20, 20, 255]))
    if candidate_points:
        out.append(mapview.points_layer(layer_id(CANDIDATE_LAYER, generation),
                                        candidate_records(candidate_points, lang),
                                        color=[255, 255, 255, 230], radius_m=45, min_px=4, max_px=10,
                                        line=[255, 60, 160, 255]))
    recs = site_records(scenario, lang)
    if recs:
        out.append(mapview.points_layer(layer_id(SITE_LAYER, generation), recs, color=SITE_COLOR, radius_m=90,
                                        min_px=9, max_px=18, line=[255, 255, 255, 255]))
        out.append(mapview.text_layer(SITE_LABEL_LAYER, recs, size_px=13, color=[255, 255, 255, 255]))
    return out


def planner_deck(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
                 lang: str = "zh", scenario: SitingScenario | None = None,
                 candidate_points: Sequence[tuple[float, float]] = (), show_circles: bool = True,
                 show_gaps: bool = True, show_grids: bool = False, width_px: int = 820,
                 height_px: int = 640, generation: int = 0, *, store: Store) -> pdk.Deck:
    """The planner map as a Deck with no base-map provider (nothing fetched from the internet)."""
    layers = planner_layers(stations, service, radius_m, lang, scenario, candidate_points, show_circles, show_gaps,
                            show_grids, generation, store=store)
    # deck.gl's zoom 0 is 512 px wide while mapview.view_state assumes 256 px tiles: halve the viewport so
    # that the whole district fits the chart.
    view = mapview.view_state(district.bounds(), width_px=width_px, height_px=height_px)
    tooltip = {"html": "<b>{title}</b><br/>{detail}",
               "style": {"backgroundColor": "#1b2433", "color": "#f0f0f0", "fontSize": "13px"}}
    return mapview.deck(layers, view, tooltip=tooltip)
