"""The parts of the analysis page (pages/analysis.py): the export buttons (services/exports.py, the one
export path), the headline figures with 环比/同比, the child areas' map and table, the breakdowns, the trend,
the rising categories, a grid's appeals, one appeal's timeline and the department assessment tab. Each
draws what a service returns; none computes a figure or decides a right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st

from geo import mapview
from services import access, assessment, district, exports, timeline, wall
from services.analysis import drill, service
from services.analysis.measures import BY_CODE, CODES, describe_measures, measure
from services.analysis.periods import Period
from services.i18n import label, t
from services.store.base import Store

HEADLINE = ("received", "accepted", "resolved", "resolution_rate", "same_day_rate", "class1_respond_on_time",
            "class1_accept_on_time", "major_resolved_in_time_rate", "overdue_now", "overdue_in_period", "reopened",
            "satisfied", "gatherings", "orders_issued", "repeat_appeals")
AREA_LAYER = "an-areas"
APPEAL_LAYER = "an-appeals"


def _export_data(store: Store, who: access.Principal, frame: pd.DataFrame, fmt: str, *, what: str, title: str,
                 period: str, area: str, lang: str, headers: Mapping[str, str] | None) -> Callable[[], bytes]:
    """The bytes of one export, made (and audited) only when the browser downloads it."""
    return lambda: exports.export(store, who, frame, what=what, title=title, period=period, area=area, lang=lang,
                                  fmt=fmt, headers=headers).data


def export_buttons(store: Store, who: access.Principal, frame: pd.DataFrame, *, what: str, title: str, period: str,
                   area: str, lang: str, key: str, headers: Mapping[str, str] | None = None) -> None:
    """xlsx and CSV download buttons for ``frame`` (columns by code), through services/exports.py."""
    c1, c2, _ = st.columns([1, 1, 4])
    for col, fmt in ((c1, "xlsx"), (c2, "csv")):
        col.download_button(t(f"analysis_page.export_{fmt}", lang),
                            _export_data(store, who, frame, fmt, what=what, title=title, period=period, area=area,
                                         lang=lang, headers=headers),
                            file_name=exports.file_name(title, period, area, fmt), mime=exports.MIME[fmt],
                            key=f"{key}_{fmt}", on_click="ignore")


def styled(frame: pd.DataFrame, rates: list[str]) -> object:
    """``frame`` for display: rates as percentages, and "—" where a figure has no value (not the grid's own
    English "None")."""
    numbers = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c not in rates]
    floats = [c for c in numbers if pd.api.types.is_float_dtype(frame[c])]
    return (frame.style.format("{:.1%}", subset=rates, na_rep="—")
            .format("{:,.1f}", subset=floats, na_rep="—"))


def measure_headers(lang: str) -> dict[str, str]:
    """Column headers of a figures table: each measure by its name, and the area columns."""
    out = {m["code"]: m["name"] for m in describe_measures(lang)}
    out.update(code=t("analysis.code", lang), name=t("analysis.area", lang), flagged=t("analysis_page.flag", lang))
    return out


def _change(now: float, before: float, rate: bool, lang: str) -> str | None:
    if now != now or before != before:
        return None
    d = now - before
    return f"{d * 100:+.1f}{t('analysis_page.pp', lang)}" if rate else f"{int(d):+d}"


def _value(v: float, rate: bool) -> str:
    if v != v:
        return "—"
    return f"{v:.1%}" if rate else f"{int(v):,}"


def headline(fig: service.Figures, lang: str) -> None:
    """The area's own figures, each with its change against the previous period (环比, the delta) and the
    same period last year (同比, below), the definition as the help."""
    now, prev, last = (f.iloc[0] for f in (fig.current, fig.previous, fig.last_year))
    st.caption(t("analysis_page.compare", lang, previous=fig.previous_period.label(lang),
                 last_year=fig.last_year_period.label(lang)))
    cols = st.columns(5)
    for i, code in enumerate(HEADLINE):
        m = measure(code)
        rate = m.kind == "rate"
        col = cols[i % 5]
        yoy = _change(float(now[code]), float(last[code]), rate, lang)
        col.metric(m.name(lang), _value(float(now[code]), rate), delta=_change(float(now[code]), float(prev[code]),
                                                                              rate, lang),
                   help=m.definition(lang), delta_color="inverse" if code.startswith(("overdue", "reopened",
                                                                                      "repeat")) else "normal")
        col.caption(t("analysis_page.vs_last_year_short", lang, change=yoy or t("analysis_page.no_change", lang)))


def _tips(rows: pd.DataFrame, code: str, lang: str) -> list[str]:
    m = measure(code)
    return [f"{n}\n{m.name(lang)}: {_value(float(v), m.kind == 'rate')}" for n, v in zip(rows["name"], rows[code],
                                                                                        strict=True)]


def _legend(bins: list[float], code: str, lang: str) -> None:
    rate = measure(code).kind == "rate"
    parts, low = [], None
    for i, edge in enumerate(bins):
        color = drill.shade(edge, bins)
        if low is None:
            text = f"≤ {_value(edge, rate)}"
        elif rate:
            text = f"{_value(low, rate)} – {_value(edge, rate)}"
        else:                                   # whole numbers: the step holds low+1 … edge
            text = _value(edge, rate) if edge == low + 1 else f"{int(low) + 1} – {int(edge)}"
        parts.append(f"<span style='display:inline-block;width:14px;height:14px;background:rgb{color};"
                     f"margin:0 4px 0 12px;vertical-align:middle'></span>{text}")
        low = bins[i]
    parts.append(f"<span style='display:inline-block;width:14px;height:14px;background:rgb{drill.NO_VALUE};"
                 f"margin:0 4px 0 12px;vertical-align:middle'></span>{t('analysis_page.legend_none', lang)}")
    st.markdown(" ".join(parts), unsafe_allow_html=True)
    st.caption(measure(code).definition(lang))


def area_map(view: drill.View, rows: pd.DataFrame, lang: str) -> str | None:
    """The child areas shaded by the chosen measure, with its legend; the code of an area picked on it."""
    codes = [c for c in CODES if c not in ("same_day_due", "class1_respond_due", "class1_accept_due", "major_due")]
    chosen = st.selectbox(t("analysis_page.measure", lang), codes, index=codes.index("received"), key="an_measure",
                          format_func=lambda c: measure(c).name(lang))
    recs, bins = drill.area_records(view.child_level, rows, chosen, _tips(rows, chosen, lang))
    layers = [mapview.fill_layer(AREA_LAYER, recs, fill="fill", line=[40, 40, 40, 200])]
    deck = mapview.deck(layers, mapview.view_state(district.bounds(view.code), 900, 480),
                        tooltip=district.tip_tooltip(14))
    st.caption(t("analysis_page.map", lang, level=t(f"layer.{view.child_level}", lang), measure=measure(chosen).name(lang)))
    event = st.pydeck_chart(deck, height=480, key=f"an_map_{view.level}_{view.code}", on_select="rerun",
                            selection_mode="single-object")
    _legend(bins, chosen, lang)
    return drill.pick(event, AREA_LAYER, "code")


def area_table(view: drill.View, rows: pd.DataFrame, lang: str) -> str | None:
    """The measures per child area, the definitions as the headers' tooltips, flagged areas marked; the code
    of the row selected."""
    shown = rows.copy()
    shown["flagged"] = [t("analysis_page.flag_mark", lang) if f else "" for f in shown["flagged"]]
    config: dict[str, object] = {
        "code": st.column_config.TextColumn(t("analysis.code", lang)),
        "name": st.column_config.TextColumn(t("analysis.area", lang)),
        "flagged": st.column_config.TextColumn(t("analysis_page.flag", lang),
                                               help=measure_definition_flag(lang)),
    }
    for m in describe_measures(lang):
        config[m["code"]] = st.column_config.Column(m["name"], help=m["definition"])
    n = int(rows["flagged"].sum())
    if n:
        st.warning(t("analysis_page.flagged_caption", lang, n=n, definition=measure_definition_flag(lang)))
    st.caption(t("analysis_page.children", lang))
    rates = [m["code"] for m in describe_measures(lang) if m["kind"] == "rate"]
    event = st.dataframe(styled(shown[["name", "flagged", *CODES, "code"]], rates), hide_index=True,
                         column_config=config,
                         on_select="rerun", selection_mode="single-row", key=f"an_rows_{view.level}_{view.code}",
                         width="stretch")
    picked = list(getattr(event, "selection", {}).get("rows", []) or [])
    return str(rows.iloc[picked[0]]["code"]) if picked else None


def measure_definition_flag(lang: str) -> str:
    from services.analysis.measures import rule_numbers

    return t("analysis.definition.flagged", lang, **rule_numbers())


def breakdowns(store: Store, who: access.Principal, view: drill.View, lang: str, ctx: dict[str, str]) -> None:
    """Received by channel and by service type in the area looked at, each with its exports."""
    cols = st.columns(2)
    for col, by in zip(cols, ("channel", "service_type"), strict=True):
        df = service.breakdown(store, who, view.level, view.code, view.period, by)
        df = df.dropna(subset=["value"]).groupby("value", as_index=False)["received"].sum()
        df.insert(0, by, [label(by, v, lang) for v in df["value"]])
        df = df.drop(columns=["value"]).sort_values("received", ascending=False, ignore_index=True)
        with col:
            st.markdown(f"**{t(f'analysis_page.by_{by}', lang)}**")
            if len(df):
                st.bar_chart(df.set_index(by)["received"], horizontal=True, height=220,
                             x_label=measure("received").name(lang), y_label="")
            st.dataframe(df, hide_index=True, width="stretch", column_config={
                by: t(f"analysis_page.col_{by}", lang), "received": measure("received").name(lang)})
            export_buttons(store, who, df, what=f"analysis.breakdown_{by}", lang=lang, key=f"an_x_{by}",
                           title=f"{t('analysis_page.title_breakdown', lang)}_{t(f'analysis_page.by_{by}', lang)}",
                           headers={by: t(f"analysis_page.col_{by}", lang), "received": measure("received").name(lang)},
                           **ctx)


def trend(store: Store, who: access.Principal, view: drill.View, lang: str, ctx: dict[str, str]) -> None:
    """The cohort measures per day or week of the period, chosen measures on a line chart."""
    st.subheader(t("analysis_page.trend", lang))
    c1, c2 = st.columns([1, 3])
    bucket = c1.segmented_control(t("analysis_page.bucket", lang), ("day", "week"), default="day", key="an_bucket",
                                  format_func=lambda b: t(f"analysis_page.bucket_{b}", lang)) or "day"
    df = service.trend(store, who, view.code, view.period, bucket)
    options = [c for c in df.columns if c != "bucket"]
    chosen = c2.multiselect(t("analysis_page.trend_measures", lang), options, default=["received", "resolved"],
                            key="an_trend_measures", format_func=lambda c: measure(c).name(lang))
    if chosen:
        chart = df.set_index("bucket")[chosen].rename(columns={c: measure(c).name(lang) for c in chosen})
        st.line_chart(chart, height=260, x_label=t("analysis.period", lang), y_label="")
    headers = {"bucket": t("analysis.period", lang), **{c: measure(c).name(lang) for c in options}}
    export_buttons(store, who, df, what=f"analysis.trend_{bucket}", title=t("analysis_page.title_trend", lang),
                   lang=lang, key="an_x_trend", headers=headers, **ctx)


def rising(store: Store, who: access.Principal, view: drill.View, lang: str, ctx: dict[str, str]) -> None:
    """The categories that rose against the previous period (每月一分析)."""
    st.subheader(t("analysis_page.rising", lang))
    df = service.categories_rising(store, who, view.code, view.period, lang=lang)
    if df.empty:
        st.info(t("analysis_page.rising_none", lang))
        return
    headers = {"category": t("analysis.code", lang), "name": t("analysis_page.col_category", lang),
               "received": measure("received").name(lang), "previous": t("analysis_page.col_previous", lang),
               "change": t("analysis_page.col_change", lang), "change_rate": t("analysis_page.col_change_rate", lang)}
    st.dataframe(styled(df[["name", "received", "previous", "change", "change_rate"]], ["change_rate"]),
                 hide_index=True, width="stretch", column_config={k: v for k, v in headers.items() if k != "category"})
    export_buttons(store, who, df, what="analysis.rising", title=t("analysis_page.title_rising", lang), lang=lang,
                   key="an_x_rising", headers=headers, **ctx)


def _appeal_view(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    out = pd.DataFrame({"id": df["id"].astype(int)})
    out["reported_at"] = pd.to_datetime(df["reported_at"]).dt.strftime("%Y-%m-%d %H:%M")
    for col in ("status", "tier", "appeal_class", "category", "channel", "service_type", "handling_level"):
        out[col] = [label(col, v, lang) if isinstance(v, str) else "" for v in df[col]]
    out["reopened_count"] = df["reopened_count"].fillna(0).astype(int)
    due = pd.to_datetime(df["next_deadline_at"])
    out["next_deadline_at"] = [d.strftime("%Y-%m-%d %H:%M") if pd.notna(d) else "" for d in due]
    return out


def appeal_headers(lang: str) -> dict[str, str]:
    cols = ("id", "reported_at", "status", "tier", "appeal_class", "channel", "service_type", "handling_level",
            "reopened_count", "next_deadline_at")
    return {**{c: t(f"analysis_page.col_{c}", lang) for c in cols}, "category": t("analysis_page.col_category", lang)}


def grid_appeals(store: Store, who: access.Principal, view: drill.View, lang: str, ctx: dict[str, str]) -> int | None:
    """The grid's appeals of the period on a map and in a list; the id of one picked on either."""
    df = drill.appeals_in(store, who, view.code, view.period)
    if df.empty:
        st.info(t("analysis_page.appeals_none", lang))
        return None
    grid = district.layers()["grid"]
    outline = mapview.path_records(grid[grid["code"] == view.code], ("code",), tolerance_m=2.0, precision=6)
    shown = _appeal_view(df, lang)
    placed = (df["lon"].notna() & df["lat"].notna()).to_numpy()          # an appeal without a place is listed only
    on_map = shown[placed]
    recs = mapview.point_records(df["lon"][placed], df["lat"][placed], {
        "id": on_map["id"].tolist(),
        "tip": [f"{t('analysis_page.appeal', lang, id=i)}\n{c} · {s}"
                for i, c, s in zip(on_map["id"], on_map["category"], on_map["status"], strict=True)]})
    layers = [mapview.line_layer("an-grid", outline, color=[255, 213, 74, 220], width_px=2),
              mapview.points_layer(APPEAL_LAYER, recs, color=[222, 45, 38, 220], radius_m=12, min_px=5, max_px=12)]
    bounds = tuple(grid[grid["code"] == view.code].total_bounds)
    event = st.pydeck_chart(mapview.deck(layers, mapview.view_state(bounds, 900, 420), tooltip=district.tip_tooltip(14)),
                            height=420, key=f"an_map_grid_{view.code}", on_select="rerun",
                            selection_mode="single-object")
    picked_map = drill.pick(event, APPEAL_LAYER, "id")
    headers = appeal_headers(lang)
    st.caption(t("analysis_page.appeals", lang, n=len(shown)))
    table = st.dataframe(shown, hide_index=True, width="stretch", column_config=headers, on_select="rerun",
                         selection_mode="single-row", key=f"an_appeals_{view.code}")
    export_buttons(store, who, shown, what="analysis.appeals", title=t("analysis_page.title_appeals", lang),
                   lang=lang, key="an_x_appeals", headers=headers, **ctx)
    rows = list(getattr(table, "selection", {}).get("rows", []) or [])
    if rows:
        return int(shown.iloc[rows[0]]["id"])
    return int(picked_map) if picked_map is not None else None


def appeal_timeline(store: Store, who: access.Principal, appeal_id: int, lang: str, ctx: dict[str, str]) -> None:
    """One appeal's facts and timeline as the workbench shows them, read-only, masked by role."""
    appeal = wall.appeal_detail(store, appeal_id, who, wall_mode=False)
    st.subheader(t("analysis_page.appeal", lang, id=appeal_id))
    facts = _appeal_view(pd.DataFrame([appeal]), lang).iloc[0]
    cols = st.columns(4)
    for i, key in enumerate(("status", "category", "reported_at", "handling_level")):
        cols[i].metric(appeal_headers(lang)[key], facts[key] or "—")
    if appeal.get("description"):
        st.write(appeal["description"])
    events = wall.appeal_events(store, appeal_id, who, wall_mode=False)
    tl = timeline.timeline(events, lang)
    tl["at"] = pd.to_datetime(tl["at"]).dt.strftime("%Y-%m-%d %H:%M")
    headers = {c: t(f"analysis_page.col_{c}", lang) for c in ("at", "action", "actor", "target", "note")}
    headers["status"] = t("analysis_page.col_status", lang)
    st.markdown(f"**{t('analysis_page.timeline', lang)}**")
    st.dataframe(tl, hide_index=True, width="stretch", column_config=headers)
    export_buttons(store, who, tl, what="analysis.timeline", lang=lang, key="an_x_timeline", headers=headers,
                   title=f"{t('analysis_page.title_timeline', lang)}_{appeal_id}", **ctx)


def _rank_change(v: float, lang: str) -> str:
    if v != v:
        return t("analysis_page.rank_new", lang)
    if v == 0:
        return t("analysis_page.rank_same", lang)
    return t("analysis_page.rank_up" if v > 0 else "analysis_page.rank_down", lang, n=int(abs(v)))


def assessment_tab(store: Store, who: access.Principal, p: Period, lang: str) -> None:
    """The department ranking with its rank change, and the community view, each with its exports, for
    the area the assessment covers for ``who`` (the district, or a scoped officer's own area), not the
    area drilled into."""
    covered = assessment.area_of(who)
    area = (next(iter(district.names("district", lang).values())) if covered is None
            else district.name_of(covered[0], covered[1], lang))
    ctx = {"period": p.label(lang), "area": area}
    st.caption(t("analysis_page.showing", lang, area=area, period=p.label(lang)))
    ranking = assessment.departments(store, who, p)
    names = district.names("department", lang, store)
    ranking["name"] = [names.get(c, c) for c in ranking["department_code"]]    # in the page's language
    st.subheader(t("analysis_page.departments", lang))
    st.caption(t("analysis_page.scheme", lang, scheme=t(f"analysis_page.scheme_{ranking.attrs['scheme']}", lang)))
    shown = ranking.copy()
    shown["rank_change"] = [_rank_change(v, lang) for v in ranking["rank_change"]]
    rates = [c for c in shown.columns if c.endswith("_rate")]
    st.dataframe(styled(shown, rates), hide_index=True, width="stretch",
                 column_config={c: exports.header(c, lang) for c in shown.columns})
    export_buttons(store, who, shown, what="assessment.departments", title=t("assessment.title_departments", lang),
                   lang=lang, key="an_x_departments", **ctx)
    st.subheader(t("analysis_page.communities", lang))
    comm = assessment.communities(store, who, p)
    cnames = district.names("community", lang)
    comm.insert(1, "community", [cnames.get(c, c) for c in comm["community_code"]])
    st.dataframe(styled(comm, [c for c in comm.columns if c.endswith("_rate")]), hide_index=True, width="stretch",
                 column_config={c: exports.header(c, lang) for c in comm.columns})
    export_buttons(store, who, comm, what="assessment.communities", title=t("assessment.title_communities", lang),
                   lang=lang, key="an_x_communities", **ctx)


__all__ = ["BY_CODE", "appeal_timeline", "area_map", "area_table", "assessment_tab", "breakdowns", "export_buttons",
           "grid_appeals", "headline", "rising", "trend"]
