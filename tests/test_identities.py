"""The identity-to-role map (services/identities.py) on both stores: a user's own mapping beats its
groups', several groups resolve by the fixed role precedence, users compare case-insensitively and
groups exactly, nothing maps to None, duplicates and a scoped role without an area are refused, adding
and removing is audited, and the CLI (python -m services.access map-identity | unmap-identity |
identities)."""

from __future__ import annotations

import pytest

from services import accounts, audit, identities
from services.access import Forbidden, Principal
from services.errors import NotFound, ValidationError
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store

SUBDISTRICT, COMMUNITY, COMMUNITY2, DEPARTMENT = "440311001", "440311001001", "440311001002", "police"


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _url(store) -> str:
    return store.url if isinstance(store, SQLiteStore) else f"{store.url}?schema={store.schema}"


def _map(store, kind, value, role, area=None, provider="oidc"):
    return identities.add_mapping(store, provider, kind, value, role, area, actor="admin")


def test_a_users_own_mapping_beats_its_groups(store):
    _map(store, "group", "cc-duty", "duty_officer")
    _map(store, "user", "Li.Wei@Example.CN", "community_dispatcher", COMMUNITY)
    got = identities.resolve(store, "oidc", "li.wei@example.cn", ["cc-duty"])
    assert got == Principal("li.wei@example.cn", "community_dispatcher", COMMUNITY)
    assert identities.resolve(store, "oidc", "other@example.cn", ["cc-duty"]) == \
        Principal("other@example.cn", "duty_officer")


def test_users_compare_case_insensitively_and_groups_exactly(store):
    _map(store, "user", "Zhang@Example.CN", "leader")
    _map(store, "group", "Planners", "planner")
    assert identities.mappings(store)["value"].tolist() == ["Planners", "zhang@example.cn"]
    assert identities.resolve(store, "oidc", "ZHANG@example.cn") == Principal("ZHANG@example.cn", "leader")
    assert identities.resolve(store, "oidc", "x@example.cn", ["planners"]) is None
    assert identities.resolve(store, "oidc", "x@example.cn", ["Planners"]) == Principal("x@example.cn", "planner")


def test_several_groups_resolve_by_the_fixed_precedence_whatever_their_order(store):
    _map(store, "group", "wall-viewers", "wall")
    _map(store, "group", "leaders", "leader")
    _map(store, "group", "duty", "duty_officer")
    _map(store, "group", "c2", "community_dispatcher", COMMUNITY2)
    _map(store, "group", "c1", "community_dispatcher", COMMUNITY)
    for groups in (["wall-viewers", "leaders", "duty"], ["duty", "leaders", "wall-viewers"]):
        assert identities.resolve(store, "oidc", "u", groups).role == "duty_officer"
    assert identities.resolve(store, "oidc", "u", ("wall-viewers", "leaders")).role == "leader"
    # the same role twice: the smaller area code, however the groups come
    assert identities.resolve(store, "oidc", "u", ["c2", "c1"]) == Principal("u", "community_dispatcher", COMMUNITY)
    assert identities.ROLE_PRECEDENCE.index("duty_officer") < identities.ROLE_PRECEDENCE.index("wall")


def test_nothing_maps_to_none_and_providers_are_apart(store):
    _map(store, "user", "li", "leader", provider="header")
    _map(store, "group", "staff", "planner", provider="header")
    assert identities.resolve(store, "oidc", "li", ["staff"]) is None         # another provider's mapping
    assert identities.resolve(store, "header", "nobody", ["others"]) is None
    assert identities.resolve(store, "header", "", ["staff"]) is None          # no user, no principal
    assert identities.resolve(store, "header", None, ["staff"]) is None
    assert identities.resolve(store, "header", "Li") == Principal("Li", "leader")
    with pytest.raises(ValidationError, match="identity provider"):
        identities.resolve(store, "ldap", "li")


def test_duplicates_bad_values_and_areas_are_refused(store):
    _map(store, "user", "li@example.cn", "leader")
    with pytest.raises(ValidationError, match="mapped already"):
        _map(store, "user", "LI@example.cn", "planner")                      # the same user, another case
    _map(store, "user", "li@example.cn", "planner", provider="header")       # another provider is another user
    with pytest.raises(ValidationError, match="needs an area"):
        _map(store, "group", "dispatchers", "community_dispatcher")
    with pytest.raises(ValidationError, match="no community with code"):
        _map(store, "group", "dispatchers", "community_dispatcher", SUBDISTRICT)
    with pytest.raises(ValidationError, match="takes no area"):
        _map(store, "group", "duty", "duty_officer", SUBDISTRICT)
    with pytest.raises(Forbidden, match="unknown role"):
        _map(store, "group", "root", "superuser")
    with pytest.raises(ValidationError, match="identity provider"):
        _map(store, "user", "x", "leader", provider="saml")
    with pytest.raises(ValidationError, match="'user' or a 'group'"):
        _map(store, "team", "x", "leader")
    with pytest.raises(ValidationError, match="needs a user or group name"):
        _map(store, "user", "   ", "leader")
    _map(store, "group", "police-officers", "department_officer", DEPARTMENT)
    assert len(identities.mappings(store)) == 3


def test_remove_and_the_audit_trail(store):
    row = _map(store, "group", "duty", "duty_officer")
    assert identities.resolve(store, "oidc", "u", ["duty"]) is not None
    removed = identities.remove_mapping(store, row["id"], actor="admin", address="10.0.0.9")
    assert removed["value"] == "duty" and identities.mappings(store).empty
    assert identities.resolve(store, "oidc", "u", ["duty"]) is None
    with pytest.raises(NotFound, match="no identity mapping"):
        identities.remove_mapping(store, row["id"], actor="admin")
    log = store.audit_rows(object_kind="identity_role")
    assert log["action"].tolist() == ["identity_mapped", "identity_unmapped"]
    assert log["object_id"].tolist() == [str(row["id"])] * 2 and log["address"].tolist()[-1] == "10.0.0.9"
    assert '"role":"duty_officer"' in log["detail"].iloc[0]
    assert audit.verify(store) == (True, None)


def test_cli_map_identity_unmap_identity_identities(store, capsys):
    url = _url(store)
    assert accounts.main(["--store", url, "map-identity", "--provider", "oidc", "--user", "Wang@X.cn",
                          "--role", "leader"]) == 0
    assert accounts.main(["--store", url, "map-identity", "--provider", "header", "--group", "disp",
                          "--role", "community_dispatcher", "--area", COMMUNITY]) == 0
    assert accounts.main(["--store", url, "map-identity", "--provider", "header", "--group", "bad",
                          "--role", "community_dispatcher"]) == 1
    assert "needs an area" in capsys.readouterr().err
    with pytest.raises(SystemExit):                                   # --user and --group are either-or
        accounts.main(["--store", url, "map-identity", "--provider", "oidc", "--user", "a", "--group", "b",
                       "--role", "leader"])
    capsys.readouterr()
    assert accounts.main(["--store", url, "identities"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [x[1:] for x in lines] == [["header", "group", "disp", "community_dispatcher", COMMUNITY],
                                      ["oidc", "user", "wang@x.cn", "leader", ""]]
    assert identities.resolve(store, "header", "someone", ["disp"]).area_code == COMMUNITY
    assert accounts.main(["--store", url, "unmap-identity", lines[0][0]]) == 0
    assert accounts.main(["--store", url, "unmap-identity", lines[0][0]]) == 1
    assert identities.resolve(store, "header", "someone", ["disp"]) is None
    assert all(a.startswith("cli") for a in store.audit_rows(object_kind="identity_role")["actor"])
