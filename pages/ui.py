"""Small helpers shared by the pages: the store, who is signed in, the language switch.

Thin by design: it reads and writes Streamlit state only; texts come from services.i18n, the store and its
seeding from services.store and services.seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from services import access, accounts, audit, sign_in
from services.access import Principal, check_page
from services.clocks import TZ
from services.errors import DomainError, describe
from services.i18n import DEFAULT_LANG, LANGS, label, normalise_lang, t
from services.seed import ensure_seeded
from services.store import Store, database_url, open_store


def store() -> Store:
    """The store every page uses: the one ``DATABASE_URL`` names (read by services.store, not here),
    opened once per process and shared by every session (``open_store`` keeps it, and opens it anew
    only after it was closed)."""
    return open_store()


# Where the session's services.sign_in.Session is kept, and a notice for the sign-in screen.
SESSION_KEY = "gm_session"
NOTICE_KEY = "gm_sign_in_notice"


def address() -> str | None:
    """The browser's address as the server saw it (None when unknown, e.g. in AppTest). Loopback
    included: ``st.context.ip_address`` gives None for 127.0.0.1 and ::1, which is exactly where a
    reverse proxy on the same machine connects from, so the connection's own address is read first
    (Streamlit's client context; a private name, hence the fallback)."""
    try:
        from streamlit.runtime.context import _get_client_context

        client = _get_client_context()
        if client is not None and client.remote_ip:
            return str(client.remote_ip)
    except Exception:  # noqa: BLE001 - a Streamlit without it: the public, loopback-blind value
        pass
    try:
        return st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context (AppTest, a bare script run)
        return None


def oidc_configured() -> bool:
    """True when .streamlit/secrets.toml (or ``secrets.files``) has an ``[auth]`` section for st.login."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def _oidc_claims() -> dict | None:
    if not oidc_configured():
        return None
    try:
        return st.user.to_dict() if st.user.is_logged_in else None
    except Exception:  # noqa: BLE001 - st.user unavailable outside a browser session
        return None


def current_session() -> sign_in.Session | None:
    """Who this browser session is (services.sign_in), decided afresh at every full run of app.py: a
    kiosk token in the URL, the trusted proxy's header, an OIDC sign-in, or the local account signed in
    here, each still valid (not idle, not revoked, not disabled). None when signed out; then
    ``NOTICE_KEY`` may say why. ``access.Forbidden`` when a trusted-header or OIDC identity is refused."""
    st.session_state.pop(NOTICE_KEY, None)
    s: sign_in.Session | None = st.session_state.get(SESSION_KEY)
    token = st.query_params.get("kiosk")
    if token and (s is None or s.kiosk_token != token):
        s = sign_in.kiosk(store(), token, address())
        if s is None:
            st.session_state[NOTICE_KEY] = "sign_in.kiosk_refused"
    elif s is None and sign_in.header_mode():
        s = sign_in.from_header(store(), dict(st.context.headers), address())
    elif s is None and (claims := _oidc_claims()) is not None:
        s = sign_in.from_oidc(store(), claims, address())
    elif s is not None:
        ended = s
        s = sign_in.check(store(), s, active=True)
        if s is None:
            st.session_state[NOTICE_KEY] = "sign_in.ended"
            if ended.method == "oidc":
                st.session_state.pop(SESSION_KEY, None)
                st.logout()
    if s is None:
        st.session_state.pop(SESSION_KEY, None)
    else:
        st.session_state[SESSION_KEY] = s
    return s


def role() -> Principal:
    """Who this session acts as (services.access.Principal, the signed-in account), which every service
    call that shows or changes an appeal carries. app.py has checked the session at this run."""
    s: sign_in.Session | None = st.session_state.get(SESSION_KEY)
    if s is None:  # a page run without app.py (see lang()): app.py shows the sign-in screen
        st.rerun()
    return s.principal


def still_signed_in() -> Principal:
    """For a fragment that refreshes on a timer: the session checked again (a revoked kiosk token, a
    disabled account or an idle session ends it here, and the whole app reruns to the sign-in screen);
    the refresh is not activity."""
    s: sign_in.Session | None = st.session_state.get(SESSION_KEY)
    s = sign_in.check(store(), s, active=False) if s is not None else None
    if s is None:
        st.session_state.pop(SESSION_KEY, None)
        st.session_state[NOTICE_KEY] = "sign_in.ended"
        st.rerun(scope="app")
    st.session_state[SESSION_KEY] = s
    return s.principal


def require(page: str, lang: str) -> Principal:
    """The principal, when its role may open ``page`` (services.access.ROLE_PAGES); else the reason
    and nothing else of the page."""
    who = role()
    try:
        check_page(who, page)
    except DomainError as exc:
        st.error(describe(exc, lang))
        st.stop()
    return who


def act(key: str, lang: str, request: Callable[[], Any], done: Callable[[Any], tuple[str, Any]]) -> None:
    """Run a page's ``request`` (a service call) and keep its outcome under ``key`` for the next run:
    ``("success", text, extra)`` from ``done(result)``, or ``("error", the refusal in ``lang``, the error's
    ``detail`` if it has one)``. What ``extra`` means is the page's (a secret shown once, a file's details)."""
    try:
        result = request()
    except DomainError as exc:
        st.session_state[key] = ("error", describe(exc, lang), getattr(exc, "detail", None))
        return
    text, extra = done(result)
    st.session_state[key] = ("success", text, extra)


def notice(key: str) -> tuple[str, str, Any] | None:
    """The outcome ``act`` kept under ``key``, once (it is gone after this run), after drawing its text as a
    success or an error; the page draws its ``extra``."""
    kept = st.session_state.pop(key, None)
    if kept is not None:
        (st.error if kept[0] == "error" else st.success)(kept[1])
    return kept


def audited_export(what: str, data: bytes | str | Callable[[], bytes | str]) -> Callable[[], bytes | str]:
    """``data`` for ``st.download_button`` as a callable that writes the export to the audit log
    (services.audit.exported: who, what, how many bytes) when the browser downloads it."""
    who, where = role(), store()

    def produce() -> bytes | str:
        out = data() if callable(data) else data
        audit.exported(where, who, what, {"bytes": len(out)})
        return out

    return produce


def no_unaudited_downloads() -> None:
    """Hide the tables' own "Download as CSV" button: that download happens in the browser, out of the
    audit log's sight; every export is offered by a page through ``audited_export`` instead."""
    st.html("<style>[data-testid='stElementToolbar'] button[aria-label='Download as CSV']"
            "{display: none !important;}</style>")


def wall_mode() -> bool:
    """The unattended wall's layout: ``?mode=wall``, and always for a kiosk screen or the wall role."""
    s: sign_in.Session | None = st.session_state.get(SESSION_KEY)
    forced = s is not None and (s.method == "kiosk" or s.principal.role == "wall")
    return forced or st.query_params.get("mode") == "wall"


def _sign_out() -> None:
    s: sign_in.Session | None = st.session_state.pop(SESSION_KEY, None)
    if s is not None:
        sign_in.sign_out(store(), s)
        if s.method == "oidc":
            st.logout()


def account_box(s: sign_in.Session, lang: str) -> None:
    """The sidebar's account box: who is signed in, with which role, area and method, and sign-out."""
    from services import district

    who = s.principal
    area = district.names(access.area_kind(who.role), lang).get(who.area_code, who.area_code) \
        if access.area_kind(who.role) else ""
    with st.sidebar:
        st.markdown(f"**{t('account_box.signed_in_as', lang, name=who.name)}**")
        role_text = label("role", who.role, lang)
        st.caption(t("account_box.role_area", lang, role=role_text, area=area) if area else role_text)
        st.caption(t("account_box.via", lang, method=label("sign_in_method", s.method, lang)))
        if sign_in.may_sign_out(s):
            st.button(t("account_box.sign_out", lang), on_click=_sign_out, key="sign_out")


@st.cache_resource(show_spinner=False)
def _seeded(url: str) -> int:
    s = open_store(url)
    count = ensure_seeded(s)
    accounts.ensure_admin(s, accounts.var_dir_for(url))
    audit.note_rule_files(s)
    return count


def seed_store() -> None:
    """At start-up, once per process and store URL (app.py, before any page runs): seed the store with
    the sample when it is empty (services.seed), make the first admin account when there is none
    (services.accounts.ensure_admin), and log a changed rule file (services.audit.note_rule_files)."""
    _seeded(database_url())


def init_language() -> str:
    """The current language: URL ``?lang=`` on first load, then the sidebar switch (Chinese default)."""
    if "lang" not in st.session_state:
        st.session_state["lang"] = normalise_lang(st.query_params.get("lang"))
    return st.session_state["lang"]


def _language_chosen() -> None:
    choice = st.session_state.get("lang_switch")
    if choice:
        st.session_state["lang"] = choice


def language_switch() -> str:
    """Sidebar control that switches every string between Chinese and English. The choice is taken in
    the control's callback, before the run, so the same run draws the page in the new language on the
    same URL (a rerun from here, before st.navigation, would land on the default page)."""
    lang = init_language()
    st.sidebar.segmented_control(
        t("app.language", lang), options=list(LANGS), default=lang, key="lang_switch",
        format_func=lambda code: t(f"app.lang_{code}", lang), on_change=_language_chosen)
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


SHORT_TIME = "%m-%d %H:%M"  # this year's times in a busy table (orders, the workbench)


def when(v: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the tables show it, in Asia/Shanghai (a naive time is taken as local); blank when
    missing. One formatter for every page's time columns."""
    if v is None or pd.isna(v):
        return ""
    ts = pd.Timestamp(v)
    return f"{(ts.tz_convert(TZ) if ts.tzinfo is not None else ts):{fmt}}"
