"""Walk-in registration in a real browser (issue 13 §3): a community dispatcher signs in, types an appeal,
places it by clicking a building on the map, sees the place assigned to its community and grid, and saves;
the appeal is stored in that community with the building and the reporter's contact, and is in the queue.

The building clicked is the one nearest the map's centre; its pixel comes from the map's own view
(geo/mapview.view_state: deck.gl's 512-px Web-Mercator tiles), so the test clicks where a person would.
"""

from __future__ import annotations

import math

import pytest

from geo import mapview
from services import district, registration
from services.i18n import t
from services.store import create_store
from tests.browser import TEST_PASSWORD, add_account, settle, sign_in, streamlit_server

pytestmark = pytest.mark.browser
SHOT = "/tmp/browser-register-{}.png"
MAP_HEIGHT = 420            # pages/register.py draws its map this tall


@pytest.fixture(scope="module")
def case(layers, tmp_path_factory):
    """A new store (the server seeds it at start) and a dispatcher of one community."""
    url = f"sqlite:///{tmp_path_factory.mktemp('register_browser') / 'gm.sqlite3'}"
    community = str(layers["community"]["code"].iloc[3])
    add_account(url, "clerk", "community_dispatcher", area_code=community)
    return {"url": url, "community": community}


def _mercator_y(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _pixel_offset(lon: float, lat: float, view) -> tuple[float, float]:
    """Where (lon, lat) is drawn relative to the centre of the map, in CSS pixels."""
    scale = 512 * 2 ** view.zoom
    dx = (lon - view.longitude) / 360 * scale
    dy = (_mercator_y(view.latitude) - _mercator_y(lat)) / (2 * math.pi) * scale
    return dx, dy


def _target(url: str, community: str):
    """The building nearest the centre of the community's map, and the map's view."""
    store = create_store(url)
    try:
        shown = registration.buildings_in(store, community)
    finally:
        store.close()
    assert len(shown), "the community has buildings to click"
    bounds = (shown["lon"].min(), shown["lat"].min(), shown["lon"].max(), shown["lat"].max())
    view = mapview.view_state(bounds, height_px=MAP_HEIGHT)
    dist = (shown["lon"] - view.longitude) ** 2 + (shown["lat"] - view.latitude) ** 2
    return shown.loc[dist.idxmin()], view


def _last_id(url: str) -> int:
    """The newest appeal id in the store (an empty store is seeded with the sample's history at start)."""
    store = create_store(url)
    try:
        ids = store.query_appeals()["id"]
    finally:
        store.close()
    return int(ids.max()) if len(ids) else 0


def test_a_dispatcher_registers_a_walk_in_appeal_by_clicking_the_map(browser, case):
    url, community = case["url"], case["community"]
    with streamlit_server({"DATABASE_URL": url}) as base:
        page = browser.new_context(viewport={"width": 1600, "height": 1400}).new_page()
        page.goto(base + "/register")
        sign_in(page, base + "/register", "clerk", TEST_PASSWORD)
        page.get_by_text(t("register.title", "zh"), exact=True).first.wait_for(timeout=120_000)
        settle(page)
        page.get_by_label(t("register.description", "zh"), exact=True).fill("楼上漏水，多次协商未果")
        page.keyboard.press("Tab")
        settle(page)

        building, view = _target(url, community)
        before = _last_id(url)
        canvas = page.locator("[data-testid=stDeckGlJsonChart] canvas").first
        canvas.wait_for(timeout=60_000)
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(2000)                 # the map draws its points after the canvas appears
        box = canvas.bounding_box()
        dx, dy = _pixel_offset(float(building["lon"]), float(building["lat"]), view)
        x, y = box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy
        page.mouse.move(x, y)
        page.wait_for_timeout(500)
        page.mouse.click(x, y)
        community_name = district.names("community", "zh")[community]
        page.wait_for_function("t => document.body.innerText.includes(t)",
                               arg=f"社区：{community_name}", timeout=60_000)
        page.screenshot(path=SHOT.format("placed"), full_page=True)

        settle(page)
        page.get_by_label(t("register.reporter_name", "zh"), exact=True).fill("欧阳明华")
        page.get_by_label(t("register.reporter_phone", "zh"), exact=True).fill("13900002222")
        page.keyboard.press("Tab")
        settle(page)
        page.get_by_role("button", name=t("register.save", "zh"), exact=True).click()
        page.wait_for_function("() => document.body.innerText.includes('已登记，诉求编号 #')", timeout=60_000)
        page.screenshot(path=SHOT.format("saved"), full_page=True)

    store = create_store(url)
    try:
        appeals = store.query_appeals()
        new = appeals[appeals["id"] > before]
        assert len(new) == 1, "one appeal registered"
        row = store.get_appeal(int(new["id"].iloc[0]))
    finally:
        store.close()
    assert row["community_code"] == community and row["channel"] == "walk_in"
    assert row["building_code"] and row["status"] == "reported"
    assert row["reporter_name"] == "欧阳明华" and row["reporter_phone"] == "13900002222"
    assert row["description"] == "楼上漏水，多次协商未果"
