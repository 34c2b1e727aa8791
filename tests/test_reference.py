"""Stations and buildings come from the store (services/reference.py): seeding writes the layer files'
points there (the sample's, or a user's own from GM_DATA_DIR), the district's screens read them back, and
what is derived from them is rebuilt when they are replaced, and only then."""

from __future__ import annotations

import pandas as pd
import pytest

from data import sample
from services import district, reference
from services.seed import seed_reference
from services.store.sqlite import SQLiteStore


@pytest.fixture()
def store(tmp_path):
    s = SQLiteStore(tmp_path / "ref.sqlite3")
    yield s
    reference.invalidate(s)
    s.close()


def _frame(gdf) -> pd.DataFrame:
    out = pd.DataFrame(gdf.drop(columns="geometry"))
    out["lon"], out["lat"] = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    return out


def test_the_screens_read_what_seeding_wrote(store, layers):
    seed_reference(store)
    assert reference.points(store, "building").code.tolist() == sorted(layers["building"].code.astype(str))
    ov = district.overview(store)
    assert (ov["stations"], ov["buildings"]) == (len(layers["station"]), len(layers["building"]))
    assert ov["population"] == int(layers["building"].population.sum())
    assert district.subdistrict_table(store, "zh")["stations"].sum() == len(layers["station"])
    ids = {layer.id for layer in district.base_layers(("station", "building"), "zh", store=store)}
    assert {"station", "building-density"} <= ids
    assert "station" not in district.layers() and "building" not in district.layers()


def test_replacing_the_points_changes_what_the_screens_show(store, layers):
    seed_reference(store)
    before = reference.version(store, "station")
    assert district.overview(store)["stations"] == len(layers["station"])
    first = district.names("station", "zh", store)
    assert reference.points(store, "station") is reference.points(store, "station")    # cached
    fewer = _frame(layers["station"]).head(5)
    reference.load_points(store, "station", fewer)                                      # what seeding does
    assert reference.version(store, "station") != before
    assert district.overview(store)["stations"] == 5
    assert set(district.names("station", "zh", store)) == set(fewer.code) and len(first) > 5
    recs = [layer for layer in district.base_layers(("station",), "en", store=store) if layer.id == "station"]
    assert len(recs[0].data) == 5 and recs[0].data[0]["name"] == layers["station"].set_index("code").loc[
        recs[0].data[0]["code"], "name_en"]


def test_a_change_by_another_process_is_seen_after_the_recheck(store, layers, monkeypatch):
    seed_reference(store)
    assert district.overview(store)["stations"] == len(layers["station"])
    store.load_points("station", _frame(layers["station"]).head(3))     # not through reference: unseen yet
    assert district.overview(store)["stations"] == len(layers["station"])
    monkeypatch.setattr(reference, "RECHECK_S", 0.0)
    assert district.overview(store)["stations"] == 3


def test_a_users_own_layers_are_imported_at_seeding(store, layers, tmp_path, monkeypatch):
    own = tmp_path / "own"
    own.mkdir()
    for kind in ("district", "subdistrict", "community", "grid"):
        layers[kind].to_parquet(own / f"{kind}.parquet")
    mine = layers["station"].head(4).copy()
    mine["name"] = [f"我的站点{i}" for i in range(4)]
    mine.to_parquet(own / "station.parquet")
    seed_reference(store)                                   # the sample first: its buildings are stored
    monkeypatch.setenv("GM_DATA_DIR", str(own))
    try:
        counts = seed_reference(store)
        assert counts["stations"] == 4 and "buildings" not in counts
        assert sorted(district.names("station", "zh", store).values()) == sorted(mine["name"])
        assert reference.points(store, "building").empty   # replaced: no sample building is left
        assert district.overview(store)["buildings"] == 0
    finally:
        sample._load.cache_clear()
