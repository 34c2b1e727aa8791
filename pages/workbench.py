"""Workbench (诉求处置): a case handler's queue on the left, refreshing by itself with a live countdown and
an alert (seen and heard) for a new red or class-1 appeal; the selected appeal on the right: facts, the
map around it, the timeline newest first, and one control per step of the loop, each disabled with its
reason when not allowed now. Everything is computed in services/workbench.py; steps run in button
callbacks with the status and version the page showed, so a change made meanwhile is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from pages import ui
from services import district, workbench
from services.errors import DomainError, describe
from services.i18n import label, t
from services.lifecycle import SATISFACTION
from services.store.base import OPEN_STATUSES
from services.tiers import TIERS
from services.timeline import timeline
from services.vocabulary import CATEGORY_SERVICE, CHANNELS, JUDICIAL_RESULTS, MEDIATIONS, SETTLEMENTS
from services.wall import TZ, countdown

lang = ui.lang()
who = ui.require("workbench", lang)
store = ui.store()
REFRESH_S = 5
SOUND = Path(__file__).resolve().parent.parent / "static" / "alert.wav"
ss = st.session_state

st.title(t("workbench.title", lang))
with st.sidebar:
    st.subheader(t("workbench.filters", lang))
    pick = {"placeholder": t("widget.choose_options", lang)}
    f_status = st.multiselect(t("workbench.f_status", lang), OPEN_STATUSES, key="wb_f_status",
                              format_func=lambda c: label("status", c, lang), **pick)
    f_tier = st.multiselect(t("workbench.f_tier", lang), TIERS, key="wb_f_tier",
                            format_func=lambda c: label("tier", c, lang), **pick)
    f_category = st.multiselect(t("workbench.f_category", lang), list(CATEGORY_SERVICE), key="wb_f_category",
                                format_func=lambda c: label("category", c, lang), **pick)
    f_channel = st.multiselect(t("workbench.f_channel", lang), list(CHANNELS), key="wb_f_channel",
                               format_func=lambda c: label("channel", c, lang), **pick)
    f_overdue = st.toggle(t("workbench.f_overdue", lang), key="wb_f_overdue")
    f_reopened = st.toggle(t("workbench.f_reopened", lang), key="wb_f_reopened")


def _queue_view(q: pd.DataFrame) -> pd.DataFrame:
    """The queue as shown: labels in the chosen language, the countdown as text; nothing personal."""
    communities = district.names("community", lang)
    return pd.DataFrame({
        t("workbench.col_id", lang): q["id"].astype(int),
        t("workbench.col_new", lang): ["●" if n else "" for n in q["new"]],
        t("workbench.col_clock", lang): [countdown(None if pd.isna(s) else float(s), lang) for s in q["seconds_left"]],
        t("workbench.col_deadline", lang): [label("deadline_kind", k, lang) if isinstance(k, str) else ""
                                           for k in q["next_deadline_kind"]],
        t("workbench.col_tier", lang): [label("tier", v, lang) for v in q["tier"]],
        t("workbench.col_class", lang): [label("appeal_class", v, lang) for v in q["appeal_class"]],
        t("workbench.col_category", lang): [label("category", v, lang) for v in q["category"]],
        t("workbench.col_channel", lang): [label("channel", v, lang) for v in q["channel"]],
        t("workbench.col_community", lang): [communities.get(c, c) for c in q["community_code"]],
        t("workbench.col_level", lang): [label("handling_level", v or "community", lang) for v in q["handling_level"]],
        t("workbench.col_status", lang): [label("status", v, lang) for v in q["status"]],
        t("workbench.col_reopened", lang): q["reopened_count"].astype(int),
    })


@st.fragment(run_every=REFRESH_S)
def live_queue() -> None:
    """The queue, refreshed every few seconds; a changed selection reruns the whole page."""
    global who
    who = ui.still_signed_in()
    now = datetime.now(TZ)
    q = workbench.queue(store, who, now, statuses=f_status, tiers=f_tier, categories=f_category,
                        channels=f_channel, overdue_only=f_overdue, reopened_only=f_reopened)
    seen = ss.setdefault("wb_alerted", set())
    fresh = workbench.alerts(q, seen)
    if len(fresh):
        st.error(t("workbench.alert", lang, ids=", ".join(f"#{int(i)}" for i in fresh["id"])), icon="🚨")
        st.audio(str(SOUND), autoplay=True)
        seen.update(int(i) for i in fresh["id"])
    st.subheader(t("workbench.queue", lang, n=len(q)))
    if q.empty:
        st.info(t("workbench.empty", lang))
    else:
        ids = q["id"].astype(int).tolist()
        event = st.dataframe(_queue_view(q), hide_index=True, width="stretch", height=560, on_select="rerun",
                             selection_mode="single-row", key="wb_queue")
        rows = (getattr(event, "selection", None) or {}).get("rows") or []
        if rows and rows[0] < len(ids) and ss.get("wb_selected") != ids[rows[0]] and \
                ss.get("wb_last_rows") != (rows[0], ids):
            ss["wb_last_rows"] = (rows[0], ids)
            ss["wb_selected"] = ids[rows[0]]
            st.rerun(scope="app")
    st.caption(t("workbench.updated", lang, time=f"{now:%H:%M:%S}"))


# ---------------------------------------------------------------------------------------- steps
def _do(appeal_id: int, action: str) -> None:
    """Button callback: one step, on the status and version this page showed."""
    status, version = ss.get(f"wb_shown_{appeal_id}", (None, None))
    k = f"wb_{action}_{appeal_id}"
    mediated = ss.get(f"{k}_settlement") in MEDIATIONS
    params = {"dispatch": {"target": ss.get(k)}, "order": {"departments": ss.get(k) or []},
              "resolve": {"note": ss.get(k) or "", "settlement": ss.get(f"{k}_settlement"),
                          "mediator": ss.get(f"{k}_mediator") if mediated else None,
                          "agreement_amount": ss.get(f"{k}_amount") if mediated else None},
              "record_judicial_confirmation": {"result": ss.get(f"{k}_result"), "note": ss.get(f"{k}_note") or ""},
              "return_visit": {"satisfaction": ss.get(k)},
              "escalate": {"level": ss.get(k)}, "return_to_sender": {"reason": ss.get(k) or ""},
              "note": {"note": ss.get(k) or ""},
              "update_facts": {"people_involved": ss.get(f"{k}_people"), "urgency": ss.get(f"{k}_urgency"),
                               "amount_involved": ss.get(f"{k}_amount")}}.get(action, {})
    try:
        workbench.act(store, who, appeal_id, action, seen_status=status, seen_version=version, **params)
        ss["wb_message"] = ("ok", t("workbench.done", lang, action=label("action", action, lang), id=appeal_id))
    except DomainError as exc:
        ss["wb_message"] = ("error", t("workbench.failed", lang, reason=describe(exc, lang)))


def _settle(aid: int, why: dict[str, str | None], go: Callable[..., None]) -> None:
    """Resolve with how it was settled (三调联动: the mediation and its mediator, the agreed amount), and
    the online judicial confirmation of the agreement: its request and its answer, shown only when the
    appeal allows them now."""
    k = f"wb_resolve_{aid}"
    off = why["resolve"] is not None
    c1, c2, c3 = st.columns(3)
    c1.selectbox(t("workbench.settlement", lang), SETTLEMENTS, index=None, key=f"{k}_settlement", disabled=off,
                 format_func=lambda v: label("settlement", v, lang), placeholder=t("workbench.choose", lang))
    mediated = ss.get(f"{k}_settlement") in MEDIATIONS
    c2.text_input(t("workbench.mediator", lang), key=f"{k}_mediator", disabled=off or not mediated)
    c3.number_input(t("workbench.agreement_amount", lang), min_value=0.0, step=1000.0, value=None,
                    key=f"{k}_amount", disabled=off or not mediated)
    c1, c2 = st.columns([2, 1])
    c1.text_input(t("workbench.resolution", lang), key=k, disabled=off)
    go(c2, "resolve")
    if why["request_judicial_confirmation"] is None:
        st.info(t("workbench.judicial_hint", lang))
        go(st, "request_judicial_confirmation")
    if why["record_judicial_confirmation"] is None:
        k = f"wb_record_judicial_confirmation_{aid}"
        c1, c2, c3 = st.columns(3)
        c1.selectbox(t("workbench.judicial_result", lang), JUDICIAL_RESULTS, key=f"{k}_result",
                     format_func=lambda v: label("judicial_result", v, lang))
        c2.text_input(t("workbench.judicial_note", lang), key=f"{k}_note")
        go(c3, "record_judicial_confirmation")


def _steps(page: workbench.AppealPage) -> None:
    """One control per step; a step not allowed now is disabled, with its reason."""
    a = page.appeal
    aid = int(a["id"])
    st.subheader(t("workbench.steps", lang))
    st.caption(t("workbench.acting_as", lang, name=district.actor_name(who.name, lang)))
    why = {s: None if e is None else t("workbench.not_now", lang, reason=describe(e, lang))
           for s, e in page.steps.items()}

    def go(col: st.delta_generator.DeltaGenerator, action: str) -> None:
        col.button(t("workbench.go", lang, action=label("action", action, lang)), key=f"wb_go_{action}",
                   width="stretch", disabled=why[action] is not None, help=why[action], on_click=_do,
                   args=(aid, action))

    cols = st.columns(4)
    for col, action in zip(cols, ("respond", "accept", "confirm", "feedback"), strict=True):
        go(col, action)
    depts = list(store.departments()["code"])
    dept_names = district.names("department", lang, store)
    c1, c2 = st.columns(2)
    c1.selectbox(t("workbench.dispatch_to", lang), [a.get("community_code"), *depts], key=f"wb_dispatch_{aid}",
                 format_func=lambda c: dept_names.get(c) or district.name_of("community", c, lang),
                 disabled=why["dispatch"] is not None)
    go(c1, "dispatch")
    c2.multiselect(t("workbench.order_departments", lang), depts, key=f"wb_order_{aid}",
                   format_func=lambda c: dept_names.get(c, c), placeholder=t("widget.choose_options", lang),
                   disabled=why["order"] is not None)
    go(c2, "order")
    _settle(aid, why, go)
    c1, c2 = st.columns(2)
    c1.selectbox(t("workbench.satisfaction", lang), SATISFACTION, key=f"wb_return_visit_{aid}",
                 format_func=lambda v: label("satisfaction", v, lang), disabled=why["return_visit"] is not None)
    go(c1, "return_visit")
    c1, c2, c3 = st.columns(3)
    k = f"wb_update_facts_{aid}"
    c1.number_input(t("workbench.people", lang), min_value=0, step=1, value=int(a.get("people_involved") or 0),
                    key=f"{k}_people", disabled=why["update_facts"] is not None)
    c2.selectbox(t("workbench.urgency", lang), [1, 2, 3], index=max(0, min(2, int(a.get("urgency") or 1) - 1)),
                 key=f"{k}_urgency", format_func=lambda v: label("urgency", str(v), lang),
                 disabled=why["update_facts"] is not None)
    c3.number_input(t("workbench.amount", lang), min_value=0.0, step=1000.0,
                    value=float(a.get("amount_involved") or 0.0), key=f"{k}_amount",
                    disabled=why["update_facts"] is not None)
    go(st, "update_facts")
    c1, c2, c3 = st.columns(3)
    c1.selectbox(t("workbench.escalate_to", lang), ["subdistrict", "district"], key=f"wb_escalate_{aid}",
                 format_func=lambda v: label("handling_level", v, lang), disabled=why["escalate"] is not None)
    go(c1, "escalate")
    c2.text_input(t("workbench.reason", lang), key=f"wb_return_to_sender_{aid}",
                  disabled=why["return_to_sender"] is not None)
    go(c2, "return_to_sender")
    c3.text_input(t("workbench.note", lang), key=f"wb_note_{aid}", disabled=why["note"] is not None)
    go(c3, "note")
    refused = [f"- **{label('action', s, lang)}**: {describe(e, lang)}" for s, e in page.steps.items() if e]
    if refused:
        with st.expander(t("workbench.why_not", lang, n=len(refused))):
            st.markdown("\n".join(refused))



def _settlement(a: dict) -> str:
    """人民调解 · 李四 · 120,000: how the appeal was settled, as far as it is."""
    if not a.get("settlement"):
        return ""
    parts = [label("settlement", a["settlement"], lang), a.get("mediator") or ""]
    amount = a.get("agreement_amount")
    if amount is not None and not pd.isna(amount):
        parts.append(t("workbench.agreed", lang, amount=f"{float(amount):,.0f}"))
    return " · ".join(p for p in parts if p)


def _judicial(a: dict) -> str:
    """Where the online judicial confirmation stands: asked (and when), or the court's answer."""
    if a.get("judicial_result"):
        return f"{label('judicial_result', a['judicial_result'], lang)} {ui.when(a.get('judicial_recorded_at'), ui.SHORT_TIME)}"
    requested = ui.when(a.get("judicial_requested_at"), ui.SHORT_TIME)
    return t("workbench.judicial_pending", lang, at=requested) if requested else ""


def _facts(a: dict) -> None:
    """The facts, the reporter's contact as the role may see it."""
    due = a.get("next_deadline_at")
    dept_names = district.names("department", lang, store)
    rows = {
        t("workbench.col_status", lang): label("status", a["status"], lang),
        t("workbench.col_tier", lang): label("tier", a["tier"], lang),
        t("workbench.col_class", lang): label("appeal_class", a["appeal_class"], lang),
        t("workbench.col_category", lang): label("category", a["category"], lang),
        t("workbench.col_channel", lang): label("channel", a["channel"], lang),
        t("workbench.col_community", lang): district.name_of("community", a.get("community_code"), lang),
        t("workbench.col_level", lang): label("handling_level", a.get("handling_level") or "community", lang),
        t("workbench.dispatched_to", lang): ", ".join(dept_names.get(c) or district.name_of("community", c, lang)
                                                      for c in str(a.get("dispatched_to") or "").split(",") if c),
        t("workbench.people", lang): a.get("people_involved"),
        t("workbench.amount", lang): f"{a.get('amount_involved') or 0:,.0f}",
        t("workbench.urgency", lang): label("urgency", str(a.get("urgency")), lang),
        t("workbench.col_deadline", lang): "" if due is None or pd.isna(due) else
        f"{label('deadline_kind', a.get('next_deadline_kind'), lang)} {pd.Timestamp(due):%m-%d %H:%M}",
        t("workbench.settlement", lang): _settlement(a),
        t("workbench.judicial", lang): _judicial(a),
        t("workbench.reporter", lang): a.get("reporter_name") or "",
        t("workbench.phone", lang): a.get("reporter_phone") or "",
        t("workbench.description", lang): a.get("description") or "",
    }
    st.dataframe(pd.DataFrame({t("workbench.field", lang): list(rows),
                               t("workbench.value", lang): [str(v) for v in rows.values()]}),
                 hide_index=True, width="stretch")


def appeal_panel() -> None:
    """The selected appeal: facts, map, timeline and the steps."""
    aid = ss.get("wb_selected")
    if aid is None:
        st.info(t("workbench.select_hint", lang))
        return
    try:
        page = workbench.appeal_page(store, who, int(aid))
    except DomainError as exc:
        ss.pop("wb_selected", None)
        st.error(describe(exc, lang))
        return
    a = page.appeal
    ss[f"wb_shown_{aid}"] = (a["status"], page.version)   # what the steps will say they acted on
    st.subheader(f"#{a['id']} · {label('category', a['category'], lang)} · {label('tier', a['tier'], lang)}")
    if msg := ss.pop("wb_message", None):
        (st.success if msg[0] == "ok" else st.error)(msg[1])
    _facts(a)
    st.caption(t("workbench.map", lang))
    stations = district.names("station", lang, store)
    tips = {"appeal": lambda **k: t("workbench.tip_appeal", lang, **k),
            "station": lambda code, m: t("workbench.tip_station", lang, name=stations.get(code, code), m=m),
            "nearby": lambda **k: t("workbench.tip_nearby", lang, **k)}
    if a.get("lon") is not None and not pd.isna(a.get("lon")):
        st.pydeck_chart(workbench.appeal_deck(page, tips), height=320, key=f"wb_map_{aid}")
    st.caption(t("workbench.stations", lang, list=", ".join(
        f"{stations.get(c, c)} ({int(d)} m)" for c, d in zip(page.stations["code"], page.stations["distance_m"],
                                                            strict=True)))
               + " · " + t("workbench.nearby", lang, n=len(page.nearby)))
    _steps(page)
    tl = timeline(page.events, lang)
    st.caption(t("workbench.timeline", lang))
    st.dataframe(pd.DataFrame({
        t("workbench.col_at", lang): pd.to_datetime(tl["at"]).dt.strftime("%m-%d %H:%M"),
        t("workbench.col_action", lang): tl["action"], t("workbench.col_status", lang): tl["status"],
        t("workbench.col_actor", lang): tl["actor"], t("workbench.col_target", lang): tl["target"],
        t("workbench.col_note", lang): tl["note"]}), hide_index=True, width="stretch", height=240)


left, right = st.columns([1.15, 1.35], gap="medium")
with left:
    live_queue()
with right:
    appeal_panel()
