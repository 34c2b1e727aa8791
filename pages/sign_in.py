"""The sign-in screen (登录): all that a signed-out browser is served (app.py draws it and stops).

A plain user name and password form for local accounts, and the single sign-on button when OIDC is
configured (st.login). Nothing of the district's data is read here: no appeal, count or map. The rules
(throttling, what a refusal says, the audit) are services/sign_in.py's and services/accounts.py's.
"""

from __future__ import annotations

import streamlit as st

from pages import ui
from services import sign_in
from services.errors import DomainError, describe
from services.i18n import t


def render(lang: str, refusal: DomainError | None = None) -> None:
    """Draw the sign-in screen; a good local sign-in stores the session and reruns the app."""
    _, middle, _ = st.columns([1, 1.2, 1])
    with middle:
        st.title(t("app.title", lang))
        st.subheader(t("sign_in.title", lang))
        notice = st.session_state.get(ui.NOTICE_KEY)
        if refusal is not None:
            st.error(f"{t('sign_in.refused', lang)}：{describe(refusal, lang)}" if lang == "zh"
                     else f"{t('sign_in.refused', lang)}: {describe(refusal, lang)}")
        elif notice:
            st.info(t(notice, lang))
        else:
            st.caption(t("sign_in.intro", lang))
        if sign_in.header_mode():  # the proxy signs people in: no form here (services.sign_in refuses it too)
            st.caption(t("sign_in.through_proxy", lang))
            return
        if ui.oidc_configured():
            if refusal is not None:
                st.button(t("sign_in.retry_sso", lang), on_click=st.logout, key="sso_out")
            else:
                st.button(t("sign_in.sso", lang), on_click=st.login, type="primary", key="sso")
            st.caption(t("sign_in.or_local", lang))
        with st.form("sign_in", border=True):
            name = st.text_input(t("sign_in.user", lang), autocomplete="username")
            password = st.text_input(t("sign_in.password", lang), type="password", autocomplete="current-password")
            submitted = st.form_submit_button(t("sign_in.submit", lang), type="primary")
    if not submitted:
        return
    try:
        session = sign_in.local(ui.store(), name, password, ui.address())
    except DomainError as exc:
        middle.error(describe(exc, lang))
        return
    st.session_state[ui.SESSION_KEY] = session
    st.rerun()
