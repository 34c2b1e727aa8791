"""Gathering risk (聚集隐患): many appeals, one place, one cause, a short time.

Two appeals are linked when they have the same category, lie within ``radius_m`` metres of each other
(planar distance in EPSG:4547, a cKDTree range query — never a buffer test) and were reported within
``window_hours`` of each other. A cluster is a connected group of linked appeals with at least
``min_count`` members (single linkage, so a cluster can grow along a chain of links; that is wanted:
a crew reporting over an afternoon is one event). Its tier is its highest member tier raised by
``tier_steps``, or red outright at ``red_count`` members (config/rules.toml [gathering]).

``find_clusters`` is a pure function of a frame: feed it open or recent appeals from
``Store.query_appeals`` and persist the result with ``Store.mark_gathering``. Screens do not cluster
again: ``marked_clusters`` reads the clusters back from the appeals so marked (their ``gathering_id``),
so what the wall shows is what intake and the simulator decided and recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import lonlat_to_metric, metric_to_lonlat
from services.config import rules
from services.tiers import TIER_RANK, TIERS, raise_tier

CLUSTER_COLUMNS = ("gathering_id", "category", "size", "lon", "lat", "first_at", "last_at", "tier")
# marked_clusters adds how far its farthest member lies from the centre (metres).
MARKED_COLUMNS = CLUSTER_COLUMNS + ("radius_m",)


def gathering_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [gathering] section of the rules."""
    return (cfg or rules())["gathering"]


def cluster_tier(member_tiers: pd.Series | list[str], size: int, cfg: dict[str, Any] | None = None) -> str:
    """Tier of a cluster: highest member tier raised by tier_steps; red at red_count members or more."""
    g = gathering_rules(cfg)
    if size >= g["red_count"]:
        return "red"
    top = max((TIER_RANK[t] for t in member_tiers), default=0)
    return raise_tier(TIERS[top], int(g["tier_steps"]))


def find_clusters(appeals: pd.DataFrame, cfg: dict[str, Any] | None = None,
                  ) -> tuple[pd.Series, pd.DataFrame]:
    """Clusters among ``appeals`` (columns id, category, lon, lat, reported_at, and tier if known).

    Returns (gathering id per row, aligned to the frame's index, -1 outside any cluster; the cluster
    table with CLUSTER_COLUMNS). A cluster's id is the smallest appeal id in it, so it is stable when the
    same appeals are clustered again.
    """
    g = gathering_rules(cfg)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS})
    if appeals.empty:
        return pd.Series(-1, index=appeals.index, dtype="int64"), empty
    x, y = lonlat_to_metric(appeals["lon"].to_numpy(float), appeals["lat"].to_numpy(float))
    t = pd.to_datetime(appeals["reported_at"], utc=True).astype("datetime64[ns, UTC]")
    t_ns = t.astype("int64").to_numpy()
    hours = t_ns / 3.6e12
    ids = appeals["id"].to_numpy(np.int64)
    tiers = appeals["tier"].to_numpy(object) if "tier" in appeals else np.full(len(appeals), "blue", object)
    cats = appeals["category"].to_numpy(object)
    labels = np.full(len(appeals), -1, dtype=np.int64)
    members_of: list[np.ndarray] = []
    for cat in pd.unique(cats):
        pos = np.flatnonzero(cats == cat)
        if len(pos) < g["min_count"]:
            continue
        pairs = cKDTree(np.column_stack([x[pos], y[pos]])).query_pairs(float(g["radius_m"]), output_type="ndarray")
        if len(pairs):
            pairs = pairs[np.abs(hours[pos[pairs[:, 0]]] - hours[pos[pairs[:, 1]]]) <= float(g["window_hours"])]
        if len(pairs) == 0:
            continue
        m = len(pos)
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
        _, comp = connected_components(graph, directed=False)
        sizes = np.bincount(comp)
        for c in np.flatnonzero(sizes >= g["min_count"]):
            members = pos[comp == c]
            labels[members] = ids[members].min()
            members_of.append(members)
    if not members_of:
        return pd.Series(labels, index=appeals.index), empty
    # Centroids of all clusters in one projection call.
    cx = np.array([x[mm].mean() for mm in members_of])
    cy = np.array([y[mm].mean() for mm in members_of])
    clon, clat = metric_to_lonlat(cx, cy)
    rows = [{"gathering_id": int(labels[mm[0]]), "category": cats[mm[0]], "size": len(mm),
             "lon": float(clon[k]), "lat": float(clat[k]),
             "first_at": pd.Timestamp(t_ns[mm].min(), tz="UTC"), "last_at": pd.Timestamp(t_ns[mm].max(), tz="UTC"),
             "tier": cluster_tier(list(tiers[mm]), len(mm), cfg)} for k, mm in enumerate(members_of)]
    labels = pd.Series(labels, index=appeals.index)
    table = pd.DataFrame(rows, columns=list(CLUSTER_COLUMNS)).sort_values("gathering_id").reset_index(drop=True)
    for col in ("first_at", "last_at"):
        table[col] = pd.to_datetime(table[col], utc=True).dt.tz_convert("Asia/Shanghai")
    return labels, table


def marked_clusters(appeals: pd.DataFrame) -> pd.DataFrame:
    """The clusters the marks describe: one row per ``gathering_id`` among ``appeals`` (columns id,
    category, lon, lat, reported_at, gathering_id, and gathering_tier / tier when known), with
    MARKED_COLUMNS. The centre is the members' mean in EPSG:4547, ``radius_m`` the distance of the
    farthest member from it, ``category`` the members' most frequent one (ties: the first in order),
    ``tier`` the recorded gathering tier (else the highest member tier). Appeals without a mark count
    for nothing, however close together they lie; ordered by gathering id."""
    cols = list(MARKED_COLUMNS)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    if appeals.empty or "gathering_id" not in appeals:
        return empty
    gid = pd.to_numeric(appeals["gathering_id"], errors="coerce")
    marked = appeals[gid.notna() & (gid >= 0)].copy()
    if marked.empty:
        return empty
    marked["gathering_id"] = gid[marked.index].astype("int64")
    x, y = lonlat_to_metric(marked["lon"].to_numpy(float), marked["lat"].to_numpy(float))
    marked["_x"], marked["_y"] = x, y
    marked["_t"] = pd.to_datetime(marked["reported_at"], utc=True)
    rows = []
    for g, m in marked.sort_values(["gathering_id", "id"]).groupby("gathering_id", sort=True):
        cx, cy = float(m["_x"].mean()), float(m["_y"].mean())
        radius = float(np.hypot(m["_x"].to_numpy() - cx, m["_y"].to_numpy() - cy).max())
        recorded = [v for v in m.get("gathering_tier", pd.Series(dtype=object)) if isinstance(v, str) and v]
        tiers = recorded or [v for v in m.get("tier", pd.Series(dtype=object)) if isinstance(v, str) and v]
        top = max((TIER_RANK[t] for t in tiers if t in TIER_RANK), default=0)
        rows.append({"gathering_id": int(g), "category": m["category"].value_counts(sort=True).index[0],
                     "size": len(m), "cx": cx, "cy": cy, "first_at": m["_t"].min(), "last_at": m["_t"].max(),
                     "tier": TIERS[top], "radius_m": round(radius, 1)})
    table = pd.DataFrame(rows)
    lon, lat = metric_to_lonlat(table.pop("cx").to_numpy(), table.pop("cy").to_numpy())
    table["lon"], table["lat"] = lon, lat
    for col in ("first_at", "last_at"):
        table[col] = pd.to_datetime(table[col], utc=True).dt.tz_convert("Asia/Shanghai")
    return table[cols].reset_index(drop=True)
