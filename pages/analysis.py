"""Analysis (分析研判, issue 14): a period, the drill path district → subdistrict → community → grid → the
grid's appeals → one appeal's timeline, and the department assessment (部门考核).

The path and the period live in the URL (services/analysis/drill.py ``View.query``), so a link opens the
same view; a row of the child areas' table or an area on the map goes down, the breadcrumb goes up. The
figures, rights and exports are the services' (services/analysis, services/assessment.py,
services/exports.py); the parts are drawn by pages/analysis_views.py.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from pages import analysis_views as views
from pages import ui
from services import access
from services.analysis import drill, service
from services.analysis.periods import KINDS, custom, period
from services.errors import DomainError, describe
from services.i18n import t
from services.store.common import now as _now

URL_KEYS = ("level", "code", "kind", "date", "until", "appeal")

lang = ui.lang()
who = ui.require("analysis", lang)
store = ui.store()
ui.no_unaudited_downloads()
st.title(t("analysis_page.title", lang))


def go(view: drill.View) -> None:
    """Write ``view`` into the URL (``lang`` left as it is) and draw it."""
    set_url(view)
    st.rerun()


def set_url(view: drill.View) -> None:
    """The view's keys in the URL in one change (the other keys, ``lang`` among them, kept as they are)."""
    kept = {k: st.query_params[k] for k in st.query_params if k not in URL_KEYS}
    wanted = {**kept, **view.query()}
    if {k: st.query_params[k] for k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)


def period_picker(view: drill.View) -> drill.View:
    """Kind and date(s) of the period, first taken from the URL; the view with the period chosen."""
    ss = st.session_state
    if ss.get("an_url_period") != view.query().get("date", "") + view.period.kind:
        ss["an_kind"], ss["an_date"] = view.period.kind, view.period.start
        ss["an_until"] = view.period.last_day
    c1, c2, c3 = st.columns([3, 2, 2])
    kind = c1.segmented_control(t("analysis_page.kind", lang), KINDS, key="an_kind",
                                format_func=lambda k: t(f"analysis_page.kind_{k}", lang)) or view.period.kind
    if kind == "custom":
        start: date = c2.date_input(t("analysis_page.from", lang), key="an_date")
        end: date = c3.date_input(t("analysis_page.to", lang), key="an_until")
        p = custom(start, end)
    else:
        p = period(kind, c2.date_input(t("analysis_page.date", lang), key="an_date"))
    chosen = view.with_period(p)
    ss["an_url_period"] = chosen.query().get("date", "") + p.kind
    return chosen


try:
    view = drill.view_from_query(st.query_params, _now().date())
    own = access.area_filter(who)
    if view.code is None and own is not None:           # a subdistrict officer starts at its subdistrict
        view = drill.View(own[0], own[1], view.period)
    view = period_picker(view)
    service.scope(who, view.child_level or "grid", view.code)
except DomainError as exc:
    st.error(describe(exc, lang))
    st.stop()
set_url(view)

crumbs = drill.crumbs(view, lang)
own_level = access.area_filter(who)
top = drill.LEVELS.index(own_level[0]) if own_level else 0
cols = st.columns(len(crumbs) + (1 if view.appeal else 0) + 2)
for i, (level, code, name) in enumerate(crumbs):
    last = i == len(crumbs) - 1 and view.appeal is None
    if cols[i].button(name, key=f"an_crumb_{level}", disabled=last or drill.LEVELS.index(level) < top,
                      type="secondary" if not last else "primary"):
        go(view.at(level, code))
if view.appeal is not None and cols[len(crumbs)].button(t("analysis_page.back_to_list", lang), key="an_back"):
    go(view.at(view.level, view.code))
area_name = crumbs[-1][2]
st.caption(t("analysis_page.showing", lang, area=area_name, period=view.period.label(lang)))
ctx = {"period": view.period.label(lang), "area": area_name}

tab_analysis, tab_assessment = st.tabs([t("analysis_page.tab_analysis", lang), t("analysis_page.tab_assessment", lang)])
with tab_analysis:
    own_figures = service.figures(store, who, view.level, view.code, view.period, lang=lang)
    views.headline(own_figures, lang)
    if view.appeal is not None:
        try:
            views.appeal_timeline(store, who, view.appeal, lang, ctx)
        except DomainError as exc:
            st.error(describe(exc, lang))
    elif view.child_level is None:
        picked = views.grid_appeals(store, who, view, lang, ctx)
        if picked is not None:
            go(view.open_appeal(picked))
    else:
        children = service.figures(store, who, view.child_level, view.code, view.period, lang=lang).current
        picked_map = views.area_map(view, children, lang)
        picked_row = views.area_table(view, children, lang)
        views.export_buttons(store, who, children, what=f"analysis.{view.child_level}",
                             title=t("analysis_page.title_figures", lang), lang=lang, key="an_x_figures",
                             headers=views.measure_headers(lang), **ctx)
        picked = picked_row or picked_map
        if picked:
            go(view.down(str(picked)))
    views.breakdowns(store, who, view, lang, ctx)
    views.trend(store, who, view, lang, ctx)
    views.rising(store, who, view, lang, ctx)
with tab_assessment:
    if access.may_do(who.role, "read_assessment"):
        views.assessment_tab(store, who, view.period, lang)
