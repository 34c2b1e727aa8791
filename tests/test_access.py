"""Who may see and do what (services/access.py), on hand-made cases: each role's rights, the masking of
personal data, and the wall's services refusing a role before anything is written."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access, wall
from services.errors import DomainError, describe
from services.store.sqlite import SQLiteStore

TZ = ZoneInfo("Asia/Shanghai")
APPEAL = {"id": 7, "status": "reported", "reporter_name": "欧阳明华", "reporter_phone": "13900001111",
          "description": "工地欠薪"}


def test_each_role_may_do_what_it_is_given():
    assert access.DEFAULT_ROLE in access.ROLES
    assert access.may_do("duty_officer", "dispatch") and access.may_do("duty_officer", "order")
    assert not access.may_do("duty_officer", "return_visit")       # the community calls back
    assert access.may_do("community_dispatcher", "return_visit")
    assert not any(access.may_do("viewer", a) for a in wall.WALL_ACTIONS)
    assert not access.may_do("nobody", "respond")


def test_a_role_that_may_not_act_gets_a_clear_error():
    with pytest.raises(access.Forbidden) as exc:
        access.check_action("viewer", "dispatch")
    assert isinstance(exc.value, DomainError)
    assert describe(exc.value, "en") == "the role Viewer may not do Dispatch"
    assert "观看者" in describe(exc.value, "zh") and "分拨" in describe(exc.value, "zh")
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


def test_wall_services_check_the_role_before_anything_changes(one_appeal):
    store, appeal_id = one_appeal
    before = store.get_appeal(appeal_id)
    events = len(store.events(appeal_id))
    with pytest.raises(access.Forbidden):
        wall.perform(store, appeal_id, "respond", "viewer", "观看者")
    with pytest.raises(access.Forbidden):
        wall.perform(store, appeal_id, "order", "viewer", "观看者", departments=["D01"])
    assert store.get_appeal(appeal_id) == before and len(store.events(appeal_id)) == events
    assert store.orders(appeal_id=appeal_id).empty
    # What the panel offers follows the role; the reason names the role.
    appeal = wall.appeal_detail(store, appeal_id, "viewer", wall_mode=False)
    assert wall.actions_for(appeal, "viewer") == []
    assert isinstance(wall.refusal(appeal, "respond", "viewer"), access.Forbidden)
    assert "respond" in wall.actions_for(appeal, "duty_officer")
    assert wall.refusal(appeal, "respond", "duty_officer") is None
    # The duty officer may respond: the store changes.
    after = wall.perform(store, appeal_id, "respond", "duty_officer", "duty_officer")
    assert after["responded_at"] is not None and after["reporter_phone"] == "139****1111"


def test_appeal_detail_shows_personal_data_by_role_and_never_on_the_wall(one_appeal):
    store, appeal_id = one_appeal
    assert wall.appeal_detail(store, appeal_id, "community_dispatcher", wall_mode=False)["reporter_phone"] == \
        "13900001111"
    officer = wall.appeal_detail(store, appeal_id, "duty_officer", wall_mode=False)
    assert "欧阳明华" not in str(officer) and "13900001111" not in str(officer)     # not even read
    for role in access.ROLES:
        assert "reporter_phone" not in wall.appeal_detail(store, appeal_id, role, wall_mode=True)
    with pytest.raises(access.Forbidden):
        wall.appeal_detail(store, appeal_id, "intruder", wall_mode=False)
