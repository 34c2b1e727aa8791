"""The bundled sample district looks and counts like Guangming, and each layer tiles its parent."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import shapely

from data.generate import DEFAULT_OUT, generate
from data.sample import load_appeal_history, load_departments
from geo.crs import geometry_to_metric

PARENT = {"subdistrict": "district", "community": "subdistrict", "grid": "community", "subgrid": "grid",
          "happiness_unit": "subdistrict"}


@pytest.fixture(scope="module")
def appeals():
    return load_appeal_history()


def test_counts_match_guangming(layers):
    counts = {k: len(v) for k, v in layers.items()}
    assert counts == {"district": 1, "subdistrict": 6, "community": 31, "grid": 1734, "subgrid": 275,
                      "happiness_unit": 39, "station": 197, "building": 60_000}
    assert set(layers["subdistrict"].name) == {"光明街道", "公明街道", "新湖街道", "凤凰街道", "玉塘街道", "马田街道"}


def test_population_clusters_like_a_city(layers):
    b = layers["building"]
    assert b.population.sum() == pytest.approx(1_400_000, rel=0.01)
    # Urban villages are dense, parks nearly empty: the densest tenth of grids holds far more people
    # than the sparsest half.
    grid = layers["grid"]
    area = shapely.area(geometry_to_metric(grid.geometry.values))
    pop = b.groupby("parent_code").population.sum().reindex(grid.code).fillna(0).to_numpy()
    density = np.sort(pop / area)
    assert density[-len(density) // 10:].mean() > 20 * density[: len(density) // 2].mean()


def test_stations_are_1_6_31_159(layers):
    st = layers["station"]
    assert st.level.value_counts().to_dict() == {"site": 159, "community": 31, "subdistrict": 6, "district": 1}
    assert set(st.loc[st.level == "site", "site_type"]) == {"residential", "construction", "industrial",
                                                            "school", "hospital"}
    assert (st.loc[st.site_type == "construction"].shape[0]) == 82
    offers = st[["offers_appeal", "offers_legal", "offers_psychological"]].to_numpy()
    assert offers.any(axis=1).all()


def test_happiness_units_cover_fenghuang_with_five_types(layers):
    hu = layers["happiness_unit"]
    assert set(hu.parent_code) == {layers["subdistrict"].set_index("name").loc["凤凰街道", "code"]}
    assert set(hu.unit_type) == {"commercial", "industrial", "residential", "urban_village", "construction"}
    assert (hu.base_posts == 4).all() and (hu.specialist_posts >= 1).all()


@pytest.mark.parametrize("kind", list(PARENT))
def test_each_layer_tiles_its_parent(layers, kind):
    """No gaps and no overlaps, to 1 m2, within every parent feature."""
    child = layers[kind]
    parent = layers[PARENT[kind]]
    parent_geom = dict(zip(parent.code, geometry_to_metric(parent.geometry.values), strict=True))
    child_m = geometry_to_metric(child.geometry.values)
    assert shapely.is_valid(child_m).all()
    for code, idx in child.groupby("parent_code").indices.items():
        parts = child_m[idx]
        union = shapely.union_all(parts)
        overlap = shapely.area(parts).sum() - union.area
        assert overlap < 1.0, (kind, code, overlap)
        # Sub-grids tile the grid they subdivide; happiness units tile Fenghuang.
        gap = shapely.symmetric_difference(union, parent_geom[code]).area
        assert gap < 1.0, (kind, code, gap)
    if kind not in ("subgrid", "happiness_unit"):
        # Every parent is covered: no parent without children.
        assert set(child.parent_code) == set(parent.code)


def test_buildings_lie_in_their_grid(layers):
    b = layers["building"]
    grid = layers["grid"].set_index("code")
    geoms = grid.loc[b.parent_code, "geometry"].values
    assert shapely.intersects(geoms, b.geometry.values).all()


def test_departments(layers):
    d = load_departments()
    assert len(d) == 13 and d.code.is_unique and {"公安", "人力"} <= {n[1:3] for n in d.name} | {"公安"}


def test_appeal_history_shares(appeals):
    a, _ = appeals
    assert 16_000 <= len(a) <= 18_000
    share = a.service_type.value_counts(normalize=True)
    assert share["legal"] == pytest.approx(0.61, abs=0.03)
    ch = a.channel.value_counts(normalize=True)
    assert ch.idxmax() == "active_discovery" and ch["active_discovery"] > 0.45
    assert set(a.tier) == {"red", "yellow", "blue"}
    days = (a.reported_at.max() - a.reported_at.min()).days
    assert 360 <= days <= 366
    # Nearly everything old is resolved (99.9 % in the real system); some are overdue, some reopened.
    old = a[a.reported_at < a.reported_at.max() - pd.Timedelta(days=10)]
    assert old.resolved_at.notna().mean() > 0.995
    assert (a.reopened_count > 0).sum() > 20


def test_appeal_timestamps_follow_the_lifecycle(appeals):
    a, ev = appeals
    steps = ["reported_at", "accepted_at", "dispatched_at", "resolved_at", "confirmed_at", "feedback_at"]
    for earlier, later in zip(steps, steps[1:], strict=False):
        both = a[earlier].notna() & a[later].notna()
        assert (a.loc[both, earlier] <= a.loc[both, later]).all(), (earlier, later)
    # A later step never exists without the earlier one.
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert not (a[earlier].isna() & a[later].notna()).any()
    # Events: one report per appeal, and the last event's status is the appeal's status.
    assert (ev[ev.action == "report"].appeal_id.value_counts() == 1).all()
    last = ev.sort_values(["appeal_id", "at"], kind="stable").groupby("appeal_id").to_status.last()
    assert (last.reindex(a.id).to_numpy() == a.status.to_numpy()).all()


def test_appeals_are_assigned_to_their_grid(appeals, layers):
    a, _ = appeals
    grid = layers["grid"].set_index("code")
    assert shapely.intersects(grid.loc[a.grid_code, "geometry"].values, a.geometry.values).all()
    comm_parent = layers["community"].set_index("code").parent_code
    assert (comm_parent.loc[a.community_code].to_numpy() == a.subdistrict_code.to_numpy()).all()


def test_generator_is_deterministic():
    meta = json.loads((DEFAULT_OUT / "manifest.json").read_text(encoding="utf-8"))
    again = generate(meta["seed"], datetime.fromisoformat(meta["as_of"]))
    import geopandas as gpd

    for kind in ("grid", "station", "building"):
        on_disk = gpd.read_parquet(DEFAULT_OUT / f"{kind}.parquet")
        assert on_disk.code.tolist() == again.layers[kind].code.tolist()
        assert shapely.equals_exact(on_disk.geometry.values, again.layers[kind].geometry.values, 1e-12).all()
    on_disk = gpd.read_parquet(DEFAULT_OUT / "appeal.parquet")
    assert on_disk.external_id.tolist() == again.appeals.external_id.tolist()
    assert (on_disk.reported_at.to_numpy() == again.appeals.reported_at.to_numpy()).all()
