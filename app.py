"""Entry point (started by ``serve.py``, see there): sign-in, navigation, language and page set-up; no rules,
no SQL.

Each page has its own URL (README, "The screens"); ``/`` shows the signed-in role's first screen. A
signed-out browser gets the sign-in screen and nothing else: no navigation, no page, no data
(services/sign_in.py decides who a session is; services/access.py which screens its role may open).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import sign_in as sign_in_screen
from pages import ui
from services.access import PAGES, Forbidden
from services.i18n import t
from services.sign_in import pages_for

ICON = Path(__file__).resolve().parent / "static" / "icon.png"

# The unattended wall (``?mode=wall``, a kiosk URL): no sidebar and no navigation.
wall_url = st.query_params.get("mode") == "wall" or "kiosk" in st.query_params

st.set_page_config(page_title=t("app.title", ui.init_language()), page_icon=str(ICON), layout="wide",
                   initial_sidebar_state="collapsed" if wall_url else "auto")

lang = ui.init_language() if wall_url else ui.language_switch()
ui.mark_app_loaded()
# The store is seeded once per process, before the first page runs (the pages only read and act on it).
ui.seed_store()

refused: Forbidden | None = None
try:
    session = ui.current_session()
except Forbidden as exc:  # the proxy's or the identity provider's user has no role here
    session, refused = None, exc
if session is None:
    # Every screen's URL draws the sign-in screen and nothing else; keeping the URL's page means that a
    # good sign-in (which reruns on that page) opens the screen that was asked for.
    def _sign_in() -> None:
        sign_in_screen.render(lang, refused)

    gate = [st.Page(_sign_in, title=t("sign_in.title", lang), url_path=name) for name in PAGES]
    gate.append(st.Page(_sign_in, title=t("sign_in.title", lang), url_path="sign_in", default=True))
    page = st.navigation(gate, position="hidden")
    ui.keep_language_in_url(lang)
    page.run()
    st.stop()

wall_mode = ui.wall_mode()
if not wall_mode:
    ui.account_box(session, lang)
ui.no_unaudited_downloads()

# Every screen, by the name services.access.ROLE_PAGES gives it, in its navigation section. The district
# map's script serves /map and, when it is the role's first screen, / (Streamlit serves its default page at
# / only, so that default is a hidden second page of the same script).
SCREENS = {
    "wall": ("nav.section_monitor", "pages/wall.py", "nav.wall", ":material/monitor:"),
    "workbench": ("nav.section_monitor", "pages/workbench.py", "nav.workbench", ":material/assignment_ind:"),
    "register": ("nav.section_monitor", "pages/register.py", "nav.register", ":material/edit_note:"),
    "orders": ("nav.section_monitor", "pages/orders.py", "nav.orders", ":material/assignment:"),
    "analysis": ("nav.section_analysis", "pages/analysis.py", "nav.analysis", ":material/insights:"),
    "briefing": ("nav.section_analysis", "pages/briefing.py", "nav.briefing", ":material/summarize:"),
    "map": ("nav.section_analysis", "pages/district_map.py", "nav.map", ":material/map:"),
    "planning": ("nav.section_analysis", "pages/planning.py", "nav.planning", ":material/hub:"),
    "admin": ("nav.section_admin", "pages/admin.py", "nav.admin", ":material/admin_panel_settings:"),
    "data": ("nav.section_admin", "pages/data.py", "nav.data", ":material/database:"),
}
allowed = [name for name in pages_for(session) if name in SCREENS]
pages: dict[str, list[st.Page]] = {}
for name in allowed:
    section, script, title, icon = SCREENS[name]
    pages.setdefault(t(section, lang), []).append(
        st.Page(script, title=t(title, lang), icon=icon, url_path=name))
_, first_script, first_title, first_icon = SCREENS[allowed[0]]
pages.setdefault(t(SCREENS[allowed[0]][0], lang), []).append(
    st.Page(first_script, title=t(first_title, lang), icon=first_icon, url_path="home", default=True,
            visibility="hidden"))

page = st.navigation(pages, position="hidden" if wall_mode else "sidebar")
# After st.navigation, so that the URL written is the current page's (before it, Streamlit takes the
# main script's page and the browser lands on / with the new query string).
ui.keep_language_in_url(lang)
page.run()
