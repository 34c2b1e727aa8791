"""The admin page's wall-screen (kiosk) and audit-log tabs (pages/admin.py).

The log is read through services/admin.py (filtered by person, object and period, newest first, capped by
config/rules.toml ``[admin] audit_page_rows``); its CSV and Excel downloads are made by
``admin.audit_export`` when the browser asks for them, which writes the export's own audit row.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from pages import ui
from pages.admin_accounts import act
from services import admin, kiosk
from services.access import Principal
from services.i18n import t
from services.store.base import Store


def browser_base_url() -> str:
    """The address the admin's browser uses for this app (scheme and host of ``st.context.url``), or the
    default kiosk base URL when Streamlit does not say (AppTest)."""
    try:
        parts = urlsplit(st.context.url or "")
    except Exception:  # noqa: BLE001 - no request context
        parts = None
    if parts and parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return kiosk.DEFAULT_BASE_URL


# -- kiosks ---------------------------------------------------------------------------------------------
def _on_issue(store: Store, who: Principal, lang: str) -> None:
    ss = st.session_state
    screen = str(ss.get("adm_k_screen", "")).strip()
    act(lang, lambda: admin.issue_kiosk(store, who, screen, ss.get("adm_k_base", "")),
        lambda url: (t("admin.issued", lang, screen=screen), url))


def _on_revoke(store: Store, who: Principal, lang: str) -> None:
    screen = st.session_state.get("adm_k_pick")
    act(lang, lambda: admin.revoke_kiosk(store, who, screen),
        lambda _: (t("admin.revoked_done", lang, screen=screen), None))


def kiosks_tab(store: Store, who: Principal, lang: str) -> None:
    st.caption(t("admin.kiosk_intro", lang))
    frame = admin.kiosk_screens(store, who)
    rows = frame.to_dict("records")
    if rows:
        st.dataframe(pd.DataFrame({
            t("admin.k_screen", lang): [r["screen"] for r in rows],
            t("admin.k_created_by", lang): [r["created_by"] for r in rows],
            t("admin.k_created_at", lang): [ui.when(r["created_at"]) for r in rows],
            t("admin.k_last_seen", lang): [ui.when(r["last_seen_at"]) for r in rows],
            t("admin.k_state", lang): [t("admin.active" if r["active"] else "admin.revoked", lang) for r in rows],
            t("admin.k_revoked_at", lang): [ui.when(r["revoked_at"]) for r in rows],
        }), hide_index=True, width="stretch")
    else:
        st.caption(t("admin.empty", lang))

    st.subheader(t("admin.issue_kiosk", lang))
    c1, c2 = st.columns(2)
    c1.text_input(t("admin.k_screen", lang), key="adm_k_screen")
    c2.text_input(t("admin.base_url", lang), value=browser_base_url(), key="adm_k_base")
    st.button(t("admin.issue", lang), key="adm_k_issue", on_click=_on_issue, args=(store, who, lang),
              type="primary")

    st.subheader(t("admin.revoke_kiosk", lang))
    active = sorted({r["screen"] for r in rows if r["active"]})
    if not active:
        st.caption(t("admin.no_active_kiosk", lang))
        return
    st.selectbox(t("admin.pick_screen", lang), active, key="adm_k_pick")
    st.button(t("admin.revoke", lang), key="adm_k_revoke", on_click=_on_revoke, args=(store, who, lang))


# -- audit log ------------------------------------------------------------------------------------------
def audit_tab(store: Store, who: Principal, lang: str) -> None:
    c1, c2, c3 = st.columns(3)
    actor = c1.text_input(t("admin.f_actor", lang), key="adm_f_actor")
    kinds = ["", *admin.object_kinds()]
    kind = c2.selectbox(t("admin.f_object_kind", lang), kinds, key="adm_f_kind",
                        format_func=lambda k: t("admin.any_kind", lang) if not k else
                        admin.object_label(k, None, lang))
    object_id = c3.text_input(t("admin.f_object_id", lang), key="adm_f_oid")
    d1, d2 = st.columns(2)
    since = d1.date_input(t("admin.f_since", lang), value=None, key="adm_f_since")
    until = d2.date_input(t("admin.f_until", lang), value=None, key="adm_f_until")

    frame = admin.audit_log(store, who, actor=actor, object_kind=kind, object_id=object_id, since=since,
                            until=until)
    st.caption(t("admin.rows", lang, n=len(frame)))
    if frame.attrs.get("truncated"):
        st.warning(t("admin.truncated", lang, n=len(frame)))
    st.dataframe(admin.audit_view(frame, lang), hide_index=True, width="stretch")
    e1, e2 = st.columns(2)
    e1.download_button(t("admin.export_csv", lang), functools.partial(admin.audit_export, store, who, frame, "csv",
                                                                       lang), file_name="audit.csv", mime="text/csv",
                       key="adm_export_csv", on_click="ignore")
    e2.download_button(t("admin.export_xlsx", lang), functools.partial(admin.audit_export, store, who, frame,
                                                                        "xlsx", lang), file_name="audit.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key="adm_export_xlsx", on_click="ignore")

    verdict = admin.audit_status(store, who)
    if verdict.ok:
        st.success(t("admin.chain_ok", lang, rows=verdict.rows, head=verdict.head_hash))
    else:
        st.error(t("admin.chain_broken", lang, id=verdict.first_bad_id, reason=verdict.reason))
