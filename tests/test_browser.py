"""Real-browser tests: Debian's headless Chromium against a local ``streamlit run``.

They check what a person sees: the map canvas is drawn (not blank), the Chinese labels are on the page,
and no request goes anywhere but localhost. Under CI=true a missing Chromium fails the test.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.browser import LOCAL_PREFIXES, TEST_PASSWORD, add_account, kiosk_url, sign_in, streamlit_server

pytestmark = pytest.mark.browser


class Server(str):
    """The server's base URL, carrying the store URL it was started with."""

    store_url: str


@pytest.fixture(scope="module")
def server(layers, tmp_path_factory):
    db = tmp_path_factory.mktemp("browser") / "gm.sqlite3"
    store_url = f"sqlite:///{db}"
    add_account(store_url, "duty", "duty_officer")
    with streamlit_server({"DATABASE_URL": store_url}) as url:
        s = Server(url)
        s.store_url = store_url
        yield s


def open_page(browser, url: str, size=(1920, 1080), scale: float = 1, account: str | None = None):
    """A new page at *url*, signed in with the local *account* (at that URL) when one is given."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]}, device_scale_factor=scale)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    if account:
        sign_in(page, url, account, TEST_PASSWORD)
    return page, requests


def wait_for_map(page, timeout_ms: int = 60_000):
    """Wait until deck.gl has drawn: its canvas exists and has a size."""
    page.wait_for_selector("canvas", state="attached", timeout=timeout_ms)
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas')].some(c => c.width > 300 && c.height > 300)",
        timeout=timeout_ms)
    page.wait_for_timeout(3000)  # let the layers' data upload and draw


def canvas_box_pixels(page) -> np.ndarray:
    """Screenshot of the largest canvas as an RGB array."""
    from PIL import Image

    canvases = page.query_selector_all("canvas")
    biggest = max(canvases, key=lambda c: (c.bounding_box() or {"width": 0})["width"])
    png = biggest.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_district_map_draws_offline_in_chinese(browser, server, tmp_path):
    # A duty officer's first screen (at /) is the wall: the map is at /map.
    page, requests = open_page(browser, server + "/map", account="duty")
    wait_for_map(page)
    text = page.inner_text("body")
    assert "辖区地图" in text and "管理人口" in text
    pixels = canvas_box_pixels(page)
    # Boundaries are drawn: many distinct colours, and a good share of bright (line) pixels.
    bright = (pixels.max(axis=2) > 150).mean()
    assert bright > 0.01, bright
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    page.screenshot(path=str(tmp_path / "map.png"))
    external = [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
    assert not external, external
    page.close()


@pytest.mark.parametrize("scale", [1, 2], ids=["1920x1080", "3840x2160"])
def test_wall_display_draws_the_warning_map(browser, server, tmp_path, scale):
    """The wall in wall mode on a 1920x1080 screen and on a 3840x2160 one (200 % scaling): map drawn with
    tier colours, Chinese KPIs, no sidebar, nothing personal in the page, no request beyond localhost."""
    # The unattended wall is put on a screen with a kiosk URL (no one signs in there).
    page, requests = open_page(browser, kiosk_url(server.store_url, server, f"wall-{scale}"), scale=scale)
    wait_for_map(page, timeout_ms=120_000)
    page.wait_for_function("() => document.body.innerText.includes('今日接收')", timeout=60_000)
    page.screenshot(path=str(tmp_path / "wall.png"))
    text = page.inner_text("body")
    for label in ("一张图分级预警", "今日接收", "今日受理", "化解率", "红色预警与超时诉求", "幸福里类型"):
        assert label in text, label
    assert not page.is_visible("[data-testid='stSidebar']")
    pixels = canvas_box_pixels(page).reshape(-1, 3).astype(int)
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    # Grids shaded by warning level and points by tier: some reddish, some yellowish, some bluish pixels.
    assert ((r > 120) & (g < 90) & (b < 90)).sum() > 20 * scale, "no red drawn"
    assert ((r > 120) & (g > 100) & (b < 70)).sum() > 20 * scale, "no yellow drawn"
    assert ((b > 120) & (r < 100)).sum() > 200 * scale, "no blue drawn"
    if scale > 1:  # drawn at full resolution, not upscaled: one pixel per device pixel of the map's box
        box = max((c.bounding_box() or {"width": 0, "height": 0} for c in page.query_selector_all("canvas")),
                  key=lambda b: b["width"])
        assert pixels.shape[0] >= 0.97 * box["width"] * box["height"] * scale ** 2 > 2_000_000
    html = page.content()
    from services.store import open_store

    store = open_store(server.store_url)
    phones = store.query_appeals(limit=50, include_personal=True)["reporter_phone"].dropna().tolist()
    assert phones and not any(p in html for p in phones)
    external = [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
    assert not external, external
    page.close()
