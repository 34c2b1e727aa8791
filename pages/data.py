"""Data management (数据管理, /data, issue 13 §4): importing files and the quarantine, one tab each.

Each tab is drawn by its own module (pages/data_import.py, pages/data_quarantine.py); every rule is in
services/import_jobs.py and services/quarantine_fix.py.
"""

from __future__ import annotations

import streamlit as st

from pages import data_import, data_quarantine, ui
from services.i18n import t

lang = ui.lang()
who = ui.require("data", lang)
store = ui.store()

st.title(t("data.title", lang))
tab_import, tab_quarantine = st.tabs([t("data.tab_import", lang), t("data.tab_quarantine", lang)])
with tab_import:
    data_import.draw(who, store, lang)
with tab_quarantine:
    data_quarantine.draw(who, store, lang)
