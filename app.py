"""Entry point (started by ``serve.py``, see there): navigation, language and page set-up; no rules, no SQL.

Each page has its own URL (README, "The screens"); ``/`` shows the district map too.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import ui
from services.i18n import t

ICON = Path(__file__).resolve().parent / "static" / "icon.png"

# Wall mode (``?mode=wall``): the unattended wall display, with no sidebar and no navigation.
WALL_MODE = st.query_params.get("mode") == "wall"

st.set_page_config(page_title=t("app.title", ui.init_language()), page_icon=str(ICON), layout="wide",
                   initial_sidebar_state="collapsed" if WALL_MODE else "auto")

lang = ui.init_language() if WALL_MODE else ui.language_switch()
ui.keep_language_in_url(lang)
ui.mark_app_loaded()
# The store is seeded once per process, before the first page runs (the pages only read and act on it).
ui.seed_store()

# The district map has its own URL, /map, like every page; / shows the same map (a hidden default page:
# Streamlit serves its default page at / only, so a default map page would leave /map unknown).
MAP_SCRIPT = "pages/district_map.py"
PAGES = {
    t("nav.section_monitor", lang): [
        st.Page("pages/wall.py", title=t("nav.wall", lang), icon=":material/monitor:", url_path="wall"),
    ],
    t("nav.section_analysis", lang): [
        st.Page(MAP_SCRIPT, title=t("nav.map", lang), icon=":material/map:", url_path="map"),
        st.Page("pages/planning.py", title=t("nav.planning", lang), icon=":material/hub:", url_path="planning"),
        st.Page(MAP_SCRIPT, title=t("nav.map", lang), icon=":material/map:", url_path="home", default=True,
                visibility="hidden"),
    ],
}

st.navigation(PAGES, position="hidden" if WALL_MODE else "sidebar").run()
