"""Gathering clusters on hand-placed points: metres are laid out in EPSG:4547, then stored as lon/lat."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geo.crs import lonlat_to_metric, metric_to_lonlat
from services.gathering import CLUSTER_COLUMNS, cluster_tier, find_clusters

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 1, 20, 9, 0, tzinfo=TZ)
SITE = lonlat_to_metric(np.array([113.93]), np.array([22.76]))  # a construction site in Guangming
X0, Y0 = float(SITE[0][0]), float(SITE[1][0])


def frame(rows: list[tuple]) -> pd.DataFrame:
    """rows of (id, category, dx metres, dy metres, hours after T0[, tier])."""
    ids, cats, dx, dy, hours = zip(*[r[:5] for r in rows], strict=True)
    lon, lat = metric_to_lonlat(X0 + np.array(dx, float), Y0 + np.array(dy, float))
    return pd.DataFrame({"id": ids, "category": cats, "lon": lon, "lat": lat,
                         "reported_at": [T0 + timedelta(hours=h) for h in hours],
                         "tier": [r[5] if len(r) > 5 else "blue" for r in rows]})


def test_three_wage_arrears_at_one_site_form_a_cluster():
    f = frame([(11, "wage_arrears", 0, 0, 0), (12, "wage_arrears", 80, 30, 2), (13, "wage_arrears", -50, 60, 9),
               (14, "noise", 10, 10, 1)])
    labels, table = find_clusters(f)
    assert labels.tolist() == [11, 11, 11, -1]
    assert list(table.columns) == list(CLUSTER_COLUMNS)
    row = table.iloc[0]
    assert (row.gathering_id, row.category, row["size"], row.tier) == (11, "wage_arrears", 3, "yellow")
    assert row.first_at == T0 and row.last_at == T0 + timedelta(hours=9)
    cx, cy = lonlat_to_metric(np.array([row.lon]), np.array([row.lat]))
    assert cx[0] - X0 == pytest.approx(10, abs=0.01) and cy[0] - Y0 == pytest.approx(30, abs=0.01)


def test_two_are_not_enough_and_causes_do_not_mix():
    assert (find_clusters(frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 5, 5, 1)]))[0] == -1).all()
    mixed = frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 5, 5, 1), (3, "labour_law", 9, 9, 2)])
    assert (find_clusters(mixed)[0] == -1).all()


def test_radius_is_a_distance_test_at_the_edge():
    # 299 m apart links, 301 m does not (radius 300 m).
    near = frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 299, 0, 1), (3, "wage_arrears", 0, 299, 2)])
    assert (find_clusters(near)[0] == 1).all()
    far = frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 301, 0, 1), (3, "wage_arrears", 0, 301, 2)])
    assert (find_clusters(far)[0] == -1).all()


def test_links_chain_within_the_window():
    # A-B 250 m, B-C 250 m, A-C 500 m: one cluster by single linkage.
    chain = frame([(5, "wage_arrears", 0, 0, 0), (6, "wage_arrears", 250, 0, 1), (7, "wage_arrears", 500, 0, 2)])
    assert (find_clusters(chain)[0] == 5).all()
    # The third report 73 h after the others is outside the 72 h window.
    late = frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 5, 0, 1), (3, "wage_arrears", 9, 0, 74)])
    assert (find_clusters(late)[0] == -1).all()
    exactly = frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 5, 0, 1), (3, "wage_arrears", 9, 0, 73)])
    assert (find_clusters(exactly)[0] == 1).all()


def test_cluster_tier_rises_and_is_red_at_ten():
    assert cluster_tier(["blue", "blue", "blue"], 3) == "yellow"
    assert cluster_tier(["blue", "yellow", "blue"], 3) == "red"
    assert cluster_tier(["blue"] * 10, 10) == "red"
    ten = frame([(i, "wage_arrears", i * 3, 0, i / 2) for i in range(1, 11)])
    labels, table = find_clusters(ten)
    assert (labels == 1).all() and table.tier.tolist() == ["red"] and table["size"].tolist() == [10]


def test_two_clusters_and_an_empty_frame():
    f = frame([(1, "wage_arrears", 0, 0, 0), (2, "wage_arrears", 5, 0, 1), (3, "wage_arrears", 9, 0, 2),
               (4, "wage_arrears", 2000, 0, 0), (5, "wage_arrears", 2005, 0, 1), (6, "wage_arrears", 2009, 0, 2,
                                                                                   "yellow")])
    labels, table = find_clusters(f)
    assert labels.tolist() == [1, 1, 1, 4, 4, 4]
    assert table.gathering_id.tolist() == [1, 4] and table.tier.tolist() == ["yellow", "red"]
    labels, table = find_clusters(f.iloc[:0])
    assert labels.empty and table.empty and list(table.columns) == list(CLUSTER_COLUMNS)
