"""Partners' Open311 API keys (services/api_keys.py) on both stores: an issued key gives its Partner until it
is revoked or replaced, a missing, malformed, unknown or revoked key is refused (the last three alike) and
the refusal audited, the scope allows exactly its services and area, only the key's hash is in the
database, issuing and revoking are audited, the CLI (python -m services.access api-key | revoke-api-key |
api-keys), the admin's requests (manage_accounts only) and the admin page's tab."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services import access, accounts, admin, api_keys, audit
from services.access import Forbidden, Principal
from services.api_keys import Partner
from services.errors import NotFound, ValidationError, describe
from services.i18n import t
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store, signed_in_app

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
SUBDISTRICT = "440311001"
COMMUNITY = "440311001001"
OTHER_COMMUNITY = "440311002001"
ADMIN = Principal("root", "admin", address="10.0.0.9")
ADMIN_PAGE = "pages/admin.py"


@pytest.fixture(params=STORES)
def store(request, tmp_path, layers):
    yield from reset_store(request, tmp_path)


def _url(store) -> str:
    return store.url if isinstance(store, SQLiteStore) else f"{store.url}?schema={store.schema}"


def _refused(store, key) -> Forbidden:
    with pytest.raises(Forbidden) as refused:
        api_keys.check(store, key, address="203.0.113.7")
    return refused.value


def test_issue_check_revoke_check_refused(store):
    key = api_keys.issue(store, "hotline12345", actor="root", address="10.0.0.9", at=T0)
    assert key.startswith("gm311_") and len(key) >= 6 + 43
    partner = api_keys.check(store, key)
    assert partner == Partner(partner.id, "hotline12345", (), None) and partner.actor == "api:hotline12345"
    row = api_keys.revoke(store, "hotline12345", actor="root", at=T0 + timedelta(hours=1))
    assert row["revoked_by"] == "root" and row["revoked_at"] == T0 + timedelta(hours=1) and "key_hash" not in row
    assert _refused(store, key).key == "error.api_key_invalid"
    with pytest.raises(NotFound) as none:
        api_keys.revoke(store, "hotline12345", actor="root")
    assert none.value.key == "error.api_key_unknown_partner"
    assert api_keys.keys(store)["active"].tolist() == [False]


def test_issuing_again_revokes_the_earlier_key_and_leaves_other_partners_alone(store):
    first = api_keys.issue(store, "hotline12345", actor="root", at=T0)
    other = api_keys.issue(store, "police.platform", actor="root", at=T0)
    second = api_keys.issue(store, "hotline12345", services=["noise"], actor="root", at=T0 + timedelta(minutes=5))
    assert second != first
    assert _refused(store, first).key == "error.api_key_invalid"
    assert api_keys.check(store, second).services == ("noise",)
    assert api_keys.check(store, other).name == "police.platform"
    df = api_keys.keys(store)
    assert df[["partner", "active"]].values.tolist() == [["hotline12345", False], ["hotline12345", True],
                                                        ["police.platform", True]]
    assert list(df.columns) == ["id", "partner", "services", "area_code", "created_at", "created_by", "revoked_at",
                                "revoked_by", "last_used_at", "active"]
    old = df.iloc[0]
    assert old["revoked_by"] == "root" and old["revoked_at"] == T0 + timedelta(minutes=5)
    log = store.audit_rows(object_kind="api_key")
    issued = log[log["action"] == "api_key_issued"]["detail"].tolist()
    assert ['"replaced":null' in d for d in issued] == [True, True, False] and '"replaced":1' in issued[2]


def test_missing_malformed_unknown_and_revoked_keys_are_refused_and_audited(store):
    key = api_keys.issue(store, "hotline12345", actor="root")
    gone = api_keys.issue(store, "old.partner", actor="root")
    api_keys.revoke(store, "old.partner", actor="root")
    assert {_refused(store, k).key for k in (None, "", "   ")} == {"error.api_key_missing"}
    bad = ["short", "gm311_short", "x" * 50, "gm311_" + "a" * 500, "gm311_bad key with spaces and many chars!!!!!",
           key[:-1] + ("A" if key[-1] != "A" else "B"), "gm311_" + "a" * 43, gone, 12345]
    refusals = [_refused(store, k) for k in bad]
    assert {r.key for r in refusals} == {"error.api_key_invalid"}
    # unknown and revoked read the same, in both languages
    assert len({describe(r, "en") for r in refusals}) == 1 and len({describe(r, "zh") for r in refusals}) == 1
    log = store.audit_rows(object_kind="api_key")
    refused = log[log["action"] == "api_key_refused"]
    assert len(refused) == 3 + len(bad)
    assert set(refused["actor"]) == {"anonymous"} and set(refused["address"]) == {"203.0.113.7"}
    revoked = refused[refused["object_id"] == "old.partner"]
    assert len(revoked) == 1 and '"reason":"revoked"' in revoked["detail"].iloc[0]
    assert key not in log.to_csv() and gone not in log.to_csv()
    assert api_keys.check(store, key).name == "hotline12345"  # the partner's own key still works


def test_last_used_is_written_at_most_once_a_minute(store):
    key = api_keys.issue(store, "hotline12345", actor="root", at=T0)
    api_keys.check(store, key, now=T0 + timedelta(seconds=1))
    assert api_keys.keys(store)["last_used_at"].iloc[0] == T0 + timedelta(seconds=1)
    api_keys.check(store, key, now=T0 + timedelta(seconds=30))
    assert api_keys.keys(store)["last_used_at"].iloc[0] == T0 + timedelta(seconds=1)
    api_keys.check(store, key, now=T0 + timedelta(seconds=61))
    assert api_keys.keys(store)["last_used_at"].iloc[0] == T0 + timedelta(seconds=61)


def test_scope_allows_its_services_and_area_and_refuses_the_rest(store):
    here = {"subdistrict_code": SUBDISTRICT, "community_code": COMMUNITY}
    there = {"subdistrict_code": "440311002", "community_code": OTHER_COMMUNITY}
    nowhere = {"subdistrict_code": None, "community_code": None}
    everything = api_keys.check(store, api_keys.issue(store, "all", actor="root"))
    assert all(api_keys.allows(everything, c, a) for c in api_keys.SERVICE_CODES for a in (here, there, nowhere))
    by_service = api_keys.check(store, api_keys.issue(store, "noise", services=["noise", " traffic", "noise"],
                                                      actor="root"))
    assert by_service.services == ("traffic", "noise")  # stripped, once each, in SERVICE_CODES' order
    assert api_keys.check_services("noise") == ("noise",)
    assert api_keys.allows(by_service, "noise", there) and not api_keys.allows(by_service, "wage_arrears", here)
    sub = api_keys.check(store, api_keys.issue(store, "sub", area=SUBDISTRICT, actor="root"))
    assert api_keys.allows(sub, "noise", here) and not api_keys.allows(sub, "noise", there)
    assert not api_keys.allows(sub, "noise", nowhere)
    com = api_keys.check(store, api_keys.issue(store, "com", services=["wage_arrears"], area=COMMUNITY,
                                               actor="root"))
    assert com.area_code == COMMUNITY and api_keys.allows(com, "wage_arrears", here)
    assert not api_keys.allows(com, "noise", here) and not api_keys.allows(com, "wage_arrears", there)
    api_keys.check_scope(com, "wage_arrears", here)
    with pytest.raises(Forbidden) as refused:
        api_keys.check_scope(com, "noise", here)
    assert refused.value.key == "error.api_key_scope" and "com" in str(refused.value)


def test_names_services_and_areas_are_checked_before_anything_is_stored(store):
    for bad in ("", "hot line", "热线", "a" * 65, "a/b"):
        with pytest.raises(ValidationError) as refused:
            api_keys.issue(store, bad, actor="root")
        assert refused.value.key == "error.api_key_partner_invalid"
    with pytest.raises(ValidationError) as refused:
        api_keys.issue(store, "p", services=["noise", "legal_advice"], actor="root")
    assert refused.value.key == "error.api_key_service_unknown" and "legal_advice" in str(refused.value)
    for area in ("440311", "999999999", "police"):
        with pytest.raises(ValidationError) as refused:
            api_keys.issue(store, "p", area=area, actor="root")
        assert refused.value.key == "error.api_key_area_unknown"
    assert api_keys.keys(store).empty and store.audit_rows(object_kind="api_key").empty


def test_service_codes_are_the_appeal_categories():
    from services.vocabulary import CATEGORY_SERVICE

    assert set(api_keys.SERVICE_CODES) == set(CATEGORY_SERVICE) and len(api_keys.SERVICE_CODES) == 19


def test_only_the_hash_is_stored(store):
    key = api_keys.issue(store, "hotline12345", services=["noise"], area=COMMUNITY, actor="root")
    api_keys.check(store, key)
    api_keys.revoke(store, "hotline12345", actor="root")
    secret = key.encode()
    if isinstance(store, SQLiteStore):
        path = Path(store.url.removeprefix("sqlite:///"))
        blobs = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # with -wal and -shm
        assert api_keys.key_hash(key).encode() in blobs          # the hash is there (the file was read)
        assert secret not in blobs and key[len(api_keys.PREFIX):].encode() not in blobs
    else:
        with store._read() as cx:
            dump = "\n".join(str(r) for table in ("api_key", "audit_log")
                             for r in cx.execute(f"SELECT * FROM {table}").fetchall())
        assert api_keys.key_hash(key) in dump and key not in dump and key[len(api_keys.PREFIX):] not in dump
    listed = api_keys.keys(store)
    assert "key_hash" not in listed and api_keys.key_hash(key) not in listed.to_csv()


def test_at_most_one_active_key_per_partner_in_the_database(store):
    store.insert_api_key("p", "h1", created_by="root")
    with pytest.raises(Exception), store._tx() as cx:  # noqa: B017 - either driver's integrity error
        cx.execute(f"INSERT INTO api_key (partner, key_hash, created_at, created_by) "
                   f"VALUES ({store.P}, {store.P}, {store.P}, {store.P})", ("p", "h2", store._param_ts(T0), "root"))
    assert len(store.list_api_keys()) == 1


def test_issue_and_revoke_are_audited_and_the_chain_holds(store):
    api_keys.issue(store, "hotline12345", services=["noise"], area=COMMUNITY, actor="root", address="10.0.0.9")
    api_keys.revoke(store, "hotline12345", actor="root", address="10.0.0.9")
    log = store.audit_rows(object_kind="api_key")
    assert log["action"].tolist() == ["api_key_issued", "api_key_revoked"]
    assert log["object_id"].tolist() == ["hotline12345"] * 2 and log["actor"].tolist() == ["root"] * 2
    assert log["address"].tolist() == ["10.0.0.9"] * 2
    assert log["detail"].iloc[0] == ('{"area_code":"440311001001","key_id":1,"replaced":null,'
                                     '"services":["noise"]}')
    assert audit.verify(store) == (True, None)
    assert admin.action_label("api_key_issued", "en") == "API key issued"
    assert admin.object_label("api_key", "hotline12345", "zh") == "接口密钥:hotline12345"


def test_cli_api_key_revoke_api_key_api_keys(store, capsys):
    url = _url(store)
    assert accounts.main(["--store", url, "api-key", "--partner", "hotline12345", "--service", "noise",
                          "--service", "traffic", "--area", COMMUNITY]) == 0
    out = capsys.readouterr().out
    assert "shown once" in out
    key = out.strip().splitlines()[-1]
    partner = api_keys.check(store, key)
    assert (partner.services, partner.area_code) == (("traffic", "noise"), COMMUNITY)
    assert accounts.main(["--store", url, "api-key", "--partner", "hotline12345"]) == 0
    newer = capsys.readouterr().out.strip().splitlines()[-1]
    assert api_keys.check(store, newer).services == ()
    with pytest.raises(Forbidden):
        api_keys.check(store, key)
    assert accounts.main(["--store", url, "api-keys"]) == 0
    listed = capsys.readouterr().out
    lines = [line.split("\t") for line in listed.splitlines()]
    assert [(x[1], x[2], x[3], x[4]) for x in lines] == [("hotline12345", "revoked", "traffic,noise", COMMUNITY),
                                                         ("hotline12345", "active", "*", "*")]
    assert key not in listed and newer not in listed
    assert accounts.main(["--store", url, "revoke-api-key", "--partner", "hotline12345"]) == 0
    with pytest.raises(Forbidden):
        api_keys.check(store, newer)
    assert accounts.main(["--store", url, "revoke-api-key", "--partner", "hotline12345"]) == 1
    assert "no active API key" in capsys.readouterr().err
    assert accounts.main(["--store", url, "api-key", "--partner", "p", "--service", "nope"]) == 1
    assert "unknown service code 'nope'" in capsys.readouterr().err
    issued = store.audit_rows(object_kind="api_key")
    assert set(issued["action"]) >= {"api_key_issued", "api_key_revoked"}
    assert all(a.startswith("cli") for a in issued[issued["action"] != "api_key_refused"]["actor"])


def test_the_admin_requests_need_manage_accounts(store):
    key = admin.issue_api_key(store, ADMIN, "hotline12345", ["noise"], COMMUNITY)
    assert api_keys.check(store, key).area_code == COMMUNITY
    assert admin.api_key_rows(store, ADMIN)["partner"].tolist() == ["hotline12345"]
    services, areas = admin.api_key_choices("en")
    assert services["noise"] == t("category.noise", "en") and SUBDISTRICT in areas and COMMUNITY in areas
    before = (store.list_api_keys().to_dict("records"), len(store.audit_rows()))
    for role in access.ROLES:
        if access.may_do(role, "manage_accounts"):
            continue
        area = {"subdistrict": SUBDISTRICT, "community": COMMUNITY, "department": "police"}.get(
            access.area_kind(role) or "")
        who = Principal(f"x_{role}", role, area)
        for request, args in ((admin.api_key_rows, ()), (admin.issue_api_key, ("other",)),
                              (admin.revoke_api_key, ("hotline12345",))):
            with pytest.raises(Forbidden):
                request(store, who, *args)
    assert (store.list_api_keys().to_dict("records"), len(store.audit_rows())) == before
    admin.revoke_api_key(store, ADMIN, "hotline12345")
    with pytest.raises(Forbidden):
        api_keys.check(store, key)
    assert store.audit_rows(object_kind="api_key")["actor"].tolist() == ["root", "root", "anonymous"]


def test_limits_come_from_the_rules():
    assert api_keys.limits() == {"rate_per_minute": 600, "max_body_bytes": 65536, "max_page_size": 1000,
                                 "get_requires_key": False}


# -- the admin page's tab --------------------------------------------------------------------------------
@pytest.fixture
def admin_app(layers):
    at = signed_in_app("admin", page=ADMIN_PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_issuing_and_revoking_an_api_key_on_the_page(admin_app):
    from services.store import open_store

    store = open_store()
    at = admin_app
    at.text_input(key="adm_ak_partner").input("page-partner")
    at.multiselect(key="adm_ak_services").select("noise").select("wage_arrears")
    at.selectbox(key="adm_ak_area").set_value(COMMUNITY)
    at.button(key="adm_ak_issue").click().run()
    assert not at.exception, at.exception
    assert any("page-partner" in s.value for s in at.success)
    [key] = [c.value for c in at.code]
    partner = api_keys.check(store, key)
    assert (partner.name, partner.services, partner.area_code) == ("page-partner", ("wage_arrears", "noise"),
                                                                   COMMUNITY)
    at.run()
    assert not at.code  # shown once
    assert key not in str(at._tree)
    at.selectbox(key="adm_ak_pick").set_value("page-partner")
    at.button(key="adm_ak_revoke").click().run()
    assert not at.exception, at.exception
    assert any("page-partner" in s.value for s in at.success)
    with pytest.raises(Forbidden):
        api_keys.check(store, key)


def test_a_bad_partner_name_on_the_page_is_told_in_english(layers):
    at = signed_in_app("admin", page=ADMIN_PAGE, query={"lang": "en"})
    at.run()
    assert not at.exception, at.exception
    assert t("admin.tab_api_keys", "en") in [tab.label for tab in at.tabs]
    at.text_input(key="adm_ak_partner").input("bad name")
    at.button(key="adm_ak_issue").click().run()
    assert [e.value for e in at.error] == [t("error.api_key_partner_invalid", "en", partner="bad name")]
    assert not at.code
