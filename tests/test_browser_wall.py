"""The wall in a real browser, where a duty officer points and clicks (issue 9, items 1-3).

- Clicking a point on the map opens that appeal's panel (the map sits in the refreshing fragment).
- Tooltips show each layer's own fields in the chosen language, never a raw ``{placeholder}``.
- ``?mode=wall`` at 1920x1080: no text under 20 CSS px, nothing below the fold, no table toolbar, no
  selectable table, the tier column in its colour.

Points are found on screen by projecting their lon/lat the way deck.gl does (Web Mercator, 512-px
world at zoom 0) from the view the page computes, relative to the centre of the map's canvas.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy.spatial import cKDTree

from services import district, wall
from services.i18n import t
from services.store import open_store
from tests.browser import LOCAL_PREFIXES, TEST_PASSWORD, add_account, kiosk_url, sign_in, streamlit_server

pytestmark = pytest.mark.browser
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def server(layers, tmp_path_factory):
    db = tmp_path_factory.mktemp("wall_browser") / "gm.sqlite3"
    store_url = f"sqlite:///{db}"
    add_account(store_url, "duty", "duty_officer")  # the operator's wall (/wall)
    with streamlit_server({"DATABASE_URL": store_url}) as url:
        yield url, store_url


def _open(browser, url: str, account: str | None = "duty"):
    """A page at *url*, signed in there as the duty officer (or, with ``account=None``, a kiosk URL)."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    if account:
        sign_in(page, url, account, TEST_PASSWORD, "en" if "lang=en" in url else "zh")
    page.wait_for_function("() => [...document.querySelectorAll('canvas')].some(c => c.width > 300 && c.height > 300)",
                           timeout=120_000)
    page.wait_for_timeout(4000)  # let the layers upload and draw
    return page, requests


def _map_box(page) -> dict:
    """The map's canvas (deck.gl's, inside the pydeck chart): not any canvas, since a table is one too."""
    deck = page.query_selector_all("[data-testid=stDeckGlJsonChart] canvas")
    canvases = deck or page.query_selector_all("canvas")
    return max(canvases, key=lambda c: (c.bounding_box() or {"width": 0})["width"]).bounding_box()


def _hover_tooltip(page, x: float, y: float, tries: int = 3) -> str:
    """The tooltip shown when the pointer rests on (x, y); moved away and back when a slow frame drew none,
    and a pixel or two beside it (a point's rounded screen position), as a person would, at most ``tries``
    times. The callers check whose tooltip it is."""
    text = ""
    for _ in range(tries):
        for dx, dy in ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)):
            page.mouse.move(0, 0)
            page.wait_for_timeout(300)
            page.mouse.move(x + dx, y + dy)
            page.wait_for_timeout(1200)
            text = _tooltip(page)
            if text:
                return text
    return text


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    r = math.radians(lat)
    return (lon + 180) / 360, (1 - math.log(math.tan(math.pi / 4 + r / 2)) / math.pi) / 2


def _screen(box: dict, lon: float, lat: float, layout: str = "operator") -> tuple[float, float]:
    """Where the page's initial district view draws (lon, lat) inside the map canvas."""
    view = wall.map_view(district.bounds(None), layout)
    scale = 512 * 2 ** view.zoom
    cx, cy = _mercator(view.longitude, view.latitude)
    x, y = _mercator(lon, lat)
    return box["x"] + box["width"] / 2 + (x - cx) * scale, box["y"] + box["height"] / 2 + (y - cy) * scale


def _isolated_point(store_url: str):
    """The open appeal farthest from any other drawn point (so a click cannot hit a neighbour)."""
    snap = wall.snapshot(open_store(store_url))
    pts = snap.points
    xy = np.array([_mercator(lo, la) for lo, la in zip(pts.lon, pts.lat, strict=True)])
    dist, _ = cKDTree(xy).query(xy, k=2)
    i = int(np.argmax(dist[:, 1]))
    return pts.iloc[i]


def _tooltip(page) -> str:
    tip = page.query_selector(".deck-tooltip")
    return tip.inner_text() if tip and tip.is_visible() else ""


def test_clicking_a_point_opens_its_panel(browser, server, tmp_path):
    url, store_url = server
    page, requests = _open(browser, url + "/wall")
    point = _isolated_point(store_url)
    x, y = _screen(_map_box(page), point.lon, point.lat)
    heading = f"#{int(point.id)} "
    for _ in range(3):  # a click lost to a slow frame is retried, as a person would
        page.mouse.move(x, y)
        page.wait_for_timeout(1500)
        page.mouse.down()
        page.mouse.up()
        try:
            page.wait_for_function(
                "h => [...document.querySelectorAll('h3')].some(e => e.innerText.startsWith(h))", arg=heading,
                timeout=15_000)
            break
        except Exception:  # noqa: BLE001 - try again
            continue
    page.screenshot(path=str(tmp_path / "wall_click.png"))
    headings = page.locator("h3").all_inner_texts()
    assert any(h.startswith(heading) for h in headings), headings
    assert t("wall.select_hint", "zh") not in page.inner_text("body")
    assert not [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_tooltips_show_only_their_own_fields(browser, server, lang):
    url, store_url = server
    page, _ = _open(browser, url + f"/wall?lang={lang}")
    box = _map_box(page)
    point = _isolated_point(store_url)
    text = _hover_tooltip(page, *_screen(box, point.lon, point.lat))
    assert text.startswith(f"#{int(point.id)}"), text
    assert t(f"tier.{point.tier}", lang) in text
    # A grid: the middle of the district's biggest grid that holds no drawn point.
    grid = district.layers()["grid"]
    inner = grid.geometry.representative_point()
    taken = {str(c) for c in wall.snapshot(open_store(store_url)).points.grid_code}
    free = grid[~grid.code.isin(taken) & grid.parent_code.notna()].assign(area=grid.to_crs(4547).area)
    g = free.sort_values("area").iloc[-1]
    gp = inner[g.name]
    grid_text = _hover_tooltip(page, *_screen(box, gp.x, gp.y))
    assert district.name_of("grid", g.code, lang) in grid_text, grid_text
    for shown in (text, grid_text):
        assert "{" not in shown and "}" not in shown, shown
        if lang == "en":
            assert not CJK.search(shown), shown
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_wall_mode_is_readable_from_five_metres_and_fits_the_screen(browser, server, tmp_path, lang):
    """Both languages: English names are longer, and must not push the red list off the screen."""
    url, store_url = server
    page, requests = _open(browser, kiosk_url(store_url, url, f"wall-{lang}", f"lang={lang}"), account=None)
    page.wait_for_function("() => document.querySelector('table.gm-red-list')", timeout=60_000)
    page.screenshot(path=str(tmp_path / "wall_mode.png"))
    problems = page.evaluate("""() => {
      const out = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const node = walker.currentNode;
        if (!node.textContent.trim()) continue;
        const el = node.parentElement, style = getComputedStyle(el), r = el.getBoundingClientRect();
        if (style.display === 'none' || style.visibility === 'hidden' || r.width === 0 || r.height === 0) continue;
        const size = parseFloat(style.fontSize);
        if (size < 20 || r.bottom > window.innerHeight + 1 || r.right > window.innerWidth + 1)
          out.push([node.textContent.trim().slice(0, 30), size, Math.round(r.bottom), Math.round(r.right)]);
      }
      return out;
    }""")
    assert not problems, problems  # chart axes are SVG text and are walked too
    assert page.evaluate("() => document.querySelectorAll('svg text').length") > 5  # the 7-day chart is drawn
    assert page.evaluate("() => document.scrollingElement.scrollHeight") <= 1080
    for hidden in ("stElementToolbar", "stDataFrame", "stSidebar"):
        found = page.locator(f"[data-testid='{hidden}']")
        assert found.count() == 0 or not found.first.is_visible(), hidden
    assert "点选" not in page.inner_text("body")
    if lang == "en":
        assert not CJK.search(page.inner_text("body").replace("中文", ""))
    tier_colours = page.evaluate(
        "() => [...document.querySelectorAll('table.gm-red-list .gm-tier')].map(e => getComputedStyle(e).color)")
    assert tier_colours and set(tier_colours) <= {"rgb(230, 40, 40)", "rgb(245, 190, 30)", "rgb(40, 120, 230)"}
    assert not [u for u in requests if not u.startswith(LOCAL_PREFIXES)]
    page.close()
