"""The admin page's API-keys tab (pages/admin.py): partners' keys for the Open311 API (issue 16).

Thin: the list, issuing (the key is shown once, through the page's notice) and revoking go to
services/admin.py, which checks ``manage_accounts`` and audits through services/api_keys.py.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import ui
from pages.admin_accounts import act
from services import admin
from services.access import Principal
from services.i18n import t
from services.store.base import Store


def _on_issue(store: Store, who: Principal, lang: str) -> None:
    ss = st.session_state
    partner = str(ss.get("adm_ak_partner", "")).strip()
    services = list(ss.get("adm_ak_services") or [])
    area = ss.get("adm_ak_area") or None
    act(lang, lambda: admin.issue_api_key(store, who, partner, services, area),
        lambda key: (t("admin.ak_issued", lang, partner=partner), key))


def _on_revoke(store: Store, who: Principal, lang: str) -> None:
    partner = st.session_state.get("adm_ak_pick")
    act(lang, lambda: admin.revoke_api_key(store, who, partner),
        lambda _: (t("admin.ak_revoked_done", lang, partner=partner), None))


def api_keys_tab(store: Store, who: Principal, lang: str) -> None:
    st.caption(t("admin.ak_intro", lang))
    frame = admin.api_key_rows(store, who)
    services, areas = admin.api_key_choices(lang)
    rows = frame.to_dict("records")
    sep = "、" if lang == "zh" else ", "
    if rows:
        st.dataframe(pd.DataFrame({
            t("admin.ak_id", lang): [int(r["id"]) for r in rows],
            t("admin.ak_partner", lang): [r["partner"] for r in rows],
            t("admin.ak_services", lang): [sep.join(services.get(c, c) for c in r["services"]) if r["services"]
                                           else t("admin.ak_all_services", lang) for r in rows],
            t("admin.ak_area", lang): [areas.get(r["area_code"], r["area_code"]) if r["area_code"]
                                       else t("admin.ak_whole_district", lang) for r in rows],
            t("admin.ak_created_by", lang): [r["created_by"] for r in rows],
            t("admin.ak_created_at", lang): [ui.when(r["created_at"]) for r in rows],
            t("admin.ak_last_used", lang): [ui.when(r["last_used_at"]) for r in rows],
            t("admin.ak_state", lang): [t("admin.active" if r["active"] else "admin.revoked", lang) for r in rows],
            t("admin.ak_revoked_at", lang): [ui.when(r["revoked_at"]) for r in rows],
        }), hide_index=True, width="stretch")
    else:
        st.caption(t("admin.empty", lang))

    st.subheader(t("admin.issue_api_key", lang))
    st.text_input(t("admin.ak_partner", lang), key="adm_ak_partner")
    st.multiselect(t("admin.ak_pick_services", lang), list(services), key="adm_ak_services",
                   format_func=lambda c: f"{services[c]} ({c})")
    st.selectbox(t("admin.ak_pick_area", lang), ["", *areas], key="adm_ak_area",
                 format_func=lambda c: t("admin.ak_whole_district", lang) if not c else f"{areas[c]} ({c})")
    st.button(t("admin.issue", lang), key="adm_ak_issue", on_click=_on_issue, args=(store, who, lang),
              type="primary")

    st.subheader(t("admin.revoke_api_key", lang))
    active = sorted({r["partner"] for r in rows if r["active"]})
    if not active:
        st.caption(t("admin.no_active_api_key", lang))
        return
    st.selectbox(t("admin.ak_pick_partner", lang), active, key="adm_ak_pick")
    st.button(t("admin.revoke", lang), key="adm_ak_revoke", on_click=_on_revoke, args=(store, who, lang))
