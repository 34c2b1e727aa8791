"""Wall display (指挥大屏): the tiered warning map beside KPIs, the red list and dispatch controls.

``/wall?mode=wall`` is the unattended wall: read-only (no selection, no dispatch panel, no toolbars),
type of at least 20 px at 1920x1080, everything above the fold, no personal data. ``view=<subdistrict
code>`` scopes the figures, points and red list to one subdistrict. Everything live refreshes inside
one fragment; the map keeps the operator's pan and zoom because its key and initial view stay the same.
Actions run in button callbacks, before the fragment draws again, so the panel shows the new state.
"""

from __future__ import annotations

import json
from datetime import datetime

import altair as alt
import pandas as pd
import streamlit as st

from geo import mapview
from pages import ui
from services import clocks, district, wall
from services.errors import DomainError, describe
from services.i18n import label, t
from services.orders import rule_for_appeal
from services.timeline import timeline

lang = ui.lang()
wall_mode = ui.wall_mode()
role = ui.require("wall", lang)
WALL_ACTIONS = wall.WALL_ACTIONS
TIER_CSS = {"red": "#e62828", "yellow": "#f5be1e", "blue": "#2878e6"}


store = ui.store()

if wall_mode:
    # Readable from 5 m on a 1920x1080 wall: no text under 20 CSS px; no toolbars; nothing below the fold.
    st.html("""<style>
      [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header, footer,
      [data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stElementToolbar"],
      [data-testid="stDeckGlJsonChartZoomButton"] {display: none !important;}
      .block-container {padding: 0.4rem 1.0rem 0 1.0rem !important; max-width: 100% !important;}
      html, body, [data-testid="stAppViewContainer"] {font-size: 22px;}
      [data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] {font-size: 22px !important;}
      [data-testid="stMetricValue"] {font-size: 40px !important; font-weight: 700;}
      [data-testid="stMetric"] {padding: 0 !important;}
      [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {font-size: 20px !important;}
      [data-testid="stVerticalBlock"] {gap: 0.35rem !important;}
      .gm-title {font-size: 34px !important;}
      .gm-legend, .gm-legend b {font-size: 20px !important;}
      .gm-red-list td, .gm-red-list th {font-size: 22px !important; padding: 3px 8px;}
    </style>""")
st.html("""<style>
  [data-testid="stMetricValue"] {font-size: 2.4rem; font-weight: 700;}
  [data-testid="stMetricLabel"] p {font-size: 1.05rem;}
  [data-testid="stMetricLabel"] * {white-space: normal !important; overflow: visible !important;
                                   text-overflow: clip !important; line-height: 1.15;}
  .gm-title {font-size: 2.0rem; font-weight: 800; letter-spacing: .05em; margin: 0;}
  .gm-clock {font-size: 1.8rem; font-weight: 700; text-align: right; margin: 0;}
  .gm-view {font-size: 1.3rem; margin: 0; color: #ffd54a;}
  .gm-legend span.sw {display:inline-block; width:14px; height:14px; margin:0 4px 0 10px; vertical-align:middle;}
  .gm-legend {font-size: 1.0rem;}
  table.gm-red-list {width: 100%; border-collapse: collapse; table-layout: fixed;}
  .gm-red-list th {text-align: left; color: #bbb; border-bottom: 1px solid #555; white-space: nowrap;
                   overflow: hidden;}
  .gm-red-list td {border-bottom: 1px solid #333; vertical-align: top; line-height: 1.2; white-space: normal;}
  .gm-red-list td:nth-child(-n+2) {white-space: nowrap;}
  .gm-red-list td:last-child {overflow-wrap: anywhere;}
  .gm-tier {font-weight: 800;}
  .gm-late {color: #ff6b6b; font-weight: 700;}
</style>""")

sub_table = district.subdistrict_table(store, lang)
views = [("district", None)] + [(code, code) for code in sub_table.code] + [("red_list", None)]
sub_names = district.names("subdistrict", lang)


def _view_label(key: str) -> str:
    return {"district": t("wall.view_district", lang), "red_list": t("wall.view_red_list", lang)}.get(
        key, sub_names.get(key, key))


refresh_s = int(st.query_params.get("refresh", 10))
rotate = st.query_params.get("rotate") == "1"
url_view = st.query_params.get("view", "district")
if url_view not in {k for k, _ in views}:
    url_view = "district"
if not wall_mode:
    with st.sidebar:
        refresh_s = st.number_input(t("wall.refresh_every", lang), 5, 300, refresh_s, 5, key="wall_refresh")
        rotate = st.toggle(t("wall.rotate", lang), value=rotate, key="wall_rotate")
        keys = [k for k, _ in views]
        chosen_view = st.selectbox(t("wall.view", lang), keys, index=keys.index(url_view), format_func=_view_label,
                                   key="wall_view")
else:
    chosen_view = url_view


def _pick_view(now: datetime) -> str:
    """The view to show: the chosen one, or the one the rotation timer points at (one per minute)."""
    if not rotate:
        return chosen_view
    return views[int(now.timestamp() // 60) % len(views)][0]


def _area(view_key: str) -> tuple[str, str] | None:
    """The area a view scopes to: a subdistrict's code, or None for the whole district and the red list."""
    return ("subdistrict", view_key) if view_key in sub_names else None


# ------------------------------------------------------------------------------------------- KPIs
def _kpi_block(snap: wall.WallSnapshot) -> None:
    k = snap.kpis
    rate = k.get("resolution_rate")
    c1 = k.get("class1_total") or 0
    figures = [
        (t("wall.received", lang), k["received"]), (t("wall.accepted", lang), k["accepted"]),
        (t("wall.resolved", lang), k["resolved"]),
        (t("wall.resolution_rate", lang), "—" if rate is None else f"{rate:.1%}"),
        (t("wall.class1_respond", lang), f"{k['class1_responded_on_time']}/{c1}"),
        (t("wall.class1_accept", lang), f"{k['class1_accepted_on_time']}/{c1}"),
        (t("wall.overdue", lang), k["overdue_open"]), (t("wall.open_orders", lang), snap.open_orders),
        (t("wall.check_in_rate", lang), "—" if snap.check_in_rate is None else f"{snap.check_in_rate:.1%}"),
    ]
    for i in range(0, len(figures), 2):
        cols = st.columns(2, gap="small")
        for col, (name, value) in zip(cols, figures[i:i + 2], strict=False):
            col.metric(name, value)
    _trend_chart(snap)


def _trend_chart(snap: wall.WallSnapshot) -> None:
    """Received and resolved per day, the last 7 days (axis text 20 px on the wall)."""
    st.caption(t("wall.trend", lang))
    tr = snap.trend.copy()
    tr["day"] = pd.to_datetime(tr["day"]).dt.strftime("%m-%d")
    names = {"received": t("wall.trend_received", lang), "resolved": t("wall.trend_resolved", lang)}
    long = tr.melt("day", value_vars=list(names), var_name="series", value_name="n")
    long["series"] = long["series"].map(names)
    font = 20 if wall_mode else 13
    chart = (alt.Chart(long).mark_bar()
             .encode(x=alt.X("day:N", title=None, axis=alt.Axis(labelAngle=0)),
                     xOffset=alt.XOffset("series:N", sort=list(names.values())),
                     y=alt.Y("n:Q", title=None, axis=alt.Axis(tickCount=3)),
                     color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                                     sort=list(names.values()),
                                     scale=alt.Scale(domain=list(names.values()), range=["#6fa8ff", "#3ddc84"])))
             .properties(height=210 if wall_mode else 160)
             .configure_axis(labelFontSize=font, titleFontSize=font)
             .configure_legend(labelFontSize=font, symbolSize=150))
    st.altair_chart(chart, width="stretch")


def _legend() -> None:
    tiers = "".join(f"<span class='sw' style='background:rgb{tuple(c[:3])}'></span>{label('tier', k, lang)}"
                    for k, c in mapview.TIER_COLORS.items())
    units = "".join(f"<span class='sw' style='background:rgba{tuple(c[:3]) + (0.6,)}'></span>"
                    f"{label('unit_type', k, lang)}" for k, c in mapview.UNIT_TYPE_COLORS.items())
    st.html(f"<div class='gm-legend'><b>{t('wall.legend_grid', lang)} / {t('wall.legend_point', lang)}</b>{tiers}"
            f" · {t('wall.legend_overdue', lang)} · <span class='sw' style='background:rgb(255,60,200);"
            f"border-radius:7px'></span>{t('wall.legend_gathering', lang)}"
            f"<br/><b>{t('wall.legend_unit', lang)}</b>{units}</div>")


# -------------------------------------------------------------------------------------- red list
def _warning_rows(snap: wall.WallSnapshot) -> pd.DataFrame:
    w = snap.warnings
    comm = district.names("community", lang)
    return pd.DataFrame({
        t("wall.col_id", lang): w["id"].astype("Int64"),
        t("wall.col_tier", lang): [label("tier", v, lang) for v in w["tier"]],
        t("wall.col_category", lang): [label("category", v, lang) for v in w["category"]],
        t("wall.col_community", lang): [comm.get(v, v) for v in w["community_code"]],
        t("wall.col_clock", lang): [wall.countdown(v, lang) for v in w["seconds_left"]],
    })


def _tier_style(frame: pd.DataFrame, tiers: list[str]) -> object:
    """The tier column in its colour."""
    col = t("wall.col_tier", lang)
    colours = [f"color: {TIER_CSS.get(x, '#ddd')}; font-weight: 700" for x in tiers]
    return frame.style.apply(lambda s: colours if s.name == col else [""] * len(s), axis=0)


def _red_list_html(snap: wall.WallSnapshot, rows: int) -> None:
    """The red list for the unattended wall: a plain table in large type, tier in its colour, no selection."""
    frame = _warning_rows(snap).head(rows)
    tiers = snap.warnings["tier"].head(rows).tolist()
    late = snap.warnings["overdue"].head(rows).fillna(False).tolist()
    # Fixed column shares: the table never grows past its column, whatever the names' length; long
    # names and clocks wrap inside their cell.
    widths = "".join(f"<col style='width:{w}%'>" for w in (14, 13, 25, 26, 22))
    head = "".join(f"<th>{c}</th>" for c in frame.columns)
    body = []
    for values, tier, is_late in zip(frame.itertuples(index=False), tiers, late, strict=True):
        cells = [str(v) for v in values]
        cells[1] = f"<span class='gm-tier' style='color:{TIER_CSS.get(tier, '#ddd')}'>{cells[1]}</span>"
        if is_late:
            cells[4] = f"<span class='gm-late'>{cells[4]}</span>"
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    st.html(f"<table class='gm-red-list'><colgroup>{widths}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _calendar_note(snap: wall.WallSnapshot) -> None:
    """Says when shown deadlines stand on a computed (unofficial) holiday calendar."""
    due = pd.to_datetime(snap.points.get("next_deadline_at", pd.Series(dtype="datetime64[ns, UTC]")), utc=True)
    due = due.dropna()
    if due.empty:
        return
    note = clocks.unofficial_note(clocks.unofficial_years(due.min().date(), due.max().date()), lang)
    if note:
        st.caption(note)


# ------------------------------------------------------------------------------------ selection
def _select_from(event: object, key: str) -> None:
    """Open the appeal picked on the map or in the list, once per pick.

    A selection stays in the widget's state across refreshes; acting only when it changes keeps a later
    pick in the other widget from being overridden by a stale one."""
    sel = getattr(event, "selection", None) or {}
    signature = json.dumps(sel, sort_keys=True, default=str)
    seen_key = f"wall_seen_{key}"
    if st.session_state.get(seen_key) == signature:
        return
    st.session_state[seen_key] = signature
    if key == "map":
        for layer_id, objs in (sel.get("objects") or {}).items():
            if not str(layer_id).startswith("appeal-points"):
                continue
            for obj in objs:
                if obj.get("id") is not None:
                    st.session_state["wall_selected"] = int(obj["id"])
                    return
    else:
        rows = sel.get("rows") or []
        shown = st.session_state.get("wall_rows") or []
        if rows and rows[0] < len(shown):
            st.session_state["wall_selected"] = int(shown[rows[0]])


# ---------------------------------------------------------------------------------------- actions
def _act(appeal_id: int, action: str) -> None:
    """Button callback: send one action to the services before the panel draws again."""
    ss = st.session_state
    try:
        wall.perform(store, appeal_id, action, role, departments=ss.get(f"wall_order_{appeal_id}") or [],
                     target=ss.get(f"wall_target_{appeal_id}"), level=ss.get(f"wall_level_{appeal_id}"))
        ss["wall_message"] = ("ok", t("wall.done", lang, action=label("action", action, lang), id=appeal_id))
    except DomainError as exc:
        ss["wall_message"] = ("error", t("wall.forbidden", lang, reason=describe(exc, lang)))


def _dispatch_panel() -> None:
    """Facts and timeline of the selected appeal, and the dispatch actions allowed now."""
    appeal_id = st.session_state.get("wall_selected")
    if appeal_id is None:
        st.info(t("wall.select_hint", lang))
        return
    try:
        appeal = wall.appeal_detail(store, appeal_id, role, wall_mode=wall_mode)
    except DomainError:
        st.session_state.pop("wall_selected", None)
        return
    st.subheader(f"#{appeal['id']} · {label('category', appeal['category'], lang)} · "
                 f"{label('tier', appeal['tier'], lang)}")
    if msg := st.session_state.pop("wall_message", None):
        (st.success if msg[0] == "ok" else st.error)(msg[1])
    due = appeal.get("next_deadline_at")
    facts = {
        t("wall.col_status", lang): label("status", appeal["status"], lang),
        t("wall.field_service", lang): label("service_type", appeal["service_type"], lang),
        t("wall.field_channel", lang): label("channel", appeal["channel"], lang),
        t("wall.col_community", lang): district.name_of("community", appeal.get("community_code"), lang),
        t("wall.field_people", lang): appeal["people_involved"],
        t("wall.field_amount", lang): f"{appeal['amount_involved'] or 0:,.0f}",
        t("wall.field_urgency", lang): label("urgency", str(appeal["urgency"]), lang),
        t("wall.field_class", lang): label("appeal_class", appeal["appeal_class"], lang),
        t("wall.field_level", lang): label("handling_level", appeal["handling_level"], lang),
        t("wall.field_deadline", lang): "" if due is None or pd.isna(due) else
        f"{label('deadline_kind', appeal.get('next_deadline_kind'), lang)} {pd.Timestamp(due):%m-%d %H:%M}",
        t("wall.field_description", lang): appeal.get("description") or "",
    }
    st.dataframe(pd.DataFrame({"": list(facts), " ": [str(v) for v in facts.values()]}), hide_index=True,
                 width="stretch", column_config={" ": st.column_config.TextColumn(width="large")})
    _action_controls(appeal)
    tl = timeline(wall.appeal_events(store, appeal_id, role, wall_mode=wall_mode), lang)
    st.caption(t("wall.timeline", lang))
    st.dataframe(pd.DataFrame({
        t("wall.col_reported", lang): pd.to_datetime(tl["at"]).dt.strftime("%m-%d %H:%M"),
        t("wall.col_action", lang): tl["action"], t("wall.col_status", lang): tl["status"],
        t("wall.col_actor", lang): tl["actor"], t("wall.col_target", lang): tl["target"],
        t("wall.col_note", lang): tl["note"],
    }), hide_index=True, width="stretch", height=210)


def _action_controls(appeal: dict) -> None:
    """One button per wall action; those not allowed now are disabled and say why."""
    appeal_id = int(appeal["id"])
    allowed = set(wall.actions_for(appeal, role))

    def why(action: str) -> str | None:
        refused = wall.refusal(appeal, action, role)
        return None if refused is None else t("wall.action_unavailable", lang, reason=describe(refused, lang))

    st.caption(t("wall.acting_as", lang, name=district.actor_name(role.name, lang)))  # who the events will name
    dept_names = district.names("department", lang, store)
    depts = list(store.departments()["code"])
    c1, c2 = st.columns(2)
    for col, action in ((c1, "respond"), (c2, "accept")):
        col.button(t(f"wall.do_{action}", lang), key=f"act_{action}", width="stretch", disabled=action not in allowed,
                   help=why(action), on_click=_act, args=(appeal_id, action))
    c3, c4 = st.columns(2)
    community = appeal.get("community_code")
    c3.selectbox(t("wall.dispatch_to", lang), [community, *depts],
                 format_func=lambda c: dept_names.get(c) or district.name_of("community", c, lang),
                 key=f"wall_target_{appeal_id}", disabled="dispatch" not in allowed)
    c4.selectbox(t("wall.escalate_to", lang), ["subdistrict", "district"],
                 format_func=lambda v: label("handling_level", v, lang), key=f"wall_level_{appeal_id}",
                 disabled="escalate" not in allowed)
    c3.button(t("wall.do_dispatch", lang), key="act_dispatch", width="stretch", disabled="dispatch" not in allowed,
              help=why("dispatch"), on_click=_act, args=(appeal_id, "dispatch"))
    c4.button(t("wall.do_escalate", lang), key="act_escalate", width="stretch", disabled="escalate" not in allowed,
              help=why("escalate"), on_click=_act, args=(appeal_id, "escalate"))
    rule = rule_for_appeal(appeal)
    st.caption(t("wall.order_rule", lang, minutes=rule.arrival_minutes, leader=label("leader_level", rule.leader_level,
                                                                                     lang),
                 people=rule.people, hours=rule.resolution_hours))
    chosen = st.multiselect(t("wall.order_departments", lang), depts,
                            default=[d for d in rule.suggested_departments if d in dept_names],
                            format_func=lambda c: dept_names.get(c, c), key=f"wall_order_{appeal_id}",
                            placeholder=t("widget.choose_options", lang), disabled="order" not in allowed)
    st.button(t("wall.do_order", lang), key="act_order", width="stretch",
              disabled="order" not in allowed or not chosen, help=why("order"), on_click=_act,
              args=(appeal_id, "order"))


# ------------------------------------------------------------------------------------------- live
@st.fragment(run_every=refresh_s)
def live() -> None:
    global role  # the session checked again at each refresh: a revoked kiosk or disabled account stops here
    role = ui.still_signed_in()
    now = datetime.now(wall.TZ)
    view_key = _pick_view(now)
    snap = wall.snapshot(store, now, area=_area(view_key), who=role)
    head_l, head_m, head_r = st.columns([3, 1.6, 1.2])
    head_l.html(f"<p class='gm-title'>{t('wall.title', lang)}</p>")
    head_m.html(f"<p class='gm-view'>{t('wall.showing', lang, view=_view_label(view_key))}</p>")
    head_r.html(f"<p class='gm-clock'>{snap.now:%Y-%m-%d %H:%M:%S}</p>")
    left, centre, right = st.columns([1.25, 2.85, 2.0] if wall_mode else [1.1, 2.6, 2.3], gap="small")
    with left:
        _kpi_block(snap)
    with centre:
        bounds = district.bounds(view_key if view_key in sub_names else None)
        if view_key == "red_list" and len(snap.warnings):
            pts = snap.points[snap.points.id.isin(snap.warnings.id)]
            if len(pts):
                pad = 0.01
                bounds = (pts.lon.min() - pad, pts.lat.min() - pad, pts.lon.max() + pad, pts.lat.max() + pad)
        layout = "wall" if wall_mode else "operator"
        height = wall.MAP_HEIGHT_PX[layout]
        view = wall.map_view(bounds, layout)
        layer_id = wall.point_layer_id(snap)
        deck = wall.wall_deck(snap, lang, view, point_layer=layer_id)
        if wall_mode:
            st.pydeck_chart(deck, height=height, key=f"wall_map_{view_key}")
        else:
            event = st.pydeck_chart(deck, height=height, key=f"wall_map_{view_key}", on_select="rerun",
                                    selection_mode="single-object")
            _select_from(event, "map")
        _legend()
    with right:
        st.subheader(t("wall.warnings", lang))
        if view_key in sub_names:
            st.caption(t("wall.view_note", lang))
        if snap.warnings.empty:
            st.success(t("wall.no_warnings", lang))
        elif wall_mode:
            _red_list_html(snap, rows=18)
        else:
            st.session_state["wall_rows"] = snap.warnings["id"].astype(int).tolist()
            event = st.dataframe(_tier_style(_warning_rows(snap), snap.warnings["tier"].tolist()), hide_index=True,
                                 width="stretch", height=330, on_select="rerun", selection_mode="single-row",
                                 key="wall_list", column_config={
                                     t("wall.col_id", lang): st.column_config.NumberColumn(width=60, format="%d"),
                                     t("wall.col_tier", lang): st.column_config.TextColumn(width=60),
                                     t("wall.col_category", lang): st.column_config.TextColumn(width=135),
                                     t("wall.col_community", lang): st.column_config.TextColumn(width=150),
                                     t("wall.col_clock", lang): st.column_config.TextColumn(width=115)})
            _select_from(event, "list")
        _calendar_note(snap)
        if not wall_mode:
            _dispatch_panel()
    st.caption(t("wall.updated", lang, time=f"{snap.now:%H:%M:%S}") + " · " + district.source_description(lang))


live()
