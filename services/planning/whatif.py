"""What-if networks: the district's stations plus a tuple of :class:`Edit` (remove, move, add).

Why: a page keeps only that tuple in its session and :func:`network` rebuilds (and caches) the set;
:func:`what_if` and :func:`edit_delta` say what an edit changes for the people within reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from geo.coverage import SERVICES, CoverageResult, StationSet, coverage_delta
from services.i18n import label, t
from services.planning.base import base_stations, coverage, demand
from services.planning.options import DEFAULT_RADIUS_M, PlanningError, service_label
from services.store.base import Store


@dataclass(frozen=True)
class Edit:
    """One what-if edit of the network: ``remove`` a station, ``move`` it to lon/lat, or ``add`` one at
    lon/lat offering ``services`` (its code is given by :meth:`StationSet.add`: NEW-001, ...)."""

    op: str
    code: str | None = None
    lon: float | None = None
    lat: float | None = None
    name: str | None = None
    services: tuple[str, ...] = SERVICES

    def __post_init__(self) -> None:
        if self.op not in ("remove", "move", "add"):
            raise PlanningError("planning.err_edit", op=self.op)
        if self.op in ("remove", "move") and not self.code:
            raise PlanningError("planning.err_no_station")
        if self.op in ("move", "add") and (self.lon is None or self.lat is None):
            raise PlanningError("planning.err_coords")
        if self.op == "add":
            unknown = set(self.services) - set(SERVICES)
            if unknown or not self.services:
                raise PlanningError("planning.err_services")

    def describe(self, lang: str, stations: StationSet | None = None) -> str:
        """A line for the page's list of edits."""
        name = self.name or self.code or ""
        if stations is not None and self.code:
            hit = np.flatnonzero(stations.code == self.code)
            if len(hit):
                name = str(stations.name[hit[0]])
        if self.op == "remove":
            return t("planning.edit_remove", lang, name=name, code=self.code)
        if self.op == "move":
            return t("planning.edit_move", lang, name=name, code=self.code, lon=f"{self.lon:.5f}",
                     lat=f"{self.lat:.5f}")
        services = "、".join(service_label(s, lang) for s in self.services) if lang == "zh" else \
            ", ".join(service_label(s, lang) for s in self.services)
        return t("planning.edit_add", lang, name=name, lon=f"{self.lon:.5f}", lat=f"{self.lat:.5f}",
                 services=services)


def apply_edit(stations: StationSet, edit: Edit) -> StationSet:
    """``stations`` with one edit applied (PlanningError for a station that is not there)."""
    try:
        if edit.op == "remove":
            return stations.remove(edit.code)
        if edit.op == "move":
            return stations.move(edit.code, edit.lon, edit.lat)
        n = sum(str(c).startswith("NEW-") for c in stations.code) + 1
        return stations.add(edit.lon, edit.lat, name=edit.name or f"新增站点{n}", services=edit.services)
    except KeyError:
        raise PlanningError("planning.err_unknown_station", code=edit.code) from None


def network(edits: tuple[Edit, ...] = (), *, store: Store) -> StationSet:
    """The district's stations (as ``store`` holds them) with ``edits`` applied in order (cached: the same
    tuple on the same stored stations gives the same set)."""
    return _network(base_stations(store=store), tuple(edits))


@lru_cache(maxsize=64)
def _network(base: StationSet, edits: tuple[Edit, ...]) -> StationSet:
    if not edits:
        return base
    return apply_edit(_network(base, edits[:-1]), edits[-1])


@dataclass(frozen=True, eq=False)
class WhatIf:
    """A what-if edit's outcome: the new set, coverage before and after, and :func:`coverage_delta`
    (population_gained, population_lost, buildings_gained/lost, population_share_before/after)."""

    stations: StationSet
    before: CoverageResult
    after: CoverageResult
    delta: dict[str, float]


def what_if(stations: StationSet, edit: Edit, service: str | None = "appeal",
            radius_m: float = DEFAULT_RADIUS_M, *, store: Store) -> WhatIf:
    """Apply ``edit`` to ``stations`` and say what it changes for ``service`` within ``radius_m``."""
    new = apply_edit(stations, edit)
    before = coverage(stations, service, radius_m, store=store)
    after = coverage(new, service, radius_m, store=store)
    return WhatIf(stations=new, before=before, after=after, delta=coverage_delta(demand(store=store), before, after))


def remove_station(stations: StationSet, code: str, service: str | None = "appeal",
                   radius_m: float = DEFAULT_RADIUS_M, *, store: Store) -> WhatIf:
    """What-if: without station ``code``."""
    return what_if(stations, Edit("remove", code=code), service, radius_m, store=store)


def move_station(stations: StationSet, code: str, lon: float, lat: float, service: str | None = "appeal",
                 radius_m: float = DEFAULT_RADIUS_M, *, store: Store) -> WhatIf:
    """What-if: station ``code`` moved to ``lon``/``lat`` (WGS84)."""
    return what_if(stations, Edit("move", code=code, lon=float(lon), lat=float(lat)), service, radius_m, store=store)


def add_station(stations: StationSet, lon: float, lat: float, services: Iterable[str] = SERVICES,
                service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
                name: str | None = None, *, store: Store) -> WhatIf:
    """What-if: a new station at ``lon``/``lat`` (WGS84) offering ``services``."""
    return what_if(stations, Edit("add", lon=float(lon), lat=float(lat), name=name, services=tuple(services)),
                   service, radius_m, store=store)


def edit_delta(edits: tuple[Edit, ...], service: str | None, radius_m: float, *,
               store: Store) -> dict[str, float] | None:
    """What the last of ``edits`` changed (None without edits)."""
    if not edits:
        return None
    return coverage_delta(demand(store=store),
                          coverage(network(edits[:-1], store=store), service, radius_m, store=store),
                          coverage(network(edits, store=store), service, radius_m, store=store))


def station_status(stations: StationSet, *, store: Store) -> np.ndarray:
    """Per station: ``new`` (added by a what-if or a plan), ``moved`` (not where the district has it) or
    ``existing``."""
    base = base_stations(store=store)
    pos = {c: (lo, la) for c, lo, la in zip(base.code, base.lon, base.lat, strict=True)}
    out = []
    for c, lo, la in zip(stations.code, stations.lon, stations.lat, strict=True):
        if c not in pos:
            out.append("new")
        elif not (np.isclose(pos[c][0], lo, atol=1e-9) and np.isclose(pos[c][1], la, atol=1e-9)):
            out.append("moved")
        else:
            out.append("existing")
    return np.asarray(out, dtype=object)


def stations_frame(stations: StationSet, lang: str, *, store: Store) -> pd.DataFrame:
    """The network as a table (code, name, level, lon/lat, services, status) in ``lang``."""
    status = station_status(stations, store=store)
    return pd.DataFrame({
        t("planning.col_code", lang): stations.code,
        t("planning.col_name", lang): stations.name,
        t("planning.col_level", lang): [label("station_level", v, lang) for v in stations.level],
        t("planning.col_lon", lang): np.round(stations.lon, 6),
        t("planning.col_lat", lang): np.round(stations.lat, 6),
        **{service_label(s, lang): stations.offers[s] for s in SERVICES},
        t("planning.col_status", lang): [t(f"planning.status_{s}", lang) for s in status],
    })
