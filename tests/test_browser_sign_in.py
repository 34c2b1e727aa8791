"""Sign-in in a real browser (issue 12 §4): Debian's headless Chromium against the app (serve.py).

- Signed out, every URL serves the sign-in form and nothing else: neither the page nor any WebSocket
  frame the browser receives carries appeal data (checked against a signed-in wall as a positive control).
- A local account: a wrong password is refused in Chinese, the right one opens the role's first screen,
  sign-out goes back to the form; all three are in the audit log.
- OpenID Connect (oidc-provider-mock, tests/oidc.py): a mapped user lands on the wall; an unmapped one is
  refused ("no role yet") and gets no data.
- A kiosk URL draws the wall without a sidebar; revoked, the next refresh shows the sign-in screen, and so
  does reloading the URL. Two refreshes of a kiosk wall carry no reporter's name or phone.
- Trusted header: the proxy's ``X-Remote-User`` signs a local account in without the form; without it the
  browser is refused.

Each server has the module's store (seeded here, before the servers start, with the accounts and the
identity mapping). Screenshots go to /tmp/browser-sign-in-*.png. Under CI=true a missing Chromium fails.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from services.i18n import t
from tests.browser import (
    LOCAL_PREFIXES,
    REPO,
    TEST_PASSWORD,
    add_account,
    free_port,
    kiosk_url,
    sign_in,
    streamlit_server,
)

pytestmark = pytest.mark.browser

SHOT = "/tmp/browser-sign-in-{}.png"
# The wall's KPI labels (Chinese): what a served wall always shows.
KPI_LABELS = ("今日接收", "今日受理", "化解率", "红色预警与超时诉求")
# Pieces of the pydeck map's JSON.
DECK_MARKERS = ('"layers"', "ScatterplotLayer", "GeoJsonLayer", "initialViewState", '"deck')
REFRESH_S = 5  # the wall's refresh in these tests (?refresh=, the least the wall allows)


@pytest.fixture(scope="module")
def store_url(layers, tmp_path_factory) -> str:
    """The module's store: seeded (the sample's appeals, with reporters), a duty officer and a planner
    account, and the OIDC user alice@example.org mapped to duty_officer."""
    from services import identities
    from services.seed import ensure_seeded
    from services.store import create_store

    url = f"sqlite:///{tmp_path_factory.mktemp('sign_in') / 'gm.sqlite3'}"
    store = create_store(url)
    try:
        ensure_seeded(store)
        identities.add_mapping(store, "oidc", "user", "alice@example.org", "duty_officer", actor="test")
    finally:
        store.close()
    add_account(url, "duty", "duty_officer")
    add_account(url, "officer", "duty_officer")
    return url


@pytest.fixture(scope="module")
def server(store_url) -> str:
    with streamlit_server({"DATABASE_URL": store_url}) as url:
        yield url


def _store(store_url: str):
    from services.store import open_store

    return open_store(store_url)


def personal_markers(store_url: str) -> dict[str, list[str]]:
    """Reporter phones and names of the open appeals (what a wall would show, if anything)."""
    df = _store(store_url).query_appeals(statuses=None, limit=2000, include_personal=True,
                                         columns=["id", "reporter_name", "reporter_phone"])
    phones = sorted({str(p) for p in df["reporter_phone"].dropna() if len(str(p)) >= 7})
    names = sorted({str(n) for n in df["reporter_name"].dropna() if len(str(n).strip()) >= 2})
    assert phones and names, "the seeded sample has reporters"
    return {"phone": phones, "name": names}


def wall_markers(store_url: str) -> dict[str, list[str]]:
    """What a served wall carries: KPI labels, pydeck JSON, grid and community names of its warning map
    (as text and as JSON's \\u escapes), and the ids of its red list (``#id``)."""
    from services import district, wall

    snap = wall.snapshot(_store(store_url))
    grids = district.names("grid", "zh")
    communities = district.names("community", "zh")
    area_names = sorted({grids.get(str(c), "") for c in snap.grid_levels["code"]} - {""})[:40]
    area_names += sorted(communities.values())[:20]
    ids = [int(i) for i in snap.warnings["id"]][:20] if "id" in snap.warnings else []
    ids += [int(i) for i in snap.overdue["id"]][:20] if "id" in snap.overdue else []
    return {"kpi": list(KPI_LABELS), "deck": list(DECK_MARKERS),
            "area": area_names + [json.dumps(n)[1:-1] for n in area_names],
            "id": [f"#{i}" for i in ids]}


def found(texts: list[str], markers: dict[str, list[str]]) -> dict[str, list[str]]:
    """The markers (by kind) that occur in any of *texts*."""
    return {kind: hits for kind, ms in markers.items() if (hits := [m for m in ms if any(m in x for x in texts)])}


class Frames:
    """Every WebSocket frame *page* receives, decoded as text (protobuf bytes, errors replaced)."""

    def __init__(self, page):
        self.items: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload) -> None:
        self.items.append(payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload)


def _new_page(browser, **context):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, **context)
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    return ctx, page, Frames(page), requests


def wait_for_text(page, text: str, timeout_ms: int = 120_000) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_ms)


def wait_for_form(page, timeout_ms: int = 120_000) -> None:
    page.get_by_label(t("sign_in.user", "zh"), exact=True).wait_for(timeout=timeout_ms)


def settle(page) -> None:
    page.wait_for_timeout(1000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
    page.wait_for_timeout(1500)


def sidebar_text(page) -> str:
    bar = page.locator("[data-testid=stSidebar]")
    return bar.inner_text() if bar.count() else ""


def test_signed_out_every_url_serves_only_the_sign_in_form(browser, server, store_url):
    markers = {**wall_markers(store_url), **personal_markers(store_url)}
    # Positive control: the same checks find the wall's data when a duty officer has signed in.
    ctx, page, frames, _ = _new_page(browser)
    page.goto(server + "/wall")
    sign_in(page, server + "/wall", "duty", TEST_PASSWORD)
    wait_for_text(page, KPI_LABELS[0])
    page.wait_for_selector("canvas", state="attached", timeout=60_000)
    settle(page)
    page.screenshot(path=SHOT.format("control-wall"))
    control = found(frames.items + [page.inner_text("body")], markers)
    ctx.close()
    for kind in ("kpi", "deck", "area", "id"):
        assert control.get(kind), (kind, control)

    for i, path in enumerate(("/", "/wall", "/map", "/planning", "/workbench", "/register", "/orders",
                               "/admin", "/wall?mode=wall")):
        ctx, page, frames, requests = _new_page(browser)
        page.goto(server + path)
        wait_for_form(page)
        settle(page)
        page.wait_for_timeout(2000)  # anything a page would send after the form is in by now
        page.screenshot(path=SHOT.format(f"signed-out-{i}"))
        text = page.inner_text("body")
        assert t("sign_in.title", "zh") in text
        assert page.locator("[data-testid=stSidebarNav]").count() == 0
        assert page.locator("canvas").count() == 0
        assert frames.items, "the WebSocket frames are recorded"
        leaked = found(frames.items + [text], markers)
        assert not leaked, (path, leaked)
        assert not [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
        ctx.close()


def test_local_account_sign_in_and_sign_out(browser, server, store_url):
    ctx, page, _, _ = _new_page(browser)
    page.goto(server + "/")
    wait_for_form(page)
    page.get_by_label(t("sign_in.user", "zh"), exact=True).fill("officer")
    page.get_by_label(t("sign_in.password", "zh"), exact=True).fill("not-the-password-0")
    page.locator("[data-testid=stForm]").get_by_role("button", name=t("sign_in.submit", "zh"), exact=True).click()
    wait_for_text(page, t("error.sign_in_failed", "zh"))
    page.screenshot(path=SHOT.format("wrong-password"))
    assert page.locator("[data-testid=stForm]").count() == 1
    assert KPI_LABELS[0] not in page.inner_text("body")

    sign_in(page, server, "officer", TEST_PASSWORD)
    wait_for_text(page, t("wall.title", "zh"))  # a duty officer's first screen
    settle(page)
    page.screenshot(path=SHOT.format("signed-in-local"))
    assert t("account_box.signed_in_as", "zh", name="officer") in sidebar_text(page)

    page.get_by_role("button", name=t("account_box.sign_out", "zh")).click()
    wait_for_form(page)
    settle(page)
    page.screenshot(path=SHOT.format("signed-out-local"))
    assert t("wall.title", "zh") not in page.inner_text("body")
    ctx.close()

    rows = _store(store_url).audit_rows()
    mine = rows[(rows["object_id"].astype(str) == "officer") | (rows["actor"] == "officer")]
    actions = set(mine["action"])
    assert {"sign_in_failed", "sign_in", "sign_out"} <= actions, sorted(actions)


def test_oidc_sign_in_maps_the_user_and_refuses_an_unmapped_one(browser, store_url, tmp_path):
    from tests.oidc import PROVIDER_CDN_CSS, browser_sign_in, oidc_provider, write_auth_secrets

    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    with oidc_provider() as issuer:
        secrets_file = write_auth_secrets(tmp_path / "secrets" / "secrets.toml", issuer, app_url)
        with streamlit_server({"DATABASE_URL": store_url}, port=port,
                              extra_args=["--secrets.files", str(secrets_file)]) as base:
            ctx, page, _, requests = _new_page(browser)
            page.goto(base + "/")
            page.get_by_role("button", name=t("sign_in.sso", "zh")).wait_for(timeout=120_000)
            page.screenshot(path=SHOT.format("oidc-form"))
            browser_sign_in(page, app_url, subject="alice", email="alice@example.org",
                            button_text=t("sign_in.sso", "zh"))
            wait_for_text(page, t("wall.title", "zh"))
            settle(page)
            page.screenshot(path=SHOT.format("oidc-signed-in"))
            assert t("account_box.signed_in_as", "zh", name="alice@example.org") in sidebar_text(page)
            ctx.close()

            ctx, page, frames, more = _new_page(browser)
            page.goto(base + "/")
            page.get_by_role("button", name=t("sign_in.sso", "zh")).wait_for(timeout=120_000)
            browser_sign_in(page, app_url, subject="bob", email="bob@example.org",
                            button_text=t("sign_in.sso", "zh"))
            refusal = t("error.identity_unmapped", "zh", user="bob@example.org")
            wait_for_text(page, refusal)
            settle(page)
            page.screenshot(path=SHOT.format("oidc-unmapped"))
            text = page.inner_text("body")
            assert t("sign_in.refused", "zh") in text
            assert t("wall.title", "zh") not in text
            leaked = found(frames.items + [text], {**wall_markers(store_url), **personal_markers(store_url)})
            assert not leaked, leaked
            ctx.close()
    assert {u for u in requests + more if not u.startswith(LOCAL_PREFIXES)} <= {PROVIDER_CDN_CSS}


def test_a_revoked_kiosk_url_shows_the_sign_in_screen(browser, server, store_url):
    from services import kiosk

    url = kiosk_url(store_url, server, "revoke-me", f"refresh={REFRESH_S}")
    ctx, page, _, _ = _new_page(browser)
    page.goto(url)
    wait_for_text(page, t("wall.title", "zh"))
    page.wait_for_selector("canvas", state="attached", timeout=60_000)
    settle(page)
    page.screenshot(path=SHOT.format("kiosk-wall"))
    bar = page.locator("[data-testid=stSidebar]")
    assert bar.count() == 0 or not bar.first.is_visible()

    kiosk.revoke(_store(store_url), "revoke-me", actor="test")
    started = time.monotonic()
    wait_for_form(page, timeout_ms=(3 * REFRESH_S + 20) * 1000)
    settle(page)
    page.screenshot(path=SHOT.format("kiosk-revoked"))
    took = time.monotonic() - started
    assert took < 3 * REFRESH_S + 20, took
    text = page.inner_text("body")
    assert t("wall.title", "zh") not in text and KPI_LABELS[0] not in text

    page.reload()
    wait_for_form(page)
    settle(page)
    page.screenshot(path=SHOT.format("kiosk-reloaded"))
    assert t("sign_in.kiosk_refused", "zh") in page.inner_text("body")
    ctx.close()


def test_a_kiosk_wall_sends_no_reporter_over_two_refreshes(browser, server, store_url):
    personal = personal_markers(store_url)
    ctx, page, frames, requests = _new_page(browser)
    page.goto(kiosk_url(store_url, server, "no-personal", f"refresh={REFRESH_S}"))
    wait_for_text(page, KPI_LABELS[0])
    page.wait_for_selector("canvas", state="attached", timeout=60_000)
    drawn = len(frames.items)
    page.wait_for_timeout((2 * REFRESH_S + 3) * 1000)  # two refreshes of the wall's fragment
    page.screenshot(path=SHOT.format("kiosk-two-refreshes"))
    assert len(frames.items) > drawn, "the wall refreshed"
    assert found(frames.items, {"kpi": list(KPI_LABELS)}), "the frames carry the wall"
    leaked = found(frames.items + [page.content()], personal)
    assert not leaked, leaked
    assert not [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
    ctx.close()


def _rules_with_trusted_header(tmp_path: Path, proxy: str = "127.0.0.1") -> Path:
    text = (REPO / "config" / "rules.toml").read_text(encoding="utf-8")
    section = text.index("[sign_in]")
    head, tail = text[:section], text[section:]
    tail, n = re.subn(r'(?m)^trusted_header = .*$', 'trusted_header = "X-Remote-User"', tail, count=1)
    tail, m = re.subn(r'(?m)^trusted_proxies = .*$', f'trusted_proxies = ["{proxy}"]', tail, count=1)
    assert n == m == 1
    path = tmp_path / f"rules-{proxy}.toml"
    path.write_text(head + tail, encoding="utf-8")
    return path


def test_trusted_header_signs_in_without_the_form(browser, store_url, tmp_path):
    """Playwright's ``extra_http_headers`` go into the WebSocket handshake too (what st.context.headers
    reads), so no proxy is needed in the test."""
    rules = _rules_with_trusted_header(tmp_path)
    with streamlit_server({"DATABASE_URL": store_url, "GM_RULES": str(rules)}) as base:
        ctx, page, _, _ = _new_page(browser, extra_http_headers={"X-Remote-User": "duty"})
        page.goto(base + "/")
        wait_for_text(page, t("wall.title", "zh"))
        settle(page)
        page.screenshot(path=SHOT.format("header-signed-in"))
        assert page.locator("[data-testid=stForm]").count() == 0
        assert t("account_box.signed_in_as", "zh", name="duty") in sidebar_text(page)
        ctx.close()

        ctx, page, frames, _ = _new_page(browser)
        page.goto(base + "/")
        refusal = t("error.no_user_header", "zh", header="X-Remote-User")
        wait_for_text(page, refusal)
        settle(page)
        page.screenshot(path=SHOT.format("header-refused"))
        text = page.inner_text("body")
        assert t("wall.title", "zh") not in text
        assert page.locator("[data-testid=stForm]").count() == 0   # the proxy signs people in, not a form
        assert not found(frames.items + [text], {"kpi": list(KPI_LABELS), "deck": list(DECK_MARKERS)})
        ctx.close()

    # A browser that reaches the port directly (not from the proxy) is refused, with no form to try a
    # local account through, even when it sets the header itself.
    rules = _rules_with_trusted_header(tmp_path, proxy="10.9.9.9")
    with streamlit_server({"DATABASE_URL": store_url, "GM_RULES": str(rules)}) as base:
        ctx, page, _, _ = _new_page(browser, extra_http_headers={"X-Remote-User": "duty"})
        page.goto(base + "/")
        wait_for_text(page, t("error.untrusted_proxy", "zh", address="127.0.0.1"))
        settle(page)
        page.screenshot(path=SHOT.format("header-direct"))
        assert page.locator("[data-testid=stForm]").count() == 0
        assert t("wall.title", "zh") not in page.inner_text("body")
        ctx.close()
