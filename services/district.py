"""The district's geography as the screens need it: names, figures per area and base-map layers.

Area layers (district, subdistrict, community, grid, subgrid, happiness unit) are loaded once per process
(data.sample) and everything derived from them is cached, because they do not change while the dashboard
runs. Stations and buildings come from the store (services.reference, which seeding fills from the same
files): functions that need them take the store, and what they derive is cached under the layer's
``reference.version``, so it is rebuilt when the points change. Names shown on screen come from
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
from services import reference
from services.i18n import LANGS, label, normalise_lang, t, table
from services.store.base import Store
from services.vocabulary import ACTOR_ALIASES

BASE_LAYERS = ("subdistrict", "community", "grid", "subgrid", "happiness_unit", "station", "building")
DEFAULT_VISIBLE = ("subdistrict", "community", "grid", "happiness_unit", "station")
# Kinds with names: the layers, and the departments that receive orders.
NAMED_KINDS = ("district", "subdistrict", "community", "grid", "subgrid", "happiness_unit", "station", "building",
               "department")


POINT_KINDS = reference.KINDS


def layers() -> dict[str, gpd.GeoDataFrame]:
    """The area layers of the district (EPSG:4326), cached by data.sample. Stations and buildings are
    not among them: they are read from the store (``points``)."""
    return _area_layers(str(sample.data_dir()))


@lru_cache(maxsize=2)
def _area_layers(_folder: str) -> dict[str, gpd.GeoDataFrame]:
    return {k: v for k, v in sample.load_layers().items() if k not in POINT_KINDS}


def points(store: Store, kind: str) -> gpd.GeoDataFrame:
    """The ``station`` or ``building`` layer as the store holds it (services.reference)."""
    return reference.points(store, kind)


_derived: dict[tuple, Any] = {}


def _memo(store: Store, kinds: tuple[str, ...], what: tuple, fn: Any) -> Any:
    """``fn()`` cached under ``what`` (a name and the arguments), the store, and the versions of the point
    ``kinds`` it reads: rebuilt when those points change."""
    key = (what, store.url, tuple(reference.version(store, k) for k in kinds))
    if key not in _derived:
        if len(_derived) > 256:
            _derived.clear()
        _derived[key] = fn()
    return _derived[key]


def names(kind: str, lang: str, store: Store | None = None) -> dict[str, str]:
    """``{code: display name}`` of an area layer, ``department``, or (with ``store``) ``station`` or
    ``building`` in ``lang``; with ``store``, departments are the store's (services/reference_data.py
    adds and renames them), without it (or while the store has none: not seeded yet, what seeding would
    load) the layer folder's.

    English uses the ``name_en`` column, falling back to ``name`` where it is missing or empty (user
    layers need not carry English names, data/README.md); an unknown or absent kind gives ``{}``. The
    store keeps no English names of points, so theirs come from the layer files by code.
    """
    if kind == "department" and store is not None:  # the store's register: added and renamed ones too
        register = store.departments()
        if len(register):                               # a store not seeded yet has none: the folder's
            return _frame_names(register, lang)
    if kind in POINT_KINDS:
        if store is None:
            return {}
        return _memo(store, (kind,), ("names", kind, lang), lambda: _point_names(points(store, kind), kind, lang))
    return _names(kind, lang)


def _point_names(frame: pd.DataFrame, kind: str, lang: str) -> dict[str, str]:
    out = _frame_names(frame, lang)
    if normalise_lang(lang) == "en":
        files = sample.load_layers().get(kind)
        if files is not None and "name_en" in files:
            en = _frame_names(files[["code", "name_en"]].rename(columns={"name_en": "name"}), "zh")
            out.update({c: en[c] for c in out if en.get(c) and en[c] != c})
    return out


@lru_cache(maxsize=32)
def _names(kind: str, lang: str) -> dict[str, str]:
    frame = sample.load_departments() if kind == "department" else layers().get(kind)
    return _frame_names(frame, lang)


def _frame_names(frame: pd.DataFrame | None, lang: str) -> dict[str, str]:
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


def name_of(kind: str, code: str | None, lang: str, store: Store | None = None) -> str:
    """The display name of one area, department or (with ``store``) station in ``lang``; the code itself
    if unknown."""
    if code is None or (not isinstance(code, str) and pd.isna(code)):
        return ""
    return names(kind, lang, store).get(str(code), str(code))


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


def overview(store: Store) -> dict[str, Any]:
    """District totals: population, area, buildings and stations (from ``store``), grids, communities."""
    return _memo(store, POINT_KINDS, ("overview",), lambda: _overview(points(store, "station"),
                                                                   points(store, "building")))


def _overview(stations: pd.DataFrame, buildings: pd.DataFrame) -> dict[str, Any]:
    L = layers()
    return {
        "population": int(pd.to_numeric(buildings["population"]).fillna(0).sum()) if len(buildings) else 0,
        "area_km2": float(area_m2(L["district"].geometry.values).sum() / 1e6),
        "buildings": len(buildings),
        "stations": len(stations),
        "grids": len(L["grid"]),
        "communities": len(L["community"]),
        "subdistricts": len(L["subdistrict"]),
    }


def subdistrict_table(store: Store, lang: str = "zh") -> pd.DataFrame:
    """Per subdistrict: code, name (in ``lang``), population, area, communities, grids, stations (the
    population and stations from ``store``)."""
    return _memo(store, POINT_KINDS, ("subdistricts", lang), lambda: _subdistrict_table(
        lang, points(store, "station"), points(store, "building"))).copy()


def _subdistrict_table(lang: str, stations: pd.DataFrame, buildings: pd.DataFrame) -> pd.DataFrame:
    L = {**layers(), "station": stations, "building": buildings}
    sub = L["subdistrict"][["code", "name"]].copy()
    sub["name"] = [name_of("subdistrict", c, lang) for c in sub.code]
    sub["area_km2"] = np.round(area_m2(L["subdistrict"].geometry.values) / 1e6, 2)
    comm_sub = L["community"].set_index("code").parent_code
    grid_sub = L["grid"].parent_code.map(comm_sub)
    sub["communities"] = sub.code.map(L["community"].parent_code.value_counts()).fillna(0).astype(int)
    sub["grids"] = sub.code.map(grid_sub.value_counts()).fillna(0).astype(int)
    if len(L["building"]):
        b = L["building"]
        b_sub = b.parent_code.map(L["grid"].set_index("code").parent_code).map(comm_sub)
        pop = pd.to_numeric(b.population).fillna(0)
        sub["population"] = sub.code.map(pop.groupby(b_sub).sum()).fillna(0).astype(int)
    else:
        sub["population"] = 0
    if len(L["station"]):
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


def _station_records(store: Store, lang: str) -> tuple:
    return _memo(store, ("station",), ("station_records", lang), lambda: _build_station_records(store, lang))


def _build_station_records(store: Store, lang: str) -> tuple:
    st = points(store, "station")
    display = names("station", lang, store)
    offers = [" / ".join(label("service", s, lang) for s, ok in
                        zip(("appeal", "legal", "psychological"), row, strict=True) if ok is True)
             for row in st[["offers_appeal", "offers_legal", "offers_psychological"]].fillna(False).to_numpy()]
    recs = mapview.point_records(st.geometry.x, st.geometry.y, {
        "code": st.code.tolist(), "name": [display.get(str(c), str(c)) for c in st.code],
        "level": st.level.tolist(),
        "level_label": [label("station_level", v, lang) for v in st.level],
        "services": offers,
        "color": [mapview.STATION_COLORS.get(v, mapview.STATION_COLORS["site"]) for v in st.level],
        "radius": [{"district": 120, "subdistrict": 90, "community": 60}.get(v, 35) for v in st.level],
    })
    for r in recs:
        r["tip"] = f"{r['name']}\n{r['level_label']}\n{r['services']}"
    return tuple(recs)


def _building_density_records(store: Store) -> tuple:
    """Population per building aggregated to ~200 m squares (drawn as columns of colour)."""
    return _memo(store, ("building",), ("building_density",), lambda: _density(points(store, "building")))


def _density(b: gpd.GeoDataFrame) -> tuple:
    lon, lat = b.geometry.x.to_numpy(), b.geometry.y.to_numpy()
    step = 0.002
    key = pd.DataFrame({"i": np.floor(lon / step).astype(int), "j": np.floor(lat / step).astype(int),
                        "pop": pd.to_numeric(b.population).fillna(0).to_numpy()})
    agg = key.groupby(["i", "j"], as_index=False)["pop"].sum()
    agg = agg[agg["pop"] > 0]
    return tuple(mapview.point_records((agg.i + 0.5) * step, (agg.j + 0.5) * step, {"population": agg["pop"].tolist()}))


def base_layers(visible: tuple[str, ...] = DEFAULT_VISIBLE, lang: str = "zh", *, tolerance_m: float = 5.0,
                labels: bool = True, unit_alpha: int | None = None, label_px: float = 18,
                unit_stroke: bool = True, store: Store | None = None) -> list[pdk.Layer]:
    """The district's own base map: boundaries, happiness units, red sub-grids, stations, labels.
    Stations and the building density are drawn only with ``store`` (they are read from it).

    Every pickable record carries ``tip``, its own tooltip text in ``lang`` (see ``base_tooltip``).
    ``unit_stroke=False`` leaves the happiness units' outlines out of the picking pass, which is what
    makes a click slow to register on a map drawn without a GPU."""
    out: list[pdk.Layer] = []
    if "building" in visible and store is not None:
        recs = [dict(r, radius=float(np.sqrt(r["population"]) * 2.2)) for r in _building_density_records(store)]
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
    if "station" in visible and store is not None:
        out.append(mapview.points_layer("station", list(_station_records(store, lang)), color="color",
                                        radius_m="radius",
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
