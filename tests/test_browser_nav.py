"""Real-browser tests of URLs and navigation: every URL of the README opens its own page, on a fresh
server's first request too, and the chosen language survives moving between pages and reloading.

Each server here is started the way ``./dev run`` starts it (serve.py). Under CI=true a missing Chromium
fails the test.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from services.i18n import t
from tests.browser import TEST_PASSWORD, add_account, kiosk_url, sign_in, streamlit_server

pytestmark = pytest.mark.browser

# The README's URLs ("The screens") and the title each page shows.
README_PAGES = [("/", "orders.title"), ("/map", "map.title"), ("/wall", "wall.title"),
                ("/wall?mode=wall", "wall.title"), ("/planning", "planning.title"),
                ("/workbench", "workbench.title"), ("/register", "register.title"), ("/orders", "orders.title"),
                ("/admin", "admin.title"), ("/analysis", "analysis_page.title"), ("/data", "data.title")]


# Who opens each URL: / shows the role's first screen (a department officer's is its orders), the admin
# opens /admin, a duty officer the others; the unattended wall is a kiosk URL (/wall?mode=wall&kiosk=TOKEN).
ACCOUNTS = {"/": "dept", "/admin": "admin"}
DEFAULT_ACCOUNT = "duty"


@pytest.fixture(scope="module")
def store_env(layers, tmp_path_factory) -> dict[str, str]:
    """One store for the module's servers (seeded by the first), so that each fresh server starts fast;
    with the accounts the tests sign in with."""
    url = f"sqlite:///{tmp_path_factory.mktemp('nav') / 'gm.sqlite3'}"
    add_account(url, "duty", "duty_officer")
    add_account(url, "dept", "department_officer", area_code="petitions")
    add_account(url, "admin", "admin")
    return {"DATABASE_URL": url}


def with_lang(url: str, lang: str) -> str:
    return url if lang == "zh" else url + ("&" if "?" in url else "?") + "lang=en"


def wait_for_text(page, text: str, timeout_ms: int = 120_000) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_ms)


def settle(page) -> None:
    """Wait until the script run is over (Streamlit's running indicator gone), then a little longer."""
    page.wait_for_timeout(1000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
    page.wait_for_timeout(1000)


def assert_no_page_not_found(page) -> None:
    text = page.inner_text("body")
    assert "Page not found" not in text and "does not seem to exist" not in text, text[-400:]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("path", "title_key"), README_PAGES, ids=[p for p, _ in README_PAGES])
def test_readme_url_opens_its_page_on_a_fresh_server(browser, store_env, tmp_path, path, title_key, lang):
    url_path = with_lang(path, lang)
    with streamlit_server(store_env) as base:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        if "mode=wall" in path:  # a wall screen's kiosk URL (it has ?mode=wall)
            kiosk = kiosk_url(store_env["DATABASE_URL"], base, f"nav-{lang}")
            page.goto(with_lang(kiosk, lang))  # the server's first request
        else:
            page.goto(base + url_path)  # the server's first request: the sign-in form at this URL
            sign_in(page, base + url_path, ACCOUNTS.get(path, DEFAULT_ACCOUNT), TEST_PASSWORD, lang)
        wait_for_text(page, t(title_key, lang))
        settle(page)
        page.screenshot(path=str(tmp_path / "page.png"))
        assert_no_page_not_found(page)
        text = page.inner_text("body")
        assert t(title_key, lang) in text
        assert t(title_key, "en" if lang == "zh" else "zh") not in text
        shown = urlsplit(page.url)
        assert shown.path == urlsplit(url_path).path, page.url  # not sent to another page
        assert ("lang=en" in shown.query) == (lang == "en"), page.url
        page.close()


@pytest.mark.parametrize("start", ["switch", "url"])
def test_language_survives_navigation_and_reload(browser, store_env, tmp_path, start):
    """English chosen with the sidebar switch on /map (or with ?lang=en on /planning) stays English after
    clicking another page in the sidebar and after reloading that page."""
    with streamlit_server(store_env) as base:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        if start == "switch":
            page.goto(base + "/map")
            sign_in(page, base + "/map", DEFAULT_ACCOUNT, TEST_PASSWORD)
            wait_for_text(page, t("map.title", "zh"))
            settle(page)
            page.get_by_role("radio", name="English").click()
            wait_for_text(page, t("map.title", "en"))
            target, title_key = "/planning", "planning.title"
        else:
            page.goto(base + "/planning?lang=en")
            sign_in(page, base + "/planning", DEFAULT_ACCOUNT, TEST_PASSWORD, "en")
            wait_for_text(page, t("planning.title", "en"))
            target, title_key = "/map", "map.title"
        settle(page)
        page.locator(f"a[data-testid=stSidebarNavLink][href$='{target}']").click()
        wait_for_text(page, t(title_key, "en"))
        settle(page)
        assert urlsplit(page.url).path == target
        assert t("nav.map", "en") in page.inner_text("[data-testid=stSidebar]")
        page.reload()  # a new session: signed out, the sign-in form in English
        sign_in(page, base + target, DEFAULT_ACCOUNT, TEST_PASSWORD, "en")
        wait_for_text(page, t(title_key, "en"))
        settle(page)
        page.screenshot(path=str(tmp_path / "reloaded.png"))
        text = page.inner_text("body")
        assert t(title_key, "zh") not in text and t("nav.map", "zh") not in text
        assert_no_page_not_found(page)
        page.close()
