"""The district's geography as the screens need it: figures per area and base-map layers.

Layers are loaded once per process (data.sample) and everything derived from them here is cached,
because the geometry does not change while the dashboard runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk

from data import sample
from geo import mapview
from geo.crs import area_m2
from services.i18n import label, t

BASE_LAYERS = ("subdistrict", "community", "grid", "subgrid", "happiness_unit", "station", "building")
DEFAULT_VISIBLE = ("subdistrict", "community", "grid", "happiness_unit", "station")


def layers() -> dict[str, gpd.GeoDataFrame]:
    """All layers of the district (EPSG:4326), cached by data.sample."""
    return sample.load_layers()


def source_description(lang: str) -> str:
    """Where the layers come from, for the page footer."""
    meta = sample.manifest()
    if meta:
        return t("app.data_source", lang, source=t("app.sample_source", lang), as_of=meta.get("as_of", "")[:16])
    return t("app.user_source", lang, path=str(sample.data_dir()))


def repaired_polygons() -> int:
    """How many invalid polygons were repaired when the layers were loaded."""
    return sum(len(r.repaired) for r in sample.layer_reports())


@lru_cache(maxsize=1)
def overview() -> dict[str, Any]:
    """District totals: population, area, buildings, stations, grids, communities."""
    L = layers()
    return {
        "population": int(L["building"].population.sum()) if "building" in L else 0,
        "area_km2": float(area_m2(L["district"].geometry.values).sum() / 1e6),
        "buildings": len(L.get("building", ())),
        "stations": len(L.get("station", ())),
        "grids": len(L["grid"]),
        "communities": len(L["community"]),
        "subdistricts": len(L["subdistrict"]),
    }


@lru_cache(maxsize=1)
def subdistrict_table() -> pd.DataFrame:
    """Per subdistrict: code, name, population, area, communities, grids, stations."""
    L = layers()
    sub = L["subdistrict"][["code", "name"]].copy()
    sub["area_km2"] = np.round(area_m2(L["subdistrict"].geometry.values) / 1e6, 2)
    comm_sub = L["community"].set_index("code").parent_code
    grid_sub = L["grid"].parent_code.map(comm_sub)
    sub["communities"] = sub.code.map(L["community"].parent_code.value_counts()).fillna(0).astype(int)
    sub["grids"] = sub.code.map(grid_sub.value_counts()).fillna(0).astype(int)
    if "building" in L:
        b = L["building"]
        b_sub = b.parent_code.map(L["grid"].set_index("code").parent_code).map(comm_sub)
        sub["population"] = sub.code.map(b.population.groupby(b_sub).sum()).fillna(0).astype(int)
    else:
        sub["population"] = 0
    if "station" in L:
        st_sub = L["station"].parent_code.map(comm_sub)
        sub["stations"] = sub.code.map(st_sub.value_counts()).fillna(0).astype(int)
    else:
        sub["stations"] = 0
    return sub.reset_index(drop=True)


def bounds(code: str | None = None) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the district, or of one subdistrict or community by code."""
    L = layers()
    if code:
        for kind in ("subdistrict", "community"):
            hit = L[kind][L[kind].code == code]
            if len(hit):
                return tuple(hit.total_bounds)
    return tuple(L["district"].total_bounds)


# ------------------------------------------------------------------------------------------ base map
@lru_cache(maxsize=16)
def _records(kind: str, tolerance_m: float) -> tuple:
    L = layers()
    gdf = L[kind]
    if kind == "happiness_unit":
        return tuple(mapview.polygon_records(gdf, ("code", "name", "unit_type"), tolerance_m=tolerance_m))
    if kind == "subgrid":
        return tuple(mapview.polygon_records(gdf, ("code", "name"), tolerance_m=tolerance_m))
    return tuple(mapview.path_records(gdf, ("code",), tolerance_m=tolerance_m))


@lru_cache(maxsize=4)
def _station_records(lang: str) -> tuple:
    st = layers()["station"]
    names = [" / ".join(label("service", s, lang) for s, ok in
                        zip(("appeal", "legal", "psychological"), row, strict=True) if ok)
             for row in st[["offers_appeal", "offers_legal", "offers_psychological"]].to_numpy()]
    recs = mapview.point_records(st.geometry.x, st.geometry.y, {
        "code": st.code.tolist(), "name": st.name.tolist(), "level": st.level.tolist(),
        "level_label": [label("station_level", v, lang) for v in st.level],
        "services": names,
        "color": [mapview.STATION_COLORS[v] for v in st.level],
        "radius": [{"district": 120, "subdistrict": 90, "community": 60}.get(v, 35) for v in st.level],
    })
    return tuple(recs)


@lru_cache(maxsize=2)
def _building_density_records() -> tuple:
    """Population per building aggregated to ~200 m squares (drawn as columns of colour)."""
    b = layers()["building"]
    lon, lat = b.geometry.x.to_numpy(), b.geometry.y.to_numpy()
    step = 0.002
    key = pd.DataFrame({"i": np.floor(lon / step).astype(int), "j": np.floor(lat / step).astype(int),
                        "pop": b.population.to_numpy()})
    agg = key.groupby(["i", "j"], as_index=False)["pop"].sum()
    agg = agg[agg["pop"] > 0]
    return tuple(mapview.point_records((agg.i + 0.5) * step, (agg.j + 0.5) * step, {"population": agg["pop"].tolist()}))


def base_layers(visible: tuple[str, ...] = DEFAULT_VISIBLE, lang: str = "zh", *, tolerance_m: float = 5.0,
                labels: bool = True, unit_alpha: int | None = None) -> list[pdk.Layer]:
    """The district's own base map: boundaries, happiness units, red sub-grids, stations, labels."""
    out: list[pdk.Layer] = []
    if "building" in visible and "building" in layers():
        recs = [dict(r, radius=float(np.sqrt(r["population"]) * 2.2)) for r in _building_density_records()]
        out.append(mapview.points_layer("building-density", recs, color=[255, 140, 0, 110], radius_m="radius",
                                        min_px=1, max_px=40, pickable=False))
    if "happiness_unit" in visible:
        def fill(unit_type: str) -> list[int]:
            c = mapview.UNIT_TYPE_COLORS[unit_type]
            return c[:3] + [unit_alpha if unit_alpha is not None else c[3]]

        recs = [dict(r, fill=fill(r["unit_type"]), type_label=label("unit_type", r["unit_type"], lang))
                for r in _records("happiness_unit", tolerance_m)]
        out.append(mapview.fill_layer("happiness-unit", recs, fill="fill", line=[255, 255, 255, 90]))
    if "subgrid" in visible:
        out.append(mapview.fill_layer("subgrid", list(_records("subgrid", tolerance_m)), fill=[230, 60, 60, 70],
                                      line=mapview.LINE_COLORS["subgrid"], pickable=True))
    widths = {"grid": 0.6, "community": 1.4, "subdistrict": 3.0}
    for kind in ("grid", "community", "subdistrict"):
        if kind in visible:
            out.append(mapview.line_layer(f"{kind}-boundary", list(_records(kind, tolerance_m)),
                                          color=mapview.LINE_COLORS[kind], width_px=widths[kind]))
    out.append(mapview.line_layer("district-boundary", list(_records("district", tolerance_m)),
                                  color=mapview.LINE_COLORS["district"], width_px=3.5))
    if "station" in visible and "station" in layers():
        out.append(mapview.points_layer("station", list(_station_records(lang)), color="color", radius_m="radius",
                                        min_px=3, max_px=14, line=[20, 20, 20, 255]))
    if labels and "subdistrict" in visible:
        sub = layers()["subdistrict"]
        col = "name_en" if lang == "en" and "name_en" in sub else "name"
        out.append(mapview.text_layer("subdistrict-label", mapview.label_points(sub, col), size_px=18))
    return out


def base_tooltip(lang: str) -> dict[str, Any]:
    """Tooltip template for picked base-map objects (stations, happiness units, sub-grids)."""
    return {"html": "<b>{name}</b><br/>{level_label}{type_label}<br/>{services}",
            "style": {"backgroundColor": "#1b2433", "color": "#f0f0f0", "fontSize": "14px"}}
