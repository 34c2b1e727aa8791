"""Who may see and do what (services/access.py), on hand-made cases: each role's rights, the masking of
personal data, and the wall's services refusing a role before anything is written."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access, wall
from services.errors import DomainError, ValidationError, describe
from services.store.sqlite import SQLiteStore

TZ = ZoneInfo("Asia/Shanghai")
APPEAL = {"id": 7, "status": "reported", "reporter_name": "欧阳明华", "reporter_phone": "13900001111",
          "description": "工地欠薪"}


def test_each_role_may_do_what_it_is_given():
    assert set(access.ROLE_PAGES) == set(access.ROLES)
    assert all(set(pages) <= set(access.PAGES) for pages in access.ROLE_PAGES.values())
    assert access.may_do("duty_officer", "dispatch") and access.may_do("duty_officer", "order")
    assert not access.may_do("duty_officer", "return_visit")       # the community calls back
    assert access.may_do("community_dispatcher", "return_visit")
    assert not any(access.may_do("leader", a) for a in wall.WALL_ACTIONS)
    assert not access.may_do("nobody", "respond")


def test_a_role_that_may_not_act_gets_a_clear_error():
    with pytest.raises(access.Forbidden) as exc:
        access.check_action("leader", "dispatch")
    assert isinstance(exc.value, DomainError)
    assert describe(exc.value, "en") == "the role Leader may not do Dispatch"
    assert "区领导" in describe(exc.value, "zh") and "分拨" in describe(exc.value, "zh")
    with pytest.raises(access.Forbidden, match="unknown role 'intruder'"):
        access.check_action("intruder", "respond")
    access.check_action("duty_officer", "dispatch")                 # allowed: no error


def test_redact_masks_for_roles_without_the_right_and_removes_on_the_wall():
    masked = access.redact(APPEAL, "duty_officer", wall_mode=False)
    assert (masked["reporter_name"], masked["reporter_phone"]) == ("欧***", "139****1111")
    shown = access.redact(APPEAL, "community_dispatcher", wall_mode=False)
    assert (shown["reporter_name"], shown["reporter_phone"]) == ("欧阳明华", "13900001111")
    for role in access.ROLES:                                        # the unattended wall: whatever the role
        out = access.redact(APPEAL, role, wall_mode=True)
        assert "reporter_name" not in out and "reporter_phone" not in out
    with pytest.raises(access.Forbidden):
        access.redact(APPEAL, "intruder", wall_mode=False)


def test_the_issues_roles_and_what_each_may_do():
    assert set(access.ROLES) == {"admin", "duty_officer", "leader", "subdistrict_officer", "community_dispatcher",
                                 "department_officer", "planner", "wall"}
    for role in ("leader", "planner", "wall"):                       # read only: no action, at most reading rights
        assert access.ROLE_ACTIONS[role] <= {"read_assessment", access.READ_ANALYSIS, access.READ_BRIEFING}
    assert access.may_do("leader", "read_assessment") and not access.may_do("planner", "read_assessment")
    assert access.may_do("leader", "read_analysis") and not access.may_do("planner", "read_analysis")
    assert access.may_do("admin", "manage_accounts") and not access.may_do("admin", "dispatch")
    assert not access.may_do("duty_officer", "manage_accounts")
    assert access.may_do("subdistrict_officer", "resolve") and not access.may_do("subdistrict_officer", "return_visit")
    assert access.may_do("department_officer", "order_check_in") and not access.may_do("department_officer", "respond")
    assert describe(access.Forbidden("error.role_may_not", role=access.Label("role", "wall"),
                                     action=access.Label("action", "manage_accounts")), "zh") == \
        "“大屏（只读）”无权执行“管理账号”"


def test_scoped_roles_need_an_area_of_their_kind_and_district_roles_take_none():
    known = {"subdistrict": {"S01": "光明"}, "community": {"C0101": "某社区"}, "department": {"D01": "公安"}}
    assert access.check_area("subdistrict_officer", " S01 ", known) == "S01"
    assert access.check_area("community_dispatcher", "C0101", known) == "C0101"
    assert access.check_area("department_officer", "D01", known) == "D01"
    assert access.check_area("leader", None, known) is None and access.check_area("admin", "", known) is None
    with pytest.raises(ValidationError) as exc:
        access.check_area("community_dispatcher", None, known)
    assert describe(exc.value, "en") == "the role Community dispatcher needs an area: a community code"
    with pytest.raises(ValidationError, match="no community with code 'S01'"):
        access.check_area("community_dispatcher", "S01", known)      # a subdistrict is not a community
    with pytest.raises(ValidationError, match="takes no area"):
        access.check_area("duty_officer", "S01", known)
    with pytest.raises(access.Forbidden):
        access.check_area("intruder", None, known)
    appeal = {"subdistrict_code": "S01", "community_code": "C0101", "dispatched_to": "D01"}
    assert access.in_area("leader", None, appeal) and access.in_area("subdistrict_officer", "S01", appeal)
    assert not access.in_area("subdistrict_officer", "S02", appeal)
    assert access.in_area("community_dispatcher", "C0101", appeal)
    assert not access.in_area("community_dispatcher", None, appeal)
    assert access.in_area("department_officer", "D01", appeal) and not access.in_area("department_officer", "D02", appeal)


def test_planner_and_wall_never_receive_free_text_or_reporters_even_off_the_wall():
    for role in ("planner", "wall"):
        out = access.redact(APPEAL, role, wall_mode=False)
        assert not {"reporter_name", "reporter_phone", "description"} & set(out) and out["id"] == 7
        notes = access.redact_notes(pd.DataFrame({"note": ["欧阳明华 13900001111", None]}), role)
        assert notes["note"].tolist() == ["", ""]
    assert access.redact(APPEAL, "leader", wall_mode=False)["reporter_phone"] == "139****1111"


@pytest.fixture()
def one_appeal(tmp_path, layers):
    store = SQLiteStore(tmp_path / "access.sqlite3")
    grid = layers["grid"].iloc[10]
    pt = grid.geometry.representative_point()
    comm = layers["community"].set_index("code").loc[grid.parent_code]
    res = store.insert_appeals(pd.DataFrame([{
        "source": "test", "external_id": "x1", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears", "description": "欠薪", "lon": pt.x, "lat": pt.y, "source_crs": "wgs84",
        "people_involved": 1, "urgency": 1, "amount_involved": 0.0, "subdistrict_code": comm.parent_code,
        "community_code": grid.parent_code, "grid_code": grid.code, "reporter_name": "欧阳明华",
        "reporter_phone": "13900001111", "reported_at": datetime.now(TZ) - timedelta(minutes=5)}]))
    yield store, res.ids[0]
    store.close()


def who(role: str, store, appeal_id: int) -> access.Principal:
    """A principal of ``role`` whose area (for a scoped role) is the appeal's own."""
    appeal = store.get_appeal(appeal_id)
    column = {"subdistrict": "subdistrict_code", "community": "community_code", "department": "dispatched_to"}
    kind = access.area_kind(role)
    return access.Principal(f"{role}-1", role, appeal.get(column[kind]) if kind else None)


def test_wall_services_check_the_role_before_anything_changes(one_appeal):
    store, appeal_id = one_appeal
    before = store.get_appeal(appeal_id)
    events = len(store.events(appeal_id))
    with pytest.raises(access.Forbidden):
        wall.perform(store, appeal_id, "respond", who("leader", store, appeal_id))
    with pytest.raises(access.Forbidden):
        wall.perform(store, appeal_id, "order", who("leader", store, appeal_id), departments=["D01"])
    assert store.get_appeal(appeal_id) == before and len(store.events(appeal_id)) == events
    assert store.orders(appeal_id=appeal_id).empty
    # What the panel offers follows the role; the reason names the role.
    appeal = wall.appeal_detail(store, appeal_id, who("leader", store, appeal_id), wall_mode=False)
    assert wall.actions_for(appeal, who("leader", store, appeal_id)) == []
    assert isinstance(wall.refusal(appeal, "respond", who("leader", store, appeal_id)), access.Forbidden)
    assert "respond" in wall.actions_for(appeal, who("duty_officer", store, appeal_id))
    assert wall.refusal(appeal, "respond", who("duty_officer", store, appeal_id)) is None
    # The duty officer may respond: the store changes.
    after = wall.perform(store, appeal_id, "respond", who("duty_officer", store, appeal_id))
    assert after["responded_at"] is not None and after["reporter_phone"] == "139****1111"


def test_appeal_detail_shows_personal_data_by_role_and_never_on_the_wall(one_appeal):
    store, appeal_id = one_appeal
    assert wall.appeal_detail(store, appeal_id, who("community_dispatcher", store, appeal_id), wall_mode=False)["reporter_phone"] == \
        "13900001111"
    officer = wall.appeal_detail(store, appeal_id, who("duty_officer", store, appeal_id), wall_mode=False)
    assert "欧阳明华" not in str(officer) and "13900001111" not in str(officer)     # masked
    for role in access.ROLES:
        if access.area_kind(role) == "department":
            continue   # sees no appeal not dispatched to it (tests/test_scope.py)
        assert "reporter_phone" not in wall.appeal_detail(store, appeal_id, who(role, store, appeal_id), wall_mode=True)
    with pytest.raises(access.Forbidden):
        wall.appeal_detail(store, appeal_id, who("intruder", store, appeal_id), wall_mode=False)


# ------------------------------------------------------------------------------ personal data in free text
# A valid resident ID, its check character computed by hand (GB 11643):
#   digits  4  4  0  3  0  0  1  9  9  0  0  1  0  1  1  2  3
#   weights 7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
#   products 28+36+0+15+0+0+2+9+54+0+0+9+0+5+8+8+6 = 180; 180 mod 11 = 4; "10X98765432"[4] = "8".
VALID_ID = "440300199001011238"
# The same 17 digits with check "5": an order number, not an ID. Luhn (doubling every second digit from
# the right) gives 5+6+2+1+2+1+0+2+0+9+9+2+0+0+3+0+4+8 = 54, not a multiple of 10: not a card either.
ORDER_NO = "440300199001011235"
# A card passing Luhn: 4111111111111111: undoubled 8 ones = 8, doubled 7 ones = 14, doubled 4 = 8; 30.
CARD = "4111111111111111"
NOT_CARD = "4111111111111112"          # the same sum plus one: 31, fails Luhn
PERSONAL = "请回电张三丰13812345678，身份证440300199001011234，光明街道东周社区3栋1204室"


def test_check_digits_computed_by_hand():
    assert access.id_check_char(VALID_ID[:17]) == "8" and access.is_resident_id(VALID_ID)
    assert not access.is_resident_id(ORDER_NO) and not access.luhn_ok(ORDER_NO)
    assert access.id_check_char("11010519491231002") == "X"        # the standard's own example, ends in X
    assert access.luhn_ok(CARD) and not access.luhn_ok(NOT_CARD)


def test_mask_text_masks_the_sample_of_the_issue():
    out = access.mask_text(PERSONAL, reporter_name="张三丰")
    # The ID in the issue has a wrong check digit (should be 8), but it follows 身份证: still masked.
    assert out == "请回电张**138****5678，身份证440***********1234，光明街道东周社区3栋1204室"
    assert "三丰" not in out and "13812345678" not in out and "19900101" not in out
    assert access.mask_text(None) == "" and access.mask_text("") == ""


@pytest.mark.parametrize(("text", "masked"), [
    ("手机13812345678", "手机138****5678"),
    ("手机138-1234-5678。", "手机138****5678。"),
    ("电话 138 1234 5678", "电话 138****5678"),
    ("+86 13912345678", "+86 139****5678"),
    ("+86-139-1234-5678", "+86-139****5678"),
    ("座机0755-12345678", "座机0755-****5678"),
    ("座机(0755)1234567", "座机(0755)***4567"),
    ("座机（0755）26701234转", "座机（0755）****1234转"),
    ("010 87654321", "010 ****4321"),
    (f"身份证号 {VALID_ID}", "身份证号 440***********1238"),
    (f"证号{VALID_ID}已核", "证号440***********1238已核"),
    ("老证件号4403001990010112X", "老证件号4403001990010112X"),  # 17 chars: nothing
    ("x" + VALID_ID[:17] + "x", "x" + VALID_ID[:17] + "x"),
    ("11010519491231002X", "110***********002X"),               # valid, with X
    ("旧证440300900101123", "旧证440*********123"),              # 15 digits, born 1990-01-01
    (f"卡号{CARD}", "卡号************1111"),
    ("卡号 6222 0212 3456 7890 128", None),                      # Luhn decides below
    ("张三丰说", "张**说"),
])
def test_mask_text_masks_each_kind(text, masked):
    out = access.mask_text(text, reporter_name="张三丰")
    if masked is None:
        digits = "6222021234567890128"
        assert (out != text) == access.luhn_ok(digits)
    else:
        assert out == masked


@pytest.mark.parametrize("text", [
    f"订单号{ORDER_NO}",                     # 18 digits, wrong check digit, fails Luhn
    f"流水{NOT_CARD}",                       # 16 digits failing Luhn
    "2025-10-09 14:30 来电", "20251009", "2025年10月9日",
    "欠薪13800元", "金额138,000.00元", "涉及1380000元",
    "请拨打12345热线", "12345-1 转人工", "110、120、119",
    "旧证440300901301123",                   # 15 digits, month 13: no date, not an ID
    "工号12345678", "3栋1204室", "粤B12345",
])
def test_mask_text_leaves_near_misses_alone(text):
    assert access.mask_text(text, reporter_name="张三丰") == text


def test_mask_text_needs_a_full_name_to_mask_it():
    assert access.mask_text("张先生来电", reporter_name="张三丰") == "张先生来电"
    assert access.mask_text("张先生来电", reporter_name="张") == "张先生来电"        # one character: not masked
    assert access.mask_text("欧阳明华与欧阳明华之子", reporter_name="欧阳明华") == "欧***与欧***之子"


def test_redact_masks_free_text_for_roles_without_the_right():
    appeal = {**APPEAL, "reporter_name": "张三丰", "description": PERSONAL}
    officer = access.redact(appeal, "duty_officer", wall_mode=False)
    assert officer["description"] == access.mask_text(PERSONAL, "张三丰") and "张三丰" not in str(officer)
    assert access.redact(appeal, "leader", wall_mode=False)["description"] == officer["description"]
    assert access.redact(appeal, "community_dispatcher", wall_mode=False)["description"] == PERSONAL
    for role in access.ROLES:
        assert "description" not in access.redact(appeal, role, wall_mode=True)


def test_panel_and_timeline_mask_free_text_by_role(one_appeal):
    store, appeal_id = one_appeal
    text = "欧阳明华来电13812345678"
    store.act(appeal_id, "respond", "值班员", note="已回电欧阳明华 138-1234-5678")
    with store._tx() as cx:
        cx.execute("UPDATE appeal SET description = ? WHERE id = ?", (text, appeal_id))
    officer = wall.appeal_detail(store, appeal_id, who("duty_officer", store, appeal_id), wall_mode=False)
    assert officer["description"] == "欧***来电138****5678"
    assert wall.appeal_detail(store, appeal_id, who("community_dispatcher", store, appeal_id), wall_mode=False)["description"] == text
    assert "description" not in wall.appeal_detail(store, appeal_id, who("duty_officer", store, appeal_id), wall_mode=True)
    notes = wall.appeal_events(store, appeal_id, who("leader", store, appeal_id), wall_mode=False)["note"].tolist()
    assert "已回电欧*** 138****5678" in notes and not any("明华" in str(n) for n in notes)
    assert "已回电欧阳明华 138-1234-5678" in wall.appeal_events(store, appeal_id, who("community_dispatcher", store, appeal_id),
                                                             wall_mode=False)["note"].tolist()
    assert set(wall.appeal_events(store, appeal_id, who("community_dispatcher", store, appeal_id), wall_mode=True)["note"]) == {""}
