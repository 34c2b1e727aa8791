"""Where new stations help most: maximal covering (MCLP) and set covering (LSCP) within a service radius.

Why: planners (站点规划) ask where k more stations would bring the most uncovered people inside a
500-metre circle, and how few stations would reach everyone who can be reached at all.

Two layers:

* A numeric core with no geometry, for tests and reuse: :func:`coverage_matrix` (demand i is covered by
  candidate j when their EPSG:4547 distance is <= radius, from ``cKDTree.query_ball_point``),
  :func:`reduce_problem`, the exact :func:`solve_mclp` / :func:`solve_lscp` (HiGHS via ``highspy``) and
  the instant :func:`greedy_mclp` / :func:`greedy_lscp`. Each takes a ``scipy.sparse`` matrix
  (rows: demand, columns: candidates) and weights, and returns a :class:`SolveResult`.
* A geometry layer: :class:`Candidates` (building points, grid centroids, user points, an uploaded
  lon/lat table), :func:`prepare_siting` (the matrix and the still-uncovered population, built once),
  and :func:`plan_mclp` / :func:`plan_lscp`, which return an exportable :class:`SitingScenario` that
  explains each chosen site (its people newly covered in the order chosen, its nearest existing station).

Existing stations: demand already within reach of one has weight zero, so the models count only people
newly covered. The MCLP uses ``sum y_j <= k`` rather than ``= k``: with non-negative weights the optimum is
the same, and it stays feasible after dominated candidates are removed. Sites that would add nobody are
not reported, so fewer than k sites come back only when k sites would cover everyone reachable.

Model reduction (what makes the exact solve fast): rows with zero weight or no candidate are dropped;
rows with the same set of covering candidates become one row carrying their summed weight; candidates
covering no remaining row, or a subset of another candidate's rows (ties: the lower index stays), are
dropped; for the LSCP, a row whose candidate set contains another row's set is implied and dropped.
These steps repeat until nothing changes. Each keeps at least one optimal solution of the original.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from geo.coords import SOURCE_SYSTEMS, to_wgs84
from geo.coverage import (
    DEFAULT_RADIUS_M,
    SERVICES,
    Demand,
    StationSet,
    _check_radius,
    compute_coverage,
    grid_centroids_lonlat,
    to_csv_bytes,
    to_xlsx_bytes,
)
from geo.crs import STORAGE_CRS, lonlat_to_metric

DEFAULT_TIME_LIMIT_S = 30.0
_DOMINANCE_WORK_LIMIT = 50_000_000  # skip a dominance pass whose product A^T A would cost more than this


# --------------------------------------------------------------------------------------------- candidates
@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate sites: an id, where it came from (``building``, ``grid_centroid``, ``user``, ``upload``),
    lon/lat (WGS84) and EPSG:4547 x/y."""

    id: np.ndarray
    source: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    @property
    def xy(self) -> np.ndarray:
        """(n, 2) metric coordinates."""
        return np.column_stack([self.x, self.y]).reshape(-1, 2)

    def to_frame(self) -> pd.DataFrame:
        """id, source, lon, lat."""
        return pd.DataFrame({"id": self.id, "source": self.source, "lon": self.lon, "lat": self.lat})


def candidates_from_points(lon: np.ndarray | float, lat: np.ndarray | float, ids: Sequence[str] | None = None,
                           source: str = "user", system: str = "wgs84") -> Candidates:
    """Candidates at given points; ``system`` (wgs84, cgcs2000, gcj02, bd09) is converted to WGS84 first,
    since a GCJ-02 point from a web map is about 600 m off, more than the radius."""
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon.shape != lat.shape:
        raise ValueError("lon and lat must have the same length")
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise ValueError("candidate coordinates must be finite (use read_candidate_table for raw tables)")
    lon, lat = to_wgs84(lon, lat, system)
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    x, y = lonlat_to_metric(lon, lat)
    ids_a = (np.asarray([f"{source}-{i + 1}" for i in range(len(lon))], dtype=object) if ids is None
             else np.asarray([str(i) for i in ids], dtype=object))
    if len(ids_a) != len(lon):
        raise ValueError("ids must have one entry per point")
    return Candidates(id=ids_a, source=np.full(len(lon), source, dtype=object), lon=lon, lat=lat,
                      x=np.atleast_1d(np.asarray(x, float)), y=np.atleast_1d(np.asarray(y, float)))


def candidates_from_buildings(buildings: gpd.GeoDataFrame, n: int | None = None, seed: int = 0,
                              min_population: float = 0) -> Candidates:
    """Building points as candidates (a station sits in a building): all of them, or a random sample of
    ``n`` (fixed ``seed``) among those with at least ``min_population`` people."""
    b = buildings.to_crs(STORAGE_CRS) if buildings.crs is not None else buildings
    idx = np.flatnonzero(b["population"].to_numpy(float) >= min_population) if "population" in b else \
        np.arange(len(b))
    if n is not None and n < len(idx):
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=n, replace=False))
    g = b.geometry.iloc[idx]
    return candidates_from_points(g.x.to_numpy(), g.y.to_numpy(), ids=b["code"].astype(str).to_numpy()[idx],
                                  source="building")


def candidates_from_grids(grids: gpd.GeoDataFrame) -> Candidates:
    """One candidate per grid at its centroid (point on surface when the centroid falls outside)."""
    lon, lat = grid_centroids_lonlat(grids)
    return candidates_from_points(lon, lat, ids=grids["code"].astype(str).to_numpy(), source="grid_centroid")


_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")
_ID_NAMES = ("id", "code", "name", "编号", "名称", "站点")


def _pick(columns: Sequence[str], names: Sequence[str]) -> str | None:
    low = {str(c).strip().lower(): c for c in columns}
    return next((low[n] for n in names if n in low), None)


def read_candidate_table(table: pd.DataFrame, system: str = "wgs84",
                         bounds: tuple[float, float, float, float] | None = None) -> tuple[Candidates, pd.DataFrame]:
    """Candidates from an uploaded table with lon/lat columns (lon|lng|longitude|x|经度, lat|latitude|y|纬度,
    optional id|code|name|名称).

    Returns the candidates and the rejected rows, verbatim plus a ``reason`` column (nothing a user sends
    is silently dropped): non-numeric or missing coordinates, out of range, or outside ``bounds``
    (lon_min, lat_min, lon_max, lat_max, checked after conversion from ``system`` to WGS84).
    """
    if str(system).strip().lower() not in SOURCE_SYSTEMS:
        raise ValueError(f"system must be one of {SOURCE_SYSTEMS}, not {system!r}")
    lon_col, lat_col = _pick(table.columns, _LON_NAMES), _pick(table.columns, _LAT_NAMES)
    if lon_col is None or lat_col is None:
        raise ValueError(f"no lon/lat columns found in {list(table.columns)}; name them lon and lat")
    id_col = _pick(table.columns, _ID_NAMES)
    lon = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(float)
    reason = np.full(len(table), "", dtype=object)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    reason[bad] = "missing or non-numeric lon/lat"
    out_range = ~bad & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    reason[out_range] = "lon/lat out of range"
    ok = reason == ""
    wlon, wlat = np.full(len(table), np.nan), np.full(len(table), np.nan)
    if ok.any():
        a, b = to_wgs84(lon[ok], lat[ok], system)
        wlon[ok], wlat[ok] = a, b
    if bounds is not None:
        outside = ok & ~((wlon >= bounds[0]) & (wlon <= bounds[2]) & (wlat >= bounds[1]) & (wlat <= bounds[3]))
        reason[outside] = "outside the district's bounds"
        ok &= ~outside
    rows = np.flatnonzero(ok)
    ids = (table[id_col].astype(str).to_numpy()[rows] if id_col is not None
           else np.asarray([f"upload-{i + 1}" for i in rows], dtype=object))
    cands = candidates_from_points(wlon[rows], wlat[rows], ids=ids, source="upload")
    rejected = table.loc[~ok].copy()
    rejected["reason"] = reason[~ok]
    return cands, rejected


def concat_candidates(*parts: Candidates) -> Candidates:
    """Several candidate sets as one (order kept)."""
    return Candidates(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in
                         ("id", "source", "lon", "lat", "x", "y")})


# --------------------------------------------------------------------------------------------- numeric core
def coverage_matrix(demand_xy: np.ndarray, site_xy: np.ndarray, radius_m: float,
                    tree: cKDTree | None = None) -> sp.csc_matrix:
    """Sparse 0/1 matrix (demand × sites): 1 where the metric distance is <= ``radius_m``.

    Built column by column from one ball query per site on a KD-tree of the demand (``tree``, e.g.
    ``Demand.tree``, is reused when given).
    """
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    r = _check_radius(radius_m)
    n, m = len(demand_xy), len(site_xy)
    if n == 0 or m == 0:
        return sp.csc_matrix((n, m), dtype=np.int8)
    tree = tree if tree is not None else cKDTree(demand_xy)
    lists = tree.query_ball_point(site_xy, r, return_sorted=True)
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int64, count=m)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = (np.concatenate([np.asarray(v, dtype=np.int32) for v in lists]) if indptr[-1]
               else np.zeros(0, np.int32))
    return sp.csc_matrix((np.ones(len(indices), np.int8), indices, indptr), shape=(n, m))


def _binary_csr(A: sp.spmatrix) -> sp.csr_matrix:
    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.eliminate_zeros()
    A.data[:] = 1.0
    A.sum_duplicates()
    A.data[:] = 1.0
    A.sort_indices()
    return A


def _aggregate_rows(A: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge rows with identical column sets, summing their weights."""
    if A.shape[0] <= 1:
        return A, w
    ip, ind = A.indptr, A.indices
    keys = [ind[ip[i]:ip[i + 1]].tobytes() for i in range(A.shape[0])]
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
    if len(uniques) == A.shape[0]:
        return A, w
    _, first = np.unique(codes, return_index=True)
    return A[first], np.bincount(codes, weights=w, minlength=len(uniques))


def _inclusions(M: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Pairs (a, b), a != b, where column a's row set is contained in column b's; and column sizes.
    ``None`` when the product would be too costly (the pass is then skipped, which is always safe)."""
    row_nnz = np.diff(M.indptr)
    if float(np.sum(row_nnz.astype(float) ** 2)) > _DOMINANCE_WORK_LIMIT:
        return None
    C = (M.T @ M).tocoo()
    size = np.asarray(M.sum(axis=0)).ravel()
    sel = (C.row != C.col) & (np.abs(C.data - size[C.row]) < 0.5)
    return C.row[sel], C.col[sel], size


@dataclass(frozen=True, eq=False)
class Reduction:
    """A reduced covering problem: ``A`` (rows: merged demand, columns: kept candidates) with row
    ``weight``; ``columns`` maps kept columns to the original candidate indices; ``unreachable`` lists
    original rows that needed cover (weight > 0 or required) but no candidate reaches."""

    A: sp.csr_matrix
    weight: np.ndarray
    columns: np.ndarray
    unreachable: np.ndarray
    stats: Mapping[str, int]


def reduce_problem(A: sp.spmatrix, weights: np.ndarray, model: str = "mclp",
                   required: np.ndarray | None = None, dominance: bool = True) -> Reduction:
    """Reduce a covering instance without losing an optimum (see the module docstring).

    ``model="mclp"``: rows with ``weights > 0`` matter. ``model="lscp"``: rows where ``required`` is true
    (default: ``weights > 0``) must be covered; their weights only steer the greedy order.
    """
    if model not in ("mclp", "lscp"):
        raise ValueError("model must be 'mclp' or 'lscp'")
    A = _binary_csr(A)
    w = np.asarray(weights, dtype=float)
    if w.shape != (A.shape[0],):
        raise ValueError("weights must have one entry per row of A")
    need = (w > 0) if required is None else np.asarray(required, bool)
    reach = np.diff(A.indptr) > 0
    unreachable = np.flatnonzero(need & ~reach)
    rows = np.flatnonzero(need & reach)
    M, mw = A[rows], w[rows]
    cols = np.arange(A.shape[1])
    stats = {"rows_in": int(A.shape[0]), "cols_in": int(A.shape[1]), "rows_needed": int(len(rows)),
             "cols_empty": 0, "cols_dominated": 0, "rows_dominated": 0, "passes": 0}
    changed = True
    while changed and stats["passes"] < 20:
        stats["passes"] += 1
        changed = False
        M, mw = _aggregate_rows(M, mw)
        used = np.diff(M.tocsc().indptr) > 0
        if not used.all():
            stats["cols_empty"] += int((~used).sum())
            M, cols, changed = M[:, np.flatnonzero(used)], cols[used], True
        if dominance and M.shape[1] > 1:
            inc = _inclusions(M)
            if inc is not None:
                a, b, size = inc
                drop = np.zeros(M.shape[1], bool)
                drop[a[(size[b] > size[a]) | (b < a)]] = True
                if drop.any():
                    stats["cols_dominated"] += int(drop.sum())
                    M, cols, changed = M[:, np.flatnonzero(~drop)], cols[~drop], True
        if model == "lscp" and dominance and M.shape[0] > 1:
            M.sort_indices()
            inc = _inclusions(sp.csr_matrix(M.T))
            if inc is not None:
                a, b, size = inc
                drop = np.zeros(M.shape[0], bool)
                drop[b[(size[b] > size[a]) | (a < b)]] = True
                if drop.any():
                    stats["rows_dominated"] += int(drop.sum())
                    keep = np.flatnonzero(~drop)
                    M, mw, changed = M[keep], mw[keep], True
        M = sp.csr_matrix(M)
        M.sort_indices()
    stats["rows_out"], stats["cols_out"] = int(M.shape[0]), int(M.shape[1])
    return Reduction(A=M, weight=mw, columns=cols, unreachable=unreachable, stats=stats)


@dataclass(frozen=True, eq=False)
class SolveResult:
    """One solve. ``chosen``: candidate (column) indices of the original matrix, in the order a greedy pass
    over them adds people, with ``gains`` the weight each newly covers in that order. ``objective``:
    weight covered (MCLP) or number of sites (LSCP). ``status``: ``optimal``, ``time_limit``,
    ``heuristic`` (greedy) or a HiGHS status. ``mip_gap``: HiGHS's relative gap (0 when proven optimal,
    NaN for greedy); ``bound``: its dual bound. ``solve_s``: HiGHS run time; ``total_s``: reduction,
    model build and solve."""

    model: str
    method: str
    chosen: np.ndarray
    gains: np.ndarray
    objective: float
    covered_weight: float
    status: str
    mip_gap: float
    bound: float
    solve_s: float
    total_s: float
    unreachable: np.ndarray
    reduced_rows: int
    reduced_cols: int
    stats: Mapping[str, int] = field(default_factory=dict)


def greedy_order(A: sp.spmatrix, weights: np.ndarray, chosen: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Order ``chosen`` columns greedily (largest marginal weight first) and give each one's marginal gain;
    columns adding nothing come last with gain 0."""
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return chosen, np.zeros(0)
    sub = sp.csc_matrix(A)[:, chosen]
    order, gains = _greedy(sub, np.asarray(weights, float), len(chosen), stop_at_zero=False)
    return chosen[order], gains


def _greedy(A: sp.spmatrix, w: np.ndarray, k: int | None, stop_at_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Greedy max-coverage: up to ``k`` columns (None: until no gain), ties to the lowest index."""
    csc = sp.csc_matrix(A, dtype=np.float64)
    csc.data[:] = 1.0
    csr = csc.tocsr()
    rem = np.asarray(w, dtype=float).copy()
    rem[rem < 0] = 0.0
    gains = csr.T @ rem
    picked = np.zeros(csc.shape[1], bool)
    order, marg = [], []
    limit = csc.shape[1] if k is None else min(int(k), csc.shape[1])
    while len(order) < limit:
        cand = np.where(picked, -np.inf, gains)
        j = int(np.argmax(cand))
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        rows = rows[rem[rows] > 0]
        g = float(rem[rows].sum())
        if g <= 0 and stop_at_zero:
            break
        if len(rows):
            gains = gains - csr[rows].T @ rem[rows]
            rem[rows] = 0.0
        picked[j] = True
        order.append(j)
        marg.append(g)
    return np.asarray(order, dtype=np.int64), np.asarray(marg, dtype=float)


def _covered_weight(A: sp.csc_matrix, w: np.ndarray, chosen: np.ndarray) -> float:
    if len(chosen) == 0:
        return 0.0
    hit = np.asarray(sp.csc_matrix(A)[:, chosen].sum(axis=1)).ravel() > 0
    return float(np.asarray(w, float)[hit].sum())


def greedy_mclp(A: sp.spmatrix, weights: np.ndarray, k: int) -> SolveResult:
    """Greedy MCLP: repeatedly add the candidate covering the most still-uncovered weight (instant; a
    (1 - 1/e) approximation). Stops early when no candidate adds anything."""
    t0 = time.perf_counter()
    w = np.asarray(weights, float)
    order, gains = _greedy(A, w, k)
    reach = np.diff(sp.csr_matrix(A).indptr) > 0
    total = time.perf_counter() - t0
    cov = float(gains.sum())
    return SolveResult(model="mclp", method="greedy", chosen=order, gains=gains, objective=cov, covered_weight=cov,
                       status="heuristic", mip_gap=math.nan, bound=math.nan, solve_s=total, total_s=total,
                       unreachable=np.flatnonzero((w > 0) & ~reach), reduced_rows=int(A.shape[0]),
                       reduced_cols=int(A.shape[1]))


def greedy_lscp(A: sp.spmatrix, required: np.ndarray, weights: np.ndarray | None = None) -> SolveResult:
    """Greedy set cover: add the candidate covering the most still-uncovered required rows until every
    reachable required row is covered. Sites are then reported in order of ``weights`` newly covered."""
    t0 = time.perf_counter()
    req = np.asarray(required, bool)
    w = req.astype(float) if weights is None else np.asarray(weights, float)
    order, _ = _greedy(A, req.astype(float), None)
    order, gains = greedy_order(A, np.where(req, w, 0.0), order)
    reach = np.diff(sp.csr_matrix(A).indptr) > 0
    total = time.perf_counter() - t0
    return SolveResult(model="lscp", method="greedy", chosen=order, gains=gains, objective=float(len(order)),
                       covered_weight=_covered_weight(A, np.where(req, w, 0.0), order), status="heuristic",
                       mip_gap=math.nan, bound=math.nan, solve_s=total, total_s=total,
                       unreachable=np.flatnonzero(req & ~reach), reduced_rows=int(A.shape[0]),
                       reduced_cols=int(A.shape[1]))


def _highs(lp: highspy.HighsLp, time_limit_s: float, mip_rel_gap: float, start: np.ndarray | None,
           threads: int | None) -> tuple[np.ndarray | None, str, float, float, float]:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(v) for v in start]
        h.setSolution(sol)
    t0 = time.perf_counter()
    h.run()
    solve_s = time.perf_counter() - t0
    status = h.getModelStatus()
    info = h.getInfo()
    names = {highspy.HighsModelStatus.kOptimal: "optimal", highspy.HighsModelStatus.kTimeLimit: "time_limit",
             highspy.HighsModelStatus.kInfeasible: "infeasible"}
    label = names.get(status, h.modelStatusToString(status))
    col = np.asarray(h.getSolution().col_value, dtype=float) if info.primal_solution_status else None
    return col, label, float(info.mip_gap), float(info.mip_dual_bound), solve_s


def _lp(cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, integer: np.ndarray, matrix: sp.csc_matrix,
        row_lower: np.ndarray, row_upper: np.ndarray, maximize: bool) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(matrix.shape[1]), int(matrix.shape[0])
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer]
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    return lp


def solve_mclp(A: sp.spmatrix, weights: np.ndarray, k: int, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
               mip_rel_gap: float = 0.0, reduce: bool = True, threads: int | None = None) -> SolveResult:
    """Exact MCLP: choose at most ``k`` columns of ``A`` maximising the weight of rows covered.

    Model (on the reduced problem): maximise sum_i w_i x_i subject to x_i <= sum_j a_ij y_j,
    sum_j y_j <= k, y_j binary, 0 <= x_i <= 1 (x_i is 0/1 at any optimum since y is). Solved by HiGHS
    from the greedy solution as a start, with ``time_limit_s``; ``mip_rel_gap=0`` asks for a proof.
    """
    t0 = time.perf_counter()
    if k < 0:
        raise ValueError("k must be >= 0")
    w = np.asarray(weights, float)
    red = reduce_problem(A, w, "mclp", dominance=reduce)
    M, mw, cols = red.A, red.weight, red.columns
    r, c = M.shape
    solve_s, gap, bound = 0.0, 0.0, math.nan
    if k == 0 or r == 0 or c == 0:
        picked, status = np.zeros(0, np.int64), "optimal"
    elif c <= k:
        picked, status = np.arange(c), "optimal"
    else:
        g_order, _ = _greedy(M, mw, k)
        csc = sp.csc_matrix(M)
        cover = sp.hstack([-csc, sp.identity(r, format="csc")], format="csc")
        card = sp.csr_matrix(np.concatenate([np.ones(c), np.zeros(r)])[None, :])
        matrix = sp.vstack([cover, card], format="csc")
        lp = _lp(np.concatenate([np.zeros(c), mw]), np.zeros(c + r), np.ones(c + r),
                 np.r_[np.ones(c, bool), np.zeros(r, bool)], matrix,
                 np.full(r + 1, -highspy.kHighsInf), np.r_[np.zeros(r), float(k)], maximize=True)
        start = np.zeros(c + r)
        start[g_order] = 1.0
        start[c:] = (np.asarray(csc[:, g_order].sum(axis=1)).ravel() > 0).astype(float)
        col, status, gap, bound, solve_s = _highs(lp, time_limit_s, mip_rel_gap, start, threads)
        picked = np.flatnonzero(col[:c] > 0.5) if col is not None else g_order
    chosen, gains = greedy_order(A, w, cols[picked])
    keep = gains > 0
    chosen, gains = chosen[keep], gains[keep]
    cov = float(gains.sum())
    return SolveResult(model="mclp", method="highs", chosen=chosen, gains=gains, objective=cov, covered_weight=cov,
                       status=status, mip_gap=0.0 if status == "optimal" and not gap > 0 else gap,
                       bound=bound if not math.isnan(bound) else cov, solve_s=solve_s,
                       total_s=time.perf_counter() - t0, unreachable=red.unreachable, reduced_rows=r, reduced_cols=c,
                       stats=red.stats)


def solve_lscp(A: sp.spmatrix, required: np.ndarray, weights: np.ndarray | None = None,
               time_limit_s: float = DEFAULT_TIME_LIMIT_S, mip_rel_gap: float = 0.0, reduce: bool = True,
               threads: int | None = None) -> SolveResult:
    """Exact LSCP: the fewest columns covering every ``required`` row that some column reaches.

    Required rows no column reaches are returned in ``unreachable``, not forced. Model: minimise sum y_j
    subject to sum_j a_ij y_j >= 1 for the reduced rows, y_j binary; HiGHS from the greedy cover.
    ``weights`` (e.g. population) only order the reported sites by people newly covered.
    """
    t0 = time.perf_counter()
    req = np.asarray(required, bool)
    w = req.astype(float) if weights is None else np.asarray(weights, float)
    red = reduce_problem(A, req.astype(float), "lscp", required=req, dominance=reduce)
    M, cols = red.A, red.columns
    r, c = M.shape
    solve_s, gap, bound = 0.0, 0.0, math.nan
    if r == 0:
        picked, status = np.zeros(0, np.int64), "optimal"
    else:
        g_order, _ = _greedy(M, np.ones(r), None)
        csc = sp.csc_matrix(M, dtype=float)
        lp = _lp(np.ones(c), np.zeros(c), np.ones(c), np.ones(c, bool), csc, np.ones(r),
                 np.full(r, highspy.kHighsInf), maximize=False)
        start = np.zeros(c)
        start[g_order] = 1.0
        col, status, gap, bound, solve_s = _highs(lp, time_limit_s, mip_rel_gap, start, threads)
        picked = np.flatnonzero(col > 0.5) if col is not None else g_order
    chosen, gains = greedy_order(A, np.where(req, w, 0.0), cols[picked])
    return SolveResult(model="lscp", method="highs", chosen=chosen, gains=gains, objective=float(len(chosen)),
                       covered_weight=_covered_weight(A, np.where(req, w, 0.0), chosen), status=status,
                       mip_gap=0.0 if status == "optimal" and not gap > 0 else gap,
                       bound=bound if not math.isnan(bound) else float(len(chosen)), solve_s=solve_s,
                       total_s=time.perf_counter() - t0, unreachable=red.unreachable, reduced_rows=r, reduced_cols=c,
                       stats=red.stats)


# --------------------------------------------------------------------------------------------- geometry layer
@dataclass(frozen=True, eq=False)
class SitingInstance:
    """Everything a siting run needs, built once: demand, the existing stations offering ``service``,
    candidates, the coverage matrix ``A`` (demand × candidates), what is already covered, and
    ``weight`` (population not yet covered; 0 where an existing station already reaches)."""

    demand: Demand
    stations: StationSet
    candidates: Candidates
    service: str | None
    radius_m: float
    A: sp.csc_matrix
    covered_before: np.ndarray
    weight: np.ndarray
    build_s: float


def prepare_siting(demand: Demand, stations: StationSet, candidates: Candidates,
                   radius_m: float = DEFAULT_RADIUS_M, service: str | None = "appeal") -> SitingInstance:
    """Coverage by the existing stations and the demand × candidate matrix for one service and radius."""
    t0 = time.perf_counter()
    existing = stations.for_service(service)
    cov = compute_coverage(demand, existing, None, radius_m)
    A = coverage_matrix(demand.xy, candidates.xy, radius_m, tree=demand.tree)
    weight = np.where(cov.covered, 0.0, demand.population)
    return SitingInstance(demand=demand, stations=existing, candidates=candidates, service=service,
                          radius_m=float(radius_m), A=A, covered_before=cov.covered, weight=weight,
                          build_s=time.perf_counter() - t0)


def _json_value(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass(eq=False)
class SitingScenario:
    """A siting result ready to show and export: ``summary`` (figures), ``sites`` (one row per new site, in
    the order chosen, with people newly covered and the nearest existing station) and ``unreachable``
    (uncovered populated demand no candidate reaches)."""

    model: str
    method: str
    service: str | None
    radius_m: float
    k: int | None
    result: SolveResult
    summary: dict[str, object]
    sites: pd.DataFrame
    unreachable: pd.DataFrame

    def to_geojson(self) -> str:
        """A FeatureCollection (lon/lat) of the sites (``kind: site``) and unreachable demand points
        (``kind: unreachable``), with the summary as a foreign member ``summary``."""
        feats = []
        for kind, df in (("site", self.sites), ("unreachable", self.unreachable)):
            for rec in df.to_dict("records"):
                props = {"kind": kind, **{k: _json_value(v) for k, v in rec.items()}}
                feats.append({"type": "Feature", "properties": props,
                              "geometry": {"type": "Point", "coordinates": [props["lon"], props["lat"]]}})
        doc = {"type": "FeatureCollection", "summary": {k: _json_value(v) for k, v in self.summary.items()},
               "features": feats}
        return json.dumps(doc, ensure_ascii=False)

    def to_csv(self) -> bytes:
        """The sites table as UTF-8 CSV (with BOM for Excel)."""
        return to_csv_bytes(self.sites)

    def to_xlsx(self) -> bytes:
        """A workbook with sheets summary, sites, unreachable."""
        summ = pd.DataFrame({"item": list(self.summary), "value": [str(_json_value(v)) for v in self.summary.values()]})
        return to_xlsx_bytes({"summary": summ, "sites": self.sites, "unreachable": self.unreachable})

    def apply_to(self, stations: StationSet) -> StationSet:
        """``stations`` plus the new sites as stations offering this scenario's service (for a what-if)."""
        if self.sites.empty:
            return stations
        services = [self.service] if self.service else list(SERVICES)
        codes = [f"PLAN-{i:03d}" for i in self.sites["order"]]
        return stations.add(self.sites["lon"].to_numpy(), self.sites["lat"].to_numpy(), code=codes,
                            name=[f"规划站点{i}" for i in self.sites["order"]], services=services)


def _scenario(inst: SitingInstance, res: SolveResult, k: int | None) -> SitingScenario:
    d, c = inst.demand, inst.candidates
    pop = d.population
    unit = d.unit_label
    chosen = res.chosen
    # Marginal people and points newly covered, in the reported order.
    covered = inst.covered_before.copy()
    A = inst.A
    gain_pop, gain_pts = [], []
    for j in chosen:
        rows = A.indices[A.indptr[j]:A.indptr[j + 1]]
        new = rows[~covered[rows]]
        gain_pop.append(float(pop[new].sum()))
        gain_pts.append(len(new))
        covered[new] = True
    total = float(pop.sum())
    before = float(pop[inst.covered_before].sum())
    cum = before + np.cumsum(gain_pop) if len(gain_pop) else np.zeros(0)
    sites = pd.DataFrame({
        "order": np.arange(1, len(chosen) + 1), "candidate_id": c.id[chosen], "source": c.source[chosen],
        "lon": c.lon[chosen], "lat": c.lat[chosen], "gain_population": np.asarray(gain_pop),
        f"gain_{unit}": np.asarray(gain_pts, dtype=np.int64), "cumulative_population": cum,
        "population_share_after": cum / total if total else np.full(len(cum), np.nan)})
    if d.integer_population:
        for col in ("gain_population", "cumulative_population"):
            sites[col] = np.rint(sites[col].to_numpy(float)).astype(np.int64)
    if len(inst.stations) and len(chosen):
        dist, idx = cKDTree(inst.stations.xy).query(c.xy[chosen])
        sites["nearest_station_code"] = inst.stations.code[idx]
        sites["nearest_station_name"] = inst.stations.name[idx]
        sites["nearest_station_m"] = np.round(dist, 1)
    else:
        sites["nearest_station_code"] = pd.Series([None] * len(chosen), dtype=object)
        sites["nearest_station_name"] = pd.Series([None] * len(chosen), dtype=object)
        sites["nearest_station_m"] = np.full(len(chosen), np.nan)
    reach = np.diff(sp.csr_matrix(A).indptr) > 0
    unr = np.flatnonzero(~covered & ~reach & (pop > 0))
    unreachable = pd.DataFrame({"code": d.code[unr], "lon": d.lon[unr], "lat": d.lat[unr],
                                "population": np.rint(pop[unr]).astype(np.int64) if d.integer_population else pop[unr],
                                "grid_code": np.where(d.level_idx["grid"][unr] >= 0,
                                                      d.units["grid"]["code"].to_numpy()[
                                                          np.maximum(d.level_idx["grid"][unr], 0)]
                                                      if len(d.units["grid"]) else None, None)})
    after = float(pop[covered].sum())
    summary: dict[str, object] = {
        "model": res.model, "method": res.method, "service": inst.service or "any", "radius_m": inst.radius_m,
        "k": k, "sites": len(chosen), "status": res.status, "objective": res.objective, "mip_gap": res.mip_gap,
        "bound": res.bound, "solve_s": round(res.solve_s, 4), "total_s": round(res.total_s, 4),
        "demand_points": len(d), "candidates": len(c), "existing_stations": len(inst.stations),
        "model_rows": res.reduced_rows, "model_cols": res.reduced_cols,
        "population_total": total, "population_covered_before": before, "population_covered_after": after,
        "population_gained": after - before,
        "population_share_before": before / total if total else math.nan,
        "population_share_after": after / total if total else math.nan,
        "unreachable_population": float(pop[unr].sum()), f"unreachable_{unit}": len(unr),
    }
    return SitingScenario(model=res.model, method=res.method, service=inst.service, radius_m=inst.radius_m, k=k,
                          result=res, summary=summary, sites=sites, unreachable=unreachable)


def plan_mclp(inst: SitingInstance, k: int, method: str = "exact",
              time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> SitingScenario:
    """k new sites covering the most people not yet within reach (``method``: ``exact`` or ``greedy``)."""
    if method == "exact":
        res = solve_mclp(inst.A, inst.weight, k, time_limit_s=time_limit_s)
    elif method == "greedy":
        res = greedy_mclp(inst.A, inst.weight, k)
    else:
        raise ValueError("method must be 'exact' or 'greedy'")
    return _scenario(inst, res, k)


def plan_lscp(inst: SitingInstance, method: str = "exact",
              time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> SitingScenario:
    """The fewest new sites bringing every populated, not-yet-covered demand point that some candidate
    can reach within the radius; the rest is listed in ``unreachable``."""
    required = (inst.demand.population > 0) & ~inst.covered_before
    if method == "exact":
        res = solve_lscp(inst.A, required, inst.weight, time_limit_s=time_limit_s)
    elif method == "greedy":
        res = greedy_lscp(inst.A, required, inst.weight)
    else:
        raise ValueError("method must be 'exact' or 'greedy'")
    return _scenario(inst, res, None)


def siting_summary_frame(scenarios: Sequence[SitingScenario] | Mapping[str, SitingScenario]) -> pd.DataFrame:
    """Summaries of several scenarios side by side (one row each), e.g. greedy against exact."""
    items = scenarios.items() if isinstance(scenarios, Mapping) else enumerate(scenarios)
    return pd.DataFrame([{"scenario": str(name), **s.summary} for name, s in items])
