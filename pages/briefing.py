"""The daily briefing (每日简报, /briefing; issue 15).

The briefings made (by the 07:00 timer, the CLI or here), newest first, for the areas the reader may see;
one picked is previewed (its first page and its map) and can be downloaded, each download audited.
A run that failed and was not made good since is shown at the top with its reason. An admin can make one
now. Everything comes from services.briefing.library, which checks who may see or make what.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from pages import ui
from services import access
from services.briefing import library
from services.errors import DomainError, describe
from services.i18n import t
from services.store.common import now as _now

lang = ui.lang()
who = ui.require("briefing", lang)
store = ui.store()
NOTICE = "briefing_notice"

st.title(t("briefing_page.title", lang))
st.caption(t("briefing_page.intro", lang))
areas = library.areas_for(who)


def _area(code: str) -> str:
    return library.area_name(code, lang)


def _lang(code: object) -> str:
    return t(f"briefing_page.lang_{code}", lang) if code in ("zh", "en") else str(code or "")


@st.cache_data(max_entries=16, show_spinner=False)
def _first_page(pdf: bytes) -> bytes:
    return library.first_page(pdf)


for run in library.failing(who):
    st.error(t("briefing_page.failing", lang, date=run.get("date", ""), area=_area(str(run.get("area", ""))),
               lang=_lang(run.get("lang")), reason=run.get("reason", "")))

if access.may_do(who.role, access.MAKE_BRIEFING):
    with st.expander(t("briefing_page.make_title", lang), expanded=False):
        c1, c2, c3 = st.columns(3)
        made_date = c1.date_input(t("briefing_page.make_date", lang), value=_now().date() - timedelta(days=1),
                                  max_value=_now().date(), key="br_make_date")
        made_area = c2.selectbox(t("briefing_page.make_area", lang), areas, format_func=_area, key="br_make_area")
        made_lang = c3.selectbox(t("briefing_page.make_lang", lang), ["zh", "en"], key="br_make_lang",
                                 format_func=_lang)
        if st.button(t("briefing_page.make_button", lang), type="primary", key="br_make"):
            with st.spinner(t("briefing_page.make_title", lang)):
                ui.act(NOTICE, lang, lambda: library.make_now(store, who, made_date, made_area, made_lang),
                       lambda paths: (t("briefing_page.made", lang, name=paths["pdf"].name), None))
        ui.notice(NOTICE)

shown = st.selectbox(t("briefing_page.filter_area", lang), ["", *areas], key="br_area",
                     format_func=lambda c: t("briefing_page.all_areas", lang) if not c else _area(c))
rows = [r for r in library.listing(who) if not shown or r["area"] == shown]
if not rows:
    st.info(t("briefing_page.none", lang))
else:
    def _kb(n: int | None) -> str:
        return "" if n is None else t("briefing_page.kb", lang, n=f"{(n + 1023) // 1024:,}")

    view = pd.DataFrame({
        t("briefing_page.col_date", lang): [r["date"].isoformat() for r in rows],
        t("briefing_page.col_area", lang): [_area(r["area"]) for r in rows],
        t("briefing_page.col_lang", lang): [_lang(r["lang"]) for r in rows],
        t("briefing_page.col_pdf", lang): [_kb(r["pdf_bytes"]) for r in rows],
        t("briefing_page.col_png", lang): [_kb(r["png_bytes"]) for r in rows],
    })
    st.caption(t("briefing_page.pick", lang))
    event = st.dataframe(view, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key="br_table")
    picked = event.selection.rows if event is not None else []
    r = rows[picked[0]] if picked else rows[0]
    st.subheader(t("briefing_page.preview", lang, area=_area(r["area"]), date=r["date"].isoformat()))
    try:
        pdf = library.read(store, who, r["date"], r["area"], r["lang"], "pdf")
        png = library.read(store, who, r["date"], r["area"], r["lang"], "png") if r["png"] else None
    except DomainError as exc:
        st.error(describe(exc, lang))
    else:
        d1, d2 = st.columns(2)
        stem = r["pdf"].stem
        d1.download_button(t("briefing_page.download_pdf", lang), key="br_dl_pdf", mime="application/pdf",
                           file_name=f"{stem}.pdf", on_click="ignore",
                           data=lambda: library.read(store, who, r["date"], r["area"], r["lang"], "pdf",
                                                     download=True))
        if png is not None:
            d2.download_button(t("briefing_page.download_png", lang), key="br_dl_png", mime="image/png",
                               file_name=f"{stem}.png", on_click="ignore",
                               data=lambda: library.read(store, who, r["date"], r["area"], r["lang"], "png",
                                                         download=True))
        p1, p2 = st.columns([1, 1])
        p1.caption(t("briefing_page.first_page", lang))
        p1.image(_first_page(pdf), width="stretch")
        if png is not None:
            p2.caption(t("briefing_page.map", lang))
            p2.image(png, width="stretch")

with st.expander(t("briefing_page.runs", lang)):
    recent = library.runs(who)
    if recent:
        st.dataframe(pd.DataFrame({
            t("briefing_page.col_at", lang): [str(x.get("at", ""))[:19].replace("T", " ") for x in recent],
            t("briefing_page.col_date", lang): [x.get("date", "") for x in recent],
            t("briefing_page.col_area", lang): [_area(str(x.get("area", ""))) for x in recent],
            t("briefing_page.col_lang", lang): [_lang(x.get("lang")) for x in recent],
            t("briefing_page.col_ok", lang): [t("briefing_page.ok" if x.get("ok") else "briefing_page.failed", lang)
                                             for x in recent],
            t("briefing_page.col_seconds", lang): [x.get("seconds") for x in recent],
            t("briefing_page.col_reason", lang): [x.get("reason", "") for x in recent],
        }), hide_index=True, width="stretch")
    else:
        st.caption(t("briefing_page.none", lang))
