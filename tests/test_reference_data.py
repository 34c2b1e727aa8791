"""Reference data on the data screen (issue 13 §4): departments, stations, users' areas, boundary layers.

Stations are placed on points of the sample district whose community is known from the sample's own
station file (ST-D-01 lies in community 440311004003, ST-S-02 in 440311002006), so the computed
community can be checked by hand; (113.70, 22.70) lies west of the district. Boundary imports write into
a temporary copy of the sample's layer folder (GM_DATA_DIR).
"""

from __future__ import annotations

import io
import shutil
from contextlib import contextmanager
from datetime import timedelta

import geopandas as gpd
import pandas as pd
import pytest

from data import sample
from services import access, audit, layer_import, reference, reference_data, seed
from services.access import Forbidden, Principal
from services.errors import NotFound, ValidationError
from services.planning import base
from tests.helpers import STORES, reset_store

ADMIN = Principal("adm", "admin")
DUTY = Principal("duty", "duty_officer")
DISPATCHER = Principal("disp", "community_dispatcher", "440311001001")


@contextmanager
def refused(key: str):
    """The block raises a ValidationError with the message key ``key``."""
    with pytest.raises(ValidationError) as caught:
        yield
    assert caught.value.key == f"error.{key}", caught.value.key


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


@pytest.fixture(scope="module")
def places(layers):
    st = layers["station"].set_index("code")
    return {c: (float(st.loc[c].geometry.x), float(st.loc[c].geometry.y), st.loc[c].parent_code)
            for c in ("ST-D-01", "ST-S-02")}


def _stations(store) -> list[str]:
    return reference.points(store, "station")["code"].tolist()


def _actions(store) -> list[str]:
    return store.audit_rows()["action"].tolist()


def test_a_station_is_added_moved_closed_and_reopened(store, places):
    x, y, community = places["ST-D-01"]
    added = reference_data.add_station(store, DUTY, code="ST-N-01", name="新站", name_en="New station",
                                       level="site", site_type="school", offers=["legal"], lon=x, lat=y)
    assert added["parent_code"] == community == "440311004003" and added["edited_by"] == "duty"
    assert added["offers_legal"] is True and added["offers_appeal"] is False
    assert _stations(store) == ["ST-N-01"]
    x2, y2, community2 = places["ST-S-02"]
    moved = reference_data.move_station(store, ADMIN, "ST-N-01", x2, y2)
    assert moved["parent_code"] == community2 == "440311002006" and (moved["lon"], moved["lat"]) == (x2, y2)
    reference_data.set_services(store, DUTY, "ST-N-01", {"appeal": True, "legal": False})
    assert base.base_stations(store=store).code.tolist() == ["ST-N-01"]

    closed = reference_data.close_station(store, DUTY, "ST-N-01", "楼宇拆除", reference_data.today() - timedelta(days=1))
    assert closed["close_reason"] == "楼宇拆除" and closed["closed_by"] == "duty"
    assert _stations(store) == []                                   # no screen counts it
    assert len(base.base_stations(store=store).code) == 0          # coverage and planning neither
    view = reference_data.stations(store, DUTY, "zh")
    assert view["state"].tolist() == ["closed"] and view["services"].tolist() == ["诉求服务"]
    with pytest.raises(ValidationError):                            # a closed station is not moved
        reference_data.move_station(store, DUTY, "ST-N-01", x, y)
    reference_data.reopen_station(store, DUTY, "ST-N-01")
    assert _stations(store) == ["ST-N-01"]
    assert _actions(store) == ["reference.station.add", "reference.station.move", "reference.station.services",
                               "reference.station.close", "reference.station.move.refused",
                               "reference.station.reopen"]


def test_bad_stations_are_refused_and_nothing_is_stored(store, places):
    x, y, _ = places["ST-D-01"]
    common = {"name": "站", "level": "community", "offers": ["appeal"]}
    with refused("station_outside_district"):
        reference_data.add_station(store, DUTY, code="OUT", lon=113.70, lat=22.70, **common)
    with refused("station_needs_service"):
        reference_data.add_station(store, DUTY, code="NONE", lon=x, lat=y, **{**common, "offers": []})
    with refused("station_needs_site_type"):
        reference_data.add_station(store, DUTY, code="SITE", lon=x, lat=y, **{**common, "level": "site"})
    reference_data.add_station(store, DUTY, code="A", lon=x, lat=y, **common)
    with refused("station_code_taken"):
        reference_data.add_station(store, DUTY, code="A", lon=x, lat=y, **common)
    with refused("station_outside_district"):
        reference_data.move_station(store, DUTY, "A", 113.70, 22.70)
    with refused("station_close_in_future"):
        reference_data.close_station(store, DUTY, "A", "原因", reference_data.today() + timedelta(days=1))
    with refused("station_close_needs_reason"):
        reference_data.close_station(store, DUTY, "A", "  ")
    with pytest.raises(NotFound):
        reference_data.reopen_station(store, DUTY, "NOPE")
    assert store.station_register()["code"].tolist() == ["A"] and store.station("A")["lon"] == x
    assert store.station("A")["closed_at"] is None


def test_departments_are_added_and_renamed_and_a_code_is_never_used_twice(store):
    store.load_departments(pd.DataFrame({"code": ["police"], "name": ["光明公安分局"], "name_en": ["Police"]}))
    assert reference_data.add_department(store, ADMIN, "water", "区水务局", "Water Bureau") == "water"
    with refused("department_code_taken"):
        reference_data.add_department(store, DUTY, "police", "另一个", "")
    with refused("department_code_invalid"):
        reference_data.add_department(store, DUTY, "Bad Code", "名", "")
    reference_data.rename_department(store, DUTY, "police", "公安分局", "Police Branch")
    reg = reference_data.departments(store, DUTY)
    assert reg[["code", "name", "name_en", "orders"]].values.tolist() == [
        ["police", "公安分局", "Police Branch", 0], ["water", "区水务局", "Water Bureau", 0]]
    from services import district
    assert district.names("department", "en", store) == {"police": "Police Branch", "water": "Water Bureau"}


def test_a_community_dispatcher_may_do_none_of_it(store, places):
    x, y, _ = places["ST-D-01"]
    reference_data.add_station(store, DUTY, code="A", name="站", level="community", offers=["appeal"], lon=x, lat=y)
    refused = [
        lambda: reference_data.departments(store, DISPATCHER),
        lambda: reference_data.add_department(store, DISPATCHER, "water", "水务", ""),
        lambda: reference_data.rename_department(store, DISPATCHER, "water", "水务", ""),
        lambda: reference_data.stations(store, DISPATCHER, "zh"),
        lambda: reference_data.add_station(store, DISPATCHER, code="B", name="站", level="community",
                                           offers=["appeal"], lon=x, lat=y),
        lambda: reference_data.move_station(store, DISPATCHER, "A", x, y),
        lambda: reference_data.set_services(store, DISPATCHER, "A", ["legal"]),
        lambda: reference_data.close_station(store, DISPATCHER, "A", "原因"),
        lambda: reference_data.reopen_station(store, DISPATCHER, "A"),
        lambda: reference_data.account_areas(store, DISPATCHER, "zh"),
        lambda: layer_import.preview(store, DISPATCHER, "grid", "grid.geojson", b"{}"),
        lambda: layer_import.apply(store, DISPATCHER, "grid", "grid.geojson", b"{}"),
    ]
    for call in refused:
        with pytest.raises(Forbidden):
            call()
    assert store.department_register().empty and store.station("A")["edited_by"] == "duty"
    assert not reference_data.may_change_areas(DUTY) and reference_data.may_change_areas(ADMIN)


def test_users_areas_read_by_name_for_both_roles(store):
    from services import accounts
    accounts.add_user(store, "c1", "community_dispatcher", area_code="440311001001", password="x" * 16)
    accounts.add_user(store, "d1", "duty_officer", password="x" * 16)
    for who in (ADMIN, DUTY):
        view = reference_data.account_areas(store, who, "zh")
        assert view[["name", "role", "area_code", "area", "state"]].values.tolist() == [
            ["c1", "community_dispatcher", "440311001001", "光明社区", "active"],
            ["d1", "duty_officer", None, "", "active"]]


def test_seeding_keeps_stations_and_department_names_edited_on_the_data_screen(store, places):
    counts = seed.seed_reference(store)
    assert counts["stations"] == len(sample.load_layers()["station"]) and counts["stations_kept"] == 0
    assert not store.reference_edited("station")
    x, y, _ = places["ST-S-02"]
    reference_data.move_station(store, DUTY, "ST-D-01", x, y)
    reference_data.close_station(store, DUTY, "ST-S-02", "合并")
    reference_data.add_station(store, DUTY, code="ST-N-01", name="新站", level="community", offers=["appeal"],
                               lon=x, lat=y)
    reference_data.rename_department(store, ADMIN, "police", "改名的公安", "Renamed police")
    again = seed.seed_reference(store)                              # what every start does
    assert again["stations_kept"] == 1 and again["departments"] == 0
    assert store.station("ST-D-01")["lon"] == x and store.station("ST-S-02")["close_reason"] == "合并"
    assert "ST-N-01" in _stations(store) and "ST-S-02" not in _stations(store)
    assert store.departments().set_index("code").loc["police", "name"] == "改名的公安"


# ----------------------------------------------------------------------------------- boundary layers
@pytest.fixture
def site_dir(tmp_path, monkeypatch, layers):
    """A site folder: a copy of the sample's layer files, made the active GM_DATA_DIR."""
    folder = tmp_path / "layers"
    folder.mkdir()
    for kind in sample.KINDS:
        src = sample.DEFAULT_OUT / f"{kind}.parquet"
        if src.exists():
            shutil.copy(src, folder / src.name)
    shutil.copy(sample.DEFAULT_OUT / "department.parquet", folder / "department.parquet")
    monkeypatch.setenv("GM_DATA_DIR", str(folder))
    layer_import.clear_layer_caches()
    yield folder
    monkeypatch.delenv("GM_DATA_DIR")
    layer_import.clear_layer_caches()


@pytest.fixture
def audit_store(tmp_path):
    from tests.helpers import sqlite_in
    s = sqlite_in(tmp_path)
    yield s
    s.close()


def _bytes(gdf: gpd.GeoDataFrame, driver: str = "GeoJSON") -> bytes:
    buf = io.BytesIO()
    if driver == "parquet":
        gdf.to_parquet(buf)
    else:
        gdf.to_file(buf, driver=driver)
    return buf.getvalue()


def _files(folder):
    return sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())


def test_a_valid_grid_layer_is_written_with_a_backup(site_dir, audit_store):
    grid = gpd.read_parquet(site_dir / "grid.parquet")
    first = grid["code"].iloc[0]
    grid.loc[grid.index[0], "name"] = "改过名的网格"
    data = _bytes(grid, "parquet")
    shown = layer_import.preview(audit_store, DUTY, "grid", "grid.parquet", data)
    assert (shown.features, shown.added, shown.removed, shown.changed) == (len(grid), 0, 0, 1)
    assert [p.name for p in site_dir.iterdir() if "backup" in p.name] == []        # a preview writes nothing
    done = layer_import.apply(audit_store, DUTY, "grid", "grid.parquet", data)
    assert done.changed == 1
    backups = [p.name for p in site_dir.iterdir() if p.name.startswith("grid.backup-")]
    assert len(backups) == 1 and backups[0].endswith(".parquet")
    assert gpd.read_parquet(site_dir / backups[0]).set_index("code").loc[first, "name"] != "改过名的网格"
    assert sample.load_layers()["grid"].set_index("code").loc[first, "name"] == "改过名的网格"  # caches cleared
    from services import district
    assert district.names("grid", "zh")[first] == "改过名的网格"
    row = audit_store.audit_rows().iloc[-1]
    assert row["action"] == "reference.layer.import" and row["object_id"] == "grid"
    assert audit.check(audit_store).ok


@pytest.mark.filterwarnings("ignore:Column names longer than 10", "ignore:Normalized/laundered field name")
def test_a_zipped_shapefile_is_read_like_at_start_up(site_dir, audit_store, tmp_path):
    import zipfile
    community = gpd.read_parquet(site_dir / "community.parquet")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    community.to_file(shp_dir / "社区.shp", encoding="utf-8")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        for part in shp_dir.iterdir():
            z.write(part, f"export/{part.name}")
    shown = layer_import.preview(audit_store, DUTY, "community", "community.zip", packed.getvalue())
    assert (shown.features, shown.added, shown.removed) == (31, 0, 0) and shown.source_crs == "EPSG:4326"


def test_bad_layers_are_refused_and_nothing_is_written(site_dir, audit_store):
    grid = gpd.read_parquet(site_dir / "grid.parquet")
    community = gpd.read_parquet(site_dir / "community.parquet")
    before = _files(site_dir)
    duplicate = pd.concat([grid, grid.iloc[:1]])
    dropped = community.iloc[1:]                                   # its grids still name the first one
    wrong_crs = grid.to_crs("EPSG:4547").set_crs("EPSG:4326", allow_override=True)
    cases = [("grid", duplicate, "unique"), ("community", dropped, community["code"].iloc[0]),
             ("grid", wrong_crs, "declared CRS")]
    for kind, gdf, said in cases:
        with pytest.raises(layer_import.LayerRefused) as caught:
            layer_import.apply(audit_store, ADMIN, kind, f"{kind}.geojson", _bytes(gdf))
        assert said in caught.value.detail
    with refused("layer_file_type"):
        layer_import.preview(audit_store, ADMIN, "grid", "grid.csv", b"code,name")
    assert _files(site_dir) == before
    assert audit_store.audit_rows()["action"].tolist() == ["reference.layer.import.refused"] * 3


def test_the_bundled_sample_is_never_written(audit_store, layers, monkeypatch):
    monkeypatch.delenv("GM_DATA_DIR", raising=False)
    grid = sample.load_layers()["grid"]
    with refused("layer_folder_is_sample"):
        layer_import.apply(audit_store, ADMIN, "grid", "grid.parquet", _bytes(grid, "parquet"))
    assert not [p for p in sample.DEFAULT_OUT.iterdir() if "backup" in p.name]
    assert access.may_do("duty_officer", "manage_reference") and not access.may_do("planner", "manage_reference")
