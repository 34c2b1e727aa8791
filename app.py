"""Entry point: ``streamlit run app.py``. Navigation, language and page set-up; no rules, no SQL."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import ui
from services.i18n import t

ICON = Path(__file__).resolve().parent / "static" / "icon.png"

st.set_page_config(page_title=t("app.title", ui.init_language()), page_icon=str(ICON), layout="wide")

lang = ui.language_switch()

PAGES = {
    t("nav.section_analysis", lang): [
        st.Page("pages/district_map.py", title=t("nav.map", lang), icon=":material/map:", url_path="map",
                default=True),
    ],
}

st.navigation(PAGES).run()
