"""The analysis page in a real browser (issue 14 §1): a click on a row of the child areas' table goes
down a level and writes it into the URL, and so does a click on an area of the map; the breadcrumb goes back up; ``?lang=en`` stays."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest

from geo import mapview
from services import district
from services.i18n import t
from tests.browser import TEST_PASSWORD, add_account, sign_in, streamlit_server

pytestmark = pytest.mark.browser
SHOT = "/tmp/browser-analysis-{}.png"


@pytest.fixture(scope="module")
def store_env(layers, tmp_path_factory) -> dict[str, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('analysis_browser') / 'gm.sqlite3'}"
    add_account(url, "lead", "leader")
    return {"DATABASE_URL": url}


def _settle(page) -> None:
    page.wait_for_timeout(1000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=90_000)
    page.wait_for_timeout(500)


def _query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _open(browser, base: str, lang: str):
    """A leader's /analysis at the district, signed in, with its child areas drawn."""
    url = base + "/analysis" + ("?lang=en" if lang == "en" else "")
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(url)
    sign_in(page, url, "lead", TEST_PASSWORD, lang)
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=t("analysis_page.children", lang),
                           timeout=120_000)
    _settle(page)
    return page


def _click_down(page, where, shot: str) -> None:
    """Click at ``where()`` (x, y, read again each time) until the URL says level=subdistrict: a click
    lost to a redraw is retried, as a person would, at most four times."""
    for _ in range(4):
        page.mouse.click(*where())
        try:
            page.wait_for_function("() => location.search.includes('level=subdistrict')", timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - not selected yet: once more
            page.screenshot(path=SHOT.format(shot))
    _settle(page)


def test_a_row_goes_down_and_the_breadcrumb_up(browser, store_env):
    first = sorted(district.names("subdistrict", "en"))[0]
    with streamlit_server(store_env) as base:
        page = _open(browser, base, "en")
        table = page.locator("[data-testid=stDataFrame]").first
        table.scroll_into_view_if_needed()

        def first_row() -> tuple[float, float]:
            box = table.bounding_box()
            return box["x"] + 15, box["y"] + 55

        _click_down(page, first_row, "retry")
        page.screenshot(path=SHOT.format("subdistrict"))
        q = _query(page)
        assert q["level"] == "subdistrict" and q["code"] == first and q["lang"] == "en", page.url
        assert district.names("subdistrict", "en")[first] in page.inner_text("body")
        page.get_by_role("button", name=next(iter(district.names("district", "en").values()))).click()
        page.wait_for_function("() => location.search.includes('level=district')", timeout=60_000)
        _settle(page)
        assert _query(page).get("lang") == "en" and "code" not in _query(page), page.url
        page.close()


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    r = math.radians(lat)
    return (lon + 180) / 360, (1 - math.log(math.tan(math.pi / 4 + r / 2)) / math.pi) / 2


def test_a_click_on_the_map_goes_down_to_that_area(browser, store_env):
    """The district's map draws its subdistricts; a click inside one (at a point surely inside it, from
    the layer) opens that subdistrict, as a click on its table row does."""
    layer = district.layers()["subdistrict"]
    target = layer.sort_values("code").iloc[-1]
    inside = target.geometry.representative_point()
    view = mapview.view_state(district.bounds(None), 900, 480)   # the page's own view of the district
    scale = 512 * 2 ** view.zoom
    cx, cy = _mercator(view.longitude, view.latitude)
    x, y = _mercator(inside.x, inside.y)
    with streamlit_server(store_env) as base:
        page = _open(browser, base, "zh")
        canvas = page.locator("[data-testid=stDeckGlJsonChart] canvas").first
        canvas.scroll_into_view_if_needed()
        _settle(page)

        def inside_target() -> tuple[float, float]:
            box = canvas.bounding_box()
            return (box["x"] + box["width"] / 2 + (x - cx) * scale,
                    box["y"] + box["height"] / 2 + (y - cy) * scale)

        _click_down(page, inside_target, "map-retry")
        page.screenshot(path=SHOT.format("map-click"))
        q = _query(page)
        assert q["level"] == "subdistrict" and q["code"] == str(target["code"]), page.url
        assert district.names("subdistrict", "zh")[str(target["code"])] in page.inner_text("body")
        page.close()
