"""The Open311 GeoReport v2 API (services/open311api, issue 16) on both stores: every response validated
against JSON Schemas written from the spec (tests/schemas/open311), no personal data on any GET, POST
through intake's checks (403 without or with a revoked key, 400 and quarantined for a bad row, one appeal
for a partner id sent twice, GCJ-02 stored as WGS84 in the right grid), filters, defaults and limits,
and a published client library (georeport, PyPI) over a real server on loopback.

services.api_keys is written elsewhere: a stand-in with its interface (check, check_scope, Partner) is
put in sys.modules here.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import types
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import numpy as np
import pytest
import referencing
from fastapi.testclient import TestClient

from geo.coords import wgs84_to_gcj02
from services.access import Forbidden
from services.intake import Intake
from services.open311api import create_app
from services.open311api.mapping import PERSONAL_KEYS
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.now(TZ).replace(microsecond=0)
SCHEMAS = Path(__file__).resolve().parent / "schemas" / "open311"
V2 = "/open311/v2"
GOOD, REVOKED, SCOPED = "key-good", "key-revoked", "key-scoped"
# Reporters of the seeded store: none of these may appear in any GET body.
PERSONALISH = re.compile(r"phone|mobile|mail|reporter|first_name|last_name|device|account|id_card|mediator", re.I)
PEOPLE = [("张三丰", "13812345678"), ("李四光", "13987654321"), ("王五岳", "13700001111"), ("赵六合", "13655556666")]


# ---------------------------------------------------------------------------------- schemas, keys
def _registry() -> referencing.Registry:
    resources = []
    for p in SCHEMAS.glob("*.json"):
        doc = json.loads(p.read_text(encoding="utf-8"))
        resources.append((doc["$id"], referencing.Resource.from_contents(doc)))
    return referencing.Registry().with_resources(resources)


REGISTRY = _registry()


def valid(body, schema: str):
    """``body`` validated against tests/schemas/open311/<schema>.json; returned for chaining."""
    doc = json.loads((SCHEMAS / f"{schema}.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(doc, registry=REGISTRY).validate(body)
    return body


@dataclass(frozen=True)
class Partner:
    id: int
    name: str
    services: tuple[str, ...] = ()
    area_code: str | None = None


def fake_api_keys(partners: dict[str, Partner], revoked: set[str]) -> types.ModuleType:
    """A stand-in for services.api_keys with its interface: check (missing / invalid key -> Forbidden),
    check_scope (service outside the partner's services, or a place outside its area -> Forbidden)."""
    mod = types.ModuleType("services.api_keys")
    mod.Partner = Partner
    mod.calls = []

    def check(store, key, *, address=None):
        mod.calls.append(("check", key, address))
        if not key:
            raise Forbidden("error.api_key_missing")
        if key in revoked or key not in partners:
            raise Forbidden("error.api_key_invalid")
        return partners[key]

    def check_scope(partner, service_code, appeal):
        mod.calls.append(("check_scope", partner.name, service_code))
        if partner.services and service_code not in partner.services:
            raise Forbidden("error.api_key_scope")
        if partner.area_code and partner.area_code not in (appeal.get("subdistrict_code"), appeal.get("community_code")):
            raise Forbidden("error.api_key_scope")

    mod.check, mod.check_scope = check, check_scope
    return mod


@pytest.fixture(autouse=True)
def api_keys(monkeypatch):
    mod = fake_api_keys({GOOD: Partner(1, "hotline12345"), REVOKED: Partner(2, "oldsys"),
                         SCOPED: Partner(3, "housing", services=("noise",))}, {REVOKED})
    monkeypatch.setitem(sys.modules, "services.api_keys", mod)
    return mod


# ---------------------------------------------------------------------------------------- store
def _points(layers, n: int) -> list[tuple[float, float, str]]:
    """``n`` grid interior points (WGS84) from different subdistricts where possible, with their grid."""
    g = layers["grid"]
    picks = np.linspace(0, len(g) - 1, n).astype(int)
    out = []
    for i in picks:
        p = g.geometry.iloc[i].representative_point()
        out.append((p.x, p.y, str(g["code"].iloc[i])))
    return out


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def seed(store, layers, tmp_path: Path) -> dict[str, dict]:
    """Five appeals from source ``city`` with personal data: closed, open, backlog, one 120 days old."""
    pts = _points(layers, 5)
    rows = [
        {"service_request_id": "A1", "category": "legal_consultation", "status": "closed",
         "requested_datetime": _iso(NOW - timedelta(days=10)), "updated_datetime": _iso(NOW - timedelta(days=9)),
         "description": "张三丰（电话13812345678）咨询劳动合同", "reporter_name": "张三丰", "reporter_phone": "13812345678"},
        {"service_request_id": "A2", "category": "noise", "status": "open",
         "requested_datetime": _iso(NOW - timedelta(hours=1)),
         "description": "李四光反映夜间施工噪音，回电13987654321", "reporter_name": "李四光", "reporter_phone": "13987654321"},
        {"service_request_id": "A3", "category": "wage_arrears", "status": "open", "people_involved": 60, "urgency": 3,
         "amount_involved": 500000, "requested_datetime": _iso(NOW - timedelta(days=5)),
         "description": "工地欠薪", "reporter_name": "王五岳", "reporter_phone": "13700001111"},
        {"service_request_id": "A4", "category": "neighbour", "status": "closed",
         "requested_datetime": _iso(NOW - timedelta(days=120)), "updated_datetime": _iso(NOW - timedelta(days=119)),
         "description": "邻里纠纷", "reporter_name": "赵六合", "reporter_phone": "13655556666"},
        {"service_request_id": "A5", "category": "family", "status": "open",
         "requested_datetime": _iso(NOW - timedelta(hours=2)), "description": "家事咨询"},
    ]
    for r, (x, y, _) in zip(rows, pts, strict=True):
        r.update({"long": x, "lat": y})
    path = tmp_path / "city.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    summary = Intake(store, source="city", now=NOW).import_file(path)
    assert summary.stored == 5, summary.text()
    stored = store.query_appeals(columns=["id", "source", "external_id", "subdistrict_code", "community_code",
                                          "grid_code", "tier", "status", "lon", "lat"])
    return {r["external_id"]: r for r in stored.to_dict("records") if r["source"] == "city"}


@pytest.fixture(scope="module", params=STORES)
def world(request, tmp_path_factory, layers):
    """A seeded store and its five appeals by external id (module-wide: tests use their own partner ids)."""
    tmp = tmp_path_factory.mktemp("o311api")
    if request.param == "sqlite":
        store = SQLiteStore(tmp / "gm.sqlite3")
    else:
        from services.store.postgis import PostGISStore

        store = PostGISStore(request.getfixturevalue("postgis_url"), schema=f"t_o311api_{uuid.uuid4().hex[:10]}")
    try:
        yield store, seed(store, layers, tmp)
    finally:
        if request.param == "sqlite":
            store.close()
        else:
            store.drop_schema()


@pytest.fixture
def client(world):
    store, _ = world
    return TestClient(create_app(store))


def ids_of(body) -> set[str]:
    return {r["service_request_id"] for r in body}


def get(client, path: str, schema: str = "requests", expect: int = 200, **params):
    r = client.get(V2 + path, params=params)
    assert r.status_code == expect, r.text
    return valid(r.json(), schema if expect == 200 else "errors")


# ------------------------------------------------------------------------------ discovery, services
def test_discovery_and_services_in_both_languages(client):
    d = get(client, "/discovery.json", "discovery")
    assert d["endpoints"][0]["url"].endswith("/open311/v2/")
    zh = get(client, "/services.json", "services")
    en = valid(client.get(V2 + "/services.json", headers={"Accept-Language": "en-GB,en;q=0.8"}).json(), "services")
    assert [s["service_code"] for s in zh] == [s["service_code"] for s in en]
    noise_zh = next(s for s in zh if s["service_code"] == "noise")
    noise_en = next(s for s in en if s["service_code"] == "noise")
    assert re.search(r"[\u4e00-\u9fff]", noise_zh["service_name"]) and noise_en["service_name"].isascii()
    assert get(client, "/services.json", "services", lang="en") == en  # ?lang= as well


def test_service_definition_has_the_three_attributes_and_unknown_is_404(client):
    d = get(client, "/services/noise.json", "service_definition", lang="en")
    assert [a["code"] for a in d["attributes"]] == ["people_involved", "amount_involved", "urgency"]
    urgency = d["attributes"][2]
    assert urgency["datatype"] == "singlevaluelist" and [v["key"] for v in urgency["values"]] == ["1", "2", "3"]
    err = get(client, "/services/no_such.json", expect=404)
    assert err[0]["code"] == 404
    assert get(client, "/no_such_endpoint.json", expect=404)[0]["code"] == 404


# ------------------------------------------------------------------------------------ GET requests
def test_get_defaults_to_the_last_90_days_with_the_spec_fields(client, world):
    _, seeded = world
    body = get(client, "/requests.json")
    mine = {r["service_request_id"]: r for r in body}
    want = {str(seeded[k]["id"]) for k in ("A1", "A2", "A3", "A5")}
    assert want <= set(mine) and str(seeded["A4"]["id"]) not in mine  # 120 days old: outside the default
    a1, a2 = mine[str(seeded["A1"]["id"])], mine[str(seeded["A2"]["id"])]
    assert a1["status"] == "closed" and a2["status"] == "open"
    assert a1["status_notes"] == "已办结" or re.search(r"[\u4e00-\u9fff]", a1["status_notes"])
    assert a1["requested_datetime"].endswith("+08:00") and a1["updated_datetime"].endswith("+08:00")
    assert a2["service_code"] == "noise" and a2["status_code"] == "reported"
    for r in body:  # extensions
        assert r["tier"] in ("red", "yellow", "blue") and r["handling_level"] and r["appeal_class"]
        assert r["coord_system"] == "wgs84"
    a3 = mine[str(seeded["A3"]["id"])]
    assert a3["tier"] == seeded["A3"]["tier"] and a3["subdistrict"] == seeded["A3"]["subdistrict_code"]
    assert abs(a2["long"] - seeded["A2"]["lon"]) < 1e-6 and abs(a2["lat"] - seeded["A2"]["lat"]) < 1e-6
    en = get(client, "/requests.json", lang="en", service_request_id=str(seeded["A1"]["id"]))
    assert en[0]["status_notes"].isascii() and en[0]["service_name"].isascii()


def test_get_filters(client, world):
    _, s = world
    sid = {k: str(v["id"]) for k, v in s.items()}
    assert ids_of(get(client, "/requests.json", status="closed")) & set(sid.values()) == {sid["A1"]}
    assert {sid["A2"], sid["A3"], sid["A5"]} <= ids_of(get(client, "/requests.json", status="open"))
    assert sid["A1"] not in ids_of(get(client, "/requests.json", status="open"))
    assert ids_of(get(client, "/requests.json", service_code="noise,family")) >= {sid["A2"], sid["A5"]}
    assert sid["A1"] not in ids_of(get(client, "/requests.json", service_code="noise,family"))
    # a comma list of ids overrides the window (A4 is 120 days old); unknown ids are left out
    assert ids_of(get(client, "/requests.json", service_request_id=f"{sid['A4']},{sid['A1']},999999")) == \
        {sid["A4"], sid["A1"]}
    old = get(client, "/requests.json", start_date=_iso(NOW - timedelta(days=121)),
              end_date=_iso(NOW - timedelta(days=100)))
    assert sid["A4"] in ids_of(old) and sid["A1"] not in ids_of(old)
    utc = get(client, "/requests.json", start_date=(NOW - timedelta(days=11)).astimezone(ZoneInfo("UTC"))
              .strftime("%Y-%m-%dT%H:%M:%SZ"), end_date=_iso(NOW - timedelta(days=8)))
    assert sid["A1"] in ids_of(utc) and sid["A2"] not in ids_of(utc)
    sub = s["A2"]["subdistrict_code"]
    in_sub = get(client, "/requests.json", subdistrict=sub)
    assert sid["A2"] in ids_of(in_sub) and all(r["subdistrict"] == sub for r in in_sub)
    com = s["A5"]["community_code"]
    assert all(r["community"] == com for r in get(client, "/requests.json", community=com))
    red = get(client, "/requests.json", tier="red")
    assert all(r["tier"] == "red" for r in red) and (sid["A3"] in ids_of(red)) == (s["A3"]["tier"] == "red")
    first = get(client, "/requests.json", page_size="2")
    second = get(client, "/requests.json", page_size="2", page="2")
    assert len(first) == 2 and len(second) >= 1 and not ids_of(first) & ids_of(second)
    for bad in ({"status": "pending"}, {"start_date": "yesterday"}, {"page_size": "1001"},
                {"start_date": _iso(NOW - timedelta(days=200)), "end_date": _iso(NOW)},
                {"coord_system": "bd09"}, {"tier": "purple"}, {"service_code": "nope"}):
        assert get(client, "/requests.json", expect=400, **bad)[0]["code"] == 400, bad


def test_single_request_and_tokens(client, world):
    _, s = world
    one = get(client, f"/requests/{s['A1']['id']}.json")
    assert len(one) == 1 and one[0]["service_request_id"] == str(s["A1"]["id"])
    assert get(client, "/requests/999999.json", expect=404)[0]["code"] == 404
    assert get(client, "/requests/abc.json", expect=404)[0]["code"] == 404
    assert get(client, "/tokens/whatever.json", expect=404)[0]["code"] == 404


def test_gcj02_output(client, world):
    _, s = world
    a2 = s["A2"]
    body = get(client, f"/requests/{a2['id']}.json", coord_system="gcj02")
    gx, gy = wgs84_to_gcj02(np.array([a2["lon"]]), np.array([a2["lat"]]))
    assert abs(body[0]["long"] - gx[0]) < 1e-6 and abs(body[0]["lat"] - gy[0]) < 1e-6
    assert body[0]["coord_system"] == "gcj02" and abs(body[0]["long"] - a2["lon"]) > 1e-3


def _walk_keys(doc):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from _walk_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk_keys(v)


def test_no_personal_data_on_any_get(client, world):
    _, s = world
    every = ",".join(str(v["id"]) for v in s.values())
    bodies = [client.get(V2 + p, params=q) for p, q in [
        ("/requests.json", {}), ("/requests.json", {"lang": "en"}), ("/requests.json", {"service_request_id": every}),
        ("/requests.json", {"status": "closed", "start_date": _iso(NOW - timedelta(days=130)),
                            "end_date": _iso(NOW - timedelta(days=41))}),
        ("/requests.json", {"coord_system": "gcj02"}),
        *[(f"/requests/{v['id']}.json", {}) for v in s.values()],
        ("/services.json", {}), ("/services/noise.json", {}), ("/discovery.json", {})]]
    for r in bodies:
        assert r.status_code == 200, r.text
        keys = set(_walk_keys(r.json()))
        assert not keys & set(PERSONAL_KEYS), r.text
        assert not [k for k in keys if PERSONALISH.search(k)], r.text
        for name, phone in PEOPLE:
            assert name not in r.text and phone not in r.text, r.text
    a1 = client.get(V2 + f"/requests/{s['A1']['id']}.json").json()[0]
    assert "咨询劳动合同" in a1["description"] and "138****5678" in a1["description"]  # masked, not removed


# ------------------------------------------------------------------------------------------- POST
def _post(client, key: str | None, pid: str | None, lon: float, lat: float, *, as_json: bool = False, **extra):
    body = {"service_code": "noise", "long": lon, "lat": lat, "description": "广场舞噪音扰民",
            "attribute[people_involved]": "3", "attribute[urgency]": "1", "first_name": "小明", "last_name": "陈",
            "phone": "13511112222", "email": "chen@example.cn", "device_id": "dev-1", "account_id": "acc-1", **extra}
    if key is not None:
        body["api_key"] = key
    if pid is not None:
        body["partner_request_id"] = pid
    if as_json:
        return client.post(V2 + "/requests.json", json=body)
    return client.post(V2 + "/requests.json", data=body)


def _appeals_of(store, source: str) -> list[dict]:
    frame = store.query_appeals(columns=["id", "source", "external_id", "lon", "lat", "grid_code", "category",
                                         "people_involved"], include_personal=False)
    return [r for r in frame.to_dict("records") if r["source"] == source]


def test_post_without_or_with_a_revoked_key_is_403_and_audited(client, world, layers, api_keys):
    store, _ = world
    x, y, _ = _points(layers, 1)[0]
    for key in (None, "", REVOKED, "no-such-key"):
        r = _post(client, key, f"P403-{key}", x, y)
        assert r.status_code == 403, r.text
        valid(r.json(), "errors")
    refused = store.audit_rows(actor="anonymous")
    refused = [json.loads(d) for a, d in zip(refused["action"], refused["detail"], strict=True)
               if a == "open311.request.refused"]
    assert {d["partner_request_id"] for d in refused} >= {"P403-None", "P403-", f"P403-{REVOKED}"}
    assert all(d["status"] == 403 for d in refused)
    assert not _appeals_of(store, "open311:oldsys")


def test_post_stores_through_intake_and_is_idempotent_on_the_partner_id(client, world, layers, api_keys):
    store, _ = world
    x, y, _ = _points(layers, 3)[1]
    first = _post(client, GOOD, "HL-0001", x, y)
    assert first.status_code == 200, first.text
    rid = valid(first.json(), "post_response")[0]["service_request_id"]
    again = _post(client, GOOD, "HL-0001", x, y, as_json=True)
    assert again.status_code == 200, again.text
    assert valid(again.json(), "post_response")[0]["service_request_id"] == rid
    mine = [a for a in _appeals_of(store, "open311:hotline12345") if a["external_id"] == "HL-0001"]
    assert len(mine) == 1 and str(mine[0]["id"]) == rid
    stored = store.get_appeal(int(rid))
    assert stored["category"] == "noise" and stored["service_type"] == "complaint"
    assert stored["people_involved"] == 3 and stored["reporter_name"] == "陈小明"
    assert stored["reporter_phone"] == "13511112222" and stored["source_crs"] == "wgs84"
    assert ("check", GOOD, "testclient") in api_keys.calls and ("check_scope", "hotline12345", "noise") in api_keys.calls
    audit = store.audit_rows(actor="open311:hotline12345")
    done = [json.loads(d) for a, d in zip(audit["action"], audit["detail"], strict=True) if a == "open311.request"]
    assert [d["duplicate"] for d in done if d["partner_request_id"] == "HL-0001"] == [False, True]
    assert not any("13511112222" in str(d) or "chen@example" in str(d) for d in audit["detail"])
    got = client.get(V2 + f"/requests/{rid}.json")
    assert "13511112222" not in got.text and "陈小明" not in got.text and "chen@" not in got.text
    valid(got.json(), "requests")


def test_post_bad_row_is_400_with_the_reason_and_quarantined(client, world, api_keys):
    store, _ = world
    r = _post(client, GOOD, "HL-BAD-1", 114.5, 22.77)  # east of Guangming
    assert r.status_code == 400, r.text
    err = valid(r.json(), "errors")
    assert err[0]["description"].startswith("outside_district")
    r2 = _post(client, GOOD, "HL-BAD-2", 113.93, 22.77, **{"attribute[urgency]": "9"})
    assert r2.status_code == 400 and valid(r2.json(), "errors")[0]["description"].startswith("out_of_range")
    r3 = _post(client, GOOD, "HL-BAD-3", 113.93, 22.77, service_code="pothole")
    assert r3.status_code == 400 and "unknown_service_type" in r3.json()[0]["description"]
    q = store.quarantined(source="open311:hotline12345")
    codes = dict(zip([json.loads(raw)["external_id"] for raw in q["raw"]], q["reason_code"], strict=True))
    assert codes["HL-BAD-1"] == "outside_district" and codes["HL-BAD-2"] == "out_of_range"
    assert codes["HL-BAD-3"] == "unknown_service_type"
    assert not [a for a in _appeals_of(store, "open311:hotline12345") if a["external_id"].startswith("HL-BAD")]
    audit = store.audit_rows(actor="open311:hotline12345")
    reasons = {json.loads(d)["partner_request_id"]: json.loads(d)["reason"]
               for a, d in zip(audit["action"], audit["detail"], strict=True) if a == "open311.request.refused"}
    assert reasons["HL-BAD-1"] == "outside_district"


def test_post_gcj02_is_stored_in_wgs84_in_the_right_grid(client, world, layers):
    store, _ = world
    x, y, grid = _points(layers, 5)[3]
    gx, gy = wgs84_to_gcj02(np.array([x]), np.array([y]))
    r = _post(client, GOOD, "HL-GCJ", float(gx[0]), float(gy[0]), coord_system="gcj02")
    assert r.status_code == 200, r.text
    stored = store.get_appeal(int(r.json()[0]["service_request_id"]), include_personal=False)
    assert abs(stored["lon"] - x) < 1e-6 and abs(stored["lat"] - y) < 1e-6
    assert stored["grid_code"] == grid and stored["source_crs"] == "gcj02"


def test_post_outside_the_partners_scope_is_403(client, world, layers):
    store, _ = world
    x, y, _ = _points(layers, 1)[0]
    assert _post(client, SCOPED, "H-1", x, y).status_code == 200  # noise is housing's
    r = _post(client, SCOPED, "H-2", x, y, service_code="wage_arrears")
    assert r.status_code == 403 and valid(r.json(), "errors")
    assert [a["external_id"] for a in _appeals_of(store, "open311:housing")] == ["H-1"]


# ----------------------------------------------------------------------------------------- limits
def test_too_large_and_rate_limited(world, layers):
    store, _ = world
    c = TestClient(create_app(store, config={"rate_per_minute": 3, "max_body_bytes": 2048}))
    x, y, _ = _points(layers, 1)[0]
    big = _post(c, GOOD, "BIG", x, y, description="很" * 2000)
    assert big.status_code == 413 and valid(big.json(), "errors")[0]["code"] == 413
    long_query = c.get(V2 + "/requests.json", params={"service_code": "noise," * 400})
    assert long_query.status_code == 413 and valid(long_query.json(), "errors")
    codes = [c.get(V2 + "/services.json", params={"api_key": "k1"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert c.get(V2 + "/services.json", params={"api_key": "k2"}).status_code == 200  # per key
    limited = c.get(V2 + "/services.json", params={"api_key": "k1"})
    assert valid(limited.json(), "errors")[0]["code"] == 429 and limited.headers["retry-after"]


def test_get_can_require_a_key(world):
    store, _ = world
    c = TestClient(create_app(store, config={"get_requires_key": True}))
    assert valid(c.get(V2 + "/requests.json").json(), "errors")[0]["code"] == 403
    assert c.get(V2 + "/requests.json", params={"api_key": REVOKED}).status_code == 403
    assert valid(c.get(V2 + "/requests.json", params={"api_key": GOOD}).json(), "requests")


# ------------------------------------------------------------------ a published client, over loopback
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_published_georeport_client_over_loopback(world, layers):
    """georeport (PyPI) reads services, a definition and requests from a real uvicorn server on 127.0.0.1;
    a partner's POST (form-encoded, as FixMyStreet sends it) goes over the same socket."""
    import requests as http
    import uvicorn
    from georeport import GeoReport

    store, s = world
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        root = f"http://127.0.0.1:{port}/open311/v2"
        client = GeoReport(root)
        valid(client.get_service_list(), "services")
        valid(client.get_service_definition("noise"), "service_definition")
        listed = valid(client.get_service_requests(status="open", service_code="noise"), "requests")
        assert str(s["A2"]["id"]) in ids_of(listed)
        one = client.get_service_request(str(s["A1"]["id"]))
        assert one["status"] == "closed" and valid([one], "requests")
        x, y, _ = _points(layers, 2)[1]
        posted = http.post(f"{root}/requests.json", data={"api_key": GOOD, "service_code": "noise", "lat": y,
                                                          "long": x, "description": "loopback",
                                                          "partner_request_id": "LOOP-1"}, timeout=10)
        assert posted.status_code == 200, posted.text
        rid = valid(posted.json(), "post_response")[0]["service_request_id"]
        assert client.get_service_request(rid)["service_code"] == "noise"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_mounted_in_streamlits_app(tmp_path, layers):
    """One process: the API as routes of Streamlit's st.App, beside the dashboard (README). Streamlit has
    one runtime per process, so this runs once, on a SQLite store of its own."""
    import streamlit as st
    from streamlit.runtime import Runtime

    from services.open311api.app import streamlit_routes

    store = SQLiteStore(tmp_path / "gm.sqlite3")
    s = seed(store, layers, tmp_path)
    try:
        app = st.App(str(Path(__file__).resolve().parent.parent / "app.py"), routes=streamlit_routes(store))
        c = TestClient(app)  # without ``with``: Streamlit's runtime is not started, the routes answer
        d = valid(c.get(V2 + "/discovery.json").json(), "discovery")
        assert d["endpoints"][0]["url"] == "http://testserver/open311/v2/"
        assert str(s["A2"]["id"]) in ids_of(valid(c.get(V2 + "/requests.json").json(), "requests"))
        assert valid(c.get(V2 + "/nope.json").json(), "errors")[0]["code"] == 404
    finally:
        Runtime._instance = None  # st.App made the process's one runtime; later tests (AppTest) make theirs
        store.close()
