"""Walk-in and hotline registration (来访登记): the service on both stores, and the page via AppTest.

The world: the sample district's reference data (buildings) seeded into the store; community A is the
community of one building, community B another's. Registrations are placed by building, by a GCJ-02
point, and refused outside the district, out of their facts' limits and outside the clerk's area.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from services import access, registration, workbench
from services.errors import ValidationError
from services.i18n import label, t
from services.store import open_store
from services.tiers import appeal_class, compute_tier
from tests.helpers import STORES, reset_store, signed_in_app

TZ = ZoneInfo("Asia/Shanghai")
CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")
PHONE = "13900001111"


def _now() -> datetime:
    return datetime.now(TZ)


def build(store) -> dict:
    """Reference data; two buildings in different communities (A, B) and a second building in A."""
    from services.seed import seed_reference

    seed_reference(store)
    b = registration.buildings_in(store, None).dropna(subset=["community_code"])
    first = b.iloc[500]
    other = b[b["community_code"] != first["community_code"]].iloc[0]
    second = b[(b["community_code"] == first["community_code"]) & (b["code"] != first["code"])].iloc[0]
    return {"a": first["community_code"], "b": other["community_code"], "bld_a": first["code"],
            "bld_a2": second["code"], "bld_b": other["code"]}


@pytest.fixture(params=STORES)
def world(request, tmp_path, layers):
    for store in reset_store(request, tmp_path):
        yield store, build(store)


def disp(w, community: str | None = None) -> access.Principal:
    return access.Principal("disp_a", "community_dispatcher", community or w["a"])


def draft(place: registration.Place | None, **over) -> registration.Draft:
    fields = {"channel": "walk_in", "service_type": "dispute", "category": "wage_arrears",
              "description": "工地欠薪三个月", "people_involved": 3, "amount_involved": 20000.0, "urgency": 1,
              "place": place, "reporter_name": "欧阳明华", "reporter_phone": PHONE} | over
    return registration.Draft(**fields)


# ----------------------------------------------------------------------------------------- service
def test_a_gcj02_point_is_converted_assigned_and_stored_with_its_system(world, layers):
    store, w = world
    g = layers["grid"].iloc[120]
    pt = g.geometry.representative_point()
    glon, glat = wgs84_to_gcj02(np.array([pt.x]), np.array([pt.y]))
    p = registration.place(store, lon=float(glon[0]), lat=float(glat[0]), crs="gcj02")
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert (p.lon, p.lat) == (float(wlon[0]), float(wlat[0])) and p.source_crs == "gcj02"
    assert abs(p.lon - pt.x) < 1e-6 and abs(p.lat - pt.y) < 1e-6
    assert p.areas["grid_code"] == g.code and p.areas["community_code"] == g.parent_code
    who = disp(w, g.parent_code)
    aid = registration.register(store, who, draft(p, channel="hotline"))
    a = store.get_appeal(aid)
    assert (a["source_crs"], a["grid_code"], a["community_code"], a["source"]) == ("gcj02", g.code, g.parent_code,
                                                                                  "hotline")
    assert abs(a["lon"] - p.lon) < 1e-9 and a["external_id"].startswith("hotline-")


def test_a_point_outside_the_district_is_refused_and_nothing_stored(world):
    store, w = world
    with pytest.raises(ValidationError) as exc:
        registration.place(store, lon=114.5, lat=22.2, crs="wgs84")
    assert exc.value.key == "error.register_outside_district"
    fake = registration.Place(114.5, 22.2, "wgs84", 114.5, 22.2, {"community_code": w["a"]})
    with pytest.raises(ValidationError):
        registration.register(store, disp(w), draft(fake))
    with pytest.raises(ValidationError):
        registration.place(store, lon="east", lat=22.7, crs="wgs84")
    with pytest.raises(ValidationError):
        registration.place(store, lon=113.9, lat=22.7, crs="mercator")
    assert store.query_appeals().empty
    assert store.audit_rows()["action"].iloc[-1] == "appeal.register.refused"


@pytest.mark.parametrize("bad", [{"people_involved": 0}, {"people_involved": 2.5}, {"urgency": 4},
                                 {"amount_involved": -1}, {"amount_involved": float("inf")},
                                 {"channel": "fax"}, {"category": "noise"}, {"description": "  "},
                                 {"reporter_phone": "call me"}, {"description": "a\x00b"}])
def test_a_field_intake_would_refuse_is_refused(world, bad):
    store, w = world
    p = registration.place_by_building(store, w["bld_a"])
    with pytest.raises(ValidationError):
        registration.register(store, disp(w), draft(p, **bad))
    assert store.query_appeals().empty


def test_the_preview_is_the_tier_and_class_of_services_tiers():
    for people, urgency, amount in [(1, 1, 0.0), (15, 1, 0.0), (40, 1, 0.0), (1, 2, 0.0), (1, 3, 0.0),
                                    (2, 1, 60_000.0), (2, 1, 2_000_000.0), (99, 3, 1e9)]:
        tier = compute_tier(people, urgency, amount)
        assert registration.preview({"people_involved": people, "urgency": urgency,
                                     "amount_involved": amount}) == (tier, appeal_class(tier, urgency))
    assert registration.preview({"people_involved": "3", "urgency": "紧急", "amount_involved": "0"})[0] == \
        compute_tier(3, 2, 0.0)
    with pytest.raises(ValidationError):
        registration.preview({"people_involved": 0, "urgency": 1, "amount_involved": 0})


def test_a_duplicate_on_the_same_building_and_category_inside_the_window_is_offered(world):
    store, w = world
    who, now = disp(w), _now()
    p = registration.place_by_building(store, w["bld_a"])
    inside = registration.register(store, who, draft(p), now=now - timedelta(hours=10))
    hours = registration.gathering_rules()["window_hours"]
    registration.register(store, who, draft(p), now=now - timedelta(hours=hours + 2))       # outside the window
    registration.register(store, who, draft(p, service_type="complaint", category="noise"), now=now)
    registration.register(store, who, draft(registration.place_by_building(store, w["bld_a2"])), now=now)
    dups = registration.likely_duplicates(store, who, draft(p), now)
    assert dups.appeals["id"].tolist() == [inside] and dups.cluster_id is None
    assert not registration.likely_duplicates(store, who, draft(p, category="neighbour"), now)
    # In a cluster: the cluster is offered, and linking puts the new appeal into it.
    store.mark_gathering(pd.DataFrame({"appeal_id": [inside], "gathering_id": [inside], "gathering_tier": ["yellow"]}))
    dups = registration.likely_duplicates(store, who, draft(p), now)
    assert (dups.cluster_id, dups.cluster_tier) == (inside, "yellow")
    new = registration.register(store, who, draft(p), link_to=inside, now=now)
    assert store.get_appeal(new)["gathering_id"] == inside
    # Without a cluster the link is noted on the new appeal.
    lone = registration.register(store, who, draft(p, service_type="complaint", category="noise"), now=now)
    other = registration.register(store, who, draft(p, service_type="complaint", category="noise"), link_to=lone,
                                  now=now)
    assert any(f"#{lone}" in str(n) for n in store.events(other)["note"])


def test_a_community_dispatcher_cannot_register_in_another_community(world):
    store, w = world
    p = registration.place_by_building(store, w["bld_b"])
    with pytest.raises(access.Forbidden):
        registration.register(store, disp(w), draft(p))
    with pytest.raises(access.Forbidden):
        registration.register(store, access.Principal("lead", "leader"), draft(p))
    assert store.query_appeals().empty
    duty = access.Principal("duty", "duty_officer")
    assert registration.register(store, duty, draft(p))        # the district's duty officer may anywhere


def test_a_registered_appeal_enters_its_communitys_queue_with_its_reporter_as_personal_data(world):
    store, w = world
    who = disp(w)
    aid = registration.register(store, who, draft(registration.place_by_building(store, w["bld_a"])))
    q = workbench.queue(store, who, _now())
    assert aid in q["id"].tolist() and "reporter_name" not in q and "reporter_phone" not in q
    assert aid not in workbench.queue(store, disp(w, w["b"]), _now())["id"].tolist()
    a = store.get_appeal(aid)
    assert (a["reporter_name"], a["reporter_phone"], a["building_code"]) == ("欧阳明华", PHONE, w["bld_a"])
    assert (a["source"], a["status"], a["channel"]) == ("walk_in", "reported", "walk_in")
    assert "reporter_name" not in store.query_appeals().columns
    assert store.events(aid)["actor"].tolist() == ["disp_a"]
    row = store.audit_rows().iloc[-1]
    assert (row.action, row.actor, str(row.object_id)) == ("appeal.register", "disp_a", str(aid))
    assert PHONE not in str(row.detail) and "欧阳明华" not in str(row.detail)


# ----------------------------------------------------------------------------------------- AppTest
@pytest.fixture()
def app_world(tmp_path, layers, monkeypatch):
    url = f"sqlite:///{tmp_path / 'reg.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = open_store(url)
    store.reset()
    w = build(store)
    yield store, w
    store.close()


def _app(w, lang: str = "zh"):
    at = signed_in_app("community_dispatcher", w["a"], page="pages/register.py",
                       query={"lang": "en"} if lang == "en" else None)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> list[str]:
    return [str(e.proto) for e in (*at.main, *at.sidebar)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_renders_in_each_language(app_world, lang):
    store, w = app_world
    at = _app(w, lang)
    assert at.title[0].value == t("register.title", lang)
    assert at.get("deck_gl_json_chart")
    if lang == "en":
        found = [m for s in _texts(at) for m in CJK.findall(s.replace("中文", ""))]
        assert not found, found[:20]


def test_registering_through_the_form_stores_the_appeal(app_world):
    store, w = app_world
    at = _app(w)
    at.selectbox(key="reg_service").set_value("dispute").run()
    at.selectbox(key="reg_category").set_value("wage_arrears")
    at.text_area(key="reg_description").input("工地欠薪")
    at.number_input(key="reg_people").set_value(40).run()
    red = t("register.preview", "zh", tier=label("tier", "red", "zh"), klass=label("appeal_class", "class1", "zh"))
    assert any(red in s for s in _texts(at))
    at.radio(key="reg_place_by").set_value("by_building").run()
    at.text_input(key="reg_building").input(w["bld_a"])
    at.button(key="reg_find").click().run()
    assert not at.error, [e.value for e in at.error]
    at.text_input(key="reg_name").input("欧阳明华")
    at.text_input(key="reg_phone").input(PHONE)
    at.button(key="reg_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    aid = at.session_state["reg_saved"]
    a = store.get_appeal(aid)
    assert (a["community_code"], a["people_involved"], a["tier"], a["reporter_phone"]) == (w["a"], 40, "red", PHONE)
    assert any(t("register.saved", "zh", id=aid) in s for s in _texts(at))
    # A second one on the same building is offered as a duplicate before saving.
    at.text_input(key="reg_building").input(w["bld_a"])
    at.button(key="reg_find").click().run()
    assert at.radio(key="reg_choice")
