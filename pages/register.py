"""Registration (来访登记): a clerk registers an appeal made at a hall or on the phone.

The fields sit outside a form so that the tier and class (services.registration.preview) follow every
keystroke. The place comes from a click on a building on the map (pydeck ``on_select``), a building's
code (what its QR code holds), or typed coordinates with their system; the likely duplicates (same
building, same category, within the gathering window) are offered before saving, to save as new or
link to their cluster. Every rule is in services/registration.py; the page only collects and shows.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from geo import mapview
from geo.coords import SOURCE_SYSTEMS
from pages import ui
from services import district, registration
from services.errors import DomainError, describe
from services.i18n import label, t
from services.intake.appeals import district_layers
from services.vocabulary import CATEGORIES, CHANNELS, SERVICE_TYPES

lang = ui.lang()
who = ui.require("register", lang)
store = ui.store()
ss = st.session_state
MAP_LAYER = "reg-buildings"


def _now() -> datetime:
    return datetime.now(registration.TZ)


def _set_place(make) -> None:
    """Run a place lookup; keep the place, or the reason in the chosen language."""
    try:
        ss["reg_place"] = make()
        ss["reg_error"] = None
    except DomainError as exc:
        ss["reg_error"] = describe(exc, lang)


def _on_building() -> None:
    _set_place(lambda: registration.place_by_building(store, ss.get("reg_building", "")))


def _on_coords() -> None:
    _set_place(lambda: registration.place(store, lon=ss.get("reg_lon"), lat=ss.get("reg_lat"),
                                          crs=ss.get("reg_crs", "wgs84")))


def _on_map() -> None:
    sel = ss.get("reg_map") or {}
    objects = (sel.get("selection", sel) or {}).get("objects") or {}
    picked = next((o for objs in objects.values() for o in objs or [] if o.get("code")), None)
    if picked:
        ss["reg_building"] = picked["code"]
        _on_building()


def _draft() -> registration.Draft:
    return registration.Draft(
        channel=ss.get("reg_channel"), service_type=ss.get("reg_service"), category=ss.get("reg_category"),
        description=ss.get("reg_description", ""), people_involved=ss.get("reg_people"),
        amount_involved=ss.get("reg_amount"), urgency=ss.get("reg_urgency"), place=ss.get("reg_place"),
        reporter_name=ss.get("reg_name", ""), reporter_phone=ss.get("reg_phone", ""))


def _on_save() -> None:
    link = ss.get("reg_link_to") if ss.get("reg_choice") == "link" else None
    try:
        new_id = registration.register(store, who, _draft(), link_to=link, now=_now())
    except DomainError as exc:
        ss["reg_error"] = describe(exc, lang)
        return
    ss["reg_saved"], ss["reg_error"], ss["reg_place"] = new_id, None, None
    for key in ("reg_description", "reg_name", "reg_phone", "reg_building"):
        ss[key] = ""
    ss["reg_choice"] = "new"


st.title(t("register.title", lang))
st.caption(t("register.intro", lang))
if ss.get("reg_error"):
    st.error(ss["reg_error"])
if ss.get("reg_saved"):
    st.success(t("register.saved", lang, id=ss["reg_saved"]))
    st.page_link("pages/workbench.py", label=t("register.to_workbench", lang), icon=":material/assignment_ind:")

# ----------------------------------------------------------------------------------------- the appeal
st.subheader(t("register.section_facts", lang))
c1, c2, c3 = st.columns(3)
channels = list(CHANNELS)
c1.selectbox(t("register.channel", lang), channels, index=channels.index("walk_in"), key="reg_channel",
             format_func=lambda c: label("channel", c, lang))
service = c2.selectbox(t("register.service_type", lang), list(SERVICE_TYPES), key="reg_service",
                       format_func=lambda c: label("service_type", c, lang))
c3.selectbox(t("register.category", lang), list(CATEGORIES[service]), key="reg_category",
             format_func=lambda c: label("category", c, lang))
st.text_area(t("register.description", lang), key="reg_description", max_chars=registration.DESCRIPTION_MAX)
f1, f2, f3 = st.columns(3)
f1.number_input(t("register.people", lang), value=1, step=1, key="reg_people")
f2.number_input(t("register.amount", lang), value=0.0, step=1000.0, key="reg_amount")
f3.selectbox(t("register.urgency", lang), (1, 2, 3), key="reg_urgency", format_func=lambda u: label("urgency", str(u), lang))
try:
    tier, klass = registration.preview({"people_involved": ss.get("reg_people"), "urgency": ss.get("reg_urgency"),
                                        "amount_involved": ss.get("reg_amount")})
    colour = {"red": "red", "yellow": "orange"}.get(tier, "blue")
    preview_text = t("register.preview", lang, tier=label("tier", tier, lang), klass=label("appeal_class", klass, lang))
    st.markdown(f":{colour}-badge[{preview_text}]")
except DomainError as exc:
    st.warning(describe(exc, lang))

# ------------------------------------------------------------------------------------------- the place
st.subheader(t("register.section_place", lang))
modes = ("by_map", "by_building", "by_coords")
mode = st.radio(t("register.place_by", lang), modes, key="reg_place_by", horizontal=True,
                format_func=lambda m: t(f"register.{m}", lang))
if mode == "by_building":
    b1, b2 = st.columns([3, 1])
    b1.text_input(t("register.building_code", lang), key="reg_building", help=t("register.building_help", lang))
    b2.button(t("register.find_building", lang), key="reg_find", on_click=_on_building)
elif mode == "by_coords":
    k1, k2, k3, k4 = st.columns([2, 2, 1.5, 1])
    k1.number_input(t("register.lon", lang), value=113.935, format="%.6f", step=0.0001, key="reg_lon")
    k2.number_input(t("register.lat", lang), value=22.748, format="%.6f", step=0.0001, key="reg_lat")
    k3.selectbox(t("register.crs", lang), SOURCE_SYSTEMS, key="reg_crs", format_func=str.upper)
    k4.button(t("register.use_coords", lang), key="reg_use", on_click=_on_coords)
else:
    communities = district.names("community", lang)
    codes = list(communities)
    if who.role == "community_dispatcher":
        codes = [who.area_code]
    elif who.role == "subdistrict_officer":
        comm = district_layers(("community",))["community"]
        codes = [str(c) for c in comm.loc[comm["parent_code"] == who.area_code, "code"]]
    area = st.selectbox(t("register.map_area", lang), codes, key="reg_map_area",
                        format_func=lambda c: communities.get(c, c))
    shown = registration.buildings_in(store, area)
    if len(shown):
        records = [{"code": c, "position": [x, y]} for c, x, y in zip(shown["code"], shown["lon"], shown["lat"],
                                                                      strict=True)]
        layers = [mapview.points_layer(MAP_LAYER, records, color=[80, 160, 255, 200], radius_m=6, min_px=3)]
        chosen = ss.get("reg_place")
        if chosen is not None:
            layers.append(mapview.points_layer("reg-chosen", [{"position": [chosen.lon, chosen.lat]}],
                                               color=[230, 60, 60, 255], radius_m=12, min_px=7, pickable=False))
        bounds = (shown["lon"].min(), shown["lat"].min(), shown["lon"].max(), shown["lat"].max())
        deck = mapview.deck(layers, mapview.view_state(bounds, height_px=420), tooltip={"text": "{code}"})
        st.pydeck_chart(deck, height=420, key="reg_map", on_select=_on_map, selection_mode="single-object")
    st.caption(t("register.map_hint", lang))

chosen = ss.get("reg_place")
if chosen is None:
    st.info(t("register.place_none", lang))
else:
    grids = district.names("grid", lang)
    st.success(t("register.place_chosen", lang, lon=f"{chosen.lon:.6f}", lat=f"{chosen.lat:.6f}",
                 crs=chosen.source_crs.upper(),
                 community=district.names("community", lang).get(chosen.areas.get("community_code"), "—"),
                 grid=grids.get(chosen.areas.get("grid_code"), chosen.areas.get("grid_code") or "—"),
                 building=chosen.building_code or "—"))

# ---------------------------------------------------------------------------------------- the reporter
st.subheader(t("register.section_reporter", lang))
r1, r2 = st.columns(2)
r1.text_input(t("register.reporter_name", lang), key="reg_name", max_chars=registration.NAME_MAX)
r2.text_input(t("register.reporter_phone", lang), key="reg_phone", max_chars=30)
st.caption(t("register.personal_note", lang))

# ------------------------------------------------------------------------------------ duplicates, save
st.subheader(t("register.section_save", lang))
ss.setdefault("reg_choice", "new")
dups = registration.likely_duplicates(store, who, _draft(), _now()) if chosen is not None else None
if dups:
    hours = registration.gathering_rules()["window_hours"]
    st.warning(t("register.duplicates", lang, n=len(dups.appeals), hours=f"{float(hours):g}"))
    a = dups.appeals
    st.dataframe(pd.DataFrame({
        t("register.col_id", lang): a["id"].astype(int),
        t("register.col_status", lang): [label("status", s, lang) for s in a["status"]],
        t("register.col_tier", lang): [label("tier", s, lang) for s in a["tier"]],
        t("register.col_reported", lang): [f"{pd.Timestamp(v).tz_convert(registration.TZ):%Y-%m-%d %H:%M}"
                                           for v in a["reported_at"]],
        t("register.col_cluster", lang): ["" if pd.isna(g) else f"#{int(g)}" for g in a["gathering_id"]],
    }), hide_index=True, width="stretch")
    if dups.cluster_id is not None:
        st.caption(t("register.cluster", lang, id=dups.cluster_id, tier=label("tier", dups.cluster_tier, lang)))
    target = int(dups.appeals["id"].iloc[0])
    ss["reg_link_to"] = target
    st.radio(t("register.choice", lang), ("new", "link"), key="reg_choice", horizontal=True,
             format_func=lambda c: t("register.save_new", lang) if c == "new" else
             t("register.save_link", lang, id=target))
else:
    ss["reg_choice"] = "new"
    if chosen is not None:
        st.caption(t("register.no_duplicates", lang))
st.button(t("register.save", lang), key="reg_save", type="primary", on_click=_on_save)
