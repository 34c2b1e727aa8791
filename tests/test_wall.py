"""The wall display: its data path on a hand-made store, and the page through AppTest.

The hand-made store holds six appeals reported today whose KPIs can be counted by hand:
  #A blue, accepted and dispatched and resolved   -> received, accepted, resolved
  #B blue, accepted                               -> received, accepted
  #C red (40 people), class 1, responded in 5 min, accepted in 20 min -> class-1 both on time
  #D red (urgency 3), class 1, never responded, reported 2 h ago -> class-1 late, overdue
  #E yellow (15 people), reported, untouched
  #F blue, reported
so: received 6, accepted 3 (A, B, C), resolved 1 (A), resolution rate 1/3, class-1 total 2,
responded on time 1, accepted on time 1. Personal data: every appeal carries a reporter name and phone
that must never reach the page in wall mode.

"Today" must hold all of that, so every test here runs with the clock set to 14:00 local time of the
real local date, ticking on (time-machine): run at 00:20 in Shanghai, #D could not be both reported
today and two hours ago.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import time_machine
from streamlit.testing.v1 import AppTest

from pages.ui import SESSION_KEY
from services import wall
from services.i18n import label, t
from services.store import open_store
from tests.helpers import session_as, signed_in_app

TZ = ZoneInfo("Asia/Shanghai")
APP = Path(__file__).resolve().parent.parent / "app.py"
NAMES = ["欧阳明华", "司马青云", "诸葛春燕", "上官秋月", "东方晓红", "皇甫建国"]
PHONES = ["13900001111", "13900002222", "13900003333", "13900004444", "13900005555", "13900006666"]


@pytest.fixture(autouse=True)
def _afternoon():
    """The clock at 14:00 Shanghai time of today's local date (see the module's docstring)."""
    at = datetime.now(TZ).replace(hour=14, minute=0, second=0, microsecond=0)
    with time_machine.travel(at, tick=True):
        yield


def _now() -> datetime:
    return datetime.now(TZ)


def _today_times(now: datetime, n: int) -> list[datetime]:
    """n distinct moments between local midnight and now (oldest first), never before midnight."""
    start = wall.day_start(now)
    span = (now - start).total_seconds()
    return [start + timedelta(seconds=span * (i + 1) / (n + 2)) for i in range(n)]


def build_store(url: str, layers) -> tuple[object, dict[str, int]]:
    store = open_store(url)
    store.reset()
    from services.seed import seed_reference

    seed_reference(store)
    now = _now()
    grid = layers["grid"].iloc[100]
    comm = layers["community"].set_index("code").loc[grid.parent_code]
    pt = grid.geometry.representative_point()
    times = _today_times(now, 6)
    # D must be reported long enough ago that its 10-minute response clock has run out.
    times[3] = min(times[3], now - timedelta(minutes=30))
    spec = [  # key, people, urgency, amount, category
        ("A", 1, 1, 0, "neighbour"), ("B", 2, 1, 0, "noise"), ("C", 40, 1, 0, "wage_arrears"),
        ("D", 1, 3, 0, "crisis"), ("E", 15, 1, 0, "wage_arrears"), ("F", 1, 1, 0, "legal_consultation")]
    rows = []
    for i, (key, people, urgency, amount, cat) in enumerate(spec):
        rows.append({"id": i + 1, "source": "test", "external_id": key, "channel": "hotline",
                     "service_type": "legal" if cat == "legal_consultation" else "dispute", "category": cat,
                     "description": f"案例{key}", "lon": pt.x + i * 1e-4, "lat": pt.y, "source_crs": "wgs84",
                     "people_involved": people, "urgency": urgency, "amount_involved": float(amount),
                     "subdistrict_code": comm.parent_code, "community_code": grid.parent_code,
                     "grid_code": grid.code, "reporter_name": NAMES[i], "reporter_phone": PHONES[i],
                     "reported_at": times[i]})
    res = store.insert_appeals(pd.DataFrame(rows))
    ids = dict(zip([s[0] for s in spec], res.ids, strict=True))
    a = times[0]
    store.act(ids["A"], "accept", "值班员", at=a + timedelta(minutes=5))
    store.act(ids["A"], "dispatch", "值班员", at=a + timedelta(minutes=6), target=grid.parent_code)
    store.act(ids["A"], "resolve", "社区", at=min(a + timedelta(minutes=30), now), settlement="people_mediation",
              mediator="社区人民调解员")
    store.act(ids["B"], "accept", "值班员", at=times[1] + timedelta(minutes=1))
    c = times[2]
    store.act(ids["C"], "respond", "值班员", at=min(c + timedelta(minutes=5), now))
    store.act(ids["C"], "accept", "值班员", at=min(c + timedelta(minutes=20), now))
    return store, ids


@pytest.fixture()
def hand_store(tmp_path, layers):
    url = f"sqlite:///{tmp_path / 'wall.sqlite3'}"
    store, ids = build_store(url, layers)
    yield url, store, ids
    store.close()


def test_grid_levels_rule():
    counts = pd.DataFrame({"code": ["g1", "g2", "g2", "g3", "g4"], "tier": ["red", "yellow", "blue", "blue", "blue"],
                           "status": ["reported"] * 5, "n": [1, 1, 3, 2, 5]})
    levels = wall.grid_levels(counts).set_index("code").level.to_dict()
    # g1 one red -> red; g2 a yellow -> yellow; g3 two blue -> blue; g4 five open -> yellow (yellow_total 5)
    assert levels == {"g1": "red", "g2": "yellow", "g3": "blue", "g4": "yellow"}


def test_countdown_text():
    assert wall.countdown(90, "zh") == "剩余 1:30"
    assert wall.countdown(-3725, "en") == "1:02:05 overdue"


def test_overall_check_in_rate_is_timely_over_due_from_the_store():
    """sum(timely) / sum(due) over departments, the due counts as the store returns them: a department
    with nothing timely (rate 0) counts its due orders, not all its orders; nothing due gives None."""
    stats = pd.DataFrame({"code": ["hr", "police", "justice"], "orders": [3, 4, 2],
                          "timely_check_ins": [2, 0, 0], "due_check_ins": [2, 3, 0]})
    assert wall._overall_rate(stats) == pytest.approx(2 / 5)
    assert wall._overall_rate(stats[stats.code == "justice"]) is None
    assert wall._overall_rate(stats.iloc[0:0]) is None


def test_snapshot_kpis_equal_hand_counts(hand_store):
    _, store, ids = hand_store
    snap = wall.snapshot(store)
    k = snap.kpis
    assert (k["received"], k["accepted"], k["resolved"]) == (6, 3, 1)
    assert k["resolution_rate"] == pytest.approx(1 / 3)
    assert (k["class1_total"], k["class1_responded_on_time"], k["class1_accepted_on_time"]) == (2, 1, 1)
    assert snap.trend.iloc[-1]["received"] == 6
    # Open points: everything but nothing closed -> all six, red first.
    assert set(snap.points.id) == set(ids.values())
    assert snap.points.tier.iloc[0] == "red"
    assert ids["D"] in set(snap.overdue.id)
    assert ids["D"] in set(snap.warnings.id) and ids["C"] in set(snap.warnings.id)
    # The grid holding them is red (open red appeals).
    assert snap.grid_levels.set_index("code").level.tolist() == ["red"]
    for col in ("reporter_name", "reporter_phone"):
        assert col not in snap.points.columns


def test_map_payload_has_no_personal_data_and_no_remote_style(hand_store):
    _, store, _ = hand_store
    snap = wall.snapshot(store)
    deck = wall.wall_deck(snap, "zh", wall.mapview.view_state((113.85, 22.68, 114.0, 22.84)))
    text = deck.to_json()
    assert not any(n in text for n in NAMES) and not any(p in text for p in PHONES)
    data = json.loads(text)
    assert data["mapStyle"] == "__MAP_STYLE__" and data.get("mapProvider") is None
    ids = {layer["id"] for layer in data["layers"]}
    assert {"grid-warning", "appeal-points", "overdue-rings", "district-boundary"} <= ids


def _crew(store, layers, key: str, n: int, dx_deg: float) -> list[int]:
    """``n`` wage-arrears appeals of one crew within ~30 m of each other, reported in the last hour."""
    grid = layers["grid"].iloc[300]
    comm = layers["community"].set_index("code").loc[grid.parent_code]
    pt = grid.geometry.representative_point()
    now = _now()
    rows = [{"source": "test", "external_id": f"{key}{i}", "channel": "qr", "service_type": "dispute",
             "category": "wage_arrears", "description": "欠薪", "lon": pt.x + dx_deg + i * 1e-4, "lat": pt.y,
             "source_crs": "wgs84", "people_involved": 1, "urgency": 1, "amount_involved": 0.0,
             "subdistrict_code": comm.parent_code, "community_code": grid.parent_code, "grid_code": grid.code,
             "reported_at": now - timedelta(minutes=50 - i)} for i in range(n)]
    return list(store.insert_appeals(pd.DataFrame(rows)).ids)


def test_clusters_are_the_marked_ones_not_a_new_clustering(hand_store, layers):
    """Four marked appeals make one cluster on the wall (centre, size, radius, category from the marks);
    five unmarked ones lying as close together make none, although find_clusters would join them."""
    from geo.crs import lonlat_to_metric
    from services.gathering import find_clusters

    _, store, _ = hand_store
    marked = _crew(store, layers, "M", 4, 0.0)
    unmarked = _crew(store, layers, "U", 5, 0.02)
    recent = store.query_appeals(columns=("id", "category", "lon", "lat", "reported_at", "tier"))
    assert (find_clusters(recent[recent.id.isin(unmarked)])[0] >= 0).all()   # they would cluster
    assert wall.snapshot(store).clusters.empty
    gid = min(marked)
    store.mark_gathering(pd.DataFrame({"appeal_id": marked, "gathering_id": gid, "gathering_tier": "yellow"}))
    c = wall.snapshot(store).clusters
    assert c.gathering_id.tolist() == [gid]
    row = c.iloc[0]
    assert (row["size"], row.category, row.tier) == (4, "wage_arrears", "yellow")
    pts = store.query_appeals(columns=("id", "lon", "lat")).set_index("id").loc[marked]
    x, y = lonlat_to_metric(pts.lon.to_numpy(), pts.lat.to_numpy())
    cx, cy = lonlat_to_metric(row[["lon"]].to_numpy(float), row[["lat"]].to_numpy(float))
    assert cx[0] == pytest.approx(x.mean(), abs=0.05) and cy[0] == pytest.approx(y.mean(), abs=0.05)
    assert row.radius_m == pytest.approx(((x - x.mean()) ** 2 + (y - y.mean()) ** 2).max() ** 0.5, abs=0.1)
    layers_by_id = {layer.id: layer for layer in wall.map_layers(wall.snapshot(store), "en")}
    recs = layers_by_id["gathering-clusters"].data
    assert len(recs) == 1 and recs[0]["size"] == 4
    assert recs[0]["tip"] == t("wall.tip_cluster", "en", size=4, category=label("category", "wage_arrears", "en"))


# ------------------------------------------------------------------------------------------- AppTest
def _wall_app(url: str, monkeypatch, mode: str | None = "wall", view: str | None = None) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", url)
    at = signed_in_app()
    if mode:
        at.query_params["mode"] = mode
    if view:
        at.query_params["view"] = view
    at.run()
    at.switch_page("pages/wall.py").run()
    assert not at.exception, at.exception
    return at


def _all_text(at: AppTest) -> str:
    parts = [str(e.proto) for e in at.main] + [str(e.proto) for e in at.sidebar]
    return "\n".join(parts)


def test_wall_page_kpis_equal_hand_counts(hand_store, monkeypatch):
    url, _, _ = hand_store
    at = _wall_app(url, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("wall.received", "zh")] == "6"
    assert metrics[t("wall.accepted", "zh")] == "3"
    assert metrics[t("wall.resolved", "zh")] == "1"
    assert metrics[t("wall.resolution_rate", "zh")] == "33.3%"
    assert metrics[t("wall.class1_respond", "zh")] == "1/2"


def test_wall_mode_is_read_only_and_shows_no_personal_data(hand_store, monkeypatch):
    """The unattended wall: no dispatch panel even with an appeal selected, no table to select from or
    download, no pick hint, the red list as a plain table with the tier in its colour."""
    url, _, ids = hand_store
    at = _wall_app(url, monkeypatch)
    at.session_state["wall_selected"] = ids["C"]
    at.run()
    text = _all_text(at)
    assert not at.button and not at.dataframe and not at.text_input
    assert t("wall.select_hint", "zh") not in text
    assert "gm-red-list" in text and "#e62828" in text          # red tier cell in red
    maps = at.get("deck_gl_json_chart")
    assert maps and all(not m.proto.selection_mode for m in maps)   # the map does not select
    for secret in NAMES + PHONES + [p[:3] + "****" + p[-4:] for p in PHONES]:
        assert secret not in text


def test_operator_panel_shows_no_personal_data(hand_store, monkeypatch):
    url, _, ids = hand_store
    at = _wall_app(url, monkeypatch, mode=None)
    at.session_state["wall_selected"] = ids["C"]
    at.run()
    text = _all_text(at)
    assert f"#{ids['C']}" in text  # the selected appeal's panel is there
    for secret in NAMES + PHONES + [p[:3] + "****" + p[-4:] for p in PHONES]:
        assert secret not in text


def _facts(at: AppTest) -> dict[str, str]:
    frame = at.dataframe[1].value  # [0] the red list, [1] the facts, [2] the timeline
    return dict(zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True))


def test_dispatch_actions_change_state_and_the_panel_at_once(hand_store, monkeypatch):
    url, store, ids = hand_store
    at = _wall_app(url, monkeypatch, mode=None)
    at.session_state["wall_selected"] = ids["E"]
    at.run()
    status = t("wall.col_status", "zh")
    assert _facts(at)[status] == "已上报"
    at.button(key="act_accept").click().run()
    assert store.get_appeal(ids["E"])["status"] == "accepted"
    assert at.success and not at.error
    assert _facts(at)[status] == "已受理"                   # the same run shows the new state
    assert at.button(key="act_accept").disabled and not at.button(key="act_dispatch").disabled
    at.button(key="act_escalate").click().run()
    assert store.get_appeal(ids["E"])["handling_level"] == "subdistrict"
    at.button(key="act_order").click().run()
    appeal = store.get_appeal(ids["E"])
    assert appeal["status"] == "dispatched"
    assert _facts(at)[status] == "已分拨"
    orders = store.orders(appeal_id=ids["E"])
    assert len(orders) >= 1
    actions = store.events(ids["E"]).action.tolist()
    assert actions[-3:] == ["accept", "escalate", "order"]
    assert store.events(ids["E"]).actor.iloc[-1] == "test_duty_officer"   # the signed-in account
    # Timeline: newest first, with actor and target (the ordered departments by name).
    tl = at.dataframe[2].value
    assert tl[t("wall.col_action", "zh")].tolist()[:3] == ["发令", "升级", "受理"]
    assert tl[t("wall.col_actor", "zh")].iloc[0] == "test_duty_officer"  # the account, by name
    dept_names = set(store.departments()["name"])
    assert tl[t("wall.col_target", "zh")].iloc[0] and set(tl[t("wall.col_target", "zh")].iloc[0].split("、")) <= \
        dept_names


def test_only_allowed_actions_are_offered(hand_store, monkeypatch):
    """A resolved appeal (A) offers none of the wall's actions; each button is disabled and says why."""
    url, store, ids = hand_store
    at = _wall_app(url, monkeypatch, mode=None)
    at.session_state["wall_selected"] = ids["A"]
    at.run()
    for action in wall_actions():
        button = at.button(key=f"act_{action}")
        assert button.disabled, action
        assert button.help and "已化解" in button.help, (action, button.help)
    # C (responded and accepted): respond and accept are off, dispatch and escalate on.
    at.session_state["wall_selected"] = ids["C"]
    at.run()
    assert at.button(key="act_respond").disabled and "已受理" in at.button(key="act_respond").help
    assert at.button(key="act_accept").disabled
    assert not at.button(key="act_dispatch").disabled and not at.button(key="act_escalate").disabled


def wall_actions() -> tuple[str, ...]:
    """The wall's actions, in button order (the page draws one button per action of services.wall)."""
    return wall.WALL_ACTIONS


def test_forbidden_action_changes_nothing(hand_store, monkeypatch):
    """A page drawn before someone else accepted the appeal still offers 受理; clicking it is refused by
    the store, the reason is shown, and nothing changes."""
    url, store, ids = hand_store
    at = _wall_app(url, monkeypatch, mode=None)
    at.session_state["wall_selected"] = ids["F"]
    at.run()
    assert not at.button(key="act_accept").disabled
    store.act(ids["F"], "accept", "another_officer")
    before, n_events = store.get_appeal(ids["F"]), len(store.events(ids["F"]))
    at.button(key="act_accept").click().run()
    assert at.error and "受理" in at.error[0].value and "已受理" in at.error[0].value
    assert store.get_appeal(ids["F"]) == before
    assert len(store.events(ids["F"])) == n_events


def test_view_scopes_the_figures_and_the_red_list(hand_store, monkeypatch, layers):
    """view=<subdistrict>: the hand-made appeals all lie in one subdistrict; another shows none of them."""
    url, store, ids = hand_store
    home = store.get_appeal(ids["A"])["subdistrict_code"]
    other = next(c for c in layers["subdistrict"].code if c != home)
    at = _wall_app(url, monkeypatch, view=home)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("wall.received", "zh")] == "6"
    text = _all_text(at)
    assert f"#{ids['D']}" not in text or "gm-red-list" in text
    name = layers["subdistrict"].set_index("code").name[home]
    assert t("wall.showing", "zh", view=name) in text
    at = _wall_app(url, monkeypatch, view=other)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("wall.received", "zh")] == "0" and metrics[t("wall.overdue", "zh")] == "0"
    text = _all_text(at)
    assert "gm-red-list" not in text and t("wall.no_warnings", "zh") in text
    snap = wall.snapshot(store, area=("subdistrict", other))
    assert snap.points.empty and snap.warnings.empty and snap.trend["received"].sum() == 0


@pytest.mark.parametrize("mode", ["wall", None], ids=["wall-mode", "operator"])
def test_wall_page_in_english_shows_no_chinese(hand_store, monkeypatch, mode):
    """Every element in English, the map's names and tooltips, the tables' cells and the dispatch panel
    (timeline actors, the order rule's leader level, placeholders) included, is free of CJK characters;
    only the language switch's "中文" and the resident's own words (the summary) stay as written."""
    from google.protobuf import text_format

    from tests.helpers import CJK, _elements

    url, store, ids = hand_store
    store.act(ids["E"], "accept", "duty_officer")
    store.issue_order(ids["E"], ["police"], "community_handler")
    at = _wall_app(url, monkeypatch, mode=mode)
    at.session_state["lang"] = "en"
    at.session_state["wall_selected"] = ids["E"]
    at.run()
    labels = [m.label for m in at.metric]
    assert t("wall.received", "en") in labels and t("wall.received", "zh") not in labels
    own_words = store.get_appeal(ids["E"])["description"]
    found = []
    for node in _elements(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        text = text_format.MessageToString(proto, as_utf8=True).replace(own_words, "")
        if getattr(node, "key", None) == "lang_switch":
            text = text.replace(t("app.lang_zh", "en"), "")
        found += [(type(node).__name__, m) for m in CJK.findall(text)]
    for frame in at.dataframe:
        cells = frame.value.astype(str).to_numpy().ravel()
        found += [("dataframe", m) for v in cells if v != own_words for m in CJK.findall(v)]
    assert not found, found[:20]


def test_every_pickable_record_carries_its_own_tooltip_text(hand_store):
    """One tooltip field for every layer: no layer can show another layer's placeholders, and the
    text is in the chosen language."""
    import re

    _, store, ids = hand_store
    snap = wall.snapshot(store)
    for lang in ("zh", "en"):
        data = json.loads(wall.wall_deck(snap, lang, wall.mapview.view_state((113.85, 22.68, 114.0, 22.84))).to_json())
        assert wall.tooltip(lang)["text"] == "{tip}" and "html" not in wall.tooltip(lang)
        pickable = [layer for layer in data["layers"] if layer.get("pickable")]
        assert {layer["id"] for layer in pickable} >= {"grid-warning", "appeal-points", "happiness-unit"}
        for layer in pickable:
            assert all(rec.get("tip") for rec in layer["data"]), layer["id"]
            if layer["@@type"] == "PolygonLayer":  # polygon outlines are not drawn in the picking pass
                assert not layer.get("stroked"), layer["id"]
        points = next(layer for layer in pickable if layer["id"] == "appeal-points")
        tips = {rec["id"]: rec["tip"] for rec in points["data"]}
        assert tips[ids["D"]].startswith(f"#{ids['D']} ")
        if lang == "en":
            cjk = re.compile(r"[\u3400-\u9fff]")
            assert not [r["tip"] for layer in pickable for r in layer["data"] if cjk.search(r["tip"])]


def test_points_and_labels_are_readable_on_the_wall(hand_store):
    _, store, _ = hand_store
    snap = wall.snapshot(store)
    data = json.loads(wall.wall_deck(snap, "zh", wall.mapview.view_state((113.85, 22.68, 114.0, 22.84))).to_json())
    by_id = {layer["id"]: layer for layer in data["layers"]}
    assert by_id["appeal-points"]["radiusMinPixels"] >= 6
    assert all(layer["getSize"] >= 20 for layer in data["layers"] if layer["@@type"] == "TextLayer")


def test_point_layer_id_changes_with_the_points(hand_store):
    """A map selection is kept by (layer id, row): a new id whenever the rows change drops a stale one."""
    _, store, ids = hand_store
    first = wall.snapshot(store)
    assert wall.point_layer_id(first) == wall.point_layer_id(wall.snapshot(store))
    store.act(ids["F"], "accept", "duty_officer")        # still open: same rows, same order
    assert wall.point_layer_id(wall.snapshot(store)) == wall.point_layer_id(first)
    store.act(ids["A"], "confirm", "duty_officer")
    store.act(ids["A"], "feedback", "duty_officer")
    store.act(ids["A"], "return_visit", "duty_officer", satisfaction="satisfied")   # A closes: a row goes
    assert wall.point_layer_id(wall.snapshot(store)) != wall.point_layer_id(first)


def test_wall_says_when_a_deadline_stands_on_a_computed_calendar(hand_store, monkeypatch, layers):
    """A deadline in a year nothing official covers (2027 with the shipped files) gets the note; the
    hand-made store's deadlines of today do not."""
    from services import clocks

    url, store, _ = hand_store
    at = _wall_app(url, monkeypatch, mode=None)
    unofficial = [y for y in range(2026, 2030) if clocks.calendar_basis(y) == "computed"]
    assert unofficial, "no computed year to test with"
    note_of = clocks.unofficial_note([unofficial[0]], "zh")
    assert note_of not in _all_text(at) or clocks.calendar_basis(_now().year) == "computed"
    grid = layers["grid"].iloc[100]
    pt = grid.geometry.representative_point()
    reported = datetime(unofficial[0], 3, 2, 9, 0, tzinfo=TZ)
    store.insert_appeals(pd.DataFrame([{
        "id": 99, "source": "test", "external_id": "LATE", "channel": "hotline", "service_type": "dispute",
        "category": "neighbour", "description": "远期", "lon": pt.x, "lat": pt.y, "source_crs": "wgs84",
        "people_involved": 1, "urgency": 1, "amount_involved": 0.0,
        "subdistrict_code": layers["community"].set_index("code").parent_code[grid.parent_code],
        "community_code": grid.parent_code, "grid_code": grid.code, "reported_at": reported}]))
    at.run()
    assert clocks.unofficial_note([unofficial[0]], "zh") in _all_text(at)


# ------------------------------------------------------------------------------ personal data in free text
PERSONAL_TEXT = "请回电张三丰13812345678，身份证440300199001011234，东周社区3栋1204室"
PERSONAL_SECRETS = ["张三丰", "三丰", "13812345678", "440300199001011234", "19900101", "13700009999"]


def _personal_appeal(store, layers) -> int:
    """A red appeal (40 people) whose description carries a name, a mobile number and an ID."""
    grid = layers["grid"].iloc[100]
    comm = layers["community"].set_index("code").loc[grid.parent_code]
    pt = grid.geometry.representative_point()
    return store.insert_appeals(pd.DataFrame([{
        "source": "test", "external_id": "P", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears", "description": PERSONAL_TEXT, "lon": pt.x + 0.001, "lat": pt.y,
        "source_crs": "wgs84", "people_involved": 40, "urgency": 1, "amount_involved": 13800.0,
        "subdistrict_code": comm.parent_code, "community_code": grid.parent_code, "grid_code": grid.code,
        "reporter_name": "张三丰", "reporter_phone": "13700009999",
        "reported_at": _now() - timedelta(minutes=3)}])).ids[0]


def test_the_wall_never_receives_free_text(hand_store, monkeypatch, layers):
    """In wall mode, whatever the role and even with the appeal selected, neither its description nor
    its reporter reach the page: not the red list, not a tooltip, not the map's data."""
    url, store, _ = hand_store
    pid = _personal_appeal(store, layers)
    snap = wall.snapshot(store)
    assert pid in set(snap.points["id"]) and "description" not in snap.points.columns
    for role in ("community_dispatcher", "duty_officer"):
        monkeypatch.setenv("DATABASE_URL", url)
        # a dispatcher's wall is its own community's
        area = store.get_appeal(pid)["community_code"] if role == "community_dispatcher" else None
        at = signed_in_app(role, area)
        at.query_params["mode"] = "wall"
        at.run()
        at.switch_page("pages/wall.py").run()
        at.session_state["wall_selected"] = pid
        at.run()
        assert not at.exception, at.exception
        text = _all_text(at)
        assert "gm-red-list" in text and f"#{pid}" in text       # the appeal is on the wall (tooltip)
        for secret in [*PERSONAL_SECRETS, "请回电", "1204室", "138****5678"]:
            assert secret not in text, (role, secret)


def test_the_operator_panel_masks_free_text_by_role(hand_store, monkeypatch, layers):
    url, store, _ = hand_store
    pid = _personal_appeal(store, layers)
    desc = t("wall.field_description", "zh")
    at = _wall_app(url, monkeypatch, mode=None)                 # a duty officer
    at.session_state["wall_selected"] = pid
    at.run()
    assert _facts(at)[desc] == "请回电张**138****5678，身份证440***********1234，东周社区3栋1204室"
    text = _all_text(at)
    for secret in PERSONAL_SECRETS:
        assert secret not in text, secret
    # the dispatcher of its community
    at.session_state[SESSION_KEY] = session_as("community_dispatcher", store.get_appeal(pid)["community_code"])
    at.run()
    assert _facts(at)[desc] == PERSONAL_TEXT
