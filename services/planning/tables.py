"""The figures and tables the page shows and exports: headline figures, coverage per district,
subdistrict and community (Chinese and English names and headers), the xlsx/CSV exports and the
places left uncovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.coverage import (
    StationSet,
    coverage_table,
    to_csv_bytes,
    to_xlsx_bytes,
    uncovered_by_grid,
    uncovered_cells,
)
from services import district
from services.i18n import t
from services.planning.base import coverage, demand, english_names
from services.planning.options import (
    DEFAULT_RADIUS_M,
    GAP_CELL_M,
    SERVICE_OPTIONS,
    TABLE_LEVELS,
    service_label,
)
from services.planning.whatif import Edit, stations_frame
from services.store.base import Store


@dataclass(frozen=True)
class Figures:
    """District coverage of one service within one radius (shares are fractions 0-1)."""

    service: str
    radius_m: float
    stations: int
    population: int
    population_covered: int
    population_uncovered: int
    population_share: float
    buildings: int
    buildings_covered: int
    buildings_share: float
    grids: int
    grids_covered: int
    grids_share: float


def figures(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M, *,
            store: Store) -> Figures:
    """The district's headline figures: shares of population, buildings and grids covered."""
    row = coverage_table(demand(store=store), coverage(stations, service, radius_m, store=store), "district").iloc[0]
    return Figures(service=str(service or "any"), radius_m=float(radius_m), stations=int(row["stations"]),
                   population=int(row["population"]), population_covered=int(row["population_covered"]),
                   population_uncovered=int(row["population_uncovered"]),
                   population_share=float(row["population_share"]), buildings=int(row["buildings"]),
                   buildings_covered=int(row["buildings_covered"]), buildings_share=float(row["buildings_share"]),
                   grids=int(row["grids"]), grids_covered=int(row["grids_covered"]),
                   grids_share=float(row["grids_share"]))


def _with_names(table: pd.DataFrame, level: str) -> pd.DataFrame:
    """Add name_en (the Chinese name where the layer has no English one) and the parent's names."""
    out = table.copy()
    en = english_names(level)
    out.insert(out.columns.get_loc("name") + 1, "name_en", [en.get(c, n) for c, n in zip(out["code"], out["name"],
                                                                                          strict=True)])
    parent = {"subdistrict": "district", "community": "subdistrict"}.get(level)
    if parent:
        units = district.layers()[parent]
        zh = dict(zip(units["code"].astype(str), units["name"].astype(str), strict=True))
        pen = english_names(parent)
        pos = out.columns.get_loc("parent_code") + 1
        out.insert(pos, "parent_name", [zh.get(str(c), "") for c in out["parent_code"]])
        out.insert(pos + 1, "parent_name_en", [pen.get(str(c), zh.get(str(c), "")) for c in out["parent_code"]])
    return out


def coverage_tables(stations: StationSet, services: Sequence[str] = ("appeal",), radius_m: float = DEFAULT_RADIUS_M,
                    levels: Sequence[str] = TABLE_LEVELS, *, store: Store) -> dict[str, pd.DataFrame]:
    """Coverage per district, subdistrict and community (``geo.coverage.coverage_table`` columns plus
    name_en, parent_name and parent_name_en), one row per unit and service."""
    results = [coverage(stations, s, radius_m, store=store) for s in services]
    return {lvl: _with_names(coverage_table(demand(store=store), results, lvl), lvl) for lvl in levels}


_DISPLAY_COLUMNS = (
    ("population", "planning.col_population", None), ("population_covered", "planning.col_population_covered", None),
    ("population_uncovered", "planning.col_population_uncovered", None),
    ("population_share", "planning.col_population_share", "pct"), ("buildings", "planning.col_buildings", None),
    ("buildings_covered", "planning.col_buildings_covered", None),
    ("buildings_share", "planning.col_buildings_share", "pct"), ("grids", "planning.col_grids", None),
    ("grids_covered", "planning.col_grids_covered", None), ("grids_share", "planning.col_grids_share", "pct"),
)


def display_table(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A coverage table with headers, names and services in ``lang``; shares as percentages (1 decimal)."""
    name_col = "name" if lang == "zh" else "name_en"
    out = pd.DataFrame({t("planning.col_name", lang): table[name_col].to_numpy(),
                        t("planning.col_code", lang): table["code"].to_numpy()})
    if len(table) and table["level"].iloc[0] == "community":
        out[t("planning.col_parent", lang)] = table["parent_name" if lang == "zh" else "parent_name_en"].to_numpy()
    out[t("planning.col_service", lang)] = [service_label(s, lang) for s in table["service"]]
    out[t("planning.col_radius", lang)] = table["radius_m"].to_numpy()
    for col, key, kind in _DISPLAY_COLUMNS:
        v = table[col].to_numpy()
        out[t(key, lang)] = np.round(v.astype(float) * 100, 1) if kind == "pct" else v
    return out


def export_coverage(stations: StationSet, radius_m: float, lang: str, edits: Sequence[Edit] = (), *,
                    store: Store) -> bytes:
    """An xlsx workbook: coverage of every service option per district, subdistrict and community (one
    sheet each, headers in ``lang``), the station network and the what-if edits."""
    tables = coverage_tables(stations, SERVICE_OPTIONS, radius_m, store=store)
    sheets = {t(f"planning.level_{lvl}", lang): display_table(tables[lvl], lang) for lvl in TABLE_LEVELS}
    sheets[t("planning.sheet_stations", lang)] = stations_frame(stations, lang, store=store)
    sheets[t("planning.sheet_edits", lang)] = pd.DataFrame(
        {t("planning.col_edit", lang): [e.describe(lang) for e in edits]})
    return to_xlsx_bytes(sheets)


def export_csv(table: pd.DataFrame) -> bytes:
    """A displayed table as UTF-8 CSV with a byte-order mark (Excel opens Chinese correctly)."""
    return to_csv_bytes(table)


# --------------------------------------------------------------------------------------------- gaps
def gap_cells(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
              cell_m: float = GAP_CELL_M, *, store: Store) -> pd.DataFrame:
    """Uncovered buildings binned in ``cell_m`` squares: cell, lon/lat (people-weighted), buildings,
    population; largest first."""
    return uncovered_cells(demand(store=store), coverage(stations, service, radius_m, store=store), cell_m)


def gap_grids(stations: StationSet, service: str | None = "appeal", radius_m: float = DEFAULT_RADIUS_M,
              lang: str = "zh", top: int | None = 20, *, store: Store) -> pd.DataFrame:
    """Grids with the most uncovered people (name, community, uncovered buildings and people) in ``lang``."""
    g = uncovered_by_grid(demand(store=store), coverage(stations, service, radius_m, store=store))
    if top is not None:
        g = g.head(top)
    L = district.layers()
    comm_of = dict(zip(L["grid"]["code"].astype(str), L["grid"]["parent_code"].astype(str), strict=True))
    comm_name = dict(zip(L["community"]["code"].astype(str), L["community"]["name"].astype(str), strict=True))
    return pd.DataFrame({
        t("planning.col_grid", lang): g["name"].to_numpy(),
        t("planning.col_code", lang): g["code"].to_numpy(),
        t("planning.col_parent", lang): [comm_name.get(comm_of.get(str(c), ""), "") for c in g["code"]],
        t("planning.col_buildings_uncovered", lang): g["buildings"].to_numpy(),
        t("planning.col_population_uncovered", lang): g["population"].to_numpy(),
    })


# --------------------------------------------------------------------------------------------- map
