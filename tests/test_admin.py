"""The admin's requests (services/admin.py) on both stores, and the admin page (pages/admin.py) in AppTest:
the right is checked in the service (every other role is refused and nothing changes), every change is
audited, an admin cannot lock themselves out, the log's exports open in Excel's and openpyxl's terms, and
the page adds accounts, revokes kiosk links and filters the log, in Chinese and in English."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from google.protobuf import text_format

from services import access, admin, audit, identities, kiosk
from services.access import Forbidden, Principal
from services.clocks import TZ
from services.errors import NotFound, ValidationError, describe
from services.i18n import t
from tests.helpers import STORES, reset_store, signed_in_app

ADMIN = Principal("root", "admin", address="10.0.0.9")
COMMUNITY = "440311001001"
ADMIN_PAGE = "pages/admin.py"


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _others() -> list[Principal]:
    out = []
    for role in access.ROLES:
        if role == "admin":
            continue
        area = {"subdistrict": "440311001", "community": COMMUNITY, "department": "police"}.get(
            access.area_kind(role) or "")
        out.append(Principal(f"x_{role}", role, area))
    return out


def _every_request(store, who):
    frame = store.audit_rows().head(0)
    return [
        lambda: admin.accounts(store, who),
        lambda: admin.add_account(store, who, "newbie", "leader"),
        lambda: admin.change_account(store, who, "li", role="duty_officer"),
        lambda: admin.reset_password(store, who, "li"),
        lambda: admin.disable_account(store, who, "li"),
        lambda: admin.kiosk_screens(store, who),
        lambda: admin.issue_kiosk(store, who, "hall", "http://127.0.0.1:8501"),
        lambda: admin.revoke_kiosk(store, who, "lobby"),
        lambda: admin.identity_mappings(store, who),
        lambda: admin.map_identity(store, who, "oidc", "user", "a@b.c", "leader"),
        lambda: admin.unmap_identity(store, who, 1),
        lambda: admin.audit_log(store, who),
        lambda: admin.audit_export(store, who, frame, "csv"),
        lambda: admin.audit_status(store, who),
    ]


def test_every_other_role_is_refused_everything_and_nothing_changes(store):
    admin.add_account(store, ADMIN, "li", "leader")
    admin.issue_kiosk(store, ADMIN, "lobby", "http://127.0.0.1:8501")
    admin.map_identity(store, ADMIN, "header", "group", "ops", "duty_officer")
    before = (store.list_accounts().to_dict("records"), store.list_kiosk_tokens().to_dict("records"),
              store.list_identity_roles().to_dict("records"), len(store.audit_rows()))
    for who in _others():
        for request in _every_request(store, who):
            with pytest.raises(Forbidden) as refused:
                request()
            assert "may not" in str(refused.value)
    after = (store.list_accounts().to_dict("records"), store.list_kiosk_tokens().to_dict("records"),
             store.list_identity_roles().to_dict("records"), len(store.audit_rows()))
    assert after == before


def test_add_change_reset_disable_round_trip_with_audit_rows(store):
    acc, password = admin.add_account(store, ADMIN, "wang", "community_dispatcher", COMMUNITY, "王芳")
    assert (acc.role, acc.area_code, acc.display_name) == ("community_dispatcher", COMMUNITY, "王芳")
    from services import accounts

    assert len(password) >= 20 and accounts.authenticate(store, "wang", password).name == "wang"
    frame = admin.accounts(store, ADMIN)
    assert frame["name"].tolist() == ["wang"] and "password_hash" not in frame
    changed = admin.change_account(store, ADMIN, "wang", role="leader", display_name="Wang Fang")
    assert (changed.role, changed.area_code, changed.display_name) == ("leader", None, "Wang Fang")
    new = admin.reset_password(store, ADMIN, "wang")
    assert new != password and accounts.authenticate(store, "wang", new).role == "leader"
    assert admin.disable_account(store, ADMIN, "wang").disabled
    with pytest.raises(NotFound):
        admin.disable_account(store, ADMIN, "ghost")
    with pytest.raises(ValidationError, match="needs an area"):
        admin.add_account(store, ADMIN, "c2", "community_dispatcher")
    rows = store.audit_rows(object_kind="account", object_id="wang")
    mine = rows[rows["actor"] == "root"]
    assert mine["action"].tolist() == ["account_created", "account_changed", "password_set", "account_disabled"]
    assert set(mine["address"]) == {"10.0.0.9"}
    assert not any(password in str(d) or new in str(d) for d in store.audit_rows()["detail"])


def test_an_admin_cannot_disable_or_demote_themselves(store):
    admin.add_account(store, Principal("boot", "admin"), "root", "admin")
    with pytest.raises(admin.SelfLockout) as own:
        admin.disable_account(store, ADMIN, "root")
    assert "another administrator" in str(own.value) and "停用自己的账号" in describe(own.value, "zh")
    with pytest.raises(admin.SelfLockout) as demote:
        admin.change_account(store, ADMIN, "root", role="leader")
    assert "administrator role" in describe(demote.value, "en")
    assert admin.change_account(store, ADMIN, "root", display_name="Root").display_name == "Root"
    assert not store.get_account("root")["disabled"] and store.get_account("root")["role"] == "admin"


def test_kiosks_and_identities_through_the_admin(store):
    url = admin.issue_kiosk(store, ADMIN, "lobby", "https://gm.example/")
    assert url.startswith("https://gm.example/wall?mode=wall&kiosk=")
    token = url.rsplit("=", 1)[1]
    assert kiosk.principal(store, token).name == "kiosk:lobby"
    with pytest.raises(ValidationError):
        admin.issue_kiosk(store, ADMIN, "lobby", "javascript:alert(1)")
    admin.revoke_kiosk(store, ADMIN, "lobby")
    assert kiosk.principal(store, token) is None
    assert admin.kiosk_screens(store, ADMIN)["active"].tolist() == [False]
    row = admin.map_identity(store, ADMIN, "oidc", "user", "Zhang@Example.org", "leader")
    assert admin.identity_mappings(store, ADMIN)["value"].tolist() == ["zhang@example.org"]
    admin.unmap_identity(store, ADMIN, row["id"])
    assert admin.identity_mappings(store, ADMIN).empty
    actions = store.audit_rows(actor="root")["action"].tolist()
    assert actions == ["kiosk_issued", "kiosk_revoked", "identity_mapped", "identity_unmapped"]


def test_audit_log_filters_newest_first_with_a_cap(store):
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
    for i in range(6):
        audit.record(store, "zhang" if i % 2 else "li", "sign_in", "account", f"a{i}", None, None,
                     t0 + timedelta(days=i))
    log = admin.audit_log(store, ADMIN, actor="zhang")
    assert log["object_id"].tolist() == ["a5", "a3", "a1"] and not log.attrs["truncated"]
    day = admin.audit_log(store, ADMIN, since=date(2026, 3, 3), until=date(2026, 3, 4))
    assert day["object_id"].tolist() == ["a2", "a1"]
    capped = admin.audit_log(store, ADMIN, limit=2)
    assert capped["object_id"].tolist() == ["a5", "a4"] and capped.attrs["truncated"]
    assert admin.audit_log(store, ADMIN, object_kind="account", object_id="a0")["actor"].tolist() == ["li"]
    assert admin.page_rows() == 1000
    whole = admin.audit_export(store, ADMIN, capped, "csv").decode("utf-8-sig").splitlines()
    assert len(whole) == 1 + 6  # the header and every row (a0..a5), not only the two shown
    again = admin.audit_export(store, ADMIN, capped, "csv").decode("utf-8-sig").splitlines()
    assert again == whole  # the first export's own audit row came after the view: not in it


def test_audit_export_csv_has_a_bom_and_chinese_headers_and_writes_an_export_row(store):
    admin.add_account(store, ADMIN, "wang", "community_dispatcher", COMMUNITY, "王芳")
    frame = admin.audit_log(store, ADMIN, actor="root")
    data = admin.audit_export(store, ADMIN, frame, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    header = text.splitlines()[0].split(",")
    assert header == [t(f"admin.col_{c}", "zh") for c in admin.AUDIT_VIEW]
    assert "新增账号" in text and "王芳" in text
    last = store.audit_rows().iloc[-1]
    assert (last["action"], last["object_id"], last["actor"]) == ("export", "audit.csv", "root")
    assert '"rows":1' in last["detail"] and '"actor":"root"' in last["detail"]
    xlsx = admin.audit_export(store, ADMIN, frame, "xlsx", "en")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
    assert [c.value for c in sheet[1]] == [t(f"admin.col_{c}", "en") for c in admin.AUDIT_VIEW]
    assert sheet.max_row == 2 and sheet.cell(2, 5).value == "account created"
    assert store.audit_rows().iloc[-1]["object_id"] == "audit.xlsx"
    with pytest.raises(ValidationError):
        admin.audit_export(store, ADMIN, frame, "pdf")
    verdict = admin.audit_status(store, ADMIN)
    assert verdict.ok and verdict.rows == len(store.audit_rows())


# -- the page ---------------------------------------------------------------------------------------------
CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")


def _elements(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _elements(child)


@pytest.fixture
def admin_app(layers):
    at = signed_in_app("admin", page=ADMIN_PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_admin_page_renders_in_chinese(admin_app):
    assert admin_app.title[0].value == t("admin.title", "zh")
    assert [tab.label for tab in admin_app.tabs] == [t(f"admin.tab_{k}", "zh") for k in
                                                      ("accounts", "identities", "kiosks", "api_keys",
                                                                          "audit")]
    assert any(s.value.startswith("日志链完整") for s in admin_app.success)


def test_admin_page_in_english_shows_no_chinese(layers):
    """Every label, button, caption and table header is English; table cells are checked in the columns the
    page labels (roles, states, actions, objects). What people typed (display names, a log's detail) is
    shown as typed."""
    at = signed_in_app("admin", page=ADMIN_PAGE, query={"lang": "en"})
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == t("admin.title", "en")
    found = []
    for node in _elements(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or type(node).__name__ == "Dataframe":
            continue
        text = text_format.MessageToString(proto, as_utf8=True)
        if getattr(node, "key", None) == "lang_switch":
            text = text.replace(t("app.lang_zh", "en"), "")
        found += [(type(node).__name__, m) for m in CJK.findall(text)]
    labelled = {t(k, "en") for k in ("admin.acc_role", "admin.acc_state", "admin.col_action", "admin.col_object",
                                     "admin.col_at", "admin.k_state")}
    for frame in at.dataframe:
        found += [("header", m) for c in frame.value.columns for m in CJK.findall(str(c))]
        for col in labelled & set(frame.value.columns):
            found += [(col, m) for v in frame.value[col].astype(str) for m in CJK.findall(v)]
    assert not found, found[:20]


def _navigation_spy(monkeypatch) -> list[str]:
    """The titles of the pages app.py puts in its navigation (recorded from its st.navigation call)."""
    import streamlit

    titles: list[str] = []
    real = streamlit.navigation

    def spy(pages, **kw):
        titles[:] = [p.title for section in pages.values() for p in section]
        return real(pages, **kw)

    monkeypatch.setattr(streamlit, "navigation", spy)
    return titles


def test_a_non_admin_has_no_admin_page(layers, monkeypatch):
    titles = _navigation_spy(monkeypatch)
    at = signed_in_app("admin")
    at.run()
    assert t("nav.admin", "zh") in titles
    at = signed_in_app("duty_officer")
    at.run()
    assert not at.exception
    assert titles and t("nav.admin", "zh") not in titles
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not even registered for it
        at.switch_page(ADMIN_PAGE)


def test_adding_an_account_on_the_page_shows_the_password_once(admin_app):
    from services import accounts
    from services.store import open_store

    at = admin_app
    at.text_input(key="adm_new_name").input("page_added")
    at.text_input(key="adm_new_display").input("Page Added")
    at.selectbox(key="adm_new_role").set_value("community_dispatcher").run()
    at.selectbox(key="adm_new_area_community_dispatcher").set_value(COMMUNITY)
    at.button(key="adm_add").click().run()
    assert not at.exception, at.exception
    assert any("page_added" in s.value for s in at.success)
    [shown] = [c.value for c in at.code]
    row = open_store().get_account("page_added")
    assert row is not None and (row["role"], row["area_code"]) == ("community_dispatcher", COMMUNITY)
    assert accounts.authenticate(open_store(), "page_added", shown).name == "page_added"
    assert at.text_input(key="adm_new_name").value == ""
    at.run()
    assert not at.code  # shown once
    at.selectbox(key="adm_pick").set_value("page_added").run()
    at.button(key="adm_reset").click().run()
    [again] = [c.value for c in at.code]
    assert again != shown and accounts.authenticate(open_store(), "page_added", again).name == "page_added"
    at.button(key="adm_disable").click().run()
    assert open_store().get_account("page_added")["disabled"]


def test_an_admin_is_told_why_they_cannot_disable_themselves(admin_app):
    from services.store import open_store

    at = admin_app
    at.selectbox(key="adm_pick").set_value("test_admin").run()
    at.button(key="adm_disable").click().run()
    assert [e.value for e in at.error] == [t("error.admin_self_disable", "zh", name="test_admin")]
    assert not open_store().get_account("test_admin")["disabled"]


def test_issuing_and_revoking_a_kiosk_on_the_page(admin_app):
    from services.store import open_store

    store = open_store()
    at = admin_app
    at.text_input(key="adm_k_screen").input("page-lobby")
    at.button(key="adm_k_issue").click().run()
    assert not at.exception, at.exception
    [url] = [c.value for c in at.code]
    assert url.startswith(f"{kiosk.DEFAULT_BASE_URL}/wall?mode=wall&kiosk=")
    token = url.rsplit("=", 1)[1]
    assert kiosk.principal(store, token) is not None
    at.run()
    assert not at.code  # shown once
    at.selectbox(key="adm_k_pick").set_value("page-lobby")
    at.button(key="adm_k_revoke").click().run()
    assert not at.exception, at.exception
    assert any("page-lobby" in s.value for s in at.success)
    assert kiosk.principal(store, token) is None


def test_mapping_an_identity_on_the_page_and_removing_it(admin_app):
    from services.store import open_store

    store = open_store()
    at = admin_app
    at.selectbox(key="adm_id_provider").set_value("oidc")
    at.selectbox(key="adm_id_kind").set_value("group")
    at.text_input(key="adm_id_value").input("gm-leaders")
    at.selectbox(key="adm_id_role").set_value("leader")
    at.button(key="adm_id_add").click().run()
    assert not at.exception, at.exception
    [mapping] = [r for r in identities.mappings(store).to_dict("records") if r["value"] == "gm-leaders"]
    assert (mapping["provider"], mapping["kind"], mapping["role"]) == ("oidc", "group", "leader")
    assert any(str(mapping["id"]) in s.value for s in at.success)
    assert store.audit_rows(object_kind="identity_role").action.iloc[-1].startswith("identity")
    at.selectbox(key="adm_id_pick").set_value(int(mapping["id"]))
    at.button(key="adm_id_remove").click().run()
    assert not at.exception, at.exception
    assert "gm-leaders" not in set(identities.mappings(store)["value"])


def test_the_audit_filter_offers_every_kind_of_object_the_log_names(admin_app):
    kinds = admin_app.selectbox(key="adm_f_kind").options
    assert len(kinds) == len(admin.object_kinds()) + 1 and "导入任务" in kinds and "登录身份" in kinds


def test_the_audit_tab_filters_by_person(admin_app):
    from services.store import open_store

    audit.record(open_store(), "someone_else", "sign_in", "account", "someone_else")
    at = admin_app
    at.text_input(key="adm_f_actor").input("someone_else").run()
    assert not at.exception, at.exception
    log = [f.value for f in at.dataframe if t("admin.col_actor", "zh") in f.value.columns][0]
    assert len(log) >= 1 and set(log[t("admin.col_actor", "zh")]) == {"someone_else"}
