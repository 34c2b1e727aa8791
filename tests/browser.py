"""Helpers for real-browser tests: a local ``streamlit run`` server and Debian's headless Chromium, and
the ways in of issue 12 (a local account made before the server starts, ``sign_in`` through the form, a
kiosk URL for a wall screen).

Chromium is driven by Playwright's Python client with ``executable_path=/usr/bin/chromium`` (Playwright's
own browser download is never used). Every request the page makes is recorded, so a test can assert that
nothing left the machine.

A server's store should have an account before the server starts (``add_account``): on a store with none,
the app makes the first admin and writes its password into the checkout's var/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "ws://127.0.0.1", "ws://localhost", "data:", "blob:",
                  "about:")


def chromium_path() -> str | None:
    """Debian's chromium, if installed."""
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout_s: float = 90, *, wrapper: list[str] = (),
                     address: str | None = "127.0.0.1", dev_run: bool = False, extra_args: Sequence[str] = (),
                     script: Path | None = None, cwd: Path | None = None,
                     port: int | None = None) -> Iterator[str]:
    """Run the dashboard as ``./dev run`` does (``serve.py``, i.e. ``streamlit run app.py``) on a free local
    port; yields its base URL and stops it (its whole process group) afterwards.

    *wrapper* goes before the command (e.g. ``strace …``); ``address=None`` leaves the listening address
    to the configuration (.streamlit/config.toml); ``dev_run`` runs ``./dev run`` itself (``PORT=…``).
    *extra_args* go after the other ``streamlit run`` options (e.g. ``--secrets.files /tmp/x/secrets.toml``,
    so a test's secrets never go into the repository); *script* runs ``streamlit run SCRIPT`` instead of
    serve.py (a throwaway test script), in *cwd* (default: the repository); *port* is the port to use
    (default: a free one), for settings that must name the URL beforehand (``redirect_uri``).
    *extra_args*, *script* and *cwd* do not apply to ``dev_run``.
    """
    port = port or free_port()
    env = {**os.environ, **(env or {})}
    if dev_run:
        cmd = [str(REPO / "dev"), "run"]
        env["PORT"] = str(port)
    else:
        entry = [str(REPO / "serve.py")] if script is None else ["-m", "streamlit", "run", str(script)]
        cmd = [sys.executable, *entry, "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        if address:
            cmd += ["--server.address", address]
        cmd += list(extra_args)
    cmd = [*wrapper, *cmd]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=cwd or REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"streamlit did not start (exit code {proc.poll()}):\n"
                                       + log.read().decode(errors="replace")[-3000:])
                time.sleep(0.5)
            yield url
        finally:
            # The group: a wrapper such as strace leaves the server running when only it is stopped.
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


# The password of every account the browser tests make (at least [accounts] min_password_length long).
TEST_PASSWORD = "browser-test-password-1"


def add_account(store_url: str, name: str, role: str, *, area_code: str | None = None,
                password: str = TEST_PASSWORD) -> str:
    """Make the local account *name* with *role* in the store at *store_url* (before its server starts, so
    the app makes no first admin); returns the password."""
    from services import accounts
    from services.store import create_store

    store = create_store(store_url)
    try:
        accounts.add_user(store, name, role, area_code=area_code, password=password, actor="test")
    finally:
        store.close()
    return password


def kiosk_url(store_url: str, base_url: str, screen: str = "test-wall", query: str = "") -> str:
    """A new kiosk token for *screen* in the store at *store_url*, as the wall's URL on *base_url*
    (``/wall?mode=wall&kiosk=TOKEN``, then ``&`` + *query* if given): how a wall is put on a screen."""
    from services import kiosk
    from services.store import create_store

    store = create_store(store_url)
    try:
        token = kiosk.issue(store, screen, actor="test")
    finally:
        store.close()
    return kiosk.url(base_url, token) + (f"&{query}" if query else "")


def settle(page, timeout_ms: float = 120_000) -> None:
    """Wait until the script run is over (Streamlit's running indicator gone), so that what is typed or
    clicked next lands on the page as drawn, not on one a rerun is about to replace."""
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout_ms)


def sign_in(page, base_url: str, name: str, password: str, lang: str = "zh", timeout_ms: float = 180_000) -> None:
    """Sign in with a local account through the sign-in form (pages/sign_in.py) and wait until the form is
    gone. The page stays at the URL it shows (a signed-out browser at /planning lands on /planning); a page
    not on *base_url*'s server yet is sent to *base_url* first. Each new browser session (a reload,
    ``goto``) starts signed out.

    The form is filled once the page's script run is over, and filled again (at most three times) when it
    is still there a minute after the click with no refusal shown: on a loaded machine a rerun that was
    under way can redraw the form and drop what was typed (CI saw this once). A refusal fails at once."""
    from urllib.parse import urlsplit

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from services.i18n import t

    if urlsplit(page.url).netloc != urlsplit(base_url).netloc:
        page.goto(base_url)
    # The sign-in form, not any form: the screen signed in to may have its own (the orders' check-in).
    form = page.locator("[data-testid=stForm]").filter(has=page.locator("input[autocomplete=current-password]"))
    user = form.get_by_label(t("sign_in.user", lang), exact=True)
    text = ""
    for attempt in range(3):
        user.wait_for(timeout=timeout_ms)
        settle(page, timeout_ms)
        user.fill(name)
        form.get_by_label(t("sign_in.password", lang), exact=True).fill(password)
        form.get_by_role("button", name=t("sign_in.submit", lang), exact=True).click()
        try:
            form.wait_for(state="detached", timeout=60_000 if attempt < 2 else timeout_ms)
            return
        except PlaywrightTimeout:
            text = page.inner_text("body")
            refused = page.locator("[data-testid^=stAlert]")
            assert not refused.count(), f"sign-in as {name} refused: {refused.first.inner_text()}"
    raise AssertionError(f"sign-in as {name} never left the form; the page shows: {text[-600:]}")
