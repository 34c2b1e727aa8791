"""The briefing's print map (geo/print_map.py): same bytes twice, real CJK glyphs, a true scale bar."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib import cbook
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontPath, FontProperties
from PIL import Image

from geo import print_map
from geo.crs import METRIC_CRS, STORAGE_CRS
from geo.print_map import (
    MapTexts,
    MissingFont,
    cjk_font,
    draw_map,
    map_extent,
    missing_glyphs,
    render_map,
    scale_bar,
)
from services import district, wall
from services.i18n import t

DEJAVU = FontPath(cbook._get_data_path("fonts", "ttf", "DejaVuSans.ttf"), 0)   # ships with matplotlib, no CJK


def texts(lang: str = "zh") -> MapTexts:
    """The map's texts from config/strings/briefing_map.toml, as the briefing fills them."""
    def k(key: str, **fmt: str) -> str:
        return t(f"briefing.map.{key}", lang, **fmt)
    return MapTexts(
        title=k("title", area=district.name_of("district", "440311", lang)),
        subtitle=k("subtitle", date="2025-06-01", cut_off="2025-06-01 24:00"),
        level_red=k("level_red"), level_yellow=k("level_yellow"), level_blue=k("level_blue"),
        level_none=k("level_none"), red_appeal=k("red_appeal"), overdue_appeal=k("overdue_appeal"),
        cluster=k("cluster"), subdistrict_boundary=k("subdistrict_boundary"),
        community_boundary=k("community_boundary"), north=k("north"), unit_km=k("unit_km"), unit_m=k("unit_m"),
        label_column="name" if lang == "zh" else "name_en")


def some_data(layers: dict) -> SimpleNamespace:
    """Three warning grids, a red appeal, an overdue one and a cluster ring, at known grids' centres."""
    grids = layers["grid"]
    codes = grids["code"].tolist()[:3]
    centre = shapely.centroid(grids.to_crs(METRIC_CRS).geometry.values[:3])
    lonlat = gpd.GeoSeries(centre, crs=METRIC_CRS).to_crs(STORAGE_CRS)
    lon, lat = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    return SimpleNamespace(
        grid_levels=pd.DataFrame({"grid": codes, "level": ["red", "yellow", "blue"], "open_total": [6, 3, 1]}),
        points=pd.DataFrame({"lon": lon[:2], "lat": lat[:2], "tier": ["red", "blue"], "overdue": [False, True]}),
        clusters=pd.DataFrame({"lon": lon[2:], "lat": lat[2:], "size": [4], "radius_m": [300.0], "tier": ["red"]}))


def empty_data() -> SimpleNamespace:
    return SimpleNamespace(grid_levels=pd.DataFrame({"grid": ["x"], "level": [None], "open_total": [0]}),
                           points=pd.DataFrame(), clusters=pd.DataFrame())


def rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def map_box_pixels(img: np.ndarray) -> np.ndarray:
    """The map's box of a default-size render (the legend's swatches lie outside it)."""
    w_in, h_in, (left, bottom, width, height) = print_map.layout(7.5)
    h, w = img.shape[:2]
    return img[int(h * (1 - bottom - height)) + 2:int(h * (1 - bottom)) - 2, int(w * left) + 2:int(w * (left + width)) - 2]


def red_fill_pixels(img: np.ndarray) -> int:
    """Pixels of the red warning fill over white: (230, 40, 40) at 62 % on white is about (240, 122, 122)."""
    return int((np.abs(img - np.array([240, 122, 122])).max(axis=2) <= 6).sum())


def test_fill_colours_are_the_walls():
    assert {k: list(v) for k, v in print_map.LEVEL_RGB.items()} == {k: v[:3] for k, v in wall.LEVEL_FILL.items()}


def test_two_renders_are_byte_identical_and_carry_no_metadata():
    layers = district.layers()
    a = render_map(layers, some_data(layers), texts=texts())
    b = render_map(layers, some_data(layers), texts=texts())
    assert a == b
    image = Image.open(io.BytesIO(a))
    assert image.format == "PNG"
    assert set(image.info) <= {"dpi"}          # no Software, no creation time
    assert len(a) < 1_500_000


def test_png_has_the_size_of_its_inches_and_dpi():
    layers = district.layers()
    image = Image.open(io.BytesIO(render_map(layers, empty_data(), texts=texts(), width_in=7.5, dpi=180)))
    assert image.size == (1350, 1687)         # 7.5 in × 180; 9.375 in × 180 = 1687.5
    image = Image.open(io.BytesIO(render_map(layers, empty_data(), texts=texts(), width_in=4, dpi=100)))
    assert image.size == (400, 500)


def test_empty_data_renders_without_fills_and_a_red_grid_shows():
    layers = district.layers()
    empty = rgb(render_map(layers, empty_data(), texts=texts("en")))
    assert red_fill_pixels(map_box_pixels(empty)) == 0
    nothing = SimpleNamespace(grid_levels=None, points=None, clusters=None)
    assert np.array_equal(rgb(render_map(layers, nothing, texts=texts("en"))), empty)
    full = rgb(render_map(layers, some_data(layers), texts=texts("en")))
    assert red_fill_pixels(map_box_pixels(full)) > 50


def test_every_subdistrict_label_has_glyphs_in_the_chosen_face():
    sub = district.layers()["subdistrict"]
    font = cjk_font("bold")
    assert font.face_index == 2               # Noto Sans CJK SC in Debian's collection (JP, KR, SC, ...)
    for name in [*sub["name"], *sub["name_en"]]:
        assert missing_glyphs(name, font) == ""
    assert missing_glyphs("光明街道", DEJAVU) == "光明街道"   # the check can fail: DejaVu has none


def _ink(text: str, font: FontPath) -> np.ndarray:
    fig = Figure(figsize=(2, 0.5), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, text, fontproperties=FontProperties(fname=font, size=14), ha="center", va="center")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., 0] < 128


def test_labels_are_drawn_in_the_cjk_face_not_as_boxes():
    layers = district.layers()
    fig, _ = draw_map(layers, empty_data(), texts=texts())
    drawn = {a.get_text(): a.get_fontproperties().get_file() for a in fig.axes[0].texts}
    for name in layers["subdistrict"]["name"]:
        assert drawn[name] == cjk_font("bold")
    real = _ink("光明街道", cjk_font("bold"))
    with pytest.warns(UserWarning, match="missing from font"):
        tofu = _ink("光明街道", DEJAVU)
    assert real.sum() > 0 and tofu.sum() > 0
    assert (real != tofu).mean() > 0.02       # different ink: not the fallback boxes
    assert not np.array_equal(_ink("光", cjk_font("bold")), _ink("明", cjk_font("bold")))


def test_english_labels_use_the_english_names():
    layers = district.layers()
    fig, _ = draw_map(layers, empty_data(), texts=texts("en"))
    drawn = {a.get_text() for a in fig.axes[0].texts}
    assert set(layers["subdistrict"]["name_en"]) <= drawn
    assert not set(layers["subdistrict"]["name"]) & drawn


@pytest.mark.parametrize(("width_m", "metres"), [(16_000, 2000), (10_600, 2000), (3000, 500), (50_000, 10_000),
                                                  (4000, 500), (4600, 1000)])
def test_scale_bar_is_a_round_length_near_a_fifth_of_the_width(width_m, metres):
    # the longest of 1, 2, 5 × 10^k not over 22 % of the width: 0.22 × 4600 = 1012 -> 1000; × 4000 = 880 -> 500
    assert scale_bar((0, 0, width_m, width_m)).metres == metres


def test_extent_keeps_metres_square_for_the_box():
    assert map_extent((0, 0, 100, 50), aspect=1.0, pad=0) == (0, -25, 100, 75)
    # padded by 10 to 120 × 120, then widened to 240 across: 60 more each side
    assert map_extent((0, 0, 100, 100), aspect=2.0, pad=0.1) == (-70, -10, 170, 110)


def square_district(side_m: float) -> dict[str, gpd.GeoDataFrame]:
    """A made-up district: one square subdistrict of ``side_m`` metres with one community and one grid."""
    x0, y0 = 490_000.0, 2_515_000.0
    square = shapely.box(x0, y0, x0 + side_m, y0 + side_m)
    def frame(code: str) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"code": [code], "name": ["光明街道"], "name_en": ["Guangming"],
                                 "parent_code": ["p"]}, geometry=[square], crs=METRIC_CRS).to_crs(STORAGE_CRS)
    return {"subdistrict": frame("s"), "community": frame("c"), "grid": frame("g")}


def test_scale_bar_pixels_match_its_metres():
    # A 10 km square: padded 3 % a side, 10 600 m across the map box of 6.9 in × 180 dpi = 1242 px, so the
    # 2 km bar is 2000 × 1242 / 10600 = 234.3 px long.
    fig, info = draw_map(square_district(10_000), empty_data(), texts=texts(), dpi=180)
    x0, _, x1, _ = info["extent"]
    assert x1 - x0 == pytest.approx(10_600, abs=0.5)
    bar = info["scale_bar"]
    assert bar.metres == 2000
    img = rgb(render_map(square_district(10_000), empty_data(), texts=texts(), dpi=180))
    height = img.shape[0]
    (left, bottom), (right, _) = fig.axes[0].transData.transform([(bar.x0, bar.y0), (bar.x0 + bar.metres, bar.y0)])
    rows = img[int(height - bottom) - 14:int(height - bottom) + 4, int(left) - 40:int(right) + 40]
    dark = rows.max(axis=2) < 80
    longest = max(_longest_run(row) for row in dark)
    assert longest == pytest.approx(2000 * 1242 / 10600, abs=3)


def _longest_run(row: np.ndarray) -> int:
    best = run = 0
    for v in row:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def test_missing_font_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(print_map, "FONT_DIR", tmp_path)
    with pytest.raises(MissingFont, match="fonts-noto-cjk"):
        cjk_font()
    with pytest.raises(MissingFont, match="fonts-noto-cjk"):
        render_map(district.layers(), empty_data(), texts=texts())


def test_the_map_module_draws_without_services_streamlit_or_pyplot():
    # geo/ is pure: a render in a fresh interpreter loads none of them (pyplot would mean global state).
    code = (
        "import sys, geopandas as gpd, shapely\n"
        "from types import SimpleNamespace\n"
        "from geo import print_map as pm\n"
        "sq = gpd.GeoDataFrame({'code': ['s'], 'name': ['光明街道']}, crs='EPSG:4547',\n"
        "                      geometry=[shapely.box(490000, 2515000, 500000, 2525000)]).to_crs('EPSG:4326')\n"
        "png = pm.render_map({'subdistrict': sq}, SimpleNamespace(grid_levels=None, points=None, clusters=None),\n"
        "                    texts=pm.MapTexts(*['x'] * 14))\n"
        "assert png.startswith(bytes([137, 80, 78, 71]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('services', 'streamlit', 'pydeck')\n"
        "             or m == 'matplotlib.pyplot'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def test_legend_counts_what_the_map_shows():
    # some_data: grids red, yellow, blue (one each), one red appeal, one overdue, one cluster; a red overdue
    # appeal and a cluster far off the map (Beijing) are not drawn, so not counted.
    layers = district.layers()
    data = some_data(layers)
    far = pd.DataFrame({"lon": [116.4], "lat": [39.9], "tier": ["red"], "overdue": [True]})
    data.points = pd.concat([data.points, far], ignore_index=True)
    data.clusters = pd.concat([data.clusters, far.assign(size=9, radius_m=100.0)[["lon", "lat", "size", "radius_m"]]])
    fig, _ = draw_map(layers, data, texts=texts("en"))
    labels = [x.get_text() for x in fig.legends[0].get_texts()]
    assert labels[:7] == ["Red warning grids (1)", "Yellow warning grids (1)", "Blue warning grids (1)",
                          "Grids without warning", "Red-tier appeals (1)", "Overdue appeals (1)",
                          "Gathering clusters (1)"]


def test_renders_in_parallel_threads_give_the_same_bytes():
    # a private Figure per call, no pyplot: two server threads drawing at once do not disturb each other
    from concurrent.futures import ThreadPoolExecutor

    layers = district.layers()
    one = render_map(layers, some_data(layers), texts=texts())
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda lang: render_map(layers, some_data(layers), texts=texts(lang)), ["zh", "en", "zh"]))
    assert outs[0] == one and outs[2] == one and outs[1] != one
