"""The planners' service (services.planning) and page (站点规划): figures, what-if edits, siting, scenarios."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from geo.coverage import coverage_table
from geo.crs import distance_m
from services import planning, scenarios
from services.i18n import t
from tests.helpers import signed_in_app

APP = Path(__file__).resolve().parent.parent / "app.py"
REF = None  # the store the planner reads stations and buildings from (set by _reference_store)


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _reference_store(layers, tmp_path_factory):
    """A store seeded with the sample's stations and buildings: the planner reads its points there."""
    global REF
    from services.seed import seed_reference
    from services.store.sqlite import SQLiteStore

    REF = SQLiteStore(tmp_path_factory.mktemp("plan_ref") / "ref.sqlite3")
    seed_reference(REF)
    yield REF
    REF.close()
    REF = None


@pytest.fixture(scope="module")
def base(layers):
    return planning.base_stations(store=REF)


@pytest.fixture(scope="module")
def lossy_code(layers, base):
    """The station whose removal leaves the most people without an appeal station within 500 m."""
    before = planning.coverage(base, "appeal", 500, store=REF)
    pop = planning.demand(store=REF).population
    best, best_loss = None, -1.0
    for code in base.code:
        after = planning.coverage(base.remove(code), "appeal", 500, store=REF)
        loss = float(pop[before.covered & ~after.covered].sum())
        if loss > best_loss:
            best, best_loss = str(code), loss
    assert best_loss > 0
    return best


@pytest.fixture(scope="module")
def instance(layers, base):
    cands, rejected = planning.build_candidates("buildings", n_buildings=2000, store=REF)
    assert len(cands) == 2000 and rejected.empty
    return planning.prepare(base, "appeal", 500, cands, store=REF)


# --------------------------------------------------------------------------------------------- figures
def test_demand_is_built_once(layers):
    assert planning.demand(store=REF) is planning.demand(store=REF)
    assert len(planning.demand(store=REF)) == len(layers["building"])
    assert planning.base_stations(store=REF) is planning.base_stations(store=REF)


def test_figures_match_the_geo_table(base):
    for service in planning.SERVICE_OPTIONS:
        fig = planning.figures(base, service, 500, store=REF)
        row = coverage_table(planning.demand(store=REF), planning.coverage(base, service, 500, store=REF), "district").iloc[0]
        assert fig.population == 1_400_000
        assert fig.population_covered == row["population_covered"]
        assert fig.population_covered + fig.population_uncovered == fig.population
        assert fig.population_share == pytest.approx(row["population_share"])
        assert fig.buildings_share == pytest.approx(row["buildings_share"])
        assert fig.grids_share == pytest.approx(row["grids_share"])
    # Every station counts for "any", so it covers at least what each service covers.
    anyf = planning.figures(base, "any", 500, store=REF)
    assert all(anyf.population_covered >= planning.figures(base, s, 500, store=REF).population_covered
               for s in planning.SERVICES)


def test_a_larger_radius_covers_more(base):
    shares = [planning.figures(base, "appeal", r, store=REF).population_share for r in (300, 500, 800, 1000)]
    assert shares == sorted(shares) and shares[0] < shares[-1]
    with pytest.raises(planning.PlanningError):
        planning.figures(base, "appeal", 100, store=REF)
    with pytest.raises(planning.PlanningError):
        planning.figures(base, "dance", 500, store=REF)


def test_tables_have_chinese_and_english_names(base):
    tables = planning.coverage_tables(base, ("appeal", "legal"), 500, store=REF)
    sub = tables["subdistrict"]
    assert len(sub) == 12 and set(sub["service"]) == {"appeal", "legal"}
    names = dict(zip(sub["name"], sub["name_en"], strict=True))
    assert names["光明街道"] == "Guangming" and names["马田街道"] == "Matian"
    comm = tables["community"]
    assert len(comm) == 2 * 31 and set(comm["parent_name"]) >= {"光明街道", "凤凰街道"}
    assert set(comm["parent_name_en"]) >= {"Guangming", "Fenghuang"}
    # Communities add up to their subdistrict, subdistricts to the district.
    a = comm[comm.service == "appeal"].groupby("parent_code")["population_covered"].sum()
    s = sub[sub.service == "appeal"].set_index("code")["population_covered"]
    assert (a.reindex(s.index) == s).all()
    assert s.sum() == tables["district"].query("service == 'appeal'")["population_covered"].iloc[0]
    zh = planning.display_table(comm, "zh")
    en = planning.display_table(comm, "en")
    assert t("planning.col_population_share", "zh") in zh.columns and t("planning.col_parent", "en") in en.columns
    assert zh[t("planning.col_population_share", "zh")].between(0, 100).all()
    assert "Guangming" in set(en[t("planning.col_parent", "en")])


def test_exports_open_in_excel_and_csv(base):
    edits = (planning.Edit("remove", code=str(base.code[5])),)
    stations = planning.network(edits, store=REF)
    data = planning.export_coverage(stations, 500, "zh", edits, store=REF)
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None)
    assert set(sheets) == {t(f"planning.level_{lvl}", "zh") for lvl in planning.TABLE_LEVELS} | {
        t("planning.sheet_stations", "zh"), t("planning.sheet_edits", "zh")}
    district_sheet = sheets[t("planning.level_district", "zh")]
    assert len(district_sheet) == len(planning.SERVICE_OPTIONS)
    assert len(sheets[t("planning.sheet_stations", "zh")]) == len(base) - 1
    assert len(sheets[t("planning.sheet_edits", "zh")]) == 1
    table = planning.display_table(planning.coverage_tables(stations, ("appeal",), 500, store=REF)["community"], "zh")
    csv = planning.export_csv(table)
    assert csv.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(csv), encoding="utf-8-sig")
    assert len(back) == 31 and "光明社区" in set(back[t("planning.col_name", "zh")])


# --------------------------------------------------------------------------------------------- what-if
def test_removing_a_station_never_increases_coverage(base, lossy_code):
    rng = np.random.default_rng(7)
    codes = [lossy_code, *rng.choice(base.code, 25, replace=False)]
    for service in ("appeal", "psychological", "any"):
        before = planning.figures(base, service, 500, store=REF)
        for code in codes:
            w = planning.remove_station(base, str(code), service, 500, store=REF)
            after = planning.figures(w.stations, service, 500, store=REF)
            assert w.delta["population_gained"] == 0 and w.delta["buildings_gained"] == 0
            assert after.population_covered <= before.population_covered
            assert after.buildings_covered <= before.buildings_covered
            assert after.grids_covered <= before.grids_covered
            assert before.population_covered - after.population_covered == w.delta["population_lost"]
    w = planning.remove_station(base, lossy_code, "appeal", 500, store=REF)
    assert w.delta["population_lost"] > 0 and len(w.stations) == len(base) - 1


def test_adding_a_station_at_an_uncovered_building_covers_it(base):
    d = planning.demand(store=REF)
    cov = planning.coverage(base, "appeal", 500, store=REF)
    idx = int(np.flatnonzero(~cov.covered & (d.population > 0))[0])
    w = planning.add_station(base, d.lon[idx], d.lat[idx], services=("appeal",), service="appeal", radius_m=500, store=REF)
    assert w.after.covered[idx] and not w.before.covered[idx]
    assert w.delta["population_gained"] >= d.population[idx] and w.delta["population_lost"] == 0
    assert str(w.stations.code[-1]).startswith("NEW-")
    # A station offering only legal service changes nothing for the appeal circle.
    w2 = planning.add_station(base, d.lon[idx], d.lat[idx], services=("legal",), service="appeal", radius_m=500, store=REF)
    assert w2.delta["population_gained"] == 0


def test_moving_a_station_equals_removing_and_adding(base):
    code = str(base.code[40])
    lon, lat = float(base.lon[40]) + 0.01, float(base.lat[40]) - 0.005
    moved = planning.move_station(base, code, lon, lat, "appeal", 500, store=REF)
    offers = tuple(s for s in planning.SERVICES if base.offers[s][40])
    rebuilt = base.remove(code).add(lon, lat, services=offers)
    assert (moved.after.covered == planning.coverage(rebuilt, "appeal", 500, store=REF).covered).all()
    assert planning.station_status(moved.stations, store=REF)[40] == "moved"


def test_network_applies_edits_in_order_and_caches(base):
    d = planning.demand(store=REF)
    edits = (planning.Edit("remove", code=str(base.code[3])),
             planning.Edit("add", lon=float(d.lon[10]), lat=float(d.lat[10])),
             planning.Edit("move", code=str(base.code[7]), lon=float(d.lon[20]), lat=float(d.lat[20])))
    net = planning.network(edits, store=REF)
    assert planning.network(edits, store=REF) is net
    assert len(net) == len(base) and str(base.code[3]) not in set(net.code)
    assert list(planning.station_status(net, store=REF)).count("new") == 1
    assert planning.edit_delta(edits, "appeal", 500, store=REF) is not None
    assert planning.edit_delta((), "appeal", 500, store=REF) is None
    with pytest.raises(planning.PlanningError):
        planning.network((planning.Edit("remove", code="NO-SUCH"),), store=REF)
    with pytest.raises(planning.PlanningError):
        planning.Edit("add", lon=113.9)
    with pytest.raises(planning.PlanningError):
        planning.Edit("teleport", code="x")
    assert "移除" in edits[0].describe("zh", base) and "removed" in edits[0].describe("en", base)


def test_entered_points_are_converted_and_checked():
    lon, lat = 113.93, 22.76
    gx, gy = planning.to_district_point(lon, lat, "wgs84")
    assert (gx, gy) == (lon, lat)
    wx, wy = planning.to_district_point(lon, lat, "gcj02")
    assert 300 < float(distance_m(np.array([lon]), np.array([lat]), np.array([wx]), np.array([wy]))[0]) < 900
    with pytest.raises(planning.PlanningError) as exc:
        planning.to_district_point(116.4, 39.9, "wgs84")
    assert "光明区" in exc.value.message("zh")
    with pytest.raises(planning.PlanningError):
        planning.to_district_point(float("nan"), 22.7)


def test_map_clicks_make_edits():
    cell = planning.pick_from_selection(
        {"selection": {"objects": {planning.GAP_LAYER: [{"position": [113.9, 22.7]}]}}})
    assert cell == planning.Pick("cell", 113.9, 22.7)
    assert planning.edit_for_pick(cell, "add_station").op == "add"
    assert planning.edit_for_pick(cell, "remove_station") is None
    station = planning.pick_from_selection({"objects": {planning.STATION_LAYER: [
        {"position": [113.9, 22.7], "code": "ST-C-01"}]}})
    assert planning.edit_for_pick(station, "remove_station") == planning.Edit("remove", code="ST-C-01")
    assert planning.edit_for_pick(station, "add_station") is None
    assert planning.pick_from_selection({"selection": {"objects": {}}}) is None
    assert planning.pick_from_selection(None) is None


# --------------------------------------------------------------------------------------------- map
def test_gap_layer_is_aggregated_and_adds_up(base):
    fig = planning.figures(base, "appeal", 500, store=REF)
    cells = planning.gap_cells(base, "appeal", 500, store=REF)
    assert cells["population"].sum() == fig.population_uncovered
    assert cells["buildings"].sum() == fig.buildings - fig.buildings_covered
    assert len(cells) < (fig.buildings - fig.buildings_covered) / 5
    grids = planning.gap_grids(base, "appeal", 500, "en", top=10, store=REF)
    people = grids[t("planning.col_population_uncovered", "en")].to_numpy()
    assert len(grids) == 10 and (np.diff(people) <= 0).all()


def test_planner_map_is_light_and_offline(base, instance):
    scenario = planning.solve(instance, "mclp", 3, "greedy")
    layers = planning.planner_layers(base, "appeal", 500, "zh", scenario=scenario,
                                     candidate_points=[(113.93, 22.76)], store=REF)
    ids = [layer.id for layer in layers]
    assert len(ids) == len(set(ids))
    assert {planning.CIRCLE_LAYER, planning.GAP_LAYER, planning.STATION_LAYER, planning.SITE_LAYER,
            planning.SITE_LABEL_LAYER, planning.CANDIDATE_LAYER, "district-boundary"} <= set(ids)
    deck = json.loads(planning.planner_deck(base, "appeal", 500, "zh", scenario=scenario, store=REF).to_json())
    text = json.dumps(deck, separators=(",", ":"))
    assert len(text) < 700_000, len(text)
    assert "http" not in text and deck.get("mapProvider") is None
    circles = next(layer for layer in deck["layers"] if layer["id"] == planning.CIRCLE_LAYER)["data"]
    assert len(circles) == int(base.offers["appeal"].sum())
    assert all(len(c["polygon"][0]) <= 4 * planning.CIRCLE_QUAD_SEGS + 1 for c in circles)
    assert all(round(v, 5) == v for v in circles[0]["polygon"][0][0])
    sites = next(layer for layer in deck["layers"] if layer["id"] == planning.SITE_LAYER)["data"]
    assert [s["order"] for s in sites] == [1, 2, 3]


# --------------------------------------------------------------------------------------------- siting
def test_greedy_then_exact_k5(instance):
    greedy = planning.solve(instance, "mclp", 5, "greedy")
    exact = planning.solve(instance, "mclp", 5, "exact", time_limit_s=60)
    assert len(greedy.sites) == 5 and len(exact.sites) == 5
    assert exact.summary["population_gained"] >= greedy.summary["population_gained"] > 0
    assert greedy.summary["status"] == "heuristic" and math.isnan(greedy.summary["mip_gap"])
    assert exact.summary["status"] in ("optimal", "time_limit")
    gap = exact.summary["mip_gap"]
    assert math.isfinite(gap) and gap >= 0
    if exact.summary["status"] == "optimal":
        assert gap <= 1e-6 and exact.summary["bound"] == pytest.approx(exact.summary["population_gained"])
    # Marginal gains are in the order chosen and add up to the people newly covered.
    gains = exact.sites["gain_population"].to_numpy()
    assert (np.diff(gains) <= 0).all() and gains.sum() == exact.summary["population_gained"]
    table = planning.sites_table(exact, "zh", store=REF)
    assert list(table[t("planning.col_rank", "zh")]) == [1, 2, 3, 4, 5]
    assert table[t("planning.col_community", "zh")].str.endswith("社区").all()
    assert table[t("planning.col_nearest_m", "zh")].gt(0).all()


def test_exact_run_in_the_background_gives_the_exact_answer(instance):
    job = planning.ExactRun(instance, "mclp", 4, time_limit_s=60)
    result = job.result(timeout=120)
    assert job.done() and job.fraction() == 1.0
    direct = planning.solve(instance, "mclp", 4, "exact", time_limit_s=60)
    assert result.summary["population_gained"] == direct.summary["population_gained"]


def test_lscp_needs_no_more_sites_than_greedy(instance):
    greedy = planning.solve(instance, "lscp", method="greedy")
    exact = planning.solve(instance, "lscp", method="exact", time_limit_s=60)
    assert 0 < exact.summary["sites"] <= greedy.summary["sites"]
    # Both reach everyone a candidate can reach.
    assert exact.summary["population_covered_after"] == pytest.approx(greedy.summary["population_covered_after"])
    with pytest.raises(planning.PlanningError):
        planning.solve(instance, "mclp", 0)
    with pytest.raises(planning.PlanningError):
        planning.solve(instance, "pmedian", 3)


def test_candidate_sources(layers):
    grids, _ = planning.build_candidates("grids", store=REF)
    assert len(grids) == len(layers["grid"])
    cands, rejected = planning.build_candidates(
        "points", clicked=[(113.93, 22.76)], points_text="113.94, 22.77\n113.95，22.78\nnot a point\n0, 0",
        system="gcj02", store=REF)
    assert len(cands) == 3 and len(rejected) == 2 and rejected["reason"].str.len().gt(0).all()
    assert cands.lon[0] == 113.93  # clicked points are already WGS84
    assert abs(cands.lon[1] - 113.94) > 1e-3  # typed GCJ-02 points are converted
    csv = "名称,经度,纬度\nA,113.93,22.76\nB,113.91,22.74\nC,,22.7\n".encode("gb18030")
    table = planning.read_table("sites.csv", csv)
    up, rej = planning.build_candidates("upload", table=table, store=REF)
    assert list(up.id) == ["A", "B"] and len(rej) == 1
    buf = io.BytesIO()
    pd.DataFrame({"lon": [113.93], "lat": [22.76]}).to_excel(buf, index=False)
    up2, _ = planning.build_candidates("upload", table=planning.read_table("x.xlsx", buf.getvalue()), store=REF)
    assert len(up2) == 1
    with pytest.raises(planning.PlanningError):
        planning.build_candidates("points", points_text="", store=REF)
    with pytest.raises(planning.PlanningError):
        planning.build_candidates("upload", table=pd.DataFrame({"a": [1]}), store=REF)
    with pytest.raises(planning.PlanningError):
        planning.read_table("bad.xlsx", b"not a workbook")


@pytest.fixture()
def scenario_store(tmp_path):
    from services.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "plan.sqlite3")
    yield store
    store.close()


def test_scenarios_are_saved_compared_and_exported(instance, base, scenario_store):
    greedy = planning.solve(instance, "mclp", 3, "greedy")
    exact = planning.solve(instance, "mclp", 3, "exact")
    stack = scenarios.EditStack().push(planning.scenario_edits(exact), store=REF)
    name = scenarios.default_name(exact, "zh")
    a = scenarios.save(name, stack, "appeal", 500, "张规划", siting=scenarios.siting_summary(exact),
                       store=scenario_store)
    b = scenarios.save(name, stack, "appeal", 500, store=scenario_store)
    c = scenarios.save("greedy k3", scenarios.EditStack().push(planning.scenario_edits(greedy), store=REF), "appeal", 500,
                       siting=scenarios.siting_summary(greedy), store=scenario_store)
    assert a.name == name and b.name == f"{name} (2)" and b.created_by == t("planning.default_author", "zh")
    assert [sc.name for sc in scenarios.saved(scenario_store)] == [a.name, b.name, c.name]
    back = scenarios.load(a.id, scenario_store)
    assert back.stack == stack and len(back.stack) == 1 and back.siting["model"] == "mclp"
    frame = scenarios.compare_frame([back, c], "en", store=REF)
    assert list(frame.columns) == [a.name, c.name]
    assert frame.loc[t("planning.cmp_status", "en"), c.name] == planning.status_label("heuristic", "en")
    after = planning.figures(planning.network(back.stack.edits, store=REF), "appeal", 500, store=REF)
    assert after.population_covered == exact.summary["population_covered_after"]
    assert frame.loc[t("planning.cmp_population_share", "en"), a.name] == f"{after.population_share:.2%}"
    assert frame.loc[t("planning.cmp_stations", "en"), a.name] == f"{after.stations:,}"
    assert scenarios.delete([b.id, "no such"], scenario_store) == 1
    assert [sc.name for sc in scenarios.saved(scenario_store)] == [a.name, c.name]
    assert list(scenarios.saved_table(scenarios.saved(scenario_store), "zh")[t("planning.col_edits", "zh")]) == [3, 3]
    geo = json.loads(exact.to_geojson())
    assert sum(f["properties"]["kind"] == "site" for f in geo["features"]) == 3
    assert pd.read_excel(io.BytesIO(exact.to_xlsx()), sheet_name=None).keys() >= {"summary", "sites"}
    assert len(planning.network(planning.scenario_edits(exact), store=REF)) == len(base) + 3


def test_edit_stack_undoes_one_action_at_a_time(base):
    d = planning.demand(store=REF)
    add = planning.Edit("add", lon=float(d.lon[10]), lat=float(d.lat[10]), name="新增站点1")
    plan = (planning.Edit("add", lon=float(d.lon[20]), lat=float(d.lat[20])),
            planning.Edit("add", lon=float(d.lon[30]), lat=float(d.lat[30])))
    remove = planning.Edit("remove", code=str(base.code[3]))
    stack = scenarios.EditStack().push(add, store=REF).push(plan, store=REF).push(remove, store=REF)
    assert len(stack) == 3 and len(stack.edits) == 4 and stack.last_step == (remove,)
    assert stack.undo().edits == (add, *plan)
    assert stack.undo().undo().edits == (add,)  # the plan's two sites go in one undo
    assert stack.undo().undo().undo() == scenarios.EditStack() == scenarios.EditStack().undo()
    with pytest.raises(planning.PlanningError):
        stack.push(remove, store=REF)  # already removed: refused, the stack unchanged
    # JSON round trip, as a scenario keeps it.
    data = json.loads(json.dumps(scenarios.payload(stack, "legal", 650)))
    rec = {"id": 1, "name": "x", "created_by": "y", "created_at": None, "payload": data}
    back = scenarios.from_record(rec)
    assert back.stack == stack and back.service == "legal" and back.radius_m == 650
    with pytest.raises(planning.PlanningError):
        scenarios.from_record({**rec, "payload": {"edits": [{"op": "teleport"}]}})


def _selection(layer: str, index: int, obj: dict) -> dict:
    return {"selection": {"indices": {layer: [index]}, "objects": {layer: [obj]}}}


def test_a_map_selection_is_acted_on_once():
    first = _selection(planning.GAP_LAYER, 0, {"position": [113.94, 22.72]})
    pick, seen = planning.new_pick(first, "")
    assert pick == planning.Pick("cell", 113.94, 22.72) and seen
    # The chart sends the selection again after the data changed: same index, another object. No pick.
    again = _selection(planning.GAP_LAYER, 0, {"position": [113.95, 22.77]})
    assert planning.new_pick(again, seen) == (None, seen)
    # Deselecting, then clicking the same spot again, is a new click.
    none, seen2 = planning.new_pick({"selection": {"indices": {}, "objects": {}}}, seen)
    assert none is None and seen2 == ""
    assert planning.new_pick(first, seen2)[0] == pick
    # Layers of a later map generation are picked the same way.
    gen = planning.layer_id(planning.STATION_LAYER, 4)
    assert gen != planning.STATION_LAYER and planning.layer_id(planning.STATION_LAYER, 0) == planning.STATION_LAYER
    pick3, _ = planning.new_pick(_selection(gen, 2, {"position": [113.9, 22.7], "code": "ST-C-01"}), seen)
    assert pick3 == planning.Pick("station", 113.9, 22.7, "ST-C-01")


# --------------------------------------------------------------------------------------------- page
def _open(lang: str | None = None) -> AppTest:
    at = signed_in_app("planner", timeout=180)
    at.run()
    if lang:
        at.button_group(key="lang_switch").set_value(lang).run()
    at.switch_page("pages/planning.py").run()
    assert not at.exception, at.exception
    return at


def _metric(at: AppTest, key: str, lang: str = "zh"):
    return next(m for m in at.metric if m.label == t(key, lang))


def test_page_renders_in_chinese_with_the_services_figures(layers, base):
    at = _open()
    assert at.title[0].value == t("planning.title", "zh")
    fig = planning.figures(base, "appeal", 500, store=REF)
    assert _metric(at, "planning.kpi_population").value == f"{fig.population_share:.1%}"
    assert _metric(at, "planning.kpi_buildings").value == f"{fig.buildings_share:.1%}"
    assert _metric(at, "planning.kpi_grids").value == f"{fig.grids_share:.1%}"
    assert _metric(at, "planning.kpi_uncovered").value == f"{fig.population_uncovered:,}"
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert deck.get("mapStyle") in (None, "__MAP_STYLE__") and deck.get("mapProvider") is None
    ids = {ly["id"] for ly in deck["layers"]}
    assert {planning.CIRCLE_LAYER, planning.GAP_LAYER, planning.STATION_LAYER} <= ids
    assert "http" not in at.get("deck_gl_json_chart")[0].proto.json
    table = at.dataframe[0].value
    assert len(table) == 6 and "光明街道" in set(table[t("planning.col_name", "zh")])


def test_changing_the_radius_changes_the_figure(layers, base):
    at = _open()
    before = _metric(at, "planning.kpi_population").value
    at.slider(key="plan_radius").set_value(800).run()
    assert not at.exception
    after = _metric(at, "planning.kpi_population").value
    assert after != before
    assert after == f"{planning.figures(base, 'appeal', 800, store=REF).population_share:.1%}"


def test_what_if_removal_changes_the_metric(layers, lossy_code):
    at = _open()
    before = _metric(at, "planning.kpi_uncovered").value
    at.selectbox(key="plan_station").set_value(lossy_code)
    at.button(key="plan_remove").click().run()
    assert not at.exception
    fig = planning.figures(planning.network((planning.Edit("remove", code=lossy_code),), store=REF), "appeal", 500, store=REF)
    m = _metric(at, "planning.kpi_uncovered")
    assert m.value == f"{fig.population_uncovered:,}" and m.value != before
    assert m.delta.startswith("+")
    assert any(t("planning.edit_remove", "zh", name="", code=lossy_code)[-len(lossy_code) - 2:] in i.value
               for i in at.info)
    at.button(key="plan_undo").click().run()
    assert _metric(at, "planning.kpi_uncovered").value == before


def test_siting_k3_shows_three_sites_and_can_be_saved(layers, plan_db):
    at = _open()
    at.number_input(key="plan_k").set_value(3)
    at.button(key="plan_run").click().run()
    assert not at.exception
    rank = t("planning.col_rank", "zh")
    tables = [df.value for df in at.dataframe if rank in df.value.columns]
    assert len(tables) == 1 and len(tables[0]) == 3
    assert list(tables[0][rank]) == [1, 2, 3]
    assert _metric(at, "planning.res_status").value in (planning.status_label("optimal", "zh"),
                                                        planning.status_label("time_limit", "zh"))
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    sites = next(ly for ly in deck["layers"] if ly["id"] == planning.SITE_LAYER)["data"]
    assert len(sites) == 3
    at.button(key="plan_save").click().run()
    at.button(key="plan_save_greedy").click().run()
    saved = scenarios.saved()
    assert len(saved) == 2 and all(len(sc.stack.edits) == 3 and sc.siting for sc in saved)
    assert [sc.siting["method"] for sc in saved] == ["highs", "greedy"]
    compare = at.dataframe[-1].value
    assert compare.shape[1] == 2 and t("planning.cmp_gap", "zh") in compare.index


def test_english_switch(layers):
    at = _open("en")
    assert at.title[0].value == t("planning.title", "en")
    labels = [m.label for m in at.metric]
    assert t("planning.kpi_population", "en") in labels
    assert not any("覆盖" in label for label in labels)
    assert t("planning.col_population_share", "en") in at.dataframe[0].value.columns


def test_lscp_on_the_page_reports_the_fewest_sites(layers):
    at = _open()
    at.radio(key="plan_model").set_value("lscp")
    at.selectbox(key="plan_source").set_value("grids")
    at.button(key="plan_run").click().run()
    assert not at.exception
    sites = _metric(at, "planning.res_sites")
    rank = t("planning.col_rank", "zh")
    table = next(df.value for df in at.dataframe if rank in df.value.columns)
    assert sites.value == f"{len(table):,}" and len(table) > 0
    assert sites.delta.startswith(("+0", "-"))


# --------------------------------------------------------------------------------------------- map clicks
@pytest.fixture()
def plan_db(tmp_path, monkeypatch):
    """The page's store: a fresh SQLite file (scenarios are saved there, not in the session)."""
    url = f"sqlite:///{tmp_path}/gm.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


class MapChart:
    """The browser's side of the planner map, as Streamlit's pydeck chart behaves: it holds the selection
    (layer id and index, with the objects), sends it with every rerun, and when the chart's data change it
    re-reads the objects at the selected indices from the new data (dropping layers no longer there)."""

    def __init__(self, at: AppTest) -> None:
        self.at = at
        self.selection: dict = {"selection": {"indices": {}, "objects": {}}}

    def _layers(self) -> dict[str, list]:
        spec = json.loads(self.at.get("deck_gl_json_chart")[0].proto.json)
        return {ly["id"]: ly.get("data") or [] for ly in spec["layers"]}

    def click(self, base: str, index: int = 0) -> AppTest:
        """Click the ``index``-th object of the layer ``base`` (whatever its generation)."""
        layer, data = next((lid, d) for lid, d in self._layers().items() if lid.split("~")[0] == base)
        self.selection = {"selection": {"indices": {layer: [index]}, "objects": {layer: [data[index]]}}}
        return self.run()

    def run(self) -> AppTest:
        """A rerun (a tab click, a button, the solve button): every widget's state plus the map's."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        states = self.at._tree.get_widget_states()
        chart = self.at.get("deck_gl_json_chart")[0].proto
        states.widgets.append(WidgetState(id=chart.id, string_value=json.dumps(self.selection)))
        self.at._run(states)
        assert not self.at.exception, self.at.exception
        layers, sel = self._layers(), self.selection["selection"]
        indices, objects = {}, {}
        for lid, idx in sel["indices"].items():
            if lid in layers:
                indices[lid] = [i for i in idx if i < len(layers[lid])]
                objects[lid] = [layers[lid][i] for i in indices[lid]]
        self.selection = {"selection": {"indices": indices, "objects": objects}}
        return self.at


def _stations(at: AppTest) -> str:
    return _metric(at, "planning.kpi_stations").value


def test_one_map_click_adds_one_station_and_undo_removes_it(layers, base, plan_db):
    at = _open()
    before = _stations(at)
    chart = MapChart(at)
    chart.click(planning.GAP_LAYER, 0)
    assert len(at.session_state["plan_stack"].edits) == 1
    after = _stations(at)
    assert int(after) == int(before) + 1
    for _ in range(3):  # tab clicks and other reruns
        chart.run()
    at.number_input(key="plan_k").set_value(2)
    at.button(key="plan_run").click()
    chart.run()  # 求解
    chart.run()
    assert _stations(at) == after and len(at.session_state["plan_stack"].edits) == 1
    at.button(key="plan_undo").click()
    chart.run()
    assert _stations(at) == before and at.session_state["plan_stack"].edits == ()
    chart.run()
    assert _stations(at) == before
    # A second click, on another uncovered cell, adds one more station.
    chart.click(planning.GAP_LAYER, 1)
    chart.run()
    assert int(_stations(at)) == int(before) + 1


def test_saved_scenarios_survive_a_reload_and_load_back(layers, lossy_code, plan_db):
    at = _open()
    at.selectbox(key="plan_station").set_value(lossy_code)
    at.button(key="plan_remove").click().run()
    at.text_input(key="plan_save_name").input("去掉一站")
    at.text_input(key="plan_author").input("李规划")
    at.button(key="plan_save_edits").click().run()
    assert not at.exception
    # A reload is a new session: nothing of the old one is left but the store.
    again = _open()
    assert again.session_state["plan_stack"].edits == ()
    listed = again.table[0].value
    assert list(listed[t("planning.scenario_name", "zh")]) == ["去掉一站"]
    assert list(listed[t("planning.col_saved_by", "zh")]) == ["李规划"]
    assert again.multiselect(key="plan_compare").value == [1]
    again.button(key="plan_load").click().run()
    assert again.session_state["plan_stack"].edits == (planning.Edit("remove", code=lossy_code),)
    fig = planning.figures(planning.network((planning.Edit("remove", code=lossy_code),), store=REF), "appeal", 500, store=REF)
    assert _metric(again, "planning.kpi_uncovered").value == f"{fig.population_uncovered:,}"
    again.button(key="plan_delete").click().run()
    assert not again.table and scenarios.saved() == []
