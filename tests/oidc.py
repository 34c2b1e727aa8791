"""Sign-in through OpenID Connect in tests: a local mock provider, the secrets that point Streamlit's
``st.login`` at it, and a real browser's sign-in.

The provider is ``oidc-provider-mock`` 0.3.4 (``python -m oidc_provider_mock``, a Flask app served by
uvicorn). What it does, read from its source:

- Any client id and secret are accepted (no registration unless ``--require-registration``), and any
  redirect URI.
- The issuer is the URL the provider was asked under (``request.host_url``): ``http://127.0.0.1:PORT``
  here. Discovery: ``ISSUER/.well-known/openid-configuration``; it names an ``end_session_endpoint``, so
  ``st.logout`` goes through the provider's "End session" page (see ``browser_sign_out``).
- Its authorization page (``/oauth2/authorize``) has one text field, ``name="sub"``, a submit button
  "Authorize" and a "Deny" button; nothing else. The claims of a subject are set beforehand with
  ``PUT ISSUER/users/<sub>`` and a JSON object of claims (``set_user_claims``); a subject never set gets
  ``{"email": sub}``. ``sub`` is always in the token; standard claims (name, email, ...) only for their
  scope (Streamlit asks for ``openid email profile``); any other claim, such as ``groups``, always.
- Its pages load one stylesheet from a CDN (Pico CSS on cdn.jsdelivr.net); ``keep_provider_pages_local``
  answers that request in the browser with an empty stylesheet, so nothing leaves the machine.
- The claims go into the ID token (and /userinfo); Streamlit's ``st.user`` is the ID token's claims
  (iss, sub, aud, exp, iat, auth_time, nonce, at_hash, email, name, groups, ...) plus ``is_logged_in`` and
  ``provider`` (and ``st.user.tokens``, empty unless ``expose_tokens``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote, urlsplit

from tests.browser import free_port

DISCOVERY_PATH = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/oauth2/authorize"
END_SESSION_PATH = "/oauth2/end_session"
# The one outside resource of the provider's pages (templates/_base.html).
PROVIDER_CDN_CSS = "https://cdn.jsdelivr.net/npm/@picocss/pico@2/css/pico.min.css"


@contextmanager
def oidc_provider(timeout_s: float = 30, *, users: Sequence[dict] = ()) -> Iterator[str]:
    """Run oidc-provider-mock on a free port of 127.0.0.1 in its own process group; yields its issuer URL
    (``http://127.0.0.1:PORT``, no trailing slash) once discovery answers, and stops it afterwards.

    *users* are predefined users (JSON objects with ``sub`` and claims, ``--user-claims``); the
    authorization page shows a one-click button for each. ``set_user_claims`` does the same at any time.
    """
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        cmd += ["--user-claims", json.dumps(user)]
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"oidc-provider-{port}.log"
    with open(log_path, "w+b") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "NO_COLOR": "1"})
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(issuer + DISCOVERY_PATH, timeout=2) as r:
                        if r.status == 200 and json.load(r).get("issuer") == issuer:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"oidc-provider-mock did not start (exit code {proc.poll()}):\n"
                                       + log.read().decode(errors="replace")[-3000:])
                time.sleep(0.2)
            yield issuer
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    with suppress(OSError):
        log_path.unlink()


def set_user_claims(issuer: str, subject: str, claims: dict) -> None:
    """Give *subject* these claims at the provider (``PUT /users/<sub>``): the next sign-in as *subject*
    puts them into the ID token (``sub`` itself is always there; don't put it into *claims*)."""
    req = urllib.request.Request(f"{issuer}/users/{quote(subject, safe='')}", method="PUT",
                                 data=json.dumps(claims).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 204:
            raise RuntimeError(f"oidc-provider-mock refused the claims of {subject!r}: HTTP {r.status}")


def auth_secrets(issuer: str, app_url: str, *, client_id: str = "gm-dashboard",
                 client_secret: str = "gm-dashboard-test-secret", cookie_secret: str | None = None,
                 provider: str | None = None) -> str:
    """The ``[auth]`` section (TOML) for a Streamlit server at *app_url* signing in at *issuer*.

    With *provider*, the client settings go into ``[auth.PROVIDER]`` (then ``st.login("PROVIDER")``);
    without, into ``[auth]`` itself (``st.login()``).
    """
    app_url = app_url.rstrip("/")
    shared = {"redirect_uri": f"{app_url}/oauth2callback",
              "cookie_secret": cookie_secret or secrets.token_urlsafe(32)}
    client = {"client_id": client_id, "client_secret": client_secret,
              "server_metadata_url": issuer + DISCOVERY_PATH}
    lines = ["[auth]", *(f"{k} = {json.dumps(v)}" for k, v in shared.items())]
    if provider:
        lines += ["", f"[auth.{provider}]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in client.items()]
    return "\n".join(lines) + "\n"


def write_auth_secrets(path: Path | str, issuer: str, app_url: str, *, client_id: str = "gm-dashboard",
                       client_secret: str = "gm-dashboard-test-secret", cookie_secret: str | None = None,
                       provider: str | None = None) -> Path:
    """Write ``auth_secrets(...)`` to *path* (a secrets.toml outside the repository; start the server with
    ``--secrets.files PATH``) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(auth_secrets(issuer, app_url, client_id=client_id, client_secret=client_secret,
                                 cookie_secret=cookie_secret, provider=provider), encoding="utf-8")
    return path


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def keep_provider_pages_local(page) -> None:
    """Answer the provider pages' CDN stylesheet request in *page* (or a browser context) with an empty
    stylesheet, so that it never goes out (the page still fires a "request" event for it)."""
    page.route(PROVIDER_CDN_CSS, lambda route: route.fulfill(status=200, content_type="text/css", body=""))


def browser_sign_in(page, app_url: str, *, subject: str, email: str, groups: Sequence[str] = (),
                    name: str | None = None, button_text: str = "Sign in with SSO",
                    extra_claims: dict | None = None, timeout_ms: float = 60_000,
                    screenshot: str | None = None) -> None:
    """Sign in on the app page open in *page* (Playwright, sync API): click the button *button_text* (an
    ``st.button(..., on_click=st.login)``), give *subject* its claims at the provider (email, name,
    ``groups`` as a list, *extra_claims*), type *subject* into the provider's form, press "Authorize", and
    wait until the browser is back on *app_url* (Streamlit's /oauth2callback redirects to the app's root).

    *screenshot* is a path for a screenshot of the provider's filled-in form (for looking at it).
    The page must already show the app at *app_url* (its host exactly as in ``redirect_uri``: the sign-in
    state is a cookie of that host).
    """
    claims: dict = {"email": email, "email_verified": True, "name": name or subject, "groups": list(groups)}
    claims.update(extra_claims or {})
    keep_provider_pages_local(page)
    page.get_by_role("button", name=button_text).click(timeout=timeout_ms)
    page.wait_for_url(lambda url: urlsplit(url).path == AUTHORIZE_PATH, timeout=timeout_ms)
    set_user_claims(_origin(page.url), subject, claims)
    page.locator('input[name="sub"]').fill(subject)
    if screenshot:
        page.screenshot(path=screenshot)
    page.get_by_role("button", name="Authorize").click()
    app_origin = _origin(app_url)
    page.wait_for_url(lambda url: _origin(url) == app_origin and urlsplit(url).path != "/oauth2callback",
                      timeout=timeout_ms)


def browser_sign_out(page, app_url: str, *, button_text: str = "Sign out", timeout_ms: float = 60_000) -> None:
    """Sign out: click *button_text* (an ``st.button(..., on_click=st.logout)``). Streamlit clears its
    cookies and sends the browser to the provider's end_session_endpoint; press its "End session" button,
    which goes back to the app's /oauth2callback and from there to the app's root. Waits until back."""
    keep_provider_pages_local(page)
    page.get_by_role("button", name=button_text).click(timeout=timeout_ms)
    page.wait_for_url(lambda url: urlsplit(url).path == END_SESSION_PATH, timeout=timeout_ms)
    page.get_by_role("button", name="End session").click()
    app_origin = _origin(app_url)
    page.wait_for_url(lambda url: _origin(url) == app_origin and urlsplit(url).path != "/oauth2callback",
                      timeout=timeout_ms)
