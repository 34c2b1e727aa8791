"""Clicks on the planner map: the clickable layers' ids, the object a click picked (once), and the
what-if edit it makes in the chosen click mode.

Why a module of its own: Streamlit's pydeck chart re-sends old selections (see :func:`layer_id`), and
the rules that keep one click from making two edits are easier to keep right in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from geo.coverage import SERVICES
from services.planning.whatif import Edit

GAP_LAYER, STATION_LAYER, SITE_LAYER, CANDIDATE_LAYER = "plan-gap", "plan-station", "plan-site", "plan-candidate"
CIRCLE_LAYER, SITE_CIRCLE_LAYER, SITE_LABEL_LAYER = "plan-circle", "plan-site-circle", "plan-site-label"


@dataclass(frozen=True)
class Pick:
    """An object clicked on the planner map: a ``station`` (code), an uncovered ``cell``, a proposed
    ``site`` or a planner ``candidate``, with its lon/lat."""

    kind: str
    lon: float
    lat: float
    code: str | None = None


_PICK_KIND = {STATION_LAYER: "station", GAP_LAYER: "cell", SITE_LAYER: "site", CANDIDATE_LAYER: "candidate"}
_GEN_SEP = "~"


def layer_id(base: str, generation: int = 0) -> str:
    """The id a pickable planner layer has in map ``generation`` (``plan-gap``, ``plan-gap~3``...).

    Why: Streamlit's pydeck chart keeps a selection by layer id and index and, when the chart's data
    change, re-reads the object at that index from the new data and sends it as a new selection. After
    a click added a station the uncovered cell at that index is another one, so the old click would
    come back as a click there. A page bumps the generation whenever the network changes: the chart
    then finds no layer of that id and drops the stale selection."""
    return base if not generation else f"{base}{_GEN_SEP}{int(generation)}"


def pick_from_selection(selection: Mapping[str, Any] | None) -> Pick | None:
    """The clicked object from ``st.pydeck_chart``'s selection state (``{"selection": {"objects": ...}}``
    or the inner ``{"objects": ...}``), or None; layer ids of any generation."""
    if not selection:
        return None
    sel = selection.get("selection", selection)
    objects = (sel or {}).get("objects") or {}
    by_base: dict[str, list[Any]] = {}
    for lid, objs in objects.items():
        by_base.setdefault(str(lid).split(_GEN_SEP)[0], []).extend(objs or [])
    for base, kind in _PICK_KIND.items():
        objs = by_base.get(base) or []
        if objs:
            obj = objs[0]
            pos = obj.get("position") or [None, None]
            if pos[0] is None:
                return None
            return Pick(kind=kind, lon=float(pos[0]), lat=float(pos[1]), code=obj.get("code"))
    return None


def selection_key(selection: Mapping[str, Any] | None) -> str:
    """What identifies a click in a selection state: the layer ids and indices selected ("" for none).
    The objects are left out on purpose: the chart re-reads them when its data change (see
    :func:`layer_id`), the indices change only when the planner clicks."""
    if not selection:
        return ""
    sel = selection.get("selection", selection) or {}
    indices = {str(k): sorted(int(i) for i in v) for k, v in (sel.get("indices") or {}).items() if v}
    return json.dumps(indices, sort_keys=True) if indices else ""


def new_pick(selection: Mapping[str, Any] | None, consumed: str) -> tuple[Pick | None, str]:
    """The object a new click picked, once: None when ``selection`` is the one already ``consumed``
    (its :func:`selection_key`), so that a selection the chart sends again on a later rerun (a tab
    click, the solve button) makes no second edit. Returns the pick and the key to remember."""
    key = selection_key(selection)
    if key == consumed:
        return None, consumed
    return pick_from_selection(selection), key


CLICK_MODES = ("add_station", "remove_station", "add_candidate", "inspect")


def edit_for_pick(pick: Pick | None, mode: str, services: Iterable[str] = SERVICES) -> Edit | None:
    """The what-if edit a click makes: in ``add_station`` mode a click on an uncovered cell, a proposed
    site or a candidate adds a station there; in ``remove_station`` mode a click on a station removes it.
    Anything else makes no edit."""
    if pick is None:
        return None
    if mode == "add_station" and pick.kind in ("cell", "site", "candidate"):
        return Edit("add", lon=pick.lon, lat=pick.lat, services=tuple(services))
    if mode == "remove_station" and pick.kind == "station" and pick.code:
        return Edit("remove", code=pick.code)
    return None
