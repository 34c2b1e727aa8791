"""Data management (数据管理, /data, issue 13 §4): importing files, the quarantine and the reference
data (departments, stations, users' areas, boundary layers), one tab each.

Each tab is drawn by its own module (pages/data_import.py, pages/data_quarantine.py,
pages/data_reference.py); every rule is in services/import_jobs.py, services/quarantine_fix.py,
services/reference_data.py and services/layer_import.py.
"""

from __future__ import annotations

import streamlit as st

from pages import data_import, data_quarantine, data_reference, ui
from services.i18n import t

lang = ui.lang()
who = ui.require("data", lang)
store = ui.store()

st.title(t("data.title", lang))
tab_import, tab_quarantine, tab_reference = st.tabs(
    [t("data.tab_import", lang), t("data.tab_quarantine", lang), t("data.tab_reference", lang)])
with tab_import:
    data_import.draw(who, store, lang)
with tab_quarantine:
    data_quarantine.draw(who, store, lang)
with tab_reference:
    data_reference.draw(who, store, lang)
