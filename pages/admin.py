"""System administration (系统管理), for the admin role only: accounts, the identity-to-role map, wall
screens' kiosk links, partners' Open311 API keys and the audit log, one tab each (pages/admin_accounts.py,
pages/admin_audit.py, pages/admin_api_keys.py).

Thin: every request goes to services/admin.py, which checks the admin's right and does the work through
services/accounts.py, identities.py, kiosk.py and api_keys.py (each audited); this page reads widgets,
sends the request from a button's callback, and shows the outcome (or the refusal, in the chosen
language). A generated password, kiosk link or API key is shown once: it is kept in the session only until the next run.
"""

from __future__ import annotations

import streamlit as st

from pages import admin_accounts, admin_api_keys, admin_audit, ui
from services.i18n import t

lang = ui.lang()
who = ui.require("admin", lang)
store = ui.store()

st.title(t("admin.title", lang))
admin_accounts.show_notice(lang)
accounts_tab, identities_tab, kiosks_tab, api_keys_tab, audit_tab = st.tabs(
    [t("admin.tab_accounts", lang), t("admin.tab_identities", lang), t("admin.tab_kiosks", lang),
     t("admin.tab_api_keys", lang), t("admin.tab_audit", lang)])
with accounts_tab:
    admin_accounts.accounts_tab(store, who, lang)
with identities_tab:
    admin_accounts.identities_tab(store, who, lang)
with kiosks_tab:
    admin_audit.kiosks_tab(store, who, lang)
with api_keys_tab:
    admin_api_keys.api_keys_tab(store, who, lang)
with audit_tab:
    admin_audit.audit_tab(store, who, lang)
