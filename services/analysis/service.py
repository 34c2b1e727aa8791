"""The analysis service (分析研判, issue 14): for an area and a period, the figures of its child areas,
with the same for the previous period (环比) and the same period last year (同比); the trend by day or
week and the categories rising against the previous period.

Who may read: ``read_analysis`` (services/access.py ROLE_ACTIONS: leader, duty officer, subdistrict
officer); a subdistrict officer only inside its own subdistrict (its subdistrict, a community or a grid
of it), refused with ``access.Forbidden`` otherwise. Names of areas come from services/district.py. The
figures are the store's (computed in SQL, services/store/analysis.py); here they are completed with the
areas that had nothing (zeros, no rates) and flagged (services/analysis/measures.py ``flagged``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services import access, district
from services.analysis.measures import CODES, COHORT, COUNTS, RATES, analysis_rules, flagged
from services.analysis.periods import Period
from services.clocks import as_local
from services.errors import ValidationError
from services.store.analysis import LEVELS, check_level
from services.store.base import Store
from services.store.common import now as _now


@dataclass(frozen=True)
class Figures:
    """The figures of one drill-down step: the rows of ``level`` inside ``parent`` (kind, code; None: the
    whole district) for ``period``, its previous period and the same period last year. Each frame has
    code, name, every measure of services.analysis.measures (by code) and flagged."""

    level: str
    parent: tuple[str, str] | None
    period: Period
    now: datetime
    current: pd.DataFrame
    previous: pd.DataFrame
    last_year: pd.DataFrame

    @property
    def previous_period(self) -> Period:
        """The period ``previous`` covers (like for like while ``period`` is not over at ``now``)."""
        return self.period.compared(self.now.date())[0]

    @property
    def last_year_period(self) -> Period:
        """The period ``last_year`` covers."""
        return self.period.compared(self.now.date())[1]


# -- areas ----------------------------------------------------------------------------------------------
def area_kind(code: str) -> str:
    """The level of an area code (district, subdistrict, community, grid); ValidationError if unknown."""
    for kind in LEVELS:
        if str(code) in district.names(kind, "zh"):
            return kind
    raise ValidationError("error.analysis_unknown_area", code=code)


def _parents() -> dict[str, str]:
    """``{code: parent code}`` of every subdistrict, community and grid of the layers."""
    out: dict[str, str] = {}
    for kind in LEVELS[1:]:
        layer = district.layers()[kind]
        out.update(zip(layer.code.astype(str), layer.parent_code.astype(str), strict=True))
    return out


def ancestors(code: str) -> dict[str, str]:
    """``{level: code}`` of the area and every area above it."""
    return _chain(area_kind(code), str(code), _parents())


def _chain(kind: str, code: str, parents: dict[str, str]) -> dict[str, str]:
    out = {kind: code}
    while kind != "district" and code in parents:
        kind, code = LEVELS[LEVELS.index(kind) - 1], parents[code]
        out[kind] = code
    return out


def areas_in(level: str, parent: tuple[str, str] | None) -> list[str]:
    """Codes of the areas of ``level`` inside ``parent`` (None: the district), from the layers."""
    check_level(level)
    codes = sorted(district.names(level, "zh"))
    if parent is None or parent[0] == level:
        return codes if parent is None else [c for c in codes if c == parent[1]]
    parents = _parents()
    return [c for c in codes if _chain(level, c, parents).get(parent[0]) == parent[1]]


def parent_area(level: str, code: str | None) -> tuple[str, str] | None:
    """The parent area (kind, code) of rows at ``level`` inside the area ``code`` (None or the district's
    code: the whole district); ValidationError when ``code`` is unknown or below ``level``."""
    check_level(level)
    if not code:
        return None
    kind = area_kind(code)
    if LEVELS.index(kind) > LEVELS.index(level):
        raise ValidationError("error.analysis_parent", code=code, level=level)
    return None if kind == "district" else (kind, str(code))


def scope(who: access.Principal, level: str, code: str | None) -> tuple[str, str] | None:
    """The parent area (kind, code) a request of ``who`` reads, after the rights and area checks: None
    for the whole district. A subdistrict officer without a code reads its own subdistrict."""
    access.check_principal(who)
    access.check_action(who.role, access.READ_ANALYSIS)
    parent = parent_area(level, code)
    own = access.area_filter(who)
    if own is not None:                       # a subdistrict officer: only inside its subdistrict
        kind, mine = own
        if parent is None and LEVELS.index(level) >= LEVELS.index(kind):
            parent = (kind, mine)
        if parent is None or ancestors(parent[1]).get(kind) != mine:
            raise access.Forbidden("error.analysis_outside_area", role=access.Label("role", who.role),
                                   area=mine, code=code or level)
    return parent


# -- the figures ------------------------------------------------------------------------------------------
def _complete(rows: pd.DataFrame, level: str, parent: tuple[str, str] | None, lang: str,
              cfg: dict[str, Any] | None) -> pd.DataFrame:
    """The store's rows on every area of the level inside ``parent`` (zeros and no rates where it has
    none), named and flagged, in code order (built with numpy: a few thousand grids, three times a step)."""
    got = [next(iter(district.names("district", "zh")))] * len(rows) if level == "district" else list(rows["code"])
    known = areas_in(level, parent)
    codes = known + sorted(set(got) - set(known))
    at = {c: i for i, c in enumerate(codes)}
    where = np.array([at[c] for c in got], dtype=np.int64)
    names = district.names(level, lang)
    data: dict[str, Any] = {"code": codes, "name": [names.get(c, c) for c in codes]}
    for c in CODES:
        if c in RATES:
            col = np.full(len(codes), np.nan)
            col[where] = rows[c].to_numpy(dtype="float64")
        else:
            col = np.zeros(len(codes), dtype="int64")
            col[where] = rows[c].to_numpy(dtype="int64")
        data[c] = col
    data["flagged"] = [flagged({r: data[r][i] for r in RATES}, cfg) for i in range(len(codes))]
    return pd.DataFrame(data)


def area_figures(store: Store, level: str, parent: tuple[str, str] | None, period: Period, now: datetime,
                 lang: str = "zh", cfg: dict[str, Any] | None = None) -> pd.DataFrame:
    """The completed figures of one period (no rights check: for the service and operators' tools)."""
    rows = store.analysis_areas(level, period.since, period.until, now, parent=parent,
                                repeat_days=int(analysis_rules(cfg)["repeat_days"]))
    return _complete(rows, level, parent, lang, cfg)


def figures(store: Store, who: access.Principal, level: str, code: str | None, period: Period, *,
            now: datetime | None = None, lang: str = "zh", cfg: dict[str, Any] | None = None) -> Figures:
    """The child areas' figures at ``level`` inside the area ``code`` (None: the district) for ``period``,
    its previous period (环比) and the same period last year (同比), at ``now`` (default: now); a period
    not yet over is compared like for like (``Period.compared``)."""
    parent = scope(who, level, code)
    at = as_local(now) if now is not None else _now()
    before, last_year = period.compared(at.date())
    return Figures(level, parent, period, at,
                   area_figures(store, level, parent, period, at, lang, cfg),
                   area_figures(store, level, parent, before, at, lang, cfg),
                   area_figures(store, level, parent, last_year, at, lang, cfg))


def breakdown(store: Store, who: access.Principal, level: str, code: str | None, period: Period, by: str
              ) -> pd.DataFrame:
    """Received appeals per child area and channel, service type or category (``by``)."""
    parent = scope(who, level, code)
    df = store.analysis_breakdown(level, period.since, period.until, by, parent=parent)
    if level == "district":
        df["code"] = next(iter(district.names("district", "zh")))
    return df


def trend(store: Store, who: access.Principal, code: str | None, period: Period, bucket: str = "day", *,
          now: datetime | None = None, cfg: dict[str, Any] | None = None) -> pd.DataFrame:
    """The cohort measures of the area ``code`` (None: the district) per day or week of ``period``, every
    day or week of it present (zeros where nothing was reported)."""
    level = area_kind(code) if code else "district"
    parent = scope(who, level, code)
    at = as_local(now) if now is not None else _now()
    df = store.analysis_trend(period.since, period.until, at, bucket=bucket, area=parent,
                              repeat_days=int(analysis_rules(cfg)["repeat_days"]))
    days = pd.date_range(period.start, period.last_day, freq="D")
    if bucket == "week":
        days = pd.DatetimeIndex(sorted({d - pd.Timedelta(days=d.weekday()) for d in days}))
    out = pd.DataFrame({"bucket": [d.strftime("%Y-%m-%d") for d in days]}).merge(df, on="bucket", how="left")
    counts = [c for c in COHORT if c in COUNTS]
    for c in counts:
        out[c] = out[c].fillna(0).astype("int64")
    return out[["bucket", *[c for c in COHORT if c in out]]]


def categories_rising(store: Store, who: access.Principal, code: str | None, period: Period, *,
                      lang: str = "zh", now: datetime | None = None) -> pd.DataFrame:
    """Received per category in ``period`` against the previous period (like for like while ``period``
    is not over at ``now``: ``Period.compared``), in the area ``code`` (None: the district): category, name, received, previous, change (received − previous) and change_rate
    (change ÷ previous; NaN when nothing came before); the categories that rose, most first."""
    from services.i18n import label

    level = area_kind(code) if code else "district"
    parent = scope(who, level, code)
    prev, _ = period.compared((as_local(now) if now is not None else _now()).date())
    now_ = store.analysis_breakdown("district", period.since, period.until, "category", parent=parent)
    before = store.analysis_breakdown("district", prev.since, prev.until, "category", parent=parent)
    a = now_.dropna(subset=["value"]).set_index("value")["received"]
    b = before.dropna(subset=["value"]).set_index("value")["received"]
    df = pd.DataFrame({"received": a, "previous": b}).fillna(0).astype("int64")
    df["change"] = df["received"] - df["previous"]
    df["change_rate"] = np.where(df["previous"] > 0, df["change"] / df["previous"].where(df["previous"] > 0), np.nan)
    df = df[df["change"] > 0].rename_axis("category").reset_index()
    df.insert(1, "name", [label("category", c, lang) for c in df["category"]])
    return df.sort_values(["change", "category"], ascending=[False, True], ignore_index=True)
