"""Real-browser tests: Debian's headless Chromium against a local ``streamlit run``.

They check what a person sees: the map canvas is drawn (not blank), the Chinese labels are on the page,
and no request goes anywhere but localhost. Under CI=true a missing Chromium fails the test.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from tests.browser import CHROMIUM_ARGS, LOCAL_PREFIXES, chromium_path, streamlit_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if not path:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true and Debian's chromium is not installed (./dev test installs it)")
        pytest.skip("chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(layers, tmp_path_factory):
    db = tmp_path_factory.mktemp("browser") / "gm.sqlite3"
    with streamlit_server({"DATABASE_URL": f"sqlite:///{db}"}) as url:
        yield url


def open_page(browser, url: str, size=(1920, 1080)):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
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
    page, requests = open_page(browser, server + "/")
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
