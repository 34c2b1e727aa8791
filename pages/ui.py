"""Small helpers shared by the pages: the language switch and the page footer.

Thin by design: it reads and writes Streamlit state only; texts come from services.i18n.
"""

from __future__ import annotations

import streamlit as st

from services.i18n import LANGS, normalise_lang, t


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
        st.query_params["lang"] = choice
        st.rerun()
    return st.session_state["lang"]


def lang() -> str:
    """The language chosen for this session."""
    return normalise_lang(st.session_state.get("lang"))
