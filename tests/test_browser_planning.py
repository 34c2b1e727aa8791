"""Real-browser test of the planner page (站点规划) in Debian's headless Chromium.

What a planner does: one click on an uncovered cell adds one station, and later reruns (a tab click,
the 求解 button) add none; undo takes it back; a saved scenario is still listed after a page reload.
Under CI=true a missing Chromium fails the test.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from tests.browser import LOCAL_PREFIXES, TEST_PASSWORD, add_account, sign_in, streamlit_server

pytestmark = pytest.mark.browser


DB_URL = ""  # the server's store (set by the server fixture): the planner's stations and buildings are there


@pytest.fixture(scope="module")
def server(layers, tmp_path_factory):
    global DB_URL
    db = tmp_path_factory.mktemp("browser_planning") / "gm.sqlite3"
    DB_URL = f"sqlite:///{db}"
    add_account(DB_URL, "planner", "planner")
    with streamlit_server({"DATABASE_URL": DB_URL}) as url:
        yield url


def _mercator(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """deck.gl's Web Mercator pixel position (512-pixel world at zoom 0)."""
    world = 512 * 2 ** zoom
    return ((lon + 180) / 360 * world,
            (1 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / math.pi) / 2 * world)


def _stations(page) -> int:
    """The KPI 提供该服务的站点 as shown."""
    text = page.locator("[data-testid='stMetric']").filter(has_text="提供该服务的站点").inner_text()
    return int(re.search(r"提供该服务的站点\s+([\d,]+)", text).group(1).replace(",", ""))


def _settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the script run has ended (no running indicator) and the page has redrawn."""
    page.wait_for_timeout(800)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=timeout_ms)
    page.wait_for_timeout(1500)


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url + "/planning")
    sign_in(page, url + "/planning", "planner", TEST_PASSWORD)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stDeckGlJsonChart] canvas')]"
                           ".some(c => c.width > 300 && c.height > 300)", timeout=120_000)
    _settle(page)
    return page, requests


def test_one_click_adds_one_station_and_a_saved_scenario_outlives_a_reload(browser, server, tmp_path):
    from services import planning
    from services.store import create_store

    page, requests = _open(browser, server)
    ref = create_store(DB_URL)  # seeded by the server at start-up
    before = _stations(page)
    # Where the largest uncovered cell is drawn: the chart's own view, projected as deck.gl does.
    base = planning.base_stations(store=ref)
    cell = planning.gap_cells(base, "appeal", 500, store=ref).iloc[0]
    view = json.loads(planning.planner_deck(base, "appeal", 500, "zh", store=ref).to_json())["initialViewState"]
    canvas = page.locator("[data-testid=stDeckGlJsonChart] canvas").first
    box = canvas.bounding_box()
    cx, cy = _mercator(view["longitude"], view["latitude"], view["zoom"])
    px, py = _mercator(float(cell["lon"]), float(cell["lat"]), view["zoom"])
    at = {"x": box["width"] / 2 + px - cx, "y": box["height"] / 2 + py - cy}
    page.mouse.move(box["x"] + at["x"], box["y"] + at["y"])
    page.wait_for_timeout(500)
    canvas.click(position=at)
    _settle(page)
    page.screenshot(path=str(tmp_path / "after_click.png"))
    assert _stations(page) == before + 1
    assert "已做调整：1 项" in page.inner_text("body")

    # A tab click and the solve button rerun the page: no station appears that nobody asked for.
    page.get_by_role("tab", name="覆盖缺口").click()
    _settle(page)
    page.get_by_role("tab", name="新增站点选址").click()
    _settle(page)
    page.get_by_role("button", name="求解").click()
    page.wait_for_function("() => document.body.innerText.includes('加入站点网络')", timeout=180_000)
    _settle(page)
    page.screenshot(path=str(tmp_path / "after_solve.png"))
    assert _stations(page) == before + 1

    # Save the edit as a scenario, then take it back with undo.
    page.get_by_role("tab", name="方案对比").click()
    _settle(page)
    page.get_by_label("方案名称").last.fill("浏览器方案")
    page.get_by_label("保存人").fill("王规划")
    page.get_by_role("button", name="保存当前调整为方案").click()
    _settle(page)
    page.get_by_role("button", name="撤销上一步").click()
    _settle(page)
    assert _stations(page) == before

    # A reload is a new session (signed out again): the scenario is still listed, the edits are gone.
    page.reload()
    sign_in(page, server + "/planning", "planner", TEST_PASSWORD)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stDeckGlJsonChart] canvas')]"
                           ".some(c => c.width > 300)", timeout=120_000)
    _settle(page)
    page.get_by_role("tab", name="方案对比").click()
    _settle(page)
    page.screenshot(path=str(tmp_path / "after_reload.png"), full_page=True)
    text = page.inner_text("body")
    assert "浏览器方案" in text and "王规划" in text
    assert _stations(page) == before
    external = [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
    assert not external, external
    page.close()
