"""The reference-data tab of the data screen (/data, issue 13 §4): departments, stations, users' areas and
boundary layers, for the admin and the duty officer.

Not a page script: pages/data.py mounts ``draw(who, store, lang)`` as one of its tabs. Everything it shows
comes from services/reference_data.py and services/layer_import.py, and each button's callback sends one
request there (the right is checked there); the outcome is kept in the session (``NOTICE``) and shown
at the next run, with a refused layer's technical details beside the message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from geo import mapview
from pages import ui
from services import access, admin, district, layer_import, reference_data, registration
from services.access import Principal
from services.errors import DomainError, describe
from services.i18n import label, t
from services.store.base import Store

NOTICE = "dref_notice"
PREVIEW = "dref_preview"
MAP_KEY = "dref_map"
PLACE = "dref_place"


# -- notices --------------------------------------------------------------------------------------------
def _act(lang: str, request: Callable[[], Any], done: Callable[[Any], str]) -> None:
    """Run ``request``; keep ``done(result)`` or the refusal (and a refused layer's details) as the notice."""
    ui.act(NOTICE, lang, request, lambda result: (done(result), None))


def _show_notice(lang: str) -> None:
    kept = ui.notice(NOTICE)
    if kept is not None and kept[2]:
        with st.expander(t("data_ref.layer_details", lang), expanded=True):
            st.code(kept[2], language=None)



def _table(frame: pd.DataFrame, columns: dict[str, str], lang: str) -> None:
    if frame.empty:
        st.info(t("data_ref.empty", lang))
        return
    shown = frame.reindex(columns=list(columns))
    text = shown.select_dtypes(include=["object", "str"]).columns
    shown[text] = shown[text].fillna("")                # a blank cell, not "None"
    st.dataframe(shown.rename(columns={c: t(k, lang) for c, k in columns.items()}), hide_index=True, width="stretch")


# -- departments ----------------------------------------------------------------------------------------
def _departments(who: Principal, store: Store, lang: str) -> None:
    ss = st.session_state
    reg = reference_data.departments(store, who)
    reg = reg.assign(edited_at=[ui.when(v) for v in reg["edited_at"]])
    _table(reg, {"code": "data_ref.col_code", "name": "data_ref.col_name", "name_en": "data_ref.col_name_en",
                 "orders": "data_ref.col_orders", "edited_at": "data_ref.col_edited_at",
                 "edited_by": "data_ref.col_edited_by"}, lang)
    st.caption(t("data_ref.dept_never_deleted", lang))
    left, right = st.columns(2)
    with left:
        st.subheader(t("data_ref.dept_add", lang))
        st.text_input(t("data_ref.code", lang), key="dref_dept_code")
        st.text_input(t("data_ref.name", lang), key="dref_dept_name")
        st.text_input(t("data_ref.name_en", lang), key="dref_dept_name_en")
        st.button(t("data_ref.add", lang), key="dref_dept_add", on_click=lambda: _act(
            lang, lambda: reference_data.add_department(store, who, ss.get("dref_dept_code", ""),
                                                        ss.get("dref_dept_name", ""), ss.get("dref_dept_name_en", "")),
            lambda code: t("data_ref.dept_added", lang, code=code)))
    with right:
        st.subheader(t("data_ref.dept_rename", lang))
        if reg.empty:
            return
        names = dict(zip(reg["code"], reg["name"], strict=True))
        code = st.selectbox(t("data_ref.dept_pick", lang), list(names), key="dref_ren_code",
                            format_func=lambda c: f"{names.get(c) or c} ({c})")
        row = reg[reg["code"] == code].iloc[0]
        st.text_input(t("data_ref.name", lang), value=row["name"] or "", key=f"dref_ren_name_{code}")
        st.text_input(t("data_ref.name_en", lang), value=row["name_en"] or "", key=f"dref_ren_en_{code}")
        st.button(t("data_ref.save", lang), key="dref_ren_save", on_click=lambda: _act(
            lang, lambda: reference_data.rename_department(store, who, code, ss.get(f"dref_ren_name_{code}", ""),
                                                           ss.get(f"dref_ren_en_{code}", "")),
            lambda _: t("data_ref.dept_renamed", lang, code=code)))


# -- stations -------------------------------------------------------------------------------------------
def _on_map() -> None:
    ss = st.session_state
    sel = ss.get(MAP_KEY) or {}
    objects = (sel.get("selection", sel) or {}).get("objects") or {}
    for layer, objs in objects.items():
        for o in objs or []:
            if layer == "dref-stations" and o.get("code"):
                ss["dref_edit_code"] = o["code"]
                return
            if layer == "dref-buildings" and o.get("position"):
                ss[PLACE] = (float(o["position"][0]), float(o["position"][1]))
                return


def _station_map(view: pd.DataFrame, store: Store, lang: str) -> None:
    communities = district.names("community", lang)
    codes = list(communities)
    area = st.selectbox(t("data_ref.st_map_area", lang), codes, key="dref_map_area",
                        format_func=lambda c: communities.get(c, c))
    shown = registration.buildings_in(store, area)
    layers = [mapview.points_layer("dref-buildings", [{"code": c, "position": [x, y]} for c, x, y in zip(
        shown["code"], shown["lon"], shown["lat"], strict=True)], color=[150, 150, 150, 160], radius_m=5, min_px=2)]
    stations = [{"code": c, "name": n, "position": [x, y],
                 "color": [40, 110, 230, 230] if s == "open" else [120, 120, 120, 200]}
                for c, n, x, y, s in zip(view["code"], view["shown_name"], view["lon"], view["lat"], view["state"],
                                         strict=True)]
    layers.append(mapview.points_layer("dref-stations", stations, color="color", radius_m=40, min_px=5))
    place = st.session_state.get(PLACE)
    if place is not None:
        layers.append(mapview.points_layer("dref-place", [{"position": list(place)}], color=[230, 60, 60, 255],
                                           radius_m=15, min_px=7, pickable=False))
    bounds = district.bounds(area)
    deck = mapview.deck(layers, mapview.view_state(bounds, height_px=420), tooltip={"text": "{code} {name}"})
    st.pydeck_chart(deck, height=420, key=MAP_KEY, on_select=_on_map, selection_mode="single-object")
    st.caption(t("data_ref.st_map", lang))
    if place is not None:
        st.caption(t("data_ref.st_place", lang, lon=f"{place[0]:.6f}", lat=f"{place[1]:.6f}"))


def _use_place(prefix: str) -> None:
    place = st.session_state.get(PLACE)
    if place is not None:
        st.session_state[f"{prefix}_lon"], st.session_state[f"{prefix}_lat"] = place


def _point_inputs(prefix: str, lang: str) -> None:
    a, b = st.columns(2)
    a.number_input(t("data_ref.lon", lang), format="%.6f", step=0.0001, value=None, key=f"{prefix}_lon")
    b.number_input(t("data_ref.lat", lang), format="%.6f", step=0.0001, value=None, key=f"{prefix}_lat")
    st.button(t("data_ref.use_map_point", lang), key=f"{prefix}_use", on_click=_use_place, args=(prefix,),
              disabled=st.session_state.get(PLACE) is None)


def _add_station(who: Principal, store: Store, lang: str) -> None:
    ss = st.session_state
    st.subheader(t("data_ref.st_add", lang))
    st.text_input(t("data_ref.code", lang), key="dref_st_code")
    st.text_input(t("data_ref.name", lang), key="dref_st_name")
    st.text_input(t("data_ref.name_en", lang), key="dref_st_name_en")
    st.selectbox(t("data_ref.level", lang), reference_data.LEVELS, index=3, key="dref_st_level",
                 format_func=lambda v: label("station_level", v, lang))
    st.selectbox(t("data_ref.site_type", lang), ("", *reference_data.SITE_TYPES), key="dref_st_site",
                 format_func=lambda v: label("site_type", v, lang) if v else t("data_ref.no_site_type", lang))
    st.multiselect(t("data_ref.services", lang), reference_data.SERVICES, key="dref_st_services",
                   format_func=lambda v: label("service", v, lang))
    _point_inputs("dref_st", lang)
    st.button(t("data_ref.add", lang), key="dref_st_add", type="primary", on_click=lambda: _act(
        lang, lambda: reference_data.add_station(
            store, who, code=ss.get("dref_st_code", ""), name=ss.get("dref_st_name", ""),
            name_en=ss.get("dref_st_name_en", ""), level=ss.get("dref_st_level", "site"),
            site_type=ss.get("dref_st_site") or None, offers=list(ss.get("dref_st_services") or []),
            lon=ss.get("dref_st_lon"), lat=ss.get("dref_st_lat")),
        lambda s: t("data_ref.st_added", lang, code=s["code"],
                    community=district.name_of("community", s["parent_code"], lang))))


def _edit_station(who: Principal, store: Store, view: pd.DataFrame, lang: str) -> None:
    ss = st.session_state
    st.subheader(t("data_ref.st_edit", lang))
    if view.empty:
        return
    names = dict(zip(view["code"], view["shown_name"], strict=True))
    codes = list(names)
    if ss.get("dref_edit_code") not in codes:
        ss["dref_edit_code"] = codes[0]
    code = st.selectbox(t("data_ref.st_pick", lang), codes, key="dref_edit_code",
                        format_func=lambda c: f"{names.get(c) or c} ({c})")
    row = view[view["code"] == code].iloc[0]
    if row["state"] == "closed":
        st.warning(t("data_ref.st_is_closed", lang, day=ui.when(row["closed_at"], "%Y-%m-%d"),
                     reason=row["close_reason"] or ""))
        st.button(t("data_ref.reopen", lang), key="dref_reopen", on_click=lambda: _act(
            lang, lambda: reference_data.reopen_station(store, who, code),
            lambda _: t("data_ref.st_reopened", lang, code=code)))
        return
    _point_inputs("dref_mv", lang)
    st.button(t("data_ref.move", lang), key="dref_move", on_click=lambda: _act(
        lang, lambda: reference_data.move_station(store, who, code, ss.get("dref_mv_lon"), ss.get("dref_mv_lat")),
        lambda s: t("data_ref.st_moved", lang, code=code,
                    community=district.name_of("community", s["parent_code"], lang))))
    current = [s for s in reference_data.SERVICES if label("service", s, lang) in str(row["services"])]
    st.multiselect(t("data_ref.services", lang), reference_data.SERVICES, default=current,
                   key=f"dref_sv_{code}", format_func=lambda v: label("service", v, lang))
    st.button(t("data_ref.save_services", lang), key="dref_sv_save", on_click=lambda: _act(
        lang, lambda: reference_data.set_services(store, who, code, list(ss.get(f"dref_sv_{code}") or [])),
        lambda _: t("data_ref.st_services_saved", lang, code=code)))
    st.text_input(t("data_ref.close_reason", lang), key="dref_close_reason")
    st.date_input(t("data_ref.close_on", lang), value=reference_data.today(), max_value=reference_data.today(), key="dref_close_on")
    st.button(t("data_ref.close", lang), key="dref_close", on_click=lambda: _act(
        lang, lambda: reference_data.close_station(store, who, code, ss.get("dref_close_reason", ""),
                                                   ss.get("dref_close_on")),
        lambda _: t("data_ref.st_closed", lang, code=code)))


def _stations(who: Principal, store: Store, lang: str) -> None:
    view = reference_data.stations(store, who, lang)
    shown = view.assign(level=[label("station_level", v, lang) for v in view["level"]],
                        site_type=[label("site_type", v, lang) if isinstance(v, str) else "" for v in view["site_type"]],
                        state=[label("station_state", v, lang) for v in view["state"]],
                        closed_at=[ui.when(v, "%Y-%m-%d") for v in view["closed_at"]],
                        edited_at=[ui.when(v) for v in view["edited_at"]])
    _table(shown, {"code": "data_ref.col_code", "shown_name": "data_ref.col_station", "level": "data_ref.col_level",
                   "site_type": "data_ref.col_site_type", "services": "data_ref.col_services",
                   "community": "data_ref.col_community", "state": "data_ref.col_state",
                   "closed_at": "data_ref.col_closed_at", "close_reason": "data_ref.col_close_reason",
                   "edited_at": "data_ref.col_edited_at", "edited_by": "data_ref.col_edited_by"}, lang)
    st.caption(t("data_ref.st_closed_note", lang))
    _station_map(view, store, lang)
    left, right = st.columns(2)
    with left:
        _add_station(who, store, lang)
    with right:
        _edit_station(who, store, view, lang)


# -- users' areas ---------------------------------------------------------------------------------------
def _areas(who: Principal, store: Store, lang: str) -> None:
    ss = st.session_state
    view = reference_data.account_areas(store, who, lang)
    shown = view.assign(role=[label("role", r, lang) for r in view["role"]],
                        state=[label("account_state", s, lang) for s in view["state"]])
    _table(shown, {"name": "data_ref.col_account", "display_name": "data_ref.col_display_name",
                   "role": "data_ref.col_role", "area": "data_ref.col_area", "state": "data_ref.col_state"}, lang)
    if not reference_data.may_change_areas(who):
        st.info(t("data_ref.areas_read_only", lang))
        return
    scoped = view[[access.area_kind(r) is not None for r in view["role"]]]
    st.subheader(t("data_ref.areas_change", lang))
    if scoped.empty:
        st.caption(t("data_ref.areas_no_area", lang))
        return
    name = st.selectbox(t("data_ref.areas_pick", lang), scoped["name"].tolist(), key="dref_area_account")
    row = scoped[scoped["name"] == name].iloc[0]
    choices = admin.area_choices(row["role"], lang, store)
    codes = list(choices)
    st.selectbox(t("data_ref.col_area", lang), codes, key=f"dref_area_{name}",
                 index=codes.index(row["area_code"]) if row["area_code"] in codes else 0,
                 format_func=lambda c: f"{choices.get(c, c)} ({c})")
    st.button(t("data_ref.save", lang), key="dref_area_save", on_click=lambda: _act(
        lang, lambda: admin.change_account(store, who, name, role=row["role"], area_code=ss.get(f"dref_area_{name}")),
        lambda _: t("data_ref.areas_saved", lang, name=name)))


# -- boundary layers ------------------------------------------------------------------------------------
def _layers(who: Principal, store: Store, lang: str) -> None:
    ss = st.session_state
    st.caption(t("data_ref.layers_rule", lang))
    st.caption(t("data_ref.layers_folder", lang, path=str(layer_import.active_folder())))
    try:
        layer_import.target_folder()
    except DomainError as exc:
        st.warning(describe(exc, lang))
        return
    kind = st.selectbox(t("data_ref.layer_kind", lang), layer_import.KINDS, key="dref_layer_kind",
                        format_func=lambda k: label("layer", k, lang))
    upload = st.file_uploader(t("data_ref.layer_file", lang), key="dref_layer_file",
                              type=[s.lstrip(".") for s in layer_import.UPLOAD_SUFFIXES])
    if upload is None:
        ss.pop(PREVIEW, None)
        return
    data = upload.getvalue()
    digest = (kind, upload.name, hashlib.sha256(data).hexdigest())

    def check() -> None:
        try:
            ss[PREVIEW] = (digest, layer_import.preview(store, who, kind, upload.name, data))
        except DomainError as exc:
            ss.pop(PREVIEW, None)
            ss[NOTICE] = ("error", describe(exc, lang), getattr(exc, "detail", None))

    st.button(t("data_ref.layer_check", lang), key="dref_layer_check", on_click=check)
    held = ss.get(PREVIEW)
    if held is None or held[0] != digest:
        return
    p = held[1]
    st.info(t("data_ref.layer_preview", lang, features=p.features, added=p.added, removed=p.removed,
              changed=p.changed, unchanged=p.unchanged, repaired=p.repaired, crs=p.source_crs))

    def confirm() -> None:
        ss.pop(PREVIEW, None)
        _act(lang, lambda: layer_import.apply(store, who, kind, upload.name, data),
             lambda r: t("data_ref.layer_done", lang, kind=label("layer", kind, lang), added=r.added,
                         removed=r.removed, changed=r.changed))

    st.button(t("data_ref.layer_confirm", lang), key="dref_layer_confirm", type="primary", on_click=confirm)


def draw(who: Principal, store: Store, lang: str) -> None:
    """The reference-data tab: departments, stations, users' areas and boundary layers."""
    access.check_action(access.check_principal(who).role, "manage_reference")
    _show_notice(lang)
    tabs = st.tabs([t(f"data_ref.tab_{k}", lang) for k in ("departments", "stations", "areas", "layers")])
    with tabs[0]:
        _departments(who, store, lang)
    with tabs[1]:
        _stations(who, store, lang)
    with tabs[2]:
        _areas(who, store, lang)
    with tabs[3]:
        _layers(who, store, lang)
