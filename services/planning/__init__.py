"""Coverage and siting for the planners (站点规划): what the page asks, answered without Streamlit.

Why: the "500-metre service circle" (500米诉求服务圈, also for legal and psychological service) promises
everyone a station within 500 m. Planners ask where the circles leave people out, what removing, moving
or adding a station changes, and where k new stations help most. The geometry lives in
:mod:`geo.coverage` and :mod:`geo.siting`; the edit history and saved scenarios are in
:mod:`services.scenarios`.

Modules: ``options`` (services, radius and limits, ``PlanningError``), ``base`` (the district's demand
and stations, read from the store and rebuilt when its points change, its bounds and the coverage
test), ``whatif`` (``Edit``,
``network`` and what an edit changes), ``tables`` (figures, coverage tables, exports, gaps),
``map_layers`` (the planner map's pydeck layers), ``clicks`` (layer ids, picks and the edit a click
makes) and ``siting`` (candidates, greedy and exact runs, proposed sites). This module re-exports the
names other code imports.
"""

from __future__ import annotations

from geo.coverage import SERVICES
from services.planning.base import base_stations, coverage, demand, district_bounds, to_district_point
from services.planning.clicks import (
    CANDIDATE_LAYER,
    CIRCLE_LAYER,
    CLICK_MODES,
    GAP_LAYER,
    SITE_CIRCLE_LAYER,
    SITE_LABEL_LAYER,
    SITE_LAYER,
    STATION_LAYER,
    Pick,
    edit_for_pick,
    layer_id,
    new_pick,
    pick_from_selection,
    selection_key,
)
from services.planning.map_layers import (
    GAP_STEPS,
    OFF_SERVICE_COLOR,
    SITE_COLOR,
    STATUS_COLORS,
    candidate_records,
    circle_records,
    gap_color,
    gap_records,
    planner_deck,
    planner_layers,
    site_records,
    station_records,
)
from services.planning.options import (
    BOUNDS_MARGIN_DEG,
    CANDIDATE_SOURCES,
    CIRCLE_QUAD_SEGS,
    DEFAULT_BUILDING_CANDIDATES,
    DEFAULT_K,
    DEFAULT_RADIUS_M,
    GAP_CELL_M,
    K_MAX,
    MODELS,
    RADIUS_MAX_M,
    RADIUS_MIN_M,
    RADIUS_STEP_M,
    SERVICE_OPTIONS,
    TABLE_LEVELS,
    TIME_LIMIT_DEFAULT_S,
    TIME_LIMIT_MAX_S,
    PlanningError,
    check_radius,
    service_key,
    service_label,
)
from services.planning.siting import (
    ExactRun,
    build_candidates,
    parse_points,
    prepare,
    read_table,
    scenario_edits,
    sites_table,
    solve,
    status_label,
)
from services.planning.tables import (
    Figures,
    coverage_tables,
    display_table,
    export_coverage,
    export_csv,
    figures,
    gap_cells,
    gap_grids,
)
from services.planning.whatif import (
    Edit,
    WhatIf,
    add_station,
    apply_edit,
    edit_delta,
    move_station,
    network,
    remove_station,
    station_status,
    stations_frame,
    what_if,
)

__all__ = [
    "BOUNDS_MARGIN_DEG", "CANDIDATE_LAYER", "CANDIDATE_SOURCES", "CIRCLE_LAYER", "CIRCLE_QUAD_SEGS",
    "CLICK_MODES", "DEFAULT_BUILDING_CANDIDATES", "DEFAULT_K", "DEFAULT_RADIUS_M", "GAP_CELL_M", "GAP_LAYER",
    "GAP_STEPS", "K_MAX", "MODELS", "OFF_SERVICE_COLOR", "RADIUS_MAX_M", "RADIUS_MIN_M", "RADIUS_STEP_M",
    "SERVICES", "SERVICE_OPTIONS", "SITE_CIRCLE_LAYER", "SITE_COLOR", "SITE_LABEL_LAYER", "SITE_LAYER",
    "STATION_LAYER", "STATUS_COLORS", "TABLE_LEVELS", "TIME_LIMIT_DEFAULT_S", "TIME_LIMIT_MAX_S", "Edit",
    "ExactRun", "Figures", "Pick", "PlanningError", "WhatIf", "add_station", "apply_edit", "base_stations",
    "build_candidates", "candidate_records", "check_radius", "circle_records", "coverage", "coverage_tables",
    "demand", "display_table", "district_bounds", "edit_delta", "edit_for_pick", "export_coverage",
    "export_csv", "figures", "gap_cells", "gap_color", "gap_grids", "gap_records", "layer_id", "move_station",
    "network", "new_pick", "parse_points", "pick_from_selection", "planner_deck", "planner_layers", "prepare",
    "read_table", "remove_station", "scenario_edits", "selection_key", "service_key", "service_label",
    "site_records", "sites_table", "solve", "station_records", "station_status", "stations_frame",
    "status_label", "to_district_point", "what_if",
]
