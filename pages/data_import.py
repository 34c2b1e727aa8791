"""The import tab of /data: upload a file with its source and coordinate system, follow the running job
(a fragment refreshed on a timer), read the last summary and the job history (services/import_jobs.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from geo.coords import SOURCE_SYSTEMS
from pages import ui
from services import import_jobs
from services.access import Principal
from services.errors import DomainError, describe
from services.i18n import label, t
from services.intake.schema import FORMATS
from services.store.base import Store

REFRESH_S = 2



def _count(summary: Any, key: str) -> str:
    """A summary figure as shown: blank until the job has its summary."""
    value = summary.get(key) if isinstance(summary, dict) else None
    return "" if value is None else f"{int(value):,}"


def _start(who: Principal, store: Store, lang: str) -> None:
    ss = st.session_state
    up = ss.get("imp_file")
    try:
        job = import_jobs.start(store, who, import_jobs.Upload(
            file_name=getattr(up, "name", ""), data=up.getvalue() if up is not None else b"",
            source=ss.get("imp_source", ""), crs=ss.get("imp_crs", "wgs84"), fmt=ss.get("imp_format", "auto")))
    except DomainError as exc:
        ss["imp_error"], ss["imp_started"] = describe(exc, lang), None
        return
    ss["imp_error"], ss["imp_started"] = None, int(job["id"])


def _summary(job: dict[str, Any], lang: str) -> None:
    s = job.get("summary") or {}
    st.markdown(t("data.last_summary", lang, id=int(job["id"]), file=job["file_name"]))
    if s.get("file_quarantined"):
        st.error(t("data.summary_file", lang, reason=label("intake.reason", s["file_quarantined"], lang)))
        return
    st.success(t("data.summary_line", lang, rows=s.get("rows", 0), stored=s.get("stored", 0),
                 duplicates=s.get("duplicates", 0), quarantined=s.get("quarantined", 0)))
    reasons = s.get("by_reason") or {}
    if reasons:
        st.dataframe(pd.DataFrame({t("data.col_reason", lang): [label("intake.reason", c, lang) for c in reasons],
                                   t("data.col_quarantined", lang): list(reasons.values())}),
                     hide_index=True, width="stretch")


def draw(who: Principal, store: Store, lang: str) -> None:
    """The tab: the upload form, the live progress and summary, the history."""
    ss = st.session_state
    st.caption(t("data.import_intro", lang))
    st.file_uploader(t("data.file", lang), type=["csv", "tsv", "jsonl", "ndjson", "geojson", "json", "xlsx"],
                     key="imp_file")
    c1, c2, c3 = st.columns(3)
    c1.text_input(t("data.source", lang), key="imp_source", help=t("data.source_help", lang))
    c2.selectbox(t("data.crs", lang), SOURCE_SYSTEMS, key="imp_crs", format_func=str.upper)
    c3.selectbox(t("data.format", lang), ("auto", *FORMATS), key="imp_format",
                 format_func=lambda f: t("data.format_auto", lang) if f == "auto" else f)
    st.button(t("data.start", lang), key="imp_start", type="primary", on_click=_start, args=(who, store, lang))
    if ss.get("imp_error"):
        st.error(ss["imp_error"])
    elif ss.get("imp_started"):
        st.info(t("data.started", lang, id=ss["imp_started"]))

    @st.fragment(run_every=REFRESH_S)
    def live() -> None:
        me = ui.still_signed_in()
        history = import_jobs.jobs(store, me)
        active = history[history["status"].isin(["running", "queued"])]
        # A job that ends changes the quarantine tab and the other screens' figures: redraw the whole page
        # once (the fragment alone redraws only itself).
        now_active = {int(i) for i in active["id"]}
        if ss.get("imp_active", set()) - now_active:
            ss["imp_active"] = now_active
            st.rerun(scope="app")
        ss["imp_active"] = now_active
        for job in active.iloc[::-1].to_dict("records"):
            frac = import_jobs.fraction(job)
            status = label("import_status", job["status"], lang)
            if frac is None:
                st.progress(0.0, text=t("data.running_rows", lang, id=job["id"], file=job["file_name"],
                                        status=status, done=int(job["progress"])))
            else:
                st.progress(frac, text=t("data.running", lang, id=job["id"], file=job["file_name"], status=status,
                                         done=f"{int(job['progress']):,}", total=f"{int(job['total']):,}"))
        finished = history[history["status"] == "done"]
        if len(finished):
            _summary(finished.iloc[0].to_dict(), lang)
        st.subheader(t("data.history", lang))
        if history.empty:
            st.caption(t("data.no_jobs", lang))
            return
        st.dataframe(pd.DataFrame({
            t("data.col_id", lang): history["id"].astype(int),
            t("data.col_file", lang): history["file_name"],
            t("data.col_source", lang): history["source"],
            t("data.col_crs", lang): history["crs"].str.upper(),
            t("data.col_actor", lang): history["actor"],
            t("data.col_status", lang): [label("import_status", s, lang) for s in history["status"]],
            t("data.col_started", lang): [ui.when(v, "%Y-%m-%d %H:%M:%S") for v in history["started_at"]],
            t("data.col_finished", lang): [ui.when(v, "%Y-%m-%d %H:%M:%S") for v in history["finished_at"]],
            t("data.col_stored", lang): [_count(s, "stored") for s in history["summary"]],
            t("data.col_duplicates", lang): [_count(s, "duplicates") for s in history["summary"]],
            t("data.col_quarantined", lang): [_count(s, "quarantined") for s in history["summary"]],
            t("data.col_error", lang): history["error"].fillna(""),
        }), hide_index=True, width="stretch", key="imp_history")

    live()
