"""Who a session is (services/sign_in.py) on both stores: local sign-in, the idle limit, a session that
follows its account (role change, disable), kiosk tokens that never idle but end when revoked, the
trusted-header mode (only from the proxy, only with a user, mapped or a local account), OIDC claims
mapped to a role, sign-out, the screens a role may open, personal-data views logged once per session,
and a changed rule file in the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access, accounts, audit, identities, kiosk, sign_in, wall
from services.access import Forbidden, Principal
from services.accounts import SignInFailed
from services.errors import describe
from tests.helpers import STORES, reset_store

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
PW = "correct horse battery"
COMMUNITY = "440311001001"
HEADER_RULES = {"idle_minutes": 30, "trusted_header": "X-Remote-User", "trusted_groups_header": "X-Remote-Groups",
                "trusted_proxies": ["10.0.0.5"], "oidc_user_claims": ["email", "sub"], "oidc_groups_claim": "groups"}


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _actions(store) -> list[str]:
    return store.audit_rows()["action"].tolist()


def test_local_sign_in_gives_a_session_of_the_account_with_its_address_and_an_id(store):
    accounts.add_user(store, "zhang", "community_dispatcher", area_code=COMMUNITY, password=PW)
    s = sign_in.local(store, "zhang", PW, "10.1.2.3", now=T0)
    assert (s.method, s.identity, s.started_at, s.last_active_at) == ("local", "zhang", T0, T0)
    assert s.principal == Principal("zhang", "community_dispatcher", COMMUNITY)
    assert s.principal.address == "10.1.2.3" and len(s.id) == 16
    assert sign_in.local(store, "zhang", PW, now=T0).id != s.id       # every sign-in is its own session
    with pytest.raises(SignInFailed):
        sign_in.local(store, "zhang", "wrong password!", now=T0)
    assert _actions(store)[-3:] == ["sign_in", "sign_in", "sign_in_failed"]
    assert sign_in.pages_for(s) == ("workbench", "register", "wall", "orders", "map", "briefing") and sign_in.pages_for(None) == ()


def test_a_session_ends_after_the_idle_limit_and_activity_moves_it(store):
    accounts.add_user(store, "li", "duty_officer", password=PW)
    s = sign_in.local(store, "li", PW, now=T0)
    idle = sign_in.idle_limit()
    assert idle == timedelta(minutes=30)
    later = sign_in.check(store, s, active=False, now=T0 + idle - timedelta(seconds=1))
    assert later is not None and later.last_active_at == T0            # a timed refresh is not activity
    moved = sign_in.check(store, s, active=True, now=T0 + idle - timedelta(seconds=1))
    assert moved.last_active_at == T0 + idle - timedelta(seconds=1)
    assert sign_in.check(store, moved, active=False, now=T0 + idle + timedelta(minutes=5)) is not None
    assert sign_in.check(store, s, active=True, now=T0 + idle + timedelta(seconds=1)) is None
    last = store.audit_rows().iloc[-1]
    assert (last.action, last.actor, last.object_id) == ("session_ended", "li", s.id)
    assert '"reason":"idle"' in last.detail


def test_a_session_follows_its_account_role_change_and_disable(store):
    accounts.add_user(store, "wang", "duty_officer", password=PW)
    s = sign_in.local(store, "wang", PW, "10.0.0.9", now=T0)
    accounts.change_account(store, "wang", role="community_dispatcher", area_code=COMMUNITY, actor="admin", at=T0)
    s2 = sign_in.check(store, s, active=True, now=T0 + timedelta(minutes=1))
    assert s2.principal == Principal("wang", "community_dispatcher", COMMUNITY)
    assert (s2.principal.address, s2.id) == ("10.0.0.9", s.id)
    accounts.disable(store, "wang", actor="admin", at=T0)
    assert sign_in.check(store, s2, active=True, now=T0 + timedelta(minutes=2)) is None
    assert '"reason":"account_or_mapping_removed"' in store.audit_rows().iloc[-1].detail


def test_a_kiosk_session_never_idles_and_ends_when_its_token_is_revoked(store):
    token = kiosk.issue(store, "lobby-1", actor="admin")
    assert sign_in.kiosk(store, "not-a-token", "10.0.0.7", now=T0) is None
    assert store.audit_rows().iloc[-1].action == "sign_in_refused"
    s = sign_in.kiosk(store, token, "10.0.0.7", now=T0)
    assert s.principal == Principal("kiosk:lobby-1", "wall") and s.method == "kiosk"
    assert not sign_in.may_sign_out(s) and sign_in.pages_for(s) == ("wall",)
    assert sign_in.check(store, s, active=False, now=T0 + timedelta(days=3)) is not None
    kiosk.revoke(store, "lobby-1", actor="admin")
    assert sign_in.check(store, s, active=False, now=T0 + timedelta(days=3, minutes=1)) is None
    assert '"reason":"revoked"' in store.audit_rows().iloc[-1].detail
    assert sign_in.kiosk(store, token, now=T0) is None


def test_the_trusted_header_is_believed_only_from_the_proxy_and_only_with_a_user(store, monkeypatch):
    monkeypatch.setattr(sign_in, "settings", lambda: HEADER_RULES)
    assert sign_in.header_mode()
    accounts.add_user(store, "zhao", "leader", password=PW)
    with pytest.raises(Forbidden) as refused:
        sign_in.from_header(store, {"X-Remote-User": "zhao"}, "10.9.9.9", now=T0)
    assert "10.9.9.9" in describe(refused.value, "zh") and "代理" in describe(refused.value, "zh")
    with pytest.raises(Forbidden, match="X-Remote-User"):
        sign_in.from_header(store, {"Accept": "*/*"}, "10.0.0.5", now=T0)
    s = sign_in.from_header(store, {"x-remote-user": "zhao"}, "10.0.0.5", now=T0)   # header names: any case
    assert (s.principal, s.method) == (Principal("zhao", "leader"), "header") and not sign_in.may_sign_out(s)
    # a mapping beats the local account of that name; groups come from their own header
    identities.add_mapping(store, "header", "group", "gm-duty", "duty_officer", actor="admin")
    s = sign_in.from_header(store, {"X-Remote-User": "sun", "X-Remote-Groups": "staff, gm-duty"}, "10.0.0.5", now=T0)
    assert s.principal == Principal("sun", "duty_officer") and s.groups == ("gm-duty", "staff")
    with pytest.raises(Forbidden) as unmapped:
        sign_in.from_header(store, {"X-Remote-User": "nobody"}, "10.0.0.5", now=T0)
    assert describe(unmapped.value, "zh") == "身份“nobody”尚未分配角色，请联系系统管理员"
    reasons = [r for r in store.audit_rows().detail if r and '"method":"header"' in r]
    assert any("untrusted_address" in r for r in reasons) and any("no_user_header" in r for r in reasons)
    assert any("unmapped" in r for r in reasons)


def test_in_header_mode_no_sign_in_is_taken_from_outside_the_proxy(store, monkeypatch):
    """Whoever reaches the port directly could set the header; they may not use a local account or a
    kiosk token instead: refused (audited), and the account's failed attempts do not move."""
    accounts.add_user(store, "zhou", "duty_officer", password=PW)
    token = kiosk.issue(store, "lobby-2", actor="admin")
    monkeypatch.setattr(sign_in, "settings", lambda: HEADER_RULES)
    with pytest.raises(Forbidden, match="10.9.9.9"):
        sign_in.local(store, "zhou", PW, "10.9.9.9", now=T0)
    with pytest.raises(Forbidden, match="10.9.9.9"):
        sign_in.kiosk(store, token, "10.9.9.9", now=T0)
    refusals = [r for r in store.audit_rows().detail if r and "untrusted_address" in r]
    assert any('"method":"local"' in r for r in refusals) and any('"method":"kiosk"' in r for r in refusals)
    assert sign_in.local(store, "zhou", PW, "10.0.0.5", now=T0).principal.role == "duty_officer"  # via the proxy
    assert sign_in.kiosk(store, token, "10.0.0.5", now=T0) is not None


def test_oidc_claims_map_to_a_role_by_user_or_group(store):
    identities.add_mapping(store, "oidc", "user", "Chen@Gm.Gov.cn", "duty_officer", actor="admin")
    identities.add_mapping(store, "oidc", "group", "gm-community-1", "community_dispatcher", COMMUNITY, actor="admin")
    s = sign_in.from_oidc(store, {"sub": "u1", "email": "chen@gm.gov.cn", "groups": ["x"]}, "10.0.0.1", now=T0)
    assert s.principal.role == "duty_officer" and s.identity == "chen@gm.gov.cn" and s.method == "oidc"
    s = sign_in.from_oidc(store, {"sub": "u2", "groups": ["gm-community-1"]}, None, now=T0)   # no e-mail: the sub
    assert s.principal == Principal("u2", "community_dispatcher", COMMUNITY)
    with pytest.raises(Forbidden, match="no role yet"):
        sign_in.from_oidc(store, {"sub": "u3", "groups": ["other"]}, None, now=T0)
    assert sign_in.oidc_identity({"email": " ", "sub": "u4", "groups": "a,b"}) == ("u4", ("a", "b"))
    mapping = identities.mappings(store)
    identities.remove_mapping(store, int(mapping[mapping.kind == "group"].id.iloc[0]), actor="admin")
    assert sign_in.check(store, s, active=True, now=T0) is None        # its group no longer maps


def test_sign_out_is_in_the_log(store):
    accounts.add_user(store, "qian", "planner", password=PW)
    s = sign_in.local(store, "qian", PW, "10.0.0.2", now=T0)
    sign_in.sign_out(store, s, now=T0)
    last = store.audit_rows().iloc[-1]
    assert (last.action, last.actor, last.object_id, last.address) == ("sign_out", "qian", s.id, "10.0.0.2")


def test_each_role_opens_only_its_screens():
    for role in access.ROLES:
        assert access.pages_for(role), role
        for page in access.PAGES:
            who = Principal("x", role, "440311001001" if role == "community_dispatcher" else
                            "440311001" if role == "subdistrict_officer" else
                            "police" if role == "department_officer" else None)
            if page in access.pages_for(role):
                access.check_page(who, page)
            else:
                with pytest.raises(Forbidden):
                    access.check_page(who, page)
    assert access.pages_for("wall") == ("wall",) and "admin" not in access.pages_for("duty_officer")


def test_a_view_of_unmasked_personal_data_is_logged_once_per_session(store):
    aid = int(store.insert_appeals(pd.DataFrame([{
        "source": "t", "external_id": "p1", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears", "description": "欠薪", "lon": 113.93, "lat": 22.76, "source_crs": "wgs84",
        "people_involved": 1, "urgency": 1, "amount_involved": 0.0, "subdistrict_code": "440311001",
        "community_code": COMMUNITY, "reporter_name": "欧阳明华", "reporter_phone": "13900001111",
        "reported_at": T0}])).ids[0])
    appeal = store.get_appeal(aid)
    who = Principal("zhou", "community_dispatcher", appeal["community_code"], address="10.0.0.3",
                    session=sign_in.new_session_id())
    before = len(store.audit_rows())
    shown = wall.appeal_detail(store, aid, who, wall_mode=False)
    assert shown["reporter_phone"] == "13900001111"
    wall.appeal_detail(store, aid, who, wall_mode=False)                # the same session: not again
    rows = store.audit_rows().iloc[before:]
    assert rows.action.tolist() == ["personal_data.viewed"]
    assert (rows.actor.iloc[0], rows.object_id.iloc[0], rows.address.iloc[0]) == ("zhou", str(aid), "10.0.0.3")
    other = Principal("zhou", "community_dispatcher", appeal["community_code"], session=sign_in.new_session_id())
    wall.appeal_detail(store, aid, other, wall_mode=False)              # a new session: logged again
    duty = Principal("duty", "duty_officer", session="s3")
    assert wall.appeal_detail(store, aid, duty, wall_mode=False)["reporter_phone"] == "139****1111"
    assert store.audit_rows().iloc[before:].action.tolist() == ["personal_data.viewed"] * 2   # masked: no row


def test_a_changed_rule_file_is_in_the_log(store, tmp_path, monkeypatch):
    rules = tmp_path / "rules.toml"
    rules.write_bytes(audit.rule_files()["rules.toml"].read_bytes())
    monkeypatch.setenv("GM_RULES", str(rules))
    assert sorted(audit.note_rule_files(store)) == ["open311_services.toml", "rules.toml"]
    assert audit.note_rule_files(store) == []                            # unchanged: nothing
    rules.write_bytes(rules.read_bytes() + b"\n# changed\n")
    assert audit.note_rule_files(store) == ["rules.toml"]
    last = store.audit_rows().iloc[-1]
    assert (last.action, last.object_kind, last.object_id) == ("rules.changed", "rule_file", "rules.toml")
    assert '"previous":"' in last.detail
    assert audit.check(store).ok


def test_the_audit_log_keeps_an_action_s_free_text_masked(store):
    aid = int(store.insert_appeals(pd.DataFrame([{
        "source": "t", "external_id": "n1", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears", "description": "欠薪", "lon": 113.93, "lat": 22.76, "source_crs": "wgs84",
        "people_involved": 1, "urgency": 1, "amount_involved": 0.0, "subdistrict_code": "440311001",
        "community_code": COMMUNITY, "reported_at": T0}])).ids[0])
    who = Principal("zhou", "community_dispatcher", COMMUNITY)
    wall.perform(store, aid, "note", who, note="已电话联系，回电13912345678")
    assert store.events(aid).note.iloc[-1].endswith("13912345678")      # the appeal keeps the note as typed
    last = store.audit_rows().iloc[-1]
    assert last.action == "appeal.note" and "139****5678" in last.detail and "13912345678" not in last.detail
