"""The drill path of the analysis page (分析研判, issue 14 §1), without Streamlit: where a view is (district →
subdistrict → community → grid → the grid's appeals → one appeal), how it is written in the URL, the
breadcrumb above it, the appeals of a grid for a period (read with the same rights as the figures), and
the child areas' polygons shaded by a measure with their legend.

The URL holds ``level`` and ``code`` (the area looked at; none: the district), ``appeal`` (an appeal
opened from the grid's list), and the period as ``kind`` and ``date`` (custom: ``date`` and ``until``), so a
link opens the same view. Bad values are a ValidationError with a message key; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from geo import mapview
from services import access, district
from services.analysis.measures import BY_CODE
from services.analysis.periods import CALENDAR_KINDS, KINDS, Period, custom, period
from services.analysis.service import ancestors, area_kind, scope
from services.errors import ValidationError
from services.store.analysis import LEVELS
from services.store.base import Store

# What the grid's appeal list reads: no reporter field and no free text (a list, like the workbench queue).
APPEAL_COLUMNS = ("id", "reported_at", "status", "tier", "appeal_class", "category", "channel", "service_type",
                  "handling_level", "reopened_count", "next_deadline_at", "lon", "lat")
# The shading of the map: light to dark in this many steps (quantiles of the shown values).
SHADES = ((254, 229, 217), (252, 174, 145), (251, 106, 74), (222, 45, 38), (165, 15, 21))
NO_VALUE = (120, 120, 120)


@dataclass(frozen=True)
class View:
    """Where the page is: the area ``level`` / ``code`` (the district: code None), an ``appeal`` opened
    from a grid's list, and the ``period``."""

    level: str
    code: str | None
    period: Period
    appeal: int | None = None

    @property
    def child_level(self) -> str | None:
        """The level of the rows shown (None at a grid: its appeals are shown)."""
        i = LEVELS.index(self.level)
        return LEVELS[i + 1] if i + 1 < len(LEVELS) else None

    def query(self) -> dict[str, str]:
        """The URL's query parameters of this view (``lang`` is the page's, not the view's)."""
        q: dict[str, str] = {"level": self.level}
        if self.code:
            q["code"] = self.code
        q["kind"] = self.period.kind
        q["date"] = self.period.start.isoformat()
        if self.period.kind == "custom":
            q["until"] = self.period.last_day.isoformat()
        if self.appeal is not None:
            q["appeal"] = str(self.appeal)
        return q

    def down(self, code: str) -> View:
        """The view of the child area ``code`` (same period)."""
        if self.child_level is None:
            raise ValidationError("error.analysis_parent", code=code, level=self.level)
        if area_kind(code) != self.child_level:
            raise ValidationError("error.analysis_parent", code=code, level=self.child_level)
        return View(self.child_level, code, self.period)

    def open_appeal(self, appeal_id: int) -> View:
        return View(self.level, self.code, self.period, int(appeal_id))

    def at(self, level: str, code: str | None) -> View:
        """The view of an area of the breadcrumb (same period)."""
        return View(level, None if level == "district" else code, self.period)

    def with_period(self, p: Period) -> View:
        return View(self.level, self.code, p, self.appeal)


def view_from_query(params: Mapping[str, str], today: date) -> View:
    """The view a URL's query names (module docstring); missing parts: the district, this month."""
    code = (params.get("code") or "").strip() or None
    level = (params.get("level") or "").strip() or (area_kind(code) if code else "district")
    if level not in LEVELS:
        raise ValidationError("error.analysis_level", level=level)
    if code is not None and area_kind(code) != level:
        raise ValidationError("error.analysis_parent", code=code, level=level)
    if level == "district":
        code = None
    kind = (params.get("kind") or "month").strip()
    if kind not in KINDS:
        raise ValidationError("error.analysis_period_kind", kind=kind, kinds="、".join(KINDS))
    day = params.get("date") or today.isoformat()
    p = custom(day, params.get("until") or day) if kind == "custom" else period(kind, day)
    appeal = params.get("appeal")
    if appeal is not None and not str(appeal).strip().isdigit():
        raise ValidationError("error.analysis_bad_appeal", value=str(appeal))
    return View(level, code, p, int(appeal) if appeal is not None and level == "grid" else None)


def crumbs(view: View, lang: str) -> list[tuple[str, str | None, str]]:
    """The breadcrumb: ``(level, code, name)`` from the district down to the area looked at."""
    chain = ancestors(view.code) if view.code else {}
    out: list[tuple[str, str | None, str]] = [("district", None, next(iter(district.names("district", lang).values())))]
    for level in LEVELS[1:]:
        if level in chain:
            out.append((level, chain[level], district.name_of(level, chain[level], lang)))
    return out


def appeals_in(store: Store, who: access.Principal, grid_code: str, p: Period) -> pd.DataFrame:
    """The appeals of the grid ``grid_code`` reported in ``p``, newest first, without personal data or free
    text; refused like the figures (``scope``) outside ``who``'s area."""
    scope(who, "grid", grid_code)
    return store.query_appeals(area=("grid", grid_code), since=p.since, until=p.until, order="newest",
                               columns=APPEAL_COLUMNS)


# -- the map ----------------------------------------------------------------------------------------------
def shade_bins(values: Sequence[float], *, integer: bool = False) -> list[float]:
    """The upper edges of the shading steps: quantiles of the known values (fewer steps when they repeat);
    for a count (``integer``) whole numbers, rounded up, so that no two steps read the same."""
    known = np.array([float(v) for v in values if v is not None and v == v], dtype=float)
    if not len(known):
        return []
    edges = np.quantile(known, np.linspace(0, 1, len(SHADES) + 1)[1:])
    return sorted({float(np.ceil(e)) if integer else float(e) for e in edges})


def shade(value: float | None, bins: Sequence[float]) -> tuple[int, int, int]:
    """The colour of ``value`` among ``bins`` (grey when it has none)."""
    if value is None or value != value or not bins:
        return NO_VALUE
    step = next((i for i, edge in enumerate(bins) if float(value) <= edge), len(bins) - 1)
    # Spread the steps over the whole palette when there are fewer bins than shades.
    return SHADES[round(step * (len(SHADES) - 1) / max(len(bins) - 1, 1))]


def area_records(level: str, rows: pd.DataFrame, measure: str, tips: Sequence[str]) -> tuple[list[dict[str, Any]],
                                                                                         list[float]]:
    """Polygon records of the areas of ``level`` in ``rows`` (code, name, the measure), each with its
    ``fill`` colour and ``tip`` text, and the bins of the legend."""
    gdf = district.layers()[level]
    gdf = gdf[gdf["code"].astype(str).isin(set(rows["code"]))]
    by_code = dict(zip(rows["code"], rows[measure], strict=True))
    tip_of = dict(zip(rows["code"], tips, strict=True))
    bins = shade_bins(list(rows[measure]), integer=BY_CODE[measure].kind == "count")
    codes = gdf["code"].astype(str).tolist()
    fills = [[*shade(by_code.get(c), bins), 190] for c in codes]
    recs = mapview.polygon_records(gdf, ("code",), tolerance_m=5.0,
                                   extra={"fill": fills, "tip": [tip_of.get(c, c) for c in codes]})
    return recs, bins


def pick(selection: Mapping[str, Any] | None, layer_id: str, field: str) -> Any:
    """The ``field`` of the object picked on the map layer ``layer_id`` (None when nothing is)."""
    sel = selection or {}
    objects = (sel.get("selection", sel) or {}).get("objects") or {}
    for obj in objects.get(layer_id) or []:
        if obj.get(field) is not None:
            return obj[field]
    return None


__all__ = ["APPEAL_COLUMNS", "CALENDAR_KINDS", "View", "appeals_in", "area_records", "crumbs", "pick", "shade",
           "shade_bins", "view_from_query"]
