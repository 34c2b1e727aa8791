"""Siting runs for the planners: candidate sites (buildings, grids, typed or clicked points, uploads),
greedy solves at once and exact ones in a background thread with a time limit, and the proposed
sites as a table and as what-if edits.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo.assign import index_for
from geo.coverage import SERVICES, StationSet
from geo.siting import (
    Candidates,
    SitingInstance,
    SitingScenario,
    candidates_from_buildings,
    candidates_from_grids,
    candidates_from_points,
    concat_candidates,
    plan_lscp,
    plan_mclp,
    prepare_siting,
    read_candidate_table,
)
from services import district
from services.i18n import label, t
from services.planning.base import demand, district_bounds, english_names
from services.planning.options import (
    DEFAULT_BUILDING_CANDIDATES,
    DEFAULT_K,
    K_MAX,
    MODELS,
    TIME_LIMIT_DEFAULT_S,
    TIME_LIMIT_MAX_S,
    PlanningError,
    check_radius,
    service_key,
)
from services.planning.whatif import Edit
from services.store.base import Store


def read_table(filename: str, data: bytes) -> pd.DataFrame:
    """An uploaded CSV (UTF-8 or GBK) or xlsx table."""
    name = filename.lower()
    try:
        if name.endswith((".xlsx", ".xlsm", ".xls")):
            return pd.read_excel(io.BytesIO(data))
        for enc in ("utf-8-sig", "gb18030"):
            try:
                return pd.read_csv(io.BytesIO(data), encoding=enc)
            except UnicodeDecodeError:
                continue
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file, say so
        raise PlanningError("planning.err_file", error=str(exc)[:200]) from None
    raise PlanningError("planning.err_file", error="encoding")


def parse_points(text: str) -> pd.DataFrame:
    """``lon,lat`` per line (comma, space, tab or full-width comma), as a lon/lat table; bad lines are
    kept (as NaN) so that :func:`read_candidate_table` reports them."""
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace("，", ",").replace("\t", ",").replace(" ", ",").split(",")
        parts = [p for p in parts if p]
        rows.append({"lon": parts[0] if parts else None, "lat": parts[1] if len(parts) > 1 else None,
                     "line": line})
    return pd.DataFrame(rows, columns=["lon", "lat", "line"])


def build_candidates(source: str, *, n_buildings: int = DEFAULT_BUILDING_CANDIDATES, seed: int = 0,
                     clicked: Sequence[tuple[float, float]] = (), points_text: str = "",
                     table: pd.DataFrame | None = None, system: str = "wgs84",
                     store: Store) -> tuple[Candidates, pd.DataFrame]:
    """Candidate sites from ``source`` and the rejected input rows (with a reason).

    ``buildings``: a fixed-seed sample of ``n_buildings`` building points; ``grids``: grid centroids;
    ``points``: points clicked on the map (WGS84) plus ``points_text`` lines in ``system``; ``upload``:
    a table with lon/lat columns in ``system``. Points outside the district's bounding box are rejected.
    """
    L = {**district.layers(), "building": district.points(store, "building")}
    empty = pd.DataFrame(columns=["reason"])
    if source == "buildings":
        cands, rejected = candidates_from_buildings(L["building"], n=int(n_buildings), seed=seed), empty
    elif source == "grids":
        cands, rejected = candidates_from_grids(L["grid"]), empty
    elif source == "points":
        parts, rejected = [], empty
        if clicked:
            lon, lat = zip(*clicked, strict=True)
            parts.append(candidates_from_points(np.asarray(lon), np.asarray(lat), source="user",
                                                ids=[f"click-{i + 1}" for i in range(len(clicked))]))
        typed = parse_points(points_text)
        if len(typed):
            c, rejected = read_candidate_table(typed, system=system, bounds=district_bounds())
            parts.append(Candidates(id=np.asarray([f"point-{i}" for i in c.id], dtype=object),
                                    source=np.full(len(c), "user", dtype=object), lon=c.lon, lat=c.lat,
                                    x=c.x, y=c.y))
        cands = concat_candidates(*parts) if parts else candidates_from_points(np.zeros(0), np.zeros(0))
    elif source == "upload":
        if table is None:
            raise PlanningError("planning.err_no_file")
        try:
            cands, rejected = read_candidate_table(table, system=system, bounds=district_bounds())
        except ValueError as exc:
            raise PlanningError("planning.err_file", error=str(exc)[:200]) from None
    else:
        raise PlanningError("planning.err_source", source=source)
    if len(cands) == 0:
        raise PlanningError("planning.err_no_candidates")
    return cands, rejected


def prepare(stations: StationSet, service: str | None, radius_m: float, candidates: Candidates, *,
            store: Store) -> SitingInstance:
    """The siting instance for the current network (what-if edits included), service and radius."""
    return prepare_siting(demand(store=store), stations, candidates, check_radius(radius_m), service_key(service))


def solve(inst: SitingInstance, model: str = "mclp", k: int = DEFAULT_K, method: str = "greedy",
          time_limit_s: float = TIME_LIMIT_DEFAULT_S) -> SitingScenario:
    """One siting run: ``mclp`` (k new sites covering the most people not yet within reach) or ``lscp``
    (the fewest new sites reaching every reachable building), ``greedy`` (instant) or ``exact`` (HiGHS)."""
    if model not in MODELS:
        raise PlanningError("planning.err_model", model=model)
    limit = float(min(max(time_limit_s, 1.0), TIME_LIMIT_MAX_S))
    if model == "mclp":
        if not (1 <= int(k) <= K_MAX):
            raise PlanningError("planning.err_k", hi=K_MAX)
        return plan_mclp(inst, int(k), method=method, time_limit_s=limit)
    return plan_lscp(inst, method=method, time_limit_s=limit)


class ExactRun:
    """An exact solve running in a background thread, so that a page can show the greedy answer and a
    progress bar meanwhile: ``done()``, ``fraction()`` (elapsed share of the time limit), ``result()``."""

    def __init__(self, inst: SitingInstance, model: str = "mclp", k: int = DEFAULT_K,
                 time_limit_s: float = TIME_LIMIT_DEFAULT_S) -> None:
        self.time_limit_s = float(min(max(time_limit_s, 1.0), TIME_LIMIT_MAX_S))
        self._result: SitingScenario | None = None
        self._error: BaseException | None = None
        self._t0 = time.perf_counter()

        def work() -> None:
            try:
                self._result = solve(inst, model, k, "exact", self.time_limit_s)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                self._error = exc

        self._thread = threading.Thread(target=work, name="siting-exact", daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def fraction(self) -> float:
        """Elapsed share of the time limit, below 1 until the solve ends."""
        return 1.0 if self.done() else min(self.elapsed() / self.time_limit_s, 0.99)

    def result(self, timeout: float | None = None) -> SitingScenario:
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise TimeoutError("exact siting run still going")
        return self._result


def sites_table(scenario: SitingScenario, lang: str, *, store: Store) -> pd.DataFrame:
    """Proposed sites in ``lang``: rank, where (lon/lat, community, subdistrict), people newly covered (its
    marginal gain in the order chosen), cumulative share, and the nearest existing station."""
    s = scenario.sites
    L = district.layers()
    where = {}
    for level in ("community", "subdistrict"):
        idx = index_for(L[level]).locate(s["lon"].to_numpy(float), s["lat"].to_numpy(float)) if len(s) else \
            np.zeros(0, int)
        names = L[level]["name"].astype(str).to_numpy()
        en = english_names(level)
        codes = L[level]["code"].astype(str).to_numpy()
        where[level] = [("" if i < 0 else (names[i] if lang == "zh" else en.get(codes[i], names[i]))) for i in idx]
    return pd.DataFrame({
        t("planning.col_rank", lang): s["order"].to_numpy(),
        t("planning.col_lon", lang): np.round(s["lon"].to_numpy(float), 6),
        t("planning.col_lat", lang): np.round(s["lat"].to_numpy(float), 6),
        t("planning.col_community", lang): where["community"],
        t("planning.col_subdistrict", lang): where["subdistrict"],
        t("planning.col_gain", lang): s["gain_population"].to_numpy(),
        t("planning.col_gain_buildings", lang): s[f"gain_{demand(store=store).unit_label}"].to_numpy(),
        t("planning.col_share_after", lang): np.round(s["population_share_after"].to_numpy(float) * 100, 2),
        t("planning.col_nearest", lang): s["nearest_station_name"].to_numpy(),
        t("planning.col_nearest_m", lang): s["nearest_station_m"].to_numpy(),
        t("planning.col_candidate", lang): s["candidate_id"].to_numpy(),
    })


def status_label(status: str, lang: str) -> str:
    """A solver status in words (``optimal``, ``time_limit``, ``heuristic``; others as HiGHS says)."""
    return label("planning.solver", status, lang)


def scenario_edits(scenario: SitingScenario) -> tuple[Edit, ...]:
    """The proposed sites as what-if ``add`` edits offering the scenario's service (every service for
    ``any``), so the planner can put them on the map and keep editing."""
    services = (scenario.service,) if scenario.service else SERVICES
    return tuple(Edit("add", lon=float(lo), lat=float(la), name=f"规划站点{int(o)}", services=services)
                 for o, lo, la in zip(scenario.sites["order"], scenario.sites["lon"], scenario.sites["lat"],
                                      strict=True))
