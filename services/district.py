"""The district's geography as the screens need it: names, figures per area and base-map layers.

Layers are loaded once per process (data.sample) and everything derived from them here is cached,
because the geometry does not change while the dashboard runs. Names shown on screen come from
``names``/``name_of`` in the chosen language: the layer's ``name_en`` in English (the sample has one for
every area, station and department), the ``name`` where a user's layer has none.
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
from services.i18n import LANGS, label, normalise_lang, t, table
from services.vocabulary import ACTOR_ALIASES

BASE_LAYERS = ("subdistrict", "community", "grid", "subgrid", "happiness_unit", "station", "building")
DEFAULT_VISIBLE = ("subdistrict", "community", "grid", "happiness_unit", "station")
# Kinds with names: the layers, and the departments that receive orders.
NAMED_KINDS = ("district", "subdistrict", "community", "grid", "subgrid", "happiness_unit", "station", "building",
               "department")


def layers() -> dict[str, gpd.GeoDataFrame]:
    """All layers of the district (EPSG:4326), cached by data.sample."""
    return sample.load_layers()


@lru_cache(maxsize=32)
def names(kind: str, lang: str) -> dict[str, str]:
    """``{code: display name}`` of an area layer, ``station`` or ``department`` in ``lang``.

    English uses the ``name_en`` column, falling back to ``name`` where it is missing or empty (user
    layers need not carry English names, data/README.md); an unknown or absent kind gives ``{}``.
    """
    frame = sample.load_departments() if kind == "department" else layers().get(kind)
    if frame is None or not len(frame):
        return {}
    codes = frame["code"].astype(str).tolist()
    zh = ["" if pd.isna(v) else str(v) for v in frame["name"]] if "name" in frame else codes
    out = dict(zip(codes, (n or c for n, c in zip(zh, codes, strict=True)), strict=True))
    if normalise_lang(lang) == "en" and "name_en" in frame:
        for code, en in zip(codes, frame["name_en"], strict=True):
            if not pd.isna(en) and str(en).strip():
                out[code] = str(en)
    return out


def name_of(kind: str, code: str | None, lang: str) -> str:
    """The display name of one area, station or department in ``lang``; the code itself if unknown."""
    if code is None or (not isinstance(code, str) and pd.isna(code)):
        return ""
    return names(kind, lang).get(str(code), str(code))


@lru_cache(maxsize=1)
def _actor_codes() -> dict[str, str]:
    """Every label of an actor code (any language) -> the code, so that a stored label reads as the code."""
    out: dict[str, str] = {}
    for key, texts in table().items():
        group, _, code = key.partition(".")
        if group == "actor" and "{" not in texts["en"]:
            out[code] = code
            for lang in LANGS:
                out[texts[lang].strip().lower()] = code
    for code, aliases in ACTOR_ALIASES.items():
        for alias in aliases:
            out.setdefault(alias.strip().lower(), code)
    return out


def actor_code(text: str | None) -> str:
    """What to store as an event's actor for what a user typed: the code when it is an actor code or one
    of its labels (the pre-filled "值班员"/"Duty officer" stores ``duty_officer``), else the name as typed."""
    typed = (text or "").strip()
    return _actor_codes().get(typed.lower(), typed) if typed else "duty_officer"


def actor_name(actor: str | None, lang: str) -> str:
    """Who did an event step, in ``lang``: actor codes (``citizen``, ``grid_worker``, ``duty_officer``, …)
    and their labels through the string table, ``intake:<source>`` as data intake, a department code as the
    department's name; a person's name typed by a user stays as typed."""
    if actor is None or (not isinstance(actor, str) and pd.isna(actor)):
        return ""
    text = str(actor).strip()
    code = _actor_codes().get(text.lower())
    if code:
        return label("actor", code, lang)
    head, sep, rest = text.partition(":")
    if sep and head == "intake":
        return t("actor.intake_from", lang, source=rest)
    depts = names("department", lang)
    return depts.get(text, text)


def actor_names(actors: object, lang: str) -> list[str]:
    """``actor_name`` of each actor of a column (the timeline's "who")."""
    values = list(actors)  # type: ignore[call-overload]
    shown = {a: actor_name(a, lang) for a in set(v for v in values if isinstance(v, str))}
    return [shown[a] if isinstance(a, str) else actor_name(a, lang) for a in values]


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


@lru_cache(maxsize=2)
def subdistrict_table(lang: str = "zh") -> pd.DataFrame:
    """Per subdistrict: code, name (in ``lang``), population, area, communities, grids, stations."""
    L = layers()
    sub = L["subdistrict"][["code", "name"]].copy()
    sub["name"] = [name_of("subdistrict", c, lang) for c in sub.code]
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


def communities_in(area: tuple[str, str]) -> set[str]:
    """Codes of the communities that lie in an area (level subdistrict | community)."""
    level, code = area
    comm = layers()["community"]
    if level == "community":
        return {code} & set(comm.code)
    if level == "subdistrict":
        return set(comm.code[comm.parent_code == code])
    raise ValueError(f"communities_in: level {level!r} is not subdistrict or community")


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
    display = names("station", lang)
    offers = [" / ".join(label("service", s, lang) for s, ok in
                        zip(("appeal", "legal", "psychological"), row, strict=True) if ok)
             for row in st[["offers_appeal", "offers_legal", "offers_psychological"]].to_numpy()]
    recs = mapview.point_records(st.geometry.x, st.geometry.y, {
        "code": st.code.tolist(), "name": [display.get(str(c), str(c)) for c in st.code],
        "level": st.level.tolist(),
        "level_label": [label("station_level", v, lang) for v in st.level],
        "services": offers,
        "color": [mapview.STATION_COLORS[v] for v in st.level],
        "radius": [{"district": 120, "subdistrict": 90, "community": 60}.get(v, 35) for v in st.level],
    })
    for r in recs:
        r["tip"] = f"{r['name']}\n{r['level_label']}\n{r['services']}"
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
                labels: bool = True, unit_alpha: int | None = None, label_px: float = 18,
                unit_stroke: bool = True) -> list[pdk.Layer]:
    """The district's own base map: boundaries, happiness units, red sub-grids, stations, labels.

    Every pickable record carries ``tip``, its own tooltip text in ``lang`` (see ``base_tooltip``).
    ``unit_stroke=False`` leaves the happiness units' outlines out of the picking pass, which is what
    makes a click slow to register on a map drawn without a GPU."""
    out: list[pdk.Layer] = []
    if "building" in visible and "building" in layers():
        recs = [dict(r, radius=float(np.sqrt(r["population"]) * 2.2)) for r in _building_density_records()]
        out.append(mapview.points_layer("building-density", recs, color=[255, 140, 0, 110], radius_m="radius",
                                        min_px=1, max_px=40, pickable=False))
    if "happiness_unit" in visible:
        def fill(unit_type: str) -> list[int]:
            c = mapview.UNIT_TYPE_COLORS[unit_type]
            return c[:3] + [unit_alpha if unit_alpha is not None else c[3]]

        unit_names = names("happiness_unit", lang)
        recs = []
        for r in _records("happiness_unit", tolerance_m):
            name = unit_names.get(str(r["code"]), r["name"])
            recs.append(dict(r, fill=fill(r["unit_type"]), name=name,
                             tip=f"{name}\n{label('unit_type', r['unit_type'], lang)}"))
        out.append(mapview.fill_layer("happiness-unit", recs, fill="fill", line=[255, 255, 255, 90],
                                      stroked=unit_stroke))
    if "subgrid" in visible:
        subgrid_names = names("subgrid", lang)
        recs = [dict(r, name=subgrid_names.get(str(r["code"]), r["name"]),
                     tip=f"{subgrid_names.get(str(r['code']), r['name'])}\n{t('layer.subgrid', lang)}")
                for r in _records("subgrid", tolerance_m)]
        out.append(mapview.fill_layer("subgrid", recs, fill=[230, 60, 60, 70],
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
        shown = sub[["code", "geometry"]].assign(label=[name_of("subdistrict", c, lang) for c in sub.code])
        out.append(mapview.text_layer("subdistrict-label", mapview.label_points(shown, "label"), size_px=label_px))
    return out


def base_tooltip(lang: str) -> dict[str, Any]:
    """Tooltip template for picked base-map objects (stations, happiness units, sub-grids)."""
    return tip_tooltip(14)


def tip_tooltip(font_px: int, background: str = "#1b2433") -> dict[str, Any]:
    """A tooltip that shows each picked record's own ``tip`` text (one field for every layer, so that no
    layer shows another layer's placeholders); pydeck fills ``{tip}`` and leaves unknown fields raw."""
    return {"text": "{tip}", "style": {"backgroundColor": background, "color": "#f0f0f0",
                                       "fontSize": f"{font_px}px", "whiteSpace": "pre-line"}}
