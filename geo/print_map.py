"""The daily briefing's district map at print quality (issue 15): a PNG drawn on the server, no browser.

Grids are shaded by warning level, red-tier and overdue appeals are marked, gathering clusters are
ringed, subdistricts are outlined and named; a legend, a scale bar and a north arrow make it a map a
reader can use on paper. Everything is drawn in EPSG:4547 (metres), so the scale bar is true.

Pure: no services, no database. The caller passes the boundary layers (WGS84), the map data (duck-typed
``grid_levels``, ``points``, ``clusters`` frames, as services/briefing/model.py ``MapData``) and the
texts already in the briefing's language (``MapTexts``). Chinese is drawn with Noto Sans CJK SC from
Debian's ``fonts-noto-cjk``; a missing font is an error, never a silent fallback to a font without CJK
glyphs (which draws empty boxes). Each call builds its own Figure on an Agg canvas (no pyplot state),
so it is safe in a server thread, and the PNG carries no metadata: the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontPath, FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Polygon, Rectangle
from matplotlib.path import Path as MplPath

from geo.crs import METRIC_CRS, lonlat_to_metric

# Fonts: Debian's fonts-noto-cjk ships one collection (.ttc) per weight; the SC face is found by name.
FONT_PACKAGE = "fonts-noto-cjk"
FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_FILES = {"regular": "NotoSansCJK-Regular.ttc", "bold": "NotoSansCJK-Bold.ttc"}
CJK_FAMILY = "Noto Sans CJK SC"

# Warning fills: the wall's colours (services/wall.py LEVEL_FILL, RGB 0-255; tests keep the two equal) at
# an opacity for paper: the wall's are made for a dark screen and print too pale on white.
LEVEL_RGB = {"red": (230, 40, 40), "yellow": (245, 190, 30), "blue": (40, 120, 230)}
LEVEL_ALPHA = {"red": 0.62, "yellow": 0.55, "blue": 0.38}
LEVELS = ("red", "yellow", "blue")
RED_POINT = "#b40000"
OVERDUE_POINT = "#1f1f1f"
CLUSTER_RING = "#7b1fa2"
GRID_LINE, COMMUNITY_LINE, SUBDISTRICT_LINE, DISTRICT_LINE = "#bdbdbd", "#7a7a7a", "#2b2b2b", "#1a1a1a"

# Page layout in inches: header above the map, legend below, margins at the sides.
HEIGHT_RATIO = 1.25        # height / width: leaves room on an A4 portrait page for the briefing's header
HEADER_IN, FOOTER_IN, SIDE_IN = 0.9, 0.95, 0.3
MAP_PAD = 0.03             # blank margin around the drawn area, as a fraction of its larger side
SCALE_STEPS = (1, 2, 5)    # round scale-bar lengths: 1, 2, 5 × 10^k metres
MIN_RING_MM = 1.6          # a cluster ring is drawn at least this large on paper, so that a tight one shows


class MissingFont(RuntimeError):
    """The Noto CJK font is not installed: Chinese would be drawn as empty boxes."""


@dataclass(frozen=True)
class MapTexts:
    """What the map writes, already in the briefing's language. A legend label may hold ``{n}``, which
    is replaced by the count drawn (grids at that level, appeals, clusters). ``label_column`` is the
    subdistrict layer's column to name them by (``name`` or ``name_en``; ``name`` where it is empty)."""

    title: str
    subtitle: str
    level_red: str
    level_yellow: str
    level_blue: str
    level_none: str
    red_appeal: str
    overdue_appeal: str
    cluster: str
    subdistrict_boundary: str
    community_boundary: str
    north: str
    unit_km: str
    unit_m: str
    label_column: str = "name"


@dataclass(frozen=True)
class ScaleBar:
    """A scale bar of ``metres`` whose left end is at (``x0``, ``y0``) in EPSG:4547 metres."""

    metres: float
    x0: float
    y0: float


def cjk_font(weight: str = "regular") -> FontPath:
    """The Noto Sans CJK SC face of Debian's fonts-noto-cjk (``weight`` regular or bold), as a
    matplotlib FontPath (file and face index: matplotlib >= 3.11 selects a face inside a .ttc this way).
    Raises MissingFont naming the package when it is not installed."""
    path = FONT_DIR / FONT_FILES[weight]
    if not path.is_file():
        raise MissingFont(f"{path} is missing: the briefing map draws Chinese with {CJK_FAMILY}; "
                          f"install Debian's {FONT_PACKAGE} (apt-get install {FONT_PACKAGE})")
    return FontPath(str(path), _sc_face(str(path)))


@lru_cache(maxsize=8)
def _sc_face(path: str) -> int:
    faces = FT2Font(path).num_faces
    for i in range(faces):
        if FT2Font(path, face_index=i).family_name == CJK_FAMILY:
            return i
    raise MissingFont(f"{path} holds no {CJK_FAMILY} face: install Debian's {FONT_PACKAGE}")


def missing_glyphs(text: str, font: FontPath) -> str:
    """The characters of ``text`` (spaces aside) that ``font`` has no glyph for: they would draw as boxes."""
    face = FT2Font(font.path, face_index=font.face_index)
    return "".join(c for c in dict.fromkeys(text) if not c.isspace() and face.get_char_index(ord(c)) == 0)


def map_extent(bounds: tuple[float, float, float, float], aspect: float,
               pad: float = MAP_PAD) -> tuple[float, float, float, float]:
    """The (xmin, ymin, xmax, ymax) shown: ``bounds`` with a margin of ``pad`` × its larger side, widened
    on its short side to the box's ``aspect`` (width / height), so that a metre is as long across as up."""
    x0, y0, x1, y1 = bounds
    margin = pad * max(x1 - x0, y1 - y0, 1.0)
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    w, h = x1 - x0, y1 - y0
    if w / h < aspect:
        grow = (h * aspect - w) / 2
        x0, x1 = x0 - grow, x1 + grow
    else:
        grow = (w / aspect - h) / 2
        y0, y1 = y0 - grow, y1 + grow
    return x0, y0, x1, y1


def scale_bar(extent: tuple[float, float, float, float], fraction: float = 0.22) -> ScaleBar:
    """The scale bar for a map showing ``extent``: the longest round length (1, 2 or 5 × 10^k m) not
    longer than ``fraction`` of the map's width, at its lower right corner (with room for its unit)."""
    x0, y0, x1, _ = extent
    width = x1 - x0
    target = width * fraction
    k = 10 ** math.floor(math.log10(target))
    metres = max(s * k for s in SCALE_STEPS if s * k <= target)
    return ScaleBar(float(metres), x1 - 0.09 * width - metres, y0 + 0.04 * width)


def layout(width_in: float) -> tuple[float, float, tuple[float, float, float, float]]:
    """(width, height) in inches and the map's box (left, bottom, width, height) as figure fractions."""
    height_in = width_in * HEIGHT_RATIO
    box = (SIDE_IN / width_in, FOOTER_IN / height_in,
           1 - 2 * SIDE_IN / width_in, 1 - (HEADER_IN + FOOTER_IN) / height_in)
    return width_in, height_in, box


def render_map(layers: dict[str, gpd.GeoDataFrame], data: Any, *, texts: MapTexts,
               width_in: float = 7.5, dpi: int = 180) -> bytes:
    """The briefing map as PNG bytes (``width_in`` × 1.25·``width_in`` inches at ``dpi``), without
    metadata so that the same inputs give the same bytes."""
    fig, _ = draw_map(layers, data, texts=texts, width_in=width_in, dpi=dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white",
                edgecolor="white", bbox_inches=None, pad_inches=0)
    return buf.getvalue()


def draw_map(layers: dict[str, gpd.GeoDataFrame], data: Any, *, texts: MapTexts,
             width_in: float = 7.5, dpi: int = 180) -> tuple[Figure, dict[str, Any]]:
    """The map's Figure (on its own Agg canvas) and what was computed for it: ``extent`` (EPSG:4547)
    and ``scale_bar``. ``render_map`` saves it; tests read the numbers."""
    fonts = {w: cjk_font(w) for w in FONT_FILES}
    w_in, h_in, box = layout(width_in)
    fig = Figure(figsize=(w_in, h_in), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    metric = {k: layers[k].to_crs(METRIC_CRS) for k in ("district", "subdistrict", "community", "grid")
              if k in layers and layers[k] is not None and len(layers[k])}
    if not metric:
        raise ValueError("no boundary layer to draw (district, subdistrict, community or grid)")
    bounds = np.array([g.total_bounds for g in metric.values()])
    extent = map_extent((bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()),
                        (box[2] * w_in) / (box[3] * h_in))
    ax = fig.add_axes(box)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("auto")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
        spine.set_edgecolor("#555555")

    counts = _draw_grids(ax, metric.get("grid"), _frame(data, "grid_levels"))
    for kind, colour, lw, z in (("community", COMMUNITY_LINE, 0.55, 3), ("subdistrict", SUBDISTRICT_LINE, 1.5, 4),
                                ("district", DISTRICT_LINE, 2.0, 4.5)):
        if kind in metric:
            ax.add_collection(LineCollection(_boundary_lines(metric[kind].geometry.values), colors=colour,
                                             linewidths=lw, capstyle="round", joinstyle="round", zorder=z))
    counts |= _draw_clusters(ax, _frame(data, "clusters"), extent, fig, fonts)
    counts |= _draw_points(ax, _frame(data, "points"), extent)
    if "subdistrict" in metric:
        _draw_labels(ax, metric["subdistrict"], texts.label_column, _font(fonts, "bold", 11))
    bar = scale_bar(extent)
    _draw_scale_bar(ax, bar, extent, texts, _font(fonts, "regular", 8))
    _draw_north_arrow(ax, extent, texts.north, _font(fonts, "bold", 10))
    _draw_legend(fig, texts, counts, _font(fonts, "regular", 8.5), box)
    fig.text(SIDE_IN / w_in, 1 - 0.42 / h_in, texts.title, fontproperties=_font(fonts, "bold", 16),
             ha="left", va="baseline", color="#111111")
    fig.text(SIDE_IN / w_in, 1 - 0.70 / h_in, texts.subtitle, fontproperties=_font(fonts, "regular", 9.5),
             ha="left", va="baseline", color="#444444")
    return fig, {"extent": extent, "scale_bar": bar}


def _font(fonts: dict[str, FontPath], weight: str, size: float) -> FontProperties:
    return FontProperties(fname=fonts[weight], size=size)


def _frame(data: Any, name: str) -> Any:
    """``data.<name>`` as a frame; None or missing reads as nothing to draw."""
    frame = getattr(data, name, None) if data is not None else None
    return frame if frame is not None and len(frame) else None


def _polygon_paths(geoms: np.ndarray) -> list[MplPath]:
    """One compound matplotlib Path per (multi)polygon, holes included."""
    out = []
    for geom in geoms:
        if geom is None or geom.is_empty:
            continue
        parts = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
        rings = [ring for poly in parts for ring in (poly.exterior, *poly.interiors)]
        out.append(MplPath.make_compound_path(*(MplPath(np.asarray(r.coords)[:, :2], closed=True) for r in rings)))
    return out


def _boundary_lines(geoms: np.ndarray) -> list[np.ndarray]:
    """Every ring of the polygons as an (n, 2) array, for one LineCollection."""
    rings = shapely.get_parts(shapely.boundary(shapely.get_parts(np.asarray(geoms))))
    return [np.asarray(shapely.get_coordinates(r)) for r in rings if not r.is_empty]


def _draw_grids(ax: Any, grids: gpd.GeoDataFrame | None, levels: Any) -> dict[str, int]:
    """Warning fills (one collection per level) under thin grid lines; the count of grids per level."""
    counts = dict.fromkeys(LEVELS, 0)
    if grids is None:
        return counts
    level_of = {}
    if levels is not None and {"grid", "level"} <= set(levels.columns):
        level_of = {str(g): lv for g, lv in zip(levels["grid"], levels["level"], strict=True)
                    if isinstance(lv, str) and lv in LEVEL_RGB}
    codes = grids["code"].astype(str).to_numpy()
    for lv in LEVELS:
        mask = np.array([level_of.get(c) == lv for c in codes], bool)
        counts[lv] = int(mask.sum())
        if mask.any():
            ax.add_collection(PathCollection(_polygon_paths(grids.geometry.values[mask]),
                                             facecolors=[_rgba(lv)], edgecolors="none",
                                             linewidths=0, zorder=1))
    ax.add_collection(LineCollection(_boundary_lines(grids.geometry.values), colors=GRID_LINE,
                                     linewidths=0.25, zorder=2))
    return counts


def _rgba(level: str) -> tuple[float, float, float, float]:
    r, g, b = LEVEL_RGB[level]
    return r / 255, g / 255, b / 255, LEVEL_ALPHA[level]


def _inside(x: np.ndarray, y: np.ndarray, extent: tuple[float, ...]) -> np.ndarray:
    return (x >= extent[0]) & (x <= extent[2]) & (y >= extent[1]) & (y <= extent[3])


def _draw_points(ax: Any, points: Any, extent: tuple[float, ...]) -> dict[str, int]:
    """Red-tier appeals as red dots, overdue ones as dark diamonds around them; the counts on the map."""
    if points is None or not {"lon", "lat"} <= set(points.columns):
        return {"red_appeal": 0, "overdue_appeal": 0}
    x, y = lonlat_to_metric(points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    shown = _inside(x, y, extent)
    red = shown & ((points["tier"].astype(str) == "red").to_numpy() if "tier" in points else False)
    late = shown & (points["overdue"].fillna(False).astype(bool).to_numpy() if "overdue" in points else False)
    if late.any():
        ax.scatter(x[late], y[late], s=38, marker="D", facecolors="white", edgecolors=OVERDUE_POINT,
                   linewidths=1.0, zorder=6.5)
    if red.any():
        ax.scatter(x[red], y[red], s=22, marker="o", c=RED_POINT, edgecolors="white", linewidths=0.6, zorder=7)
    return {"red_appeal": int(red.sum()), "overdue_appeal": int(late.sum())}


def _draw_clusters(ax: Any, clusters: Any, extent: tuple[float, ...], fig: Figure,
                   fonts: dict[str, FontPath]) -> dict[str, int]:
    """A ring of ``radius_m`` round each gathering cluster (at least MIN_RING_MM on paper), its size beside;
    the count of those whose centre is on the map."""
    if clusters is None or not {"lon", "lat"} <= set(clusters.columns):
        return {"cluster": 0}
    x, y = lonlat_to_metric(clusters["lon"].to_numpy(float), clusters["lat"].to_numpy(float))
    shown = _inside(x, y, extent)
    clusters, x, y = clusters[shown], x[shown], y[shown]
    radius = clusters["radius_m"].fillna(0).to_numpy(float) if "radius_m" in clusters else np.zeros(len(x))
    map_width_in = fig.get_figwidth() * ax.get_position().width
    least = MIN_RING_MM / 25.4 / map_width_in * (extent[2] - extent[0])
    sizes = clusters["size"].to_numpy() if "size" in clusters else [None] * len(x)
    label = _font(fonts, "bold", 7.5)
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    for xi, yi, r, n in zip(x, y, radius, sizes, strict=True):
        r = max(float(r), least)
        ax.add_patch(Circle((xi, yi), r, facecolor=(0.48, 0.12, 0.64, 0.10), edgecolor=CLUSTER_RING,
                            linewidth=1.6, zorder=6))
        if n is not None and not (isinstance(n, float) and math.isnan(n)):
            ax.text(xi + r * 0.75, yi + r * 0.75, str(int(n)), fontproperties=label, color=CLUSTER_RING,
                    ha="left", va="bottom", zorder=8, path_effects=halo)
    return {"cluster": len(x)}


def label_points(subdistricts: gpd.GeoDataFrame) -> np.ndarray:
    """Where each subdistrict's name goes (EPSG:4547 x, y): the centre of its largest inscribed circle,
    a representative point well inside the polygon, away from its edges."""
    out = []
    for geom in subdistricts.geometry.values:
        try:
            centre = shapely.get_point(shapely.maximum_inscribed_circle(geom, 5.0), 0)
        except Exception:  # noqa: BLE001 - an odd geometry still gets a label point
            centre = geom.representative_point()
        out.append((centre.x, centre.y))
    return np.array(out, float).reshape(-1, 2)


def _draw_labels(ax: Any, subdistricts: gpd.GeoDataFrame, column: str, font: FontProperties) -> None:
    halo = [patheffects.withStroke(linewidth=3.2, foreground="white")]
    names = subdistricts[column] if column in subdistricts else subdistricts["name"]
    fallback = subdistricts["name"] if "name" in subdistricts else subdistricts["code"]
    for (x, y), name, other in zip(label_points(subdistricts), names, fallback, strict=True):
        text = str(name) if isinstance(name, str) and name.strip() else str(other)
        ax.text(x, y, text, fontproperties=font, ha="center", va="center", color="#111111", zorder=9,
                path_effects=halo)


def _draw_scale_bar(ax: Any, bar: ScaleBar, extent: tuple[float, ...], texts: MapTexts,
                    font: FontProperties) -> None:
    """A two-part bar (black, white) with 0, half and the full length, on a white backing."""
    width = extent[2] - extent[0]
    h = 0.007 * width
    m = bar.metres
    km = m >= 1000
    value = (lambda v: f"{v / 1000:g}") if km else (lambda v: f"{v:g}")
    unit = texts.unit_km if km else texts.unit_m
    ax.add_patch(Rectangle((bar.x0 - 0.015 * width, bar.y0 - 0.018 * width), m + 0.095 * width,
                           h + 0.042 * width, facecolor="white", edgecolor="none", alpha=0.85, zorder=10))
    ax.add_patch(Rectangle((bar.x0, bar.y0), m / 2, h, facecolor="black", edgecolor="black", linewidth=0.8,
                           zorder=11))
    ax.add_patch(Rectangle((bar.x0 + m / 2, bar.y0), m / 2, h, facecolor="white", edgecolor="black",
                           linewidth=0.8, zorder=11))
    for at in (0, m / 2, m):
        ax.text(bar.x0 + at, bar.y0 + h + 0.006 * width, value(at), fontproperties=font, ha="center",
                va="bottom", color="black", zorder=12)
    ax.text(bar.x0 + m + 0.012 * width, bar.y0 + h / 2, unit, fontproperties=font, ha="left", va="center",
            color="black", zorder=12)


def _draw_north_arrow(ax: Any, extent: tuple[float, ...], north: str, font: FontProperties) -> None:
    """A north arrow (half black, half white) with its letter, in the upper right corner; the map is
    drawn in EPSG:4547 with grid north up (convergence over the district is under half a degree)."""
    width = extent[2] - extent[0]
    s = 0.028 * width
    cx, top = extent[2] - 0.05 * width, extent[3] - 0.075 * width
    tip, base, notch = (cx, top), top - 2.2 * s, top - 1.6 * s
    ax.add_patch(Polygon([tip, (cx - s * 0.7, base), (cx, notch)], closed=True, facecolor="white",
                         edgecolor="black", linewidth=0.8, zorder=11))
    ax.add_patch(Polygon([tip, (cx + s * 0.7, base), (cx, notch)], closed=True, facecolor="black",
                         edgecolor="black", linewidth=0.8, zorder=11))
    ax.text(cx, top + 0.01 * width, north, fontproperties=font, ha="center", va="bottom", color="black",
            zorder=12, path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])


def _count(label: str, n: int) -> str:
    return label.replace("{n}", str(n))


def _draw_legend(fig: Figure, texts: MapTexts, counts: dict[str, int], font: FontProperties,
                 box: tuple[float, float, float, float]) -> None:
    """The legend in three columns under the map: fills, then markers, then lines."""
    def fill(level: str) -> Patch:
        return Patch(facecolor=_rgba(level), edgecolor=GRID_LINE, linewidth=0.6)

    handles = [
        fill("red"), fill("yellow"), fill("blue"),
        Patch(facecolor="white", edgecolor=GRID_LINE, linewidth=0.6),
        Line2D([], [], linestyle="none", marker="o", markersize=5.5, markerfacecolor=RED_POINT,
               markeredgecolor="white", markeredgewidth=0.6),
        Line2D([], [], linestyle="none", marker="D", markersize=6, markerfacecolor="white",
               markeredgecolor=OVERDUE_POINT, markeredgewidth=1.0),
        Line2D([], [], linestyle="none", marker="o", markersize=11, markerfacecolor=(0.48, 0.12, 0.64, 0.10),
               markeredgecolor=CLUSTER_RING, markeredgewidth=1.6),
        Line2D([], [], color=SUBDISTRICT_LINE, linewidth=1.5),
        Line2D([], [], color=COMMUNITY_LINE, linewidth=0.6),
    ]
    labels = [_count(texts.level_red, counts["red"]), _count(texts.level_yellow, counts["yellow"]),
              _count(texts.level_blue, counts["blue"]), texts.level_none,
              _count(texts.red_appeal, counts["red_appeal"]), _count(texts.overdue_appeal, counts["overdue_appeal"]),
              _count(texts.cluster, counts["cluster"]), texts.subdistrict_boundary, texts.community_boundary]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, box[1] - 0.008), ncols=3,
               prop=font, frameon=False, handlelength=1.6, handleheight=1.1, columnspacing=2.2,
               labelspacing=0.55, borderaxespad=0)
