"""Wall display (指挥大屏): the tiered warning map beside KPIs, the red list and dispatch controls.

``/wall?mode=wall`` is the unattended wall: no sidebar, no toolbar, large type, no personal data.
Everything refreshes inside one fragment every few seconds; the map keeps the operator's pan and zoom
because its key and initial view stay the same between refreshes.
"""

from __future__ import annotations

import os
from datetime import datetime

import pandas as pd
import streamlit as st

from geo import mapview
from pages import ui
from services import access, district, wall
from services.errors import DomainError
from services.i18n import label, t
from services.orders import rule_for_appeal
from services.seed import ensure_seeded
from services.store import open_store

lang = ui.lang()
wall_mode = st.query_params.get("mode") == "wall"
ROLE = "duty_officer"


@st.cache_resource(show_spinner=False)
def _store(url: str):
    """One store per database URL for the whole server, seeded with the sample when empty."""
    store = open_store(url or None)
    ensure_seeded(store)
    return store


store = _store(os.environ.get("DATABASE_URL", ""))

if wall_mode:
    st.html("""<style>
      [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header, footer,
      [data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
      .block-container {padding: 0.8rem 1.2rem !important; max-width: 100% !important;}
    </style>""")
st.html("""<style>
  [data-testid="stMetricValue"] {font-size: 2.4rem; font-weight: 700;}
  [data-testid="stMetricLabel"] p {font-size: 1.05rem;}
  .gm-title {font-size: 2.0rem; font-weight: 800; letter-spacing: .05em; margin: 0;}
  .gm-legend span.sw {display:inline-block; width:14px; height:14px; margin:0 4px 0 10px; vertical-align:middle;}
  .gm-legend {font-size: 1.0rem;}
</style>""")

views = [("district", None)] + [(code, code) for code in district.subdistrict_table().code] + [("red_list", None)]
sub_names = dict(zip(district.subdistrict_table().code, district.subdistrict_table().name, strict=True))


def _view_label(key: str) -> str:
    return {"district": t("wall.view_district", lang), "red_list": t("wall.view_red_list", lang)}.get(
        key, sub_names.get(key, key))


refresh_s = int(st.query_params.get("refresh", 10))
rotate = st.query_params.get("rotate") == "1"
if not wall_mode:
    with st.sidebar:
        refresh_s = st.number_input(t("wall.refresh_every", lang), 5, 300, refresh_s, 5, key="wall_refresh")
        rotate = st.toggle(t("wall.rotate", lang), value=rotate, key="wall_rotate")
        chosen_view = st.selectbox(t("wall.view", lang), [k for k, _ in views], format_func=_view_label,
                                   key="wall_view")
else:
    chosen_view = st.query_params.get("view", "district")


def _pick_view(now: datetime) -> str:
    """The view to show: the chosen one, or the one the rotation timer points at (one per minute)."""
    if not rotate:
        return chosen_view
    return views[int(now.timestamp() // 60) % len(views)][0]


def _kpi_block(snap: wall.WallSnapshot) -> None:
    k = snap.kpis
    rate = k.get("resolution_rate")
    c1 = k.get("class1_total") or 0
    st.metric(t("wall.received", lang), k["received"])
    st.metric(t("wall.accepted", lang), k["accepted"])
    st.metric(t("wall.resolved", lang), k["resolved"])
    st.metric(t("wall.resolution_rate", lang), "—" if rate is None else f"{rate:.1%}")
    st.metric(t("wall.class1_respond", lang), f"{k['class1_responded_on_time']}/{c1}")
    st.metric(t("wall.class1_accept", lang), f"{k['class1_accepted_on_time']}/{c1}")
    st.metric(t("wall.overdue", lang), k["overdue_open"])
    st.metric(t("wall.open_orders", lang), snap.open_orders)
    st.metric(t("wall.check_in_rate", lang), "—" if snap.check_in_rate is None else f"{snap.check_in_rate:.1%}")
    st.caption(t("wall.trend", lang))
    tr = snap.trend.rename(columns={"received": t("wall.trend_received", lang),
                                    "resolved": t("wall.trend_resolved", lang)})
    tr["day"] = pd.to_datetime(tr["day"]).dt.strftime("%m-%d")
    tr = tr.set_index("day")
    st.bar_chart(tr, height=160, stack=False)


def _legend() -> None:
    tiers = "".join(f"<span class='sw' style='background:rgb{tuple(c[:3])}'></span>{label('tier', k, lang)}"
                    for k, c in mapview.TIER_COLORS.items())
    units = "".join(f"<span class='sw' style='background:rgba{tuple(c[:3]) + (0.6,)}'></span>"
                    f"{label('unit_type', k, lang)}" for k, c in mapview.UNIT_TYPE_COLORS.items())
    st.html(f"<div class='gm-legend'><b>{t('wall.legend_grid', lang)} / {t('wall.legend_point', lang)}</b>{tiers}"
            f" · {t('wall.legend_overdue', lang)} · <span class='sw' style='background:rgb(255,60,200);"
            f"border-radius:7px'></span>{t('wall.legend_gathering', lang)}"
            f"<br/><b>{t('wall.legend_unit', lang)}</b>{units}</div>")


def _warning_table(snap: wall.WallSnapshot) -> pd.DataFrame:
    w = snap.warnings
    comm = dict(zip(district.layers()["community"].code, district.layers()["community"].name, strict=True))
    return pd.DataFrame({
        t("wall.col_id", lang): w["id"].astype("Int64"),
        t("wall.col_tier", lang): [label("tier", v, lang) for v in w["tier"]],
        t("wall.col_category", lang): [label("category", v, lang) for v in w["category"]],
        t("wall.col_community", lang): [comm.get(v, v) for v in w["community_code"]],
        t("wall.col_clock", lang): [wall.countdown(v, lang) for v in w["seconds_left"]],
    })


def _select_from(event: object, key: str) -> None:
    """Remember the appeal picked on the map or in the list."""
    sel = getattr(event, "selection", None) or {}
    if key == "map":
        for objs in (sel.get("objects") or {}).values():
            for obj in objs:
                if obj.get("id") is not None:
                    st.session_state["wall_selected"] = int(obj["id"])
                    return
    else:
        rows = sel.get("rows") or []
        if rows:
            st.session_state["wall_selected"] = int(st.session_state["wall_rows"][rows[0]])


def _dispatch_panel() -> None:
    """Facts and timeline of the selected appeal, and the four dispatch actions."""
    appeal_id = st.session_state.get("wall_selected")
    if appeal_id is None:
        st.info(t("wall.select_hint", lang))
        return
    try:
        appeal = access.redact(store.get_appeal(appeal_id, include_personal=False), ROLE, wall_mode=True)
    except DomainError:
        st.session_state.pop("wall_selected", None)
        return
    st.subheader(f"#{appeal['id']} · {label('category', appeal['category'], lang)} · "
                 f"{label('tier', appeal['tier'], lang)}")
    due = appeal.get("next_deadline_at")
    facts = {
        t("wall.col_status", lang): label("status", appeal["status"], lang),
        t("wall.field_service", lang): label("service_type", appeal["service_type"], lang),
        t("wall.field_channel", lang): label("channel", appeal["channel"], lang),
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
                 width="stretch")
    ev = store.events(appeal_id)
    st.caption(t("wall.timeline", lang))
    st.dataframe(pd.DataFrame({
        t("wall.col_reported", lang): pd.to_datetime(ev["at"]).dt.strftime("%m-%d %H:%M"),
        t("wall.col_status", lang): [label("action", a, lang) for a in ev["action"]],
        t("wall.operator", lang): ev["actor"],
    }), hide_index=True, width="stretch", height=180)

    actor = st.text_input(t("wall.operator", lang), value=t("wall.operator_default", lang), key="wall_actor")
    depts = store.departments()
    names = depts["name_en"].fillna(depts["name"]) if lang == "en" and "name_en" in depts else depts["name"]
    dept_names = dict(zip(depts["code"], names, strict=True))
    c1, c2 = st.columns(2)
    if c1.button(t("wall.do_accept", lang), key="act_accept", width="stretch"):
        _act(appeal_id, "accept", actor)
    target = c2.selectbox(t("wall.dispatch_to", lang), [appeal["community_code"], *depts["code"]],
                          format_func=lambda c: dept_names.get(c) or _community_name(c), key="wall_target")
    if c2.button(t("wall.do_dispatch", lang), key="act_dispatch", width="stretch"):
        _act(appeal_id, "dispatch", actor, target=target)
    rule = rule_for_appeal(appeal)
    st.caption(t("wall.order_rule", lang, minutes=rule.arrival_minutes, leader=rule.leader_level,
                 people=rule.people, hours=rule.resolution_hours))
    chosen = st.multiselect(t("wall.order_departments", lang), list(depts["code"]),
                            default=[d for d in rule.suggested_departments if d in dept_names],
                            format_func=lambda c: dept_names.get(c, c), key=f"wall_order_{appeal_id}")
    c3, c4 = st.columns(2)
    if c3.button(t("wall.do_order", lang), key="act_order", width="stretch", disabled=not chosen):
        _act(appeal_id, "order", actor, departments=chosen)
    level = c4.selectbox(t("wall.escalate_to", lang), ["subdistrict", "district"],
                         format_func=lambda v: label("handling_level", v, lang), key="wall_level")
    if c4.button(t("wall.do_escalate", lang), key="act_escalate", width="stretch"):
        _act(appeal_id, "escalate", actor, level=level)
    if msg := st.session_state.pop("wall_message", None):
        (st.success if msg[0] == "ok" else st.error)(msg[1])


def _community_name(code: str) -> str:
    comm = district.layers()["community"]
    hit = comm[comm.code == code]
    return hit.name.iloc[0] if len(hit) else code


def _act(appeal_id: int, action: str, actor: str, **params: object) -> None:
    """Send one action to the services; a forbidden one is shown with the rule's reason."""
    try:
        if action == "order":
            store.issue_order(appeal_id, params["departments"], issued_by=actor or "值班员")
        else:
            store.act(appeal_id, action, actor or "值班员", **params)
        st.session_state["wall_message"] = ("ok", t("wall.done", lang, action=label("action", action, lang),
                                                     id=appeal_id))
    except DomainError as exc:
        st.session_state["wall_message"] = ("error", t("wall.forbidden", lang, reason=str(exc)))


@st.fragment(run_every=refresh_s)
def live() -> None:
    snap = wall.snapshot(store)
    view_key = _pick_view(snap.now)
    head_l, head_r = st.columns([3, 1])
    head_l.html(f"<p class='gm-title'>{t('wall.title', lang)}</p>")
    head_r.markdown(f"### {snap.now:%Y-%m-%d %H:%M:%S}")
    left, centre, right = st.columns([1.05, 3.2, 1.75], gap="small")
    with left:
        _kpi_block(snap)
    with centre:
        bounds = district.bounds(view_key if view_key not in ("district", "red_list") else None)
        if view_key == "red_list" and len(snap.warnings):
            pts = snap.points[snap.points.id.isin(snap.warnings.id)]
            if len(pts):
                pad = 0.01
                bounds = (pts.lon.min() - pad, pts.lat.min() - pad, pts.lon.max() + pad, pts.lat.max() + pad)
        view = mapview.view_state(bounds, width_px=960, height_px=800)
        deck = wall.wall_deck(snap, lang, view)
        event = st.pydeck_chart(deck, height=820, key=f"wall_map_{view_key}", on_select="rerun",
                                selection_mode="single-object")
        _select_from(event, "map")
        _legend()
    with right:
        st.subheader(t("wall.warnings", lang))
        if snap.warnings.empty:
            st.success(t("wall.no_warnings", lang))
        else:
            st.session_state["wall_rows"] = snap.warnings["id"].astype(int).tolist()
            event = st.dataframe(_warning_table(snap), hide_index=True, width="stretch", height=330,
                                 on_select="rerun", selection_mode="single-row", key="wall_list")
            _select_from(event, "list")
        _dispatch_panel()
    st.caption(t("wall.updated", lang, time=f"{snap.now:%H:%M:%S}") + " · " + district.source_description(lang))


live()
