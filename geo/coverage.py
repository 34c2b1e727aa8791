"""500-metre service circles: who is within reach of a station, per service, and what a change does.

Why: every resident should have an appeal, a legal and a psychological service station within 500 m
("500米服务圈", domain.md). Planners ask where the circles leave people out and what removing, moving or
adding a station changes. This module answers with plain arrays and DataFrames; a page draws them.

Rules kept here (design.md):

* "Within ``radius_m``" is a distance test, ``distance <= radius_m`` in EPSG:4547 metres, answered by a
  ``scipy.spatial.cKDTree`` built once over the demand points. Never a point-in-buffer test: a polygonal
  buffer lies inside the true circle. :func:`service_circles` builds buffers for drawing only.
* Demand (:class:`Demand`) is precomputed once: metric x/y, population and the grid, community and
  subdistrict of every point, plus the KD-tree. Recomputing coverage for a changed :class:`StationSet`
  (what-if: remove, move, add) is then one ball query per station, about 10 ms for 60,000 buildings.
* Coverage is reported as a share of population, of buildings and of grids. **A grid counts as covered
  when every populated building in it (population > 0) is within reach**: the service-circle promise is
  for every resident, so one uncovered populated building leaves its grid uncovered. Grids without a
  populated building count neither way (they are left out of ``grids``). For a grid-centroid demand
  (``kind="grid"``) each point is its own grid, so a grid is covered when its centroid is.
* A demand point's community and subdistrict come from its grid's ``parent_code`` chain, not from a
  second point-in-polygon test, so the three levels always add up.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.crs import STORAGE_CRS, buffer_lonlat, geometry_to_metric, lonlat_to_metric, metric_to_lonlat

SERVICES = ("appeal", "legal", "psychological")
"""The three 500-metre service circles; a station offers a service when ``offers_<service>`` is true."""
LEVELS = ("district", "subdistrict", "community", "grid")
"""Levels a coverage table can be aggregated to (``grid`` is the finest unit with a boundary)."""
DEFAULT_RADIUS_M = 500.0
"""The radius a pure geo caller gets when it gives none. The service decides the radius it uses
(config/rules.toml [coverage], read by services.planning) and passes it; geo reads no configuration."""
DEFAULT_CELL_M = 250.0


# --------------------------------------------------------------------------------------------- demand
@dataclass(frozen=True, eq=False)
class Demand:
    """Demand points (buildings or grid centroids) prepared once for fast repeated coverage queries.

    ``x``/``y`` are EPSG:4547 metres, ``lon``/``lat`` WGS84. ``level_idx[level]`` gives, per point, the
    row of ``units[level]`` it belongs to (-1: unknown); ``units`` holds code/name/parent_code tables
    of subdistricts, communities and grids, and ``grid_level_idx[level]`` maps each grid to its
    subdistrict/community row. Treat every array as read-only.
    """

    kind: str
    code: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    population: np.ndarray
    level_idx: Mapping[str, np.ndarray]
    units: Mapping[str, pd.DataFrame]
    grid_level_idx: Mapping[str, np.ndarray]
    district_code: str
    district_name: str
    tree: cKDTree = field(repr=False)
    integer_population: bool = True

    def __len__(self) -> int:
        return len(self.code)

    @property
    def xy(self) -> np.ndarray:
        """(n, 2) metric coordinates."""
        return np.column_stack([self.x, self.y])

    @property
    def unit_label(self) -> str:
        """What one demand point is, in plural, for column names: ``buildings``, ``grid_centroids`` or
        ``points`` (never ``grids``, which counts grids in the tables)."""
        return {"building": "buildings", "grid": "grid_centroids"}.get(self.kind, "points")


def _unit_table(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({"code": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                             "parent_code": pd.Series(dtype=object)})
    out = pd.DataFrame({"code": frame["code"].astype(str).to_numpy()})
    out["name"] = frame["name"].astype(str).to_numpy() if "name" in frame else out["code"]
    out["parent_code"] = (frame["parent_code"].astype(str).to_numpy() if "parent_code" in frame
                          else np.full(len(out), None, dtype=object))
    return out


def _lookup(codes: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    """Row of ``table`` for each code (-1 where unknown or missing)."""
    if len(table) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    idx = pd.Index(table["code"]).get_indexer(pd.Series(codes, dtype=object).astype(str))
    return np.asarray(idx, dtype=np.int64)


def make_demand(code: Sequence[str] | np.ndarray, lon: np.ndarray, lat: np.ndarray, population: np.ndarray,
                grid_code: Sequence[str] | np.ndarray, grids: pd.DataFrame | None = None,
                communities: pd.DataFrame | None = None, subdistricts: pd.DataFrame | None = None,
                kind: str = "building", district_code: str = "", district_name: str = "") -> Demand:
    """Build a :class:`Demand` from plain arrays and code/name/parent_code unit tables.

    ``grid_code`` names each point's grid; grids name their community in ``parent_code`` and
    communities their subdistrict. Unit tables need no geometry, so tests can pass tiny DataFrames.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    pop = np.asarray(population, dtype=float)
    if not (len(lon) == len(lat) == len(pop) == len(code) == len(grid_code)):
        raise ValueError("code, lon, lat, population and grid_code must have the same length")
    if np.isnan(pop).any() or (pop < 0).any():
        raise ValueError("population must be non-negative numbers")
    x, y = lonlat_to_metric(lon, lat)
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("every demand point needs finite lon/lat")
    units = {"subdistrict": _unit_table(subdistricts), "community": _unit_table(communities),
             "grid": _unit_table(grids)}
    grid_comm = _lookup(units["grid"]["parent_code"].to_numpy(), units["community"])
    comm_sub = _lookup(units["community"]["parent_code"].to_numpy(), units["subdistrict"])
    grid_sub = np.where(grid_comm >= 0, comm_sub[np.maximum(grid_comm, 0)] if len(comm_sub) else -1, -1)
    grid_level_idx = {"district": np.zeros(len(units["grid"]), dtype=np.int64), "subdistrict": grid_sub,
                      "community": grid_comm, "grid": np.arange(len(units["grid"]), dtype=np.int64)}
    gidx = _lookup(np.asarray(grid_code, dtype=object), units["grid"])
    level_idx = {"district": np.zeros(len(lon), dtype=np.int64), "grid": gidx}
    for level in ("subdistrict", "community"):
        m = grid_level_idx[level]
        level_idx[level] = np.where(gidx >= 0, m[np.maximum(gidx, 0)] if len(m) else -1, -1)
    return Demand(kind=kind, code=np.asarray(code, dtype=object), lon=lon, lat=lat, x=x, y=y, population=pop,
                  level_idx=level_idx, units=units, grid_level_idx=grid_level_idx,
                  district_code=str(district_code), district_name=str(district_name),
                  tree=cKDTree(np.column_stack([x, y])),
                  integer_population=bool(np.all(pop == np.round(pop))))


def grid_centroids_lonlat(grids: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of grid polygons computed in EPSG:4547 (a point on the surface where the centroid falls
    outside a concave grid), returned as lon/lat arrays."""
    if grids.crs is None:
        raise ValueError("grid layer has no CRS")
    geoms = geometry_to_metric(grids.to_crs(STORAGE_CRS).geometry.values)
    cent = shapely.centroid(geoms)
    outside = ~shapely.contains(geoms, cent)
    if outside.any():
        cent[outside] = shapely.point_on_surface(geoms[outside])
    return metric_to_lonlat(shapely.get_x(cent), shapely.get_y(cent))


def demand_from_layers(layers: Mapping[str, gpd.GeoDataFrame], kind: str = "building") -> Demand:
    """The district's demand from its layers: every building (``kind="building"``), or one point per
    grid at its centroid weighted by the grid's building population (``kind="grid"``)."""
    b = layers["building"]
    grids = layers["grid"]
    district = layers.get("district")
    dcode = str(district["code"].iloc[0]) if district is not None and len(district) else ""
    dname = str(district["name"].iloc[0]) if district is not None and len(district) else ""
    common = {"grids": grids, "communities": layers.get("community"), "subdistricts": layers.get("subdistrict"),
              "district_code": dcode, "district_name": dname}
    if kind == "building":
        pts = b.to_crs(STORAGE_CRS).geometry
        return make_demand(b["code"].astype(str).to_numpy(), pts.x.to_numpy(), pts.y.to_numpy(),
                           b["population"].to_numpy(), b["parent_code"].astype(str).to_numpy(), kind="building",
                           **common)
    if kind == "grid":
        gcodes = grids["code"].astype(str).to_numpy()
        bidx = _lookup(b["parent_code"].astype(str).to_numpy(), _unit_table(grids))
        ok = bidx >= 0
        pop = np.bincount(bidx[ok], weights=b["population"].to_numpy(float)[ok], minlength=len(grids))
        lon, lat = grid_centroids_lonlat(grids)
        return make_demand(gcodes, lon, lat, pop, gcodes, kind="grid", **common)
    raise ValueError(f"kind must be 'building' or 'grid', not {kind!r}")


# --------------------------------------------------------------------------------------------- stations
def _as_str_array(values: str | Iterable[str] | None, n: int, default: Sequence[str]) -> np.ndarray:
    if values is None:
        return np.asarray(list(default), dtype=object)
    if isinstance(values, str):
        values = [values]
    out = np.asarray([str(v) for v in values], dtype=object)
    if len(out) != n:
        raise ValueError(f"expected {n} values, got {len(out)}")
    return out


@dataclass(frozen=True, eq=False)
class StationSet:
    """Service stations as plain arrays; what-if edits (``remove``, ``move``, ``add``) return new sets.

    ``offers[service]`` is a boolean array per service in :data:`SERVICES`. Coordinates are kept both
    in lon/lat (storage) and EPSG:4547 metres (distance tests).
    """

    code: np.ndarray
    name: np.ndarray
    level: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    offers: Mapping[str, np.ndarray]

    @classmethod
    def from_frame(cls, stations: pd.DataFrame) -> StationSet:
        """From a station layer (GeoDataFrame with point geometry, or a frame with lon/lat columns) with
        ``code`` and optional ``name``, ``level`` and ``offers_<service>`` columns (missing: offered)."""
        if isinstance(stations, gpd.GeoDataFrame) and stations.geometry.name in stations:
            g = stations.to_crs(STORAGE_CRS).geometry if stations.crs is not None else stations.geometry
            lon, lat = g.x.to_numpy(float), g.y.to_numpy(float)
        else:
            lon, lat = stations["lon"].to_numpy(float), stations["lat"].to_numpy(float)
        n = len(stations)
        code = stations["code"].astype(str).to_numpy(dtype=object)
        name = stations["name"].astype(str).to_numpy(dtype=object) if "name" in stations else code.copy()
        level = (stations["level"].astype(str).to_numpy(dtype=object) if "level" in stations
                 else np.full(n, "site", dtype=object))
        offers = {s: (stations[f"offers_{s}"].fillna(False).astype(bool).to_numpy() if f"offers_{s}" in stations
                      else np.ones(n, bool)) for s in SERVICES}
        return cls.from_arrays(code, lon, lat, name=name, level=level, offers=offers)

    @classmethod
    def from_arrays(cls, code: Sequence[str], lon: np.ndarray, lat: np.ndarray, name: Sequence[str] | None = None,
                    level: Sequence[str] | None = None,
                    offers: Mapping[str, np.ndarray] | None = None) -> StationSet:
        """From arrays; ``offers`` defaults to every service for every station. Codes must be unique."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        n = len(lon)
        code_a = _as_str_array(code, n, [])
        if len(set(code_a)) != n:
            raise ValueError("station codes must be unique")
        x, y = lonlat_to_metric(lon, lat)
        off = {s: np.ones(n, bool) if offers is None or s not in offers else np.asarray(offers[s], bool)
               for s in SERVICES}
        return cls(code=code_a, name=_as_str_array(name, n, code_a) if name is not None else code_a.copy(),
                   level=_as_str_array(level, n, ["site"] * n) if level is not None else np.full(n, "site", object),
                   lon=lon, lat=lat, x=np.atleast_1d(np.asarray(x, float)), y=np.atleast_1d(np.asarray(y, float)),
                   offers=off)

    def __len__(self) -> int:
        return len(self.code)

    @property
    def xy(self) -> np.ndarray:
        """(n, 2) metric coordinates."""
        return np.column_stack([self.x, self.y]).reshape(-1, 2)

    def subset(self, mask: np.ndarray) -> StationSet:
        """The stations where ``mask`` (boolean or index array) selects."""
        return StationSet(code=self.code[mask], name=self.name[mask], level=self.level[mask], lon=self.lon[mask],
                          lat=self.lat[mask], x=self.x[mask], y=self.y[mask],
                          offers={s: v[mask] for s, v in self.offers.items()})

    def for_service(self, service: str | None) -> StationSet:
        """Stations offering ``service`` (``None``: all stations, whatever they offer)."""
        if service is None:
            return self
        if service not in SERVICES:
            raise ValueError(f"service must be one of {SERVICES} or None, not {service!r}")
        return self.subset(self.offers[service])

    def _index(self, code: str) -> int:
        hit = np.flatnonzero(self.code == str(code))
        if not len(hit):
            raise KeyError(f"no station with code {code!r}")
        return int(hit[0])

    def remove(self, codes: str | Iterable[str]) -> StationSet:
        """A copy without the stations named (KeyError for an unknown code)."""
        codes = [codes] if isinstance(codes, str) else list(codes)
        drop = [self._index(c) for c in codes]
        keep = np.ones(len(self), bool)
        keep[drop] = False
        return self.subset(keep)

    def move(self, code: str, lon: float, lat: float) -> StationSet:
        """A copy with one station moved to ``lon``/``lat`` (WGS84)."""
        i = self._index(code)
        new_lon, new_lat = self.lon.copy(), self.lat.copy()
        new_lon[i], new_lat[i] = float(lon), float(lat)
        x, y = lonlat_to_metric(new_lon[i:i + 1], new_lat[i:i + 1])
        new_x, new_y = self.x.copy(), self.y.copy()
        new_x[i], new_y[i] = float(np.asarray(x)[0]), float(np.asarray(y)[0])
        return StationSet(code=self.code, name=self.name, level=self.level, lon=new_lon, lat=new_lat, x=new_x,
                          y=new_y, offers=self.offers)

    def add(self, lon: float | np.ndarray, lat: float | np.ndarray, code: str | Sequence[str] | None = None,
            name: str | Sequence[str] | None = None, level: str = "site",
            services: Iterable[str] = SERVICES) -> StationSet:
        """A copy with new stations at ``lon``/``lat`` offering ``services``; codes default to NEW-001..."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        n = len(lon)
        if code is None:
            taken, made, i = set(self.code), [], 1
            while len(made) < n:
                c = f"NEW-{i:03d}"
                if c not in taken:
                    made.append(c)
                i += 1
            code = made
        services = set(services)
        unknown = services - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown service(s) {sorted(unknown)}; choose from {SERVICES}")
        new = StationSet.from_arrays(_as_str_array(code, n, []), lon, lat, name=name if name is None else
                                     _as_str_array(name, n, []), level=[level] * n,
                                     offers={s: np.full(n, s in services) for s in SERVICES})
        return concat_stations(self, new)

    def to_frame(self) -> gpd.GeoDataFrame:
        """The set as a station layer (EPSG:4326 points), e.g. to save a what-if scenario."""
        df = pd.DataFrame({"code": self.code, "name": self.name, "level": self.level, "lon": self.lon,
                           "lat": self.lat, **{f"offers_{s}": v for s, v in self.offers.items()}})
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(self.lon, self.lat), crs=STORAGE_CRS)


def concat_stations(*sets: StationSet) -> StationSet:
    """Stations of several sets in one (codes must stay unique)."""
    code = np.concatenate([s.code for s in sets])
    if len(set(code)) != len(code):
        raise ValueError("station codes must be unique")
    return StationSet(code=code, name=np.concatenate([s.name for s in sets]),
                      level=np.concatenate([s.level for s in sets]), lon=np.concatenate([s.lon for s in sets]),
                      lat=np.concatenate([s.lat for s in sets]), x=np.concatenate([s.x for s in sets]),
                      y=np.concatenate([s.y for s in sets]),
                      offers={k: np.concatenate([s.offers[k] for s in sets]) for k in SERVICES})


# --------------------------------------------------------------------------------------------- coverage
def _check_radius(radius_m: float) -> float:
    r = float(radius_m)
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"radius_m must be a positive number of metres, not {radius_m!r}")
    return r


def count_within(tree: cKDTree, n_points: int, site_xy: np.ndarray, radius_m: float) -> np.ndarray:
    """How many of ``site_xy`` (metres) lie within ``radius_m`` (distance <= radius) of each tree point."""
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    if len(site_xy) == 0:
        return np.zeros(n_points, dtype=np.int32)
    lists = tree.query_ball_point(site_xy, _check_radius(radius_m), return_sorted=False)
    total = sum(map(len, lists))
    idx = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.intp, count=total)
    return np.bincount(idx, minlength=n_points).astype(np.int32)


@dataclass(frozen=True, eq=False)
class CoverageResult:
    """Per demand point: covered (some station within the radius) and how many stations are within it."""

    service: str | None
    radius_m: float
    covered: np.ndarray
    n_within: np.ndarray
    n_stations: int


def compute_coverage(demand: Demand, stations: StationSet, service: str | None = "appeal",
                     radius_m: float = DEFAULT_RADIUS_M) -> CoverageResult:
    """Which demand points have a station offering ``service`` within ``radius_m`` metres.

    ``service=None`` counts every station. Cheap (one ball query per station on the prebuilt tree), so
    call it again after every what-if edit of ``stations``.
    """
    st = stations.for_service(service)
    n = count_within(demand.tree, len(demand), st.xy, radius_m)
    return CoverageResult(service=service, radius_m=float(radius_m), covered=n > 0, n_within=n,
                          n_stations=len(st))


def _pop_out(demand: Demand, v: np.ndarray) -> np.ndarray:
    return np.rint(v).astype(np.int64) if demand.integer_population else v


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, float)
    den = np.asarray(den, float)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _level_frame(demand: Demand, level: str) -> pd.DataFrame:
    if level == "district":
        return pd.DataFrame({"code": [demand.district_code], "name": [demand.district_name], "parent_code": [None]})
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    return demand.units[level]


def _grid_flags(demand: Demand, covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per grid: has a populated point; every populated point is covered."""
    n_grid = len(demand.units["grid"])
    g = demand.level_idx["grid"]
    populated = (demand.population > 0) & (g >= 0)
    n_pop = np.bincount(g[populated], minlength=n_grid)
    n_cov = np.bincount(g[populated & covered], minlength=n_grid)
    has = n_pop > 0
    return has, has & (n_cov == n_pop)


def coverage_table(demand: Demand, results: CoverageResult | Sequence[CoverageResult],
                   level: str = "district") -> pd.DataFrame:
    """Coverage per unit of ``level`` (district, subdistrict, community, grid), one row per unit and
    service, ready to export.

    Columns: level, code, name, parent_code, service, radius_m, stations, buildings (demand points),
    buildings_covered, buildings_share, population, population_covered, population_uncovered,
    population_share, grids, grids_covered, grids_share. Shares are fractions 0-1 (NaN where the unit
    has none). ``grids`` counts populated grids; a grid is covered when all its populated points are.
    """
    if isinstance(results, CoverageResult):
        results = [results]
    if any(len(r.covered) != len(demand) for r in results):
        raise ValueError("a coverage result belongs to a different demand (lengths differ)")
    units = _level_frame(demand, level)
    n_units = len(units)
    gi = demand.level_idx[level]
    ok = gi >= 0
    gi_ok = gi[ok]
    pop_ok = demand.population[ok]
    buildings = np.bincount(gi_ok, minlength=n_units)
    population = np.bincount(gi_ok, weights=pop_ok, minlength=n_units)
    grid_to_unit = demand.grid_level_idx[level]
    gmask = grid_to_unit >= 0
    label = demand.unit_label
    frames = []
    for res in results:
        cov_ok = res.covered[ok]
        b_cov = np.bincount(gi_ok[cov_ok], minlength=n_units)
        p_cov = np.bincount(gi_ok[cov_ok], weights=pop_ok[cov_ok], minlength=n_units)
        has, full = _grid_flags(demand, res.covered)
        n_grids = np.bincount(grid_to_unit[gmask], weights=has[gmask], minlength=n_units).astype(np.int64)
        n_grids_cov = np.bincount(grid_to_unit[gmask], weights=full[gmask], minlength=n_units).astype(np.int64)
        frames.append(pd.DataFrame({
            "level": level, "code": units["code"].to_numpy(), "name": units["name"].to_numpy(),
            "parent_code": units["parent_code"].to_numpy(), "service": res.service or "any",
            "radius_m": res.radius_m, "stations": res.n_stations,
            label: buildings, f"{label}_covered": b_cov, f"{label}_share": _share(b_cov, buildings),
            "population": _pop_out(demand, population), "population_covered": _pop_out(demand, p_cov),
            "population_uncovered": _pop_out(demand, population - p_cov),
            "population_share": _share(p_cov, population),
            "grids": n_grids, "grids_covered": n_grids_cov, "grids_share": _share(n_grids_cov, n_grids),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def coverage_report(demand: Demand, stations: StationSet, services: Sequence[str | None] = SERVICES,
                    radius_m: float = DEFAULT_RADIUS_M,
                    levels: Sequence[str] = ("district", "subdistrict", "community")) -> dict[str, pd.DataFrame]:
    """Coverage of every service at every level: ``{level: table}``, e.g. for one xlsx sheet each."""
    results = [compute_coverage(demand, stations, s, radius_m) for s in services]
    return {level: coverage_table(demand, results, level) for level in levels}


def coverage_delta(demand: Demand, before: CoverageResult, after: CoverageResult) -> dict[str, float]:
    """What a what-if edit changed: people and points newly covered, newly uncovered, shares before/after."""
    pop = demand.population
    gained = after.covered & ~before.covered
    lost = before.covered & ~after.covered
    total = float(pop.sum())
    return {
        "population_gained": float(pop[gained].sum()), "population_lost": float(pop[lost].sum()),
        f"{demand.unit_label}_gained": int(gained.sum()), f"{demand.unit_label}_lost": int(lost.sum()),
        "population_share_before": float(pop[before.covered].sum()) / total if total else float("nan"),
        "population_share_after": float(pop[after.covered].sum()) / total if total else float("nan"),
    }


# --------------------------------------------------------------------------------------------- map layers
def _uncovered_groups(demand: Demand, mask: np.ndarray, key: np.ndarray, n_groups: int) -> pd.DataFrame:
    """Count, people and a representative lon/lat (people-weighted mean, plain mean when nobody lives
    there) of the masked points, per group key."""
    k = key[mask]
    pop = demand.population[mask]
    count = np.bincount(k, minlength=n_groups)
    people = np.bincount(k, weights=pop, minlength=n_groups)
    w = np.where(people[k] > 0, pop, 1.0)
    wsum = np.bincount(k, weights=w, minlength=n_groups)
    mx = _share(np.bincount(k, weights=w * demand.x[mask], minlength=n_groups), wsum)
    my = _share(np.bincount(k, weights=w * demand.y[mask], minlength=n_groups), wsum)
    keep = count > 0
    lon, lat = metric_to_lonlat(mx[keep], my[keep])
    return pd.DataFrame({"group": np.flatnonzero(keep), "lon": np.asarray(lon), "lat": np.asarray(lat),
                         demand.unit_label: count[keep], "population": _pop_out(demand, people[keep])})


def uncovered_by_grid(demand: Demand, result: CoverageResult) -> pd.DataFrame:
    """Uncovered demand per grid (only grids with any): grid code and name, count of uncovered points,
    uncovered people, and a representative lon/lat among them. Points with an unknown grid are left out."""
    g = demand.level_idx["grid"]
    mask = ~result.covered & (g >= 0)
    units = demand.units["grid"]
    out = _uncovered_groups(demand, mask, np.maximum(g, 0), len(units))
    grid_rows = out.pop("group").to_numpy()
    out.insert(0, "code", units["code"].to_numpy()[grid_rows])
    out.insert(1, "name", units["name"].to_numpy()[grid_rows])
    return out.sort_values("population", ascending=False, ignore_index=True)


def uncovered_cells(demand: Demand, result: CoverageResult, cell_m: float = DEFAULT_CELL_M) -> pd.DataFrame:
    """Uncovered demand binned in ``cell_m`` squares of EPSG:4547 (a light map layer).

    Columns: ``cell`` ("ix_iy" of the square whose south-west corner is (ix, iy) * cell_m), cell_lon /
    cell_lat (the square's centre), lon/lat (people-weighted mean of the uncovered points in it), count
    of uncovered points, and population.
    """
    cell = _check_radius(cell_m)
    mask = ~result.covered
    if not mask.any():
        return pd.DataFrame(columns=["cell", "cell_lon", "cell_lat", "lon", "lat", demand.unit_label, "population"])
    ix = np.floor(demand.x / cell).astype(np.int64)
    iy = np.floor(demand.y / cell).astype(np.int64)
    pairs = np.column_stack([ix[mask], iy[mask]])
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    key = np.zeros(len(demand), dtype=np.int64)
    key[mask] = inv.ravel()
    out = _uncovered_groups(demand, mask, key, len(uniq))
    u = uniq[out.pop("group").to_numpy()]
    clon, clat = metric_to_lonlat((u[:, 0] + 0.5) * cell, (u[:, 1] + 0.5) * cell)
    out.insert(0, "cell", [f"{a}_{b}" for a, b in u])
    out.insert(1, "cell_lon", np.asarray(clon))
    out.insert(2, "cell_lat", np.asarray(clat))
    return out.sort_values("population", ascending=False, ignore_index=True)


def service_circles(stations: StationSet, radius_m: float = DEFAULT_RADIUS_M, service: str | None = None,
                    quad_segs: int = 16) -> gpd.GeoDataFrame:
    """Circles of ``radius_m`` around the stations offering ``service``, in lon/lat, for drawing only
    (membership is :func:`compute_coverage`'s distance test, never these polygons)."""
    st = stations.for_service(service)
    geoms = (buffer_lonlat(st.lon, st.lat, _check_radius(radius_m), quad_segs=quad_segs) if len(st)
             else np.array([], dtype=object))
    return gpd.GeoDataFrame({"code": st.code, "name": st.name, "level": st.level, "radius_m": float(radius_m)},
                            geometry=list(geoms), crs=STORAGE_CRS)


# --------------------------------------------------------------------------------------------- export
def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """A copy safe for CSV/xlsx: geometry as WKT, no index."""
    if isinstance(df, gpd.GeoDataFrame):
        out = pd.DataFrame(df.drop(columns=df.geometry.name))
        out["geometry_wkt"] = shapely.to_wkt(df.geometry.values, rounding_precision=7)
        return out
    return df


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark, so Excel opens Chinese names correctly."""
    return _plain(df).to_csv(index=False).encode("utf-8-sig")


def to_xlsx_bytes(sheets: pd.DataFrame | Mapping[str, pd.DataFrame]) -> bytes:
    """An xlsx workbook (openpyxl) with one sheet per frame; sheet names are cut to Excel's 31 characters."""
    if isinstance(sheets, pd.DataFrame):
        sheets = {"data": sheets}
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        used: set[str] = set()
        for i, (name, df) in enumerate(sheets.items()):
            sheet = str(name)[:31] or f"sheet{i + 1}"
            if sheet in used:
                sheet = f"{sheet[:27]}_{i + 1}"
            used.add(sheet)
            _plain(df).to_excel(writer, sheet_name=sheet, index=False)
    return buf.getvalue()
