"""Small helpers shared by the pages: the store, the language switch and the page footer.

Thin by design: it reads and writes Streamlit state only; texts come from services.i18n, the store and its
seeding from services.store and services.seed.
"""

from __future__ import annotations

import streamlit as st

from services.access import Principal, default_principal
from services.i18n import DEFAULT_LANG, LANGS, normalise_lang, t
from services.seed import ensure_seeded
from services.store import Store, database_url, open_store


def store() -> Store:
    """The store every page uses: the one ``DATABASE_URL`` names (read by services.store, not here),
    opened once per process and shared by every session (``open_store`` keeps it, and opens it anew
    only after it was closed)."""
    return open_store()


def role() -> Principal:
    """Who this session acts as (services.access.Principal), which every service call that shows or changes
    an appeal carries. Until sign-in exists it is services.access.default_principal() (the duty officer, or
    the session's ``role`` and ``area_code``); sign-in replaces this one place."""
    return default_principal(st.session_state.get("role"), st.session_state.get("area_code"))


@st.cache_resource(show_spinner=False)
def _seeded(url: str) -> int:
    return ensure_seeded(open_store(url))


def seed_store() -> None:
    """Seed the store with the sample when it is empty (services.seed), once per process and store URL.
    Called by app.py at start-up, before any page runs."""
    _seeded(database_url())


def init_language() -> str:
    """The current language: URL ``?lang=`` on first load, then the sidebar switch (Chinese default)."""
    if "lang" not in st.session_state:
        st.session_state["lang"] = normalise_lang(st.query_params.get("lang"))
    return st.session_state["lang"]


def language_switch() -> str:
    """Sidebar control that switches every string between Chinese and English."""
    lang = init_language()
    choice = st.sidebar.segmented_control(
        t("app.language", lang), options=list(LANGS), default=lang, key="lang_switch",
        format_func=lambda code: t(f"app.lang_{code}", lang))
    if choice and choice != lang:
        st.session_state["lang"] = choice
        st.rerun()
    return st.session_state["lang"]


def keep_language_in_url(lang: str) -> None:
    """Keep the chosen language in the URL on every run (``?lang=en``; Chinese, the default, needs none).

    The session remembers the language while one moves between pages, but Streamlit drops the query string
    when the sidebar changes page, and a reload starts a new session that has only the URL to go by.
    """
    if lang == DEFAULT_LANG:
        if "lang" in st.query_params:
            del st.query_params["lang"]
    elif st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang


APP_MARK = "_gm_app_loaded"


def mark_app_loaded() -> None:
    """Called by app.py on every run, before the page runs."""
    st.session_state[APP_MARK] = True


def lang() -> str:
    """The language chosen for this session (and a guard, see below).

    serve.py (``./dev run``) makes app.py the entry point of every request. Started with a bare
    ``streamlit run app.py`` instead, Streamlit treats ``pages/`` as an old-style page folder until the first
    ``st.navigation`` call, and a fresh server's first request of ``/wall`` or ``/planning`` runs the page
    without app.py (navigation, language, page config). Such a page makes that switch itself and reruns.
    """
    if not st.session_state.get(APP_MARK):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False  # what st.navigation in app.py would have set
        st.rerun()
    return normalise_lang(st.session_state.get("lang"))
