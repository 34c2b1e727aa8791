"""Orders from the department's side (部门报到, /orders; issue 13 §2).

A department officer sees its department's orders live, the arrival deadline counting down (late ones in
red), and checks in on site (who came, their level, now) and reports the outcome. The issuing side (a
community, a subdistrict, the district) sees the same list read-only. Everyone sees the daily reminder
and the weekly ranking. What is shown comes from services.order_desk; every step goes through it.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from pages import ui
from services import district, order_desk, orders
from services.errors import DomainError, describe
from services.i18n import label, t
from services.wall import countdown

lang = ui.lang()
who = ui.require("orders", lang)
store = ui.store()
acts = order_desk.may_act(who)
REFRESH_S = 5
RED = "color: #e62828; font-weight: 700"

dept_names = district.names("department", lang, store)
comm_names = district.names("community", lang)

st.title(t("orders.title", lang))
st.caption(t("orders.intro_department", lang, department=dept_names.get(who.area_code, who.area_code)) if acts
           else t("orders.intro_issuer", lang))



def _flag(v: object) -> bool:
    return v is not None and not pd.isna(v) and bool(v)


def _came(r: pd.Series) -> str:
    if r["checked_in_at"] is None or pd.isna(r["checked_in_at"]):
        return ""
    if r["people_on_site"] is None or pd.isna(r["people_on_site"]):
        return t("orders.came_unknown", lang)
    return t("orders.came", lang, leader=label("leader_level", r["leader_level_on_site"], lang),
             people=int(r["people_on_site"]))


def _list_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The desk rows as the table shows them, every cell in ``lang``."""
    return pd.DataFrame({
        t("orders.col_order", lang): rows["order_id"].astype(int),
        t("orders.col_appeal", lang): rows["appeal_id"].astype(int),
        t("orders.col_department", lang): [dept_names.get(c, c) for c in rows["department_code"]],
        t("orders.col_community", lang): [comm_names.get(c, c) for c in rows["community_code"]],
        t("orders.col_category", lang): [label("category", c, lang) for c in rows["category"]],
        t("orders.col_tier", lang): [label("tier", c, lang) for c in rows["tier"]],
        t("orders.col_arrive_by", lang): [ui.when(v, ui.SHORT_TIME) for v in rows["arrive_by"]],
        t("orders.col_clock", lang): [countdown(s, lang) if st_ in ("open", "overdue") else ""
                                      for s, st_ in zip(rows["seconds_left"], rows["state"], strict=True)],
        t("orders.col_state", lang): [label("order_state", s, lang) for s in rows["state"]],
        t("orders.col_required", lang): [t("orders.required", lang, leader=label("leader_level", lv, lang), people=p)
                                         for lv, p in zip(rows["leader_level"], rows["people_required"],
                                                          strict=True)],
        t("orders.col_checked_in", lang): [ui.when(v, ui.SHORT_TIME) for v in rows["checked_in_at"]],
        t("orders.col_came", lang): [_came(r) for _, r in rows.iterrows()],
        t("orders.col_outcome", lang): [label("outcome", o, lang) for o in rows["outcome"]],
    })


def _styled(frame: pd.DataFrame, rows: pd.DataFrame) -> object:
    """Late rows' countdown and state in red; a level or number below the rule's, its cell in red."""
    late = rows["late"].tolist()
    short = (rows["level_short"].fillna(False) | rows["people_short"].fillna(False)).astype(bool).tolist()
    red_cols = {t("orders.col_clock", lang): late, t("orders.col_state", lang): late,
                t("orders.col_came", lang): short}
    return frame.style.apply(lambda s: [RED if flag else "" for flag in red_cols[s.name]] if s.name in red_cols
                             else [""] * len(s), axis=0)


@st.fragment(run_every=REFRESH_S)
def live_list() -> None:
    """The orders, refreshed every few seconds (the session checked again first)."""
    global who
    who = ui.still_signed_in()
    now = datetime.now(order_desk.TZ)
    rows = order_desk.desk(store, who, now)
    if rows.empty:
        st.info(t("orders.none", lang))
    else:
        st.dataframe(_styled(_list_frame(rows), rows), hide_index=True, width="stretch", key="orders_list")
    st.caption(t("orders.updated", lang, time=f"{now:%H:%M:%S}"))


# ---------------------------------------------------------------------------------------- actions
def _check_in(order_id: int) -> None:
    ss = st.session_state
    try:
        order_desk.check_in(store, who, order_id, people=int(ss["orders_people"]),
                            leader_level=ss["orders_leader"])
        ss["orders_message"] = ("ok", t("orders.checked_in", lang, order=order_id))
    except DomainError as exc:
        ss["orders_message"] = ("error", t("orders.refused", lang, reason=describe(exc, lang)))


def _report(order_id: int) -> None:
    ss = st.session_state
    try:
        order_desk.report(store, who, order_id, ss["orders_outcome"], ss.get("orders_note") or "")
        ss["orders_message"] = ("ok", t("orders.reported", lang, order=order_id))
    except DomainError as exc:
        ss["orders_message"] = ("error", t("orders.refused", lang, reason=describe(exc, lang)))


def _detail(rows: pd.DataFrame) -> None:
    """The selected order: the appeal's facts (masked), the requirement, and the forms allowed now."""
    ids = rows["order_id"].astype(int).tolist()
    order_id = st.selectbox(t("orders.select", lang), ids, key="orders_selected", format_func=lambda i: t(
        "orders.option", lang, order=i, appeal=int(rows.loc[rows.order_id == i, "appeal_id"].iloc[0]),
        category=label("category", rows.loc[rows.order_id == i, "category"].iloc[0], lang)))
    if msg := st.session_state.pop("orders_message", None):
        (st.success if msg[0] == "ok" else st.error)(msg[1])
    if order_id is None:
        return
    r = rows[rows.order_id == order_id].iloc[0]
    st.subheader(t("orders.facts", lang))
    facts = {
        t("orders.field_number", lang): str(int(r["appeal_id"])),
        t("orders.col_category", lang): label("category", r["category"], lang),
        t("orders.col_tier", lang): label("tier", r["tier"], lang),
        t("orders.col_community", lang): comm_names.get(r["community_code"], r["community_code"]),
        t("orders.col_level", lang): label("handling_level", r["handling_level"], lang),
        t("orders.field_status", lang): label("status", r["status"], lang),
        t("orders.field_issued", lang): ui.when(r["issued_at"], ui.SHORT_TIME),
        t("orders.col_arrive_by", lang): ui.when(r["arrive_by"], ui.SHORT_TIME),
        t("orders.field_resolve_by", lang): ui.when(r["resolve_by"], ui.SHORT_TIME),
        t("orders.col_required", lang): t("orders.required", lang, leader=label("leader_level", r["leader_level"], lang),
                                          people=int(r["people_required"])),
        t("orders.col_state", lang): label("order_state", r["state"], lang),
    }
    st.dataframe(pd.DataFrame({"": list(facts), " ": list(facts.values())}), hide_index=True, width="stretch",
                 key="orders_facts")
    st.caption(t("orders.field_description", lang))
    st.text(r["description"] or "")
    if _flag(r["level_short"]):
        st.warning(t("orders.level_short", lang, required=label("leader_level", r["leader_level"], lang)))
    if _flag(r["people_short"]):
        st.warning(t("orders.people_short", lang, required=int(r["people_required"])))
    if not acts:
        return
    if r["state"] in ("open", "overdue"):
        with st.form("orders_check_in_form"):
            st.subheader(t("orders.check_in", lang))
            st.number_input(t("orders.people", lang), min_value=1, value=int(r["people_required"]), step=1,
                            key="orders_people")
            levels = list(orders.leader_levels())
            st.selectbox(t("orders.leader_level", lang), levels, index=levels.index(r["leader_level"]),
                         format_func=lambda c: label("leader_level", c, lang), key="orders_leader")
            st.form_submit_button(t("orders.check_in_now", lang), on_click=_check_in, args=(int(order_id),))
    elif r["state"] in ("on_time", "late"):
        with st.form("orders_report_form"):
            st.subheader(t("orders.report", lang))
            st.selectbox(t("orders.outcome", lang), list(orders.outcomes()),
                         format_func=lambda c: label("outcome", c, lang), key="orders_outcome")
            st.text_area(t("orders.note", lang), key="orders_note")
            st.form_submit_button(t("orders.report_now", lang), on_click=_report, args=(int(order_id),))


# ------------------------------------------------------------------------------ reminder, ranking
def _reminder() -> None:
    now = datetime.now(order_desk.TZ)
    rem = order_desk.daily_reminder(store, who, now)
    st.caption(t("orders.reminder_intro", lang, time=f"{now:%Y-%m-%d %H:%M}"))
    if rem.summary.empty:
        st.success(t("orders.reminder_none", lang))
        return
    s = rem.summary
    frame = pd.DataFrame({
        t("orders.col_department", lang): [dept_names.get(c, c) for c in s["department_code"]],
        t("orders.col_open", lang): s["open"].astype(int), t("orders.col_late", lang): s["late"].astype(int),
        t("orders.col_overdue", lang): s["overdue"].astype(int), t("orders.col_orders", lang): s["orders"]})
    late_col = t("orders.col_late", lang)
    st.dataframe(frame.style.apply(lambda c: [RED if v else "" for v in c] if c.name == late_col else [""] * len(c),
                                   axis=0), hide_index=True, width="stretch", key="orders_reminder")
    st.dataframe(_styled(_list_frame(rem.rows), rem.rows), hide_index=True, width="stretch",
                 key="orders_reminder_rows")


def _ranking() -> None:
    now = datetime.now(order_desk.TZ)
    since, until = order_desk.last_full_week(now)
    st.caption(t("orders.ranking_intro", lang, since=f"{since:%Y-%m-%d}",
                 until=f"{until - pd.Timedelta(days=1):%Y-%m-%d}"))
    table = order_desk.weekly_ranking(store, who, now)
    if table.empty:
        st.info(t("orders.ranking_none", lang))
        return

    def change(v: float) -> str:
        return t("orders.change_new", lang) if pd.isna(v) else f"{int(v):+d}" if v else "0"

    st.dataframe(pd.DataFrame({
        t("orders.col_rank", lang): table["rank"].astype(int),
        t("orders.col_change", lang): [change(v) for v in table["rank_change"]],
        t("orders.col_department", lang): [dept_names.get(c, c) for c in table["department_code"]],
        t("assessment.col_score", lang): table["score"].round(1),
        t("orders.col_orders_n", lang): table["orders"].astype(int),
        t("orders.col_on_time", lang): table["timely_check_ins"].astype(int),
        t("orders.col_rate", lang): [("" if pd.isna(v) else f"{v:.0%}") for v in table["timely_check_in_rate"]],
        t("orders.col_avg", lang): table["avg_arrival_minutes"].round(1),
        t("orders.col_p90", lang): table["p90_arrival_minutes"].round(1),
        t("orders.col_reported", lang): table["outcomes_reported"].astype(int),
    }), hide_index=True, width="stretch", key="orders_ranking")


tab_list, tab_reminder, tab_ranking = st.tabs([t("orders.tab_list", lang), t("orders.tab_reminder", lang),
                                               t("orders.tab_ranking", lang)])
with tab_list:
    live_list()
    visible = order_desk.desk(store, who)
    if not visible.empty:
        _detail(visible.drop_duplicates("order_id") if not acts else visible)
with tab_reminder:
    _reminder()
with tab_ranking:
    _ranking()
