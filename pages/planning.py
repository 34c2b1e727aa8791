"""Coverage and siting (站点规划): 500-metre service circles, their gaps, what-if edits and new stations.

Thin: every figure, table, map layer, edit and siting run comes from services.planning, the edit history
and saved scenarios from services.scenarios (scenarios are kept in the store, so they survive a reload);
this page only reads widgets, keeps the edit stack in the session, and draws.
"""

from __future__ import annotations

import functools
import math
import time

import streamlit as st

from geo.coords import SOURCE_SYSTEMS
from pages import ui
from services import planning, scenarios
from services.errors import DomainError
from services.i18n import t

lang = ui.lang()
who = ui.require("planning", lang)
store = ui.store()
ss = st.session_state
ss.setdefault("plan_stack", scenarios.EditStack())
ss.setdefault("plan_map_gen", 0)  # bumped when the network changes: stale map selections are dropped
ss.setdefault("plan_map_seen", "")  # the map selection last acted on (planning.selection_key)
ss.setdefault("plan_clicked", [])
ss.setdefault("plan_notice", None)
ss.setdefault("plan_new_services", list(planning.SERVICES))
ss.setdefault("plan_level", "subdistrict")
_minx, _miny, _maxx, _maxy = planning.district_bounds(0)
ss.setdefault("plan_lon", round((_minx + _maxx) / 2, 6))
ss.setdefault("plan_lat", round((_miny + _maxy) / 2, 6))

# Selection widgets show translated labels; after a language switch their values are handed back so that
# the browser shows them under the new labels (it would otherwise keep the old language's text).
_TRANSLATED = ("plan_service", "plan_click_mode", "plan_edit_system", "plan_new_services", "plan_level",
               "plan_model", "plan_source", "plan_cand_system")
if ss.get("plan_lang") != lang:
    for _key in _TRANSLATED:
        if _key in ss:
            ss[_key] = ss[_key]
    ss["plan_lang"] = lang


# ------------------------------------------------------------------------------------------- callbacks
def _notice(kind: str, text: str) -> None:
    ss["plan_notice"] = (kind, text)


def _set_stack(stack: scenarios.EditStack) -> None:
    ss["plan_stack"] = stack
    ss["plan_map_gen"] += 1


def _push(edit: planning.Edit | tuple[planning.Edit, ...]) -> None:
    """Add edits to the network as one undoable step (refused, with a message, when one does not apply)."""
    try:
        _set_stack(ss["plan_stack"].push(edit, store=store))
    except planning.PlanningError as exc:
        _notice("error", exc.message(lang))


def _on_remove() -> None:
    code = ss.get("plan_station")
    if code:
        _push(planning.Edit("remove", code=code))
        ss.pop("plan_station", None)


def _entered_point() -> tuple[float, float] | None:
    try:
        return planning.to_district_point(ss.get("plan_lon"), ss.get("plan_lat"),
                                          ss.get("plan_edit_system", "wgs84"))
    except planning.PlanningError as exc:
        _notice("error", exc.message(lang))
        return None


def _on_move() -> None:
    code, pt = ss.get("plan_station"), _entered_point()
    if code and pt:
        _push(planning.Edit("move", code=code, lon=pt[0], lat=pt[1]))


def _on_add() -> None:
    pt = _entered_point()
    services = tuple(ss.get("plan_new_services") or ())
    if pt is None:
        return
    if not services:
        _notice("error", t("planning.err_services", lang))
        return
    _push(planning.Edit("add", lon=pt[0], lat=pt[1], services=services))


def _on_undo() -> None:
    _set_stack(ss["plan_stack"].undo())


def _on_reset() -> None:
    _set_stack(scenarios.EditStack())


def _on_map_select() -> None:
    """A click on the map: add or remove a station (by click mode), add a candidate, or fill the editor.
    A selection is acted on once: the chart sends it again on later reruns."""
    pick, ss["plan_map_seen"] = planning.new_pick(ss.get("plan_map"), ss["plan_map_seen"])
    if pick is None:
        return
    mode = ss.get("plan_click_mode", "add_station")
    if pick.kind == "station" and pick.code:
        ss["plan_station"] = pick.code
    ss["plan_lon"], ss["plan_lat"], ss["plan_edit_system"] = round(pick.lon, 6), round(pick.lat, 6), "wgs84"
    if mode == "add_candidate" and pick.kind != "station":
        ss["plan_clicked"] = ss["plan_clicked"] + [(pick.lon, pick.lat)]
        _notice("info", t("planning.candidate_added", lang, n=len(ss["plan_clicked"])))
        return
    edit = planning.edit_for_pick(pick, mode, ss.get("plan_new_services") or planning.SERVICES)
    if edit is not None:
        _push(edit)


def _on_clear_clicked() -> None:
    ss["plan_clicked"] = []


def _on_apply_plan() -> None:
    run = ss.get("plan_result")
    if run:
        _push(planning.scenario_edits(run["exact"]))


def _save(name: str | None, stack: scenarios.EditStack, service: str, radius: float,
          siting: dict | None = None) -> None:
    """Store a scenario (who: the name typed, until sign-in gives an actor) and add it to the comparison."""
    try:
        sc = scenarios.save(name, stack, service, radius, ss.get("plan_author"), lang=lang, siting=siting,
                            store=store)
    except (planning.PlanningError, DomainError) as exc:
        _notice("error", exc.message(lang) if isinstance(exc, planning.PlanningError) else str(exc))
        return
    if "plan_compare" in ss:
        ss["plan_compare"] = [*ss["plan_compare"], sc.id]
    _notice("success", t("planning.saved", lang, name=sc.name))


def _on_save(which: str) -> None:
    """Save a siting answer: the edits it was solved on plus its sites, with the run's summary."""
    run = ss.get("plan_result")
    if run:
        _, service, radius = run["key"]
        try:
            stack = run["stack"].push(planning.scenario_edits(run[which]), store=store)
        except planning.PlanningError as exc:
            _notice("error", exc.message(lang))
            return
        default = scenarios.default_name(run[which], lang)
        _save(ss.get("plan_scenario_name") or default, stack, service, radius, scenarios.siting_summary(run[which]))


def _on_save_edits() -> None:
    _save(ss.get("plan_save_name"), ss["plan_stack"], ss.get("plan_service", "appeal"),
          ss.get("plan_radius", planning.DEFAULT_RADIUS_M))


def _on_load() -> None:
    """Replace the edits, service and radius with a saved scenario's."""
    chosen = ss.get("plan_compare") or []
    if len(chosen) != 1:
        return
    try:
        sc = scenarios.load(chosen[0], store=store)
    except DomainError as exc:
        _notice("error", str(exc))
        return
    if sc.service in planning.SERVICE_OPTIONS:
        ss["plan_service"] = sc.service
    if planning.RADIUS_MIN_M <= sc.radius_m <= planning.RADIUS_MAX_M:
        ss["plan_radius"] = int(sc.radius_m)
    _set_stack(sc.stack)
    _notice("success", t("planning.loaded", lang, name=sc.name, n=len(sc.stack.edits)))


def _on_delete_scenarios() -> None:
    chosen = ss.get("plan_compare") or []
    n = scenarios.delete(chosen, store=store)
    ss["plan_compare"] = []
    _notice("info", t("planning.deleted", lang, n=n))


# ------------------------------------------------------------------------------------------- settings
st.title(t("planning.title", lang))
st.caption(t("planning.caption", lang))

with st.sidebar:
    st.subheader(t("planning.settings", lang))
    service = st.selectbox(t("planning.service", lang), planning.SERVICE_OPTIONS, key="plan_service",
                           format_func=lambda s: planning.service_label(s, lang))
    radius = st.slider(t("planning.radius", lang), planning.RADIUS_MIN_M, planning.RADIUS_MAX_M,
                       planning.DEFAULT_RADIUS_M, planning.RADIUS_STEP_M, key="plan_radius")
    st.subheader(t("planning.map_layers", lang))
    show_circles = st.checkbox(t("planning.show_circles", lang), True, key="plan_show_circles")
    show_gaps = st.checkbox(t("planning.show_gaps", lang), True, key="plan_show_gaps")
    show_grids = st.checkbox(t("planning.show_grids", lang), False, key="plan_show_grids")
    st.radio(t("planning.click_mode", lang), planning.CLICK_MODES, key="plan_click_mode",
             format_func=lambda m: t(f"planning.click_{m}", lang), help=t("planning.click_help", lang))

stack: scenarios.EditStack = ss["plan_stack"]
edits: tuple[planning.Edit, ...] = stack.edits
stations = planning.network(edits, store=store)
fig = planning.figures(stations, service, radius, store=store)
base = planning.figures(planning.base_stations(store=store), service, radius, store=store)

# ------------------------------------------------------------------------------------------- KPIs
kpis = st.columns(5)
changed = bool(edits)


def _pp(now: float, then: float) -> str | None:
    return f"{(now - then) * 100:+.2f} pp" if changed else None


kpis[0].metric(t("planning.kpi_population", lang), f"{fig.population_share:.1%}",
               _pp(fig.population_share, base.population_share),
               help=t("planning.kpi_population_help", lang, covered=f"{fig.population_covered:,}",
                      total=f"{fig.population:,}"))
kpis[1].metric(t("planning.kpi_buildings", lang), f"{fig.buildings_share:.1%}",
               _pp(fig.buildings_share, base.buildings_share),
               help=t("planning.kpi_buildings_help", lang, covered=f"{fig.buildings_covered:,}",
                      total=f"{fig.buildings:,}"))
kpis[2].metric(t("planning.kpi_grids", lang), f"{fig.grids_share:.1%}", _pp(fig.grids_share, base.grids_share),
               help=t("planning.kpi_grids_help", lang, covered=f"{fig.grids_covered:,}", total=f"{fig.grids:,}"))
kpis[3].metric(t("planning.kpi_uncovered", lang), f"{fig.population_uncovered:,}",
               f"{fig.population_uncovered - base.population_uncovered:+,}" if changed else None,
               delta_color="inverse")
kpis[4].metric(t("planning.kpi_stations", lang), f"{fig.stations:,}",
               f"{fig.stations - base.stations:+,}" if changed else None)

notice = ss.get("plan_notice")
if notice:
    st.toast(notice[1], icon={"error": "⚠️", "success": "✅"}.get(notice[0], "ℹ️"),
             duration="long" if notice[0] == "error" else "short")
    ss["plan_notice"] = None
last = planning.edit_delta(edits, service, radius, store=store)
last_slot = st.container()  # always present, so that the widgets below keep their place (and the tabs theirs)
if last is not None:
    before = planning.network(edits[:-1], store=store)
    last_slot.info(t("planning.last_edit", lang, edit=edits[-1].describe(lang, before),
                     gained=f"{last['population_gained']:,.0f}", lost=f"{last['population_lost']:,.0f}"))

# ------------------------------------------------------------------------------------------- map + editor
run = ss.get("plan_result")
fresh = bool(run) and run["key"] == (edits, service, radius)
map_col, edit_col = st.columns([3, 1.15])
with map_col:
    deck = planning.planner_deck(stations, service, radius, lang, scenario=run["exact"] if fresh else None,
                                 candidate_points=ss["plan_clicked"], show_circles=show_circles,
                                 show_gaps=show_gaps, show_grids=show_grids, generation=ss["plan_map_gen"], store=store)
    st.pydeck_chart(deck, height=640, key="plan_map", on_select=_on_map_select, selection_mode="single-object")
    st.caption(t("planning.legend", lang, radius=radius, cell=int(planning.GAP_CELL_M)))

with edit_col:
    st.subheader(t("planning.whatif", lang))
    names = dict(zip(stations.code, stations.name, strict=True))
    if ss.get("plan_station") not in names:
        ss.pop("plan_station", None)
    st.selectbox(t("planning.station", lang), list(stations.code), key="plan_station",
                 format_func=lambda c: f"{names.get(c, c)} ({c})")
    st.button(t("planning.remove", lang), key="plan_remove", on_click=_on_remove, width="stretch")
    st.selectbox(t("planning.system", lang), SOURCE_SYSTEMS, key="plan_edit_system",
                 format_func=lambda s: t(f"planning.system_{s}", lang))
    c1, c2 = st.columns(2)
    c1.number_input(t("planning.lon", lang), format="%.6f", step=0.001, key="plan_lon")
    c2.number_input(t("planning.lat", lang), format="%.6f", step=0.001, key="plan_lat")
    st.multiselect(t("planning.new_services", lang), planning.SERVICES, key="plan_new_services",
                   format_func=lambda s: planning.service_label(s, lang), placeholder=t("widget.choose_options", lang))
    b1, b2 = st.columns(2)
    b1.button(t("planning.move", lang), key="plan_move", on_click=_on_move, width="stretch")
    b2.button(t("planning.add", lang), key="plan_add", on_click=_on_add, width="stretch")
    st.caption(t("planning.edits", lang, n=len(edits)))
    for i, e in enumerate(edits[-8:], start=max(len(edits) - 8, 0) + 1):
        st.markdown(f"{i}. {e.describe(lang, planning.network(edits[:i - 1], store=store))}")
    u1, u2 = st.columns(2)
    u1.button(t("planning.undo", lang), key="plan_undo", on_click=_on_undo, disabled=not edits, width="stretch")
    u2.button(t("planning.reset", lang), key="plan_reset", on_click=_on_reset, disabled=not edits, width="stretch")

# ------------------------------------------------------------------------------------------- tabs
tab_cov, tab_gap, tab_site, tab_cmp = st.tabs([t("planning.tab_coverage", lang), t("planning.tab_gaps", lang),
                                               t("planning.tab_siting", lang),
                                               t("planning.tab_compare", lang)], key="plan_tab", on_change="rerun")

with tab_cov:
    level = st.segmented_control(t("planning.level", lang), planning.TABLE_LEVELS, key="plan_level",
                                 format_func=lambda v: t(f"planning.level_{v}", lang)) or "subdistrict"
    tables = planning.coverage_tables(stations, (service,), radius, (level,), store=store)
    table = planning.display_table(tables[level], lang)
    st.dataframe(table, hide_index=True, width="stretch")
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button(t("planning.export_xlsx", lang),
                       ui.audited_export("planning.coverage.xlsx", functools.partial(
                           planning.export_coverage, stations, radius, lang, edits)),
                       file_name=f"coverage_{radius}m.xlsx", key="plan_dl_xlsx", on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    d2.download_button(t("planning.export_csv", lang), ui.audited_export("planning.coverage.csv", planning.export_csv(table)),
                       file_name=f"coverage_{level}_{service}_{radius}m.csv", mime="text/csv", key="plan_dl_csv",
                       on_click="ignore")
    st.caption(t("planning.coverage_note", lang))

with tab_gap:
    cells = planning.gap_cells(stations, service, radius, store=store)
    st.markdown(t("planning.gap_summary", lang, people=f"{fig.population_uncovered:,}",
                  buildings=f"{fig.buildings - fig.buildings_covered:,}", cells=len(cells),
                  cell=int(planning.GAP_CELL_M)))
    st.dataframe(planning.gap_grids(stations, service, radius, lang, store=store), hide_index=True, width="stretch")

with tab_site:
    f1, f2, f3 = st.columns(3)
    model = f1.radio(t("planning.model", lang), planning.MODELS, key="plan_model",
                     format_func=lambda m: t(f"planning.model_{m}", lang))
    f1.caption(t(f"planning.model_{model}_help", lang))
    k = f2.number_input(t("planning.k", lang), 1, planning.K_MAX, planning.DEFAULT_K, key="plan_k",
                        disabled=model != "mclp")
    time_limit = f2.number_input(t("planning.time_limit", lang), 1, int(planning.TIME_LIMIT_MAX_S),
                                 int(planning.TIME_LIMIT_DEFAULT_S), key="plan_time_limit")
    source = f3.selectbox(t("planning.source", lang), planning.CANDIDATE_SOURCES, key="plan_source",
                          format_func=lambda s: t(f"planning.source_{s}", lang))
    n_buildings, points_text, upload, system = planning.DEFAULT_BUILDING_CANDIDATES, "", None, "wgs84"
    if source == "buildings":
        n_buildings = f3.number_input(t("planning.n_buildings", lang), 100, 60000,
                                      planning.DEFAULT_BUILDING_CANDIDATES, step=500, key="plan_n_buildings")
    if source in ("points", "upload"):
        system = f3.selectbox(t("planning.cand_system", lang), SOURCE_SYSTEMS, key="plan_cand_system",
                              format_func=lambda s: t(f"planning.system_{s}", lang))
    if source == "points":
        points_text = st.text_area(t("planning.points", lang), key="plan_points",
                                   placeholder="113.9350, 22.7800\n113.9012, 22.7523")
        p1, p2 = st.columns([3, 1])
        p1.caption(t("planning.clicked_points", lang, n=len(ss["plan_clicked"])))
        p2.button(t("planning.clear_points", lang), key="plan_clear_points", on_click=_on_clear_clicked,
                  disabled=not ss["plan_clicked"])
    if source == "upload":
        upload = st.file_uploader(t("planning.upload", lang), type=["csv", "xlsx"], key="plan_upload")
    st.caption(t("planning.siting_basis", lang, service=planning.service_label(service, lang), radius=radius,
                 n=len(stations)))

    if st.button(t("planning.run", lang), key="plan_run", type="primary"):
        try:
            tbl = planning.read_table(upload.name, upload.getvalue()) if upload is not None else None
            cands, rejected = planning.build_candidates(source, n_buildings=n_buildings,
                                                        clicked=ss["plan_clicked"], points_text=points_text,
                                                        table=tbl, system=system, store=store)
            inst = planning.prepare(stations, service, radius, cands, store=store)
            greedy = planning.solve(inst, model, k, "greedy", time_limit)
        except planning.PlanningError as exc:
            st.error(exc.message(lang))
        else:
            st.markdown(t("planning.greedy_first", lang, sites=len(greedy.sites),
                          gained=f"{greedy.summary['population_gained']:,.0f}"))
            st.dataframe(planning.sites_table(greedy, lang, store=store), hide_index=True, width="stretch")
            with st.status(t("planning.exact_running", lang, limit=time_limit), expanded=True) as status:
                job = planning.ExactRun(inst, model, k, time_limit)
                bar = st.progress(0.0)
                while not job.done():
                    bar.progress(job.fraction(), text=t("planning.elapsed", lang, s=f"{job.elapsed():.1f}"))
                    time.sleep(0.1)
                exact = job.result()
                bar.progress(1.0)
                status.update(label=t("planning.exact_done", lang, s=f"{exact.summary['total_s']:.2f}"),
                              state="complete")
            ss["plan_result"] = {"greedy": greedy, "exact": exact, "key": (edits, service, radius),
                                 "stack": stack, "rejected": rejected}
            st.rerun()

    run = ss.get("plan_result")
    if run:
        greedy, exact = run["greedy"], run["exact"]
        sm = exact.summary
        if run["key"] != (edits, service, radius):
            st.warning(t("planning.stale", lang))
        st.subheader(t("planning.result", lang, model=t(f"planning.model_{exact.model}", lang)))
        r1, r2, r3, r4 = st.columns(4)
        r1.metric(t("planning.res_status", lang), planning.status_label(exact.result.status, lang))
        r2.metric(t("planning.res_gap", lang), f"{sm['mip_gap']:.2%}" if math.isfinite(sm["mip_gap"]) else "-")
        if exact.model == "mclp":
            r3.metric(t("planning.res_gained", lang), f"{sm['population_gained']:,.0f}",
                      f"{sm['population_gained'] - greedy.summary['population_gained']:+,.0f} "
                      + t("planning.vs_greedy", lang))
        else:
            r3.metric(t("planning.res_sites", lang), f"{sm['sites']:,}",
                      f"{sm['sites'] - greedy.summary['sites']:+,} " + t("planning.vs_greedy", lang),
                      delta_color="inverse")
        r4.metric(t("planning.res_share", lang), f"{sm['population_share_after']:.1%}",
                  f"{(sm['population_share_after'] - sm['population_share_before']) * 100:+.1f} pp")
        key = "planning.explain_mclp" if exact.model == "mclp" else "planning.explain_lscp"
        st.markdown(t(key, lang, k=exact.k or 0, sites=sm["sites"], gained=f"{sm['population_gained']:,.0f}",
                      greedy_sites=greedy.summary["sites"], greedy=f"{greedy.summary['population_gained']:,.0f}",
                      candidates=f"{sm['candidates']:,}", status=planning.status_label(exact.result.status, lang),
                      bound=f"{sm['bound']:,.0f}", s=f"{sm['total_s']:.2f}",
                      unreachable=f"{sm['unreachable_population']:,.0f}"))
        st.dataframe(planning.sites_table(exact, lang, store=store), hide_index=True, width="stretch", key="plan_sites")
        rejected = run.get("rejected")
        if rejected is not None and len(rejected):
            with st.expander(t("planning.rejected", lang, n=len(rejected))):
                st.dataframe(rejected, hide_index=True)
        e1, e2, e3, e4 = st.columns(4)
        stem = f"siting_{exact.model}_{sm['service']}_{int(exact.radius_m)}m"
        e1.download_button(t("planning.export_geojson", lang), ui.audited_export("planning.sites.geojson", exact.to_geojson),
                           file_name=f"{stem}.geojson",
                           mime="application/geo+json", key="plan_dl_geojson", on_click="ignore")
        e2.download_button(t("planning.export_csv", lang), ui.audited_export("planning.sites.csv", exact.to_csv), file_name=f"{stem}.csv",
                           mime="text/csv", key="plan_dl_sites_csv", on_click="ignore")
        e3.download_button(t("planning.export_xlsx", lang), ui.audited_export("planning.sites.xlsx", exact.to_xlsx), file_name=f"{stem}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key="plan_dl_sites_xlsx", on_click="ignore")
        e4.button(t("planning.apply", lang), key="plan_apply", on_click=_on_apply_plan,
                  help=t("planning.apply_help", lang))
        s1, s2, s3 = st.columns([2, 1, 1])
        s1.text_input(t("planning.scenario_name", lang), key="plan_scenario_name",
                      placeholder=scenarios.default_name(exact, lang))
        s2.button(t("planning.save", lang), key="plan_save", on_click=_on_save, args=("exact",))
        s3.button(t("planning.save_greedy", lang), key="plan_save_greedy", on_click=_on_save, args=("greedy",))

with tab_cmp:
    saved = scenarios.saved(store=store)
    n1, n2, n3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    n1.text_input(t("planning.scenario_name", lang), key="plan_save_name",
                  placeholder=t("planning.scenario_numbered", lang, n=len(saved) + 1))
    n2.text_input(t("planning.author", lang), key="plan_author", placeholder=t("planning.default_author", lang))
    n3.button(t("planning.save_edits", lang), key="plan_save_edits", on_click=_on_save_edits,
              help=t("planning.save_edits_help", lang), width="stretch")
    if not saved:
        st.caption(t("planning.no_scenarios", lang))
    else:
        by_id = {sc.id: sc.name for sc in saved}
        st.markdown(f"**{t('planning.saved_list', lang, n=len(saved))}**")
        st.table(scenarios.saved_table(saved, lang))
        ss["plan_compare"] = ([i for i in ss["plan_compare"] if i in by_id] if "plan_compare" in ss
                              else list(by_id))
        chosen = st.multiselect(t("planning.compare_pick", lang), list(by_id), key="plan_compare",
                                format_func=lambda i: by_id.get(i, str(i)),
                                placeholder=t("widget.choose_options", lang))
        if chosen:
            frame = scenarios.compare_frame([sc for sc in saved if sc.id in chosen], lang, store=store)
            st.dataframe(frame, width="stretch", height=36 * (len(frame) + 1) + 4)
        b1, b2, _ = st.columns([1, 1, 2])
        b1.button(t("planning.load", lang), key="plan_load", on_click=_on_load, disabled=len(chosen) != 1,
                  help=t("planning.load_help", lang), width="stretch")
        b2.button(t("planning.delete", lang), key="plan_delete", on_click=_on_delete_scenarios,
                  disabled=not chosen, width="stretch")

st.caption(t("planning.footer", lang, cell=int(planning.GAP_CELL_M)))
