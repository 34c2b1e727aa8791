"""The quarantine tab of /data: refused rows filtered by source, file and reason; a row fixed in place
(its fields, or its point picked on the map as pages/register.py picks a building) and sent again
through intake's checks, or dismissed with a reason. Every rule is in services/quarantine_fix.py."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from geo import mapview
from geo.coords import SOURCE_SYSTEMS
from services import district, quarantine_fix, registration
from services.access import Principal
from services.clocks import TZ
from services.errors import DomainError, describe
from services.i18n import label, t
from services.store.base import Store

MAP_LAYER = "q-buildings"


def _row_label(r: dict[str, Any], lang: str) -> str:
    reason = label("intake.reason", r["reason_code"], lang)
    if r["line"] is None or pd.isna(r["line"]):
        return t("data.row_label_file", lang, id=int(r["id"]), file=r["file"], reason=reason)
    return t("data.row_label", lang, id=int(r["id"]), file=r["file"], line=int(r["line"]), reason=reason)


def _on_map(qid: int) -> None:
    ss = st.session_state
    sel = ss.get(f"q_map_{qid}") or {}
    objects = (sel.get("selection", sel) or {}).get("objects") or {}
    picked = next((o for objs in objects.values() for o in objs or [] if o.get("code")), None)
    if picked:
        lon, lat = picked["position"]
        ss[f"qf_{qid}_lon"], ss[f"qf_{qid}_lat"] = f"{lon:.6f}", f"{lat:.6f}"
        ss[f"qf_{qid}_building_code"] = picked["code"]
        ss[f"q_crs_{qid}"] = "wgs84"
        if f"qf_{qid}_source_crs" in ss:
            ss[f"qf_{qid}_source_crs"] = "wgs84"
        ss["q_picked"] = picked["code"]


def _fix(who: Principal, store: Store, lang: str, qid: int, names: list[str]) -> None:
    ss = st.session_state
    edits = {k: ss.get(f"qf_{qid}_{k}") for k in names}
    try:
        aid = quarantine_fix.fix(store, who, qid, edits, crs=ss.get(f"q_crs_{qid}", "wgs84"))
    except DomainError as exc:
        ss["q_error"], ss["q_done"] = describe(exc, lang), None
        return
    ss["q_error"], ss["q_done"] = None, t("data.fixed", lang, id=aid)


def _dismiss(who: Principal, store: Store, lang: str, qid: int) -> None:
    ss = st.session_state
    try:
        quarantine_fix.dismiss(store, who, qid, ss.get(f"q_why_{qid}", ""))
    except DomainError as exc:
        ss["q_error"], ss["q_done"] = describe(exc, lang), None
        return
    ss["q_error"], ss["q_done"] = None, t("data.dismissed", lang, id=qid)


def _map(qid: int, lang: str, store: Store) -> None:
    communities = district.names("community", lang)
    area = st.selectbox(t("data.map_area", lang), list(communities), key=f"q_area_{qid}",
                        format_func=lambda c: communities.get(c, c))
    shown = registration.buildings_in(store, area)
    if not len(shown):
        return
    records = [{"code": c, "position": [x, y]} for c, x, y in zip(shown["code"], shown["lon"], shown["lat"],
                                                                  strict=True)]
    bounds = (shown["lon"].min(), shown["lat"].min(), shown["lon"].max(), shown["lat"].max())
    deck = mapview.deck([mapview.points_layer(MAP_LAYER, records, color=[80, 160, 255, 200], radius_m=6, min_px=3)],
                        mapview.view_state(bounds, height_px=360), tooltip={"text": "{code}"})
    st.pydeck_chart(deck, height=360, key=f"q_map_{qid}", on_select=lambda: _on_map(qid),
                    selection_mode="single-object")


def draw(who: Principal, store: Store, lang: str) -> None:
    """The tab: filters, the rows, and the chosen row's fix and dismiss."""
    ss = st.session_state
    st.caption(t("data.q_intro", lang))
    if ss.get("q_error"):
        st.error(ss["q_error"])
    if ss.get("q_done"):
        st.success(ss["q_done"])
    every = quarantine_fix.rows(store, who, settled=None)
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
    src = c1.selectbox(t("data.f_source", lang), ["", *sorted(every["source"].unique())], key="q_source",
                       format_func=lambda v: v or t("data.all", lang))
    files = sorted(every.loc[every["source"] == src, "file"].unique()) if src else sorted(every["file"].unique())
    fil = c2.selectbox(t("data.f_file", lang), ["", *files], key="q_file", format_func=lambda v: v or t("data.all", lang))
    why = c3.selectbox(t("data.f_reason", lang), ["", *sorted(every["reason_code"].unique())], key="q_reason",
                       format_func=lambda v: label("intake.reason", v, lang) if v else t("data.all", lang))
    settled = c4.toggle(t("data.f_settled", lang), key="q_settled")
    df = quarantine_fix.rows(store, who, source=src or None, file=fil or None, reason_code=why or None,
                             settled=None if settled else False)
    if df.empty:
        st.info(t("data.no_rows", lang))
        return
    st.dataframe(pd.DataFrame({
        t("data.col_row_id", lang): df["id"].astype(int),
        t("data.col_received", lang): [f"{pd.Timestamp(v).tz_convert(TZ):%Y-%m-%d %H:%M}" for v in df["received_at"]],
        t("data.col_source", lang): df["source"], t("data.col_file", lang): df["file"],
        t("data.col_line", lang): df["line"].astype("Int64"),
        t("data.col_reason", lang): [label("intake.reason", c, lang) for c in df["reason_code"]],
        t("data.col_resolution", lang): ["" if pd.isna(v) else label("quarantine_resolution", v, lang)
                                         for v in df["resolution"]],
        t("data.col_appeal", lang): ["" if pd.isna(v) else f"#{int(v)}" for v in df["appeal_id"]],
        t("data.col_raw", lang): df["raw"],
    }), hide_index=True, width="stretch", key="q_table")
    records = df.to_dict("records")
    by_id = {int(r["id"]): r for r in records}
    qid = st.selectbox(t("data.pick_row", lang), list(by_id), key="q_pick",
                       format_func=lambda i: _row_label(by_id[i], lang))
    _settle(who, store, lang, int(qid))


def _settle(who: Principal, store: Store, lang: str, qid: int) -> None:
    f = quarantine_fix.form(store, who, qid)
    st.code(f["raw"] or "", language=None, wrap_lines=True)
    if f["settled"]:
        row = store.quarantine_row(qid)
        st.info(t("data.settled", lang, resolution=label("quarantine_resolution", row["resolution"], lang)))
        return
    if f["fixable"]:
        st.markdown(f"**{t('data.fields', lang)}**")
        st.caption(t("data.fields_help", lang))
        names = [n for n in quarantine_fix.FORM_FIELDS]
        cols = st.columns(3)
        for i, name in enumerate(names):
            key = f"qf_{qid}_{name}"
            if key not in st.session_state:
                v = f["fields"].get(name)
                st.session_state[key] = "" if v is None else str(v)
            cols[i % 3].text_input(t(f"field.{name}", lang), key=key)
        st.selectbox(t("data.fix_crs", lang), SOURCE_SYSTEMS, key=f"q_crs_{qid}", format_func=str.upper)
        with st.expander(t("data.pick_on_map", lang)):
            _map(qid, lang, store)
        st.button(t("data.resubmit", lang), key=f"q_fix_{qid}", type="primary", on_click=_fix,
                  args=(who, store, lang, qid, names))
    else:
        st.warning(t("data.whole_file", lang))
    d1, d2 = st.columns([3, 1])
    d1.text_input(t("data.dismiss_reason", lang), key=f"q_why_{qid}")
    d2.button(t("data.dismiss", lang), key=f"q_dismiss_{qid}", on_click=_dismiss, args=(who, store, lang, qid))
