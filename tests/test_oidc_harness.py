"""The OIDC test harness (tests/oidc.py) works end to end: a throwaway Streamlit script (not app.py) signs in
with ``st.login`` at the local mock provider in headless Chromium, shows the ID token's claims (email, sub,
a custom ``groups`` claim) from ``st.user``, and signs out with ``st.logout``.

The script's secrets are a file in tmp_path given with ``--secrets.files``: nothing is written into the
repository. Under CI=true a missing Chromium fails the test.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser import LOCAL_PREFIXES, free_port, streamlit_server
from tests.oidc import PROVIDER_CDN_CSS, browser_sign_in, browser_sign_out, oidc_provider, write_auth_secrets

pytestmark = pytest.mark.browser

SCRIPT = '''
import json
import streamlit as st

st.title("OIDC harness")
if not st.user.is_logged_in:
    st.write("Signed out")
    st.button("Sign in with SSO", on_click=st.login)
else:
    st.write(f"email: {st.user.email}")
    st.write(f"sub: {st.user.sub}")
    st.write(f"name: {st.user.get('name')}")
    st.write("groups: " + json.dumps(st.user.get("groups")))
    st.write("claims: " + ", ".join(sorted(st.user.to_dict())))
    st.button("Sign out", on_click=st.logout)
'''


def wait_for_text(page, text: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_ms)


def test_sign_in_and_out_through_the_mock_provider(browser, tmp_path):
    script = tmp_path / "harness_app.py"
    script.write_text(SCRIPT, encoding="utf-8")
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    with oidc_provider() as issuer:
        secrets_file = write_auth_secrets(tmp_path / "secrets" / "secrets.toml", issuer, app_url)
        with streamlit_server(script=script, cwd=tmp_path, port=port,
                              extra_args=["--secrets.files", str(secrets_file)]) as url:
            assert url == app_url
            context = browser.new_context()
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            try:
                # A session started with query parameters: st.login still works, and comes back to "/".
                page.goto(f"{app_url}/?lang=en")
                wait_for_text(page, "Signed out")
                page.screenshot(path="/tmp/oidc-1-signed-out.png")

                browser_sign_in(page, app_url, subject="alice", email="alice@example.org",
                                groups=["gm-admin", "gm-staff"], name="Alice Admin",
                                screenshot="/tmp/oidc-1b-provider-form.png")
                wait_for_text(page, "email: alice@example.org")
                page.screenshot(path="/tmp/oidc-2-signed-in.png")
                text = page.inner_text("body")
                assert "sub: alice" in text
                assert "name: Alice Admin" in text
                assert 'groups: ["gm-admin", "gm-staff"]' in text
                assert urlsplit(page.url).path == "/" and not urlsplit(page.url).query
                cookies = {c["name"] for c in context.cookies(app_url)}
                assert "_streamlit_user" in cookies

                # The identity cookie carries the sign-in into a new session (a reload).
                page.reload()
                wait_for_text(page, "email: alice@example.org")

                browser_sign_out(page, app_url)
                wait_for_text(page, "Signed out")
                page.get_by_role("button", name="Sign in with SSO").wait_for()
                page.screenshot(path="/tmp/oidc-3-signed-out-again.png")
                assert "_streamlit_user" not in {c["name"] for c in context.cookies(app_url)}
            finally:
                context.close()
    # The provider pages' stylesheet is answered in the browser (keep_provider_pages_local), the rest is local.
    assert {u for u in requests if not u.startswith(LOCAL_PREFIXES)} <= {PROVIDER_CDN_CSS}
