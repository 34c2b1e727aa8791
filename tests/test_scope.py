"""Scope (issue 12 §2): every role x every appeal or order action x in / out of its area, on both stores.

A small hand-made store: for each case a fresh appeal, either in community C_IN (of subdistrict S_IN) or
in community C_OUT of another subdistrict, brought to a state where the action is legal, and, for the
department's steps, an order to the department D_IN (in its area) or D_OUT (not). Each role acts as a
principal of its own area (S_IN, C_IN, D_IN; none for a district-wide role). Allowed -> done, and the
event's actor is the principal's name; refused -> Forbidden, and the appeal, its events and its orders
are as they were. The admin's own actions (manage_accounts, read_audit) act on no appeal: they are
services/accounts.py's and tests/test_accounts.py's.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from data import sample
from services import access, orders, wall
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES

TZ = ZoneInfo("Asia/Shanghai")
ORDER_STEPS = ("order_check_in", "order_outcome")
# How the scope's disputes are resolved: by mediation of a large amount, so that its agreement may be sent
# for judicial confirmation.
SETTLED = {"settlement": "people_mediation", "mediator": "人民调解员", "agreement_amount": 150_000}
# Every action of ROLE_ACTIONS' union that acts on an appeal or an order.
ACTIONS = tuple(a for a in sorted(set().union(*access.ROLE_ACTIONS.values()))
                if a in wall.APPEAL_ACTIONS or a in ORDER_STEPS)
SETUP = "setup"   # the actor of the steps that bring an appeal to its state
_ids = itertools.count(1)


def test_the_matrix_covers_every_appeal_and_order_action():
    assert set(ACTIONS) == set(wall.APPEAL_ACTIONS) | set(ORDER_STEPS)
    # The admin's rights act on no appeal, nor does keeping reference data (tests/test_reference_data.py);
    # registering makes a new one (tests/test_registration.py checks its area rule: a scoped role registers
    # only in its own area), and so do the data rights, importing and fixing quarantine (tests/test_data.py);
    # reading the department assessment and the analysis changes nothing (tests/test_assessment.py and
    # tests/test_analysis.py check who may), nor does reading a briefing or making one
    # (tests/test_briefing_page.py).
    assert set().union(*access.ROLE_ACTIONS.values()) - set(ACTIONS) == {"manage_accounts", "read_audit",
                                                                         "register", "import_data",
                                                                         "fix_quarantine", "manage_reference",
                                                                         "read_assessment", "read_analysis",
                                                                         "read_briefing", "make_briefing"}


@pytest.fixture(scope="module")
def places(layers):
    """Two grids in communities of two different subdistricts, and two departments."""
    grids, comm = layers["grid"], layers["community"].set_index("code")
    first = grids.iloc[10]
    s_in = comm.loc[first.parent_code].parent_code
    other = next(g for _, g in grids.iterrows() if comm.loc[g.parent_code].parent_code != s_in)
    deps = list(sample.load_departments()["code"])[:2]
    return {"in": first, "out": other, "comm": comm, "d_in": deps[0], "d_out": deps[1]}


@pytest.fixture(scope="module", params=STORES)
def store(request, tmp_path_factory):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path_factory.mktemp("scope") / "gm.sqlite3")
    else:
        s = request.getfixturevalue("pg_store")
        s.reset()
    s.load_departments(sample.load_departments())
    yield s
    if request.param == "sqlite":
        s.close()


def principal(role: str, places) -> access.Principal:
    g = places["in"]
    area = {"subdistrict": places["comm"].loc[g.parent_code].parent_code, "community": g.parent_code,
            "department": places["d_in"], None: None}[access.area_kind(role)]
    return access.Principal(f"{role}.{area or 'district'}", role, area)


def new_appeal(store, places, where: str) -> int:
    g = places[where]
    n = next(_ids)
    pt = g.geometry.representative_point()
    res = store.insert_appeals(pd.DataFrame([{
        "source": "scope", "external_id": f"s{n}", "channel": "hotline", "service_type": "dispute",
        "category": "wage_arrears", "description": f"案例{n}", "lon": pt.x, "lat": pt.y, "source_crs": "wgs84",
        "people_involved": 1, "urgency": 1, "amount_involved": 0.0,
        "subdistrict_code": places["comm"].loc[g.parent_code].parent_code, "community_code": g.parent_code,
        "grid_code": g.code, "reporter_name": "欧阳明华", "reporter_phone": "13900001111",
        "reported_at": datetime.now(TZ) - timedelta(hours=1)}]))
    return int(res.ids[0])


def prepare(store, places, action: str, where: str) -> tuple[int, int | None]:
    """A fresh appeal (in or out of the area) in a state where ``action`` is legal, and the order a
    department's step acts on (sent to D_IN in the area, D_OUT out of it)."""
    aid = new_appeal(store, places, where)
    community = places[where].parent_code
    before = {"respond": [], "accept": [], "escalate": [], "update_facts": [],
              "dispatch": ["accept"], "order": ["accept"], "order_check_in": ["accept"],
              "order_outcome": ["accept"], "resolve": ["accept", "dispatch"],
              "confirm": ["accept", "dispatch", "resolve"], "feedback": ["accept", "dispatch", "resolve", "confirm"],
              "return_visit": ["accept", "dispatch", "resolve", "confirm", "feedback"],
              "return_to_sender": ["accept", "dispatch"], "note": [],
              "request_judicial_confirmation": ["accept", "dispatch", "resolve"],
              "record_judicial_confirmation": ["accept", "dispatch", "resolve", "request_judicial_confirmation"],
              }[action]
    for step in before:
        store.act(aid, step, SETUP, **{"dispatch": {"target": community}, "resolve": SETTLED}.get(step, {}))
    order_id = None
    if action in ORDER_STEPS:
        dep = places["d_in" if where == "in" else "d_out"]
        order_id = int(store.issue_order(aid, [dep], issued_by=SETUP)["id"])
        if action == "order_outcome":
            store.check_in(order_id, dep, actor=SETUP)
    return aid, order_id


def run(store, places, action: str, where: str, aid: int, order_id: int | None, who: access.Principal) -> None:
    if action == "order_check_in":
        orders.check_in(store, order_id, who)
    elif action == "order_outcome":
        orders.report_outcome(store, order_id, orders.outcomes()[0], who)
    else:
        params = {"dispatch": {"target": places[where].parent_code}, "order": {"departments": [places["d_in"]]},
                  "escalate": {"level": "subdistrict"}, "return_visit": {"satisfaction": "satisfied"},
                  "update_facts": {"people_involved": 2}, "return_to_sender": {"reason": "not ours"},
                  "note": {"note": "called back"}, "resolve": SETTLED,
                  "record_judicial_confirmation": {"result": "confirmed"}}.get(action, {})
        wall.perform(store, aid, action, who, **params)


@pytest.mark.parametrize("role", access.ROLES)
def test_every_action_in_and_out_of_the_area(store, places, role):
    who = principal(role, places)
    for action, where in itertools.product(ACTIONS, ("in", "out")):
        aid, order_id = prepare(store, places, action, where)
        before, events, order_rows = store.get_appeal(aid), store.events(aid), store.orders(appeal_id=aid)
        allowed = access.may_do(role, action) and (access.area_kind(role) is None or where == "in")
        case = (role, action, where)
        if allowed:
            run(store, places, action, where, aid, order_id, who)
            after = store.events(aid)
            assert len(after) > len(events), case
            assert after["actor"].iloc[-1] == who.name, case
        else:
            with pytest.raises(access.Forbidden) as err:
                run(store, places, action, where, aid, order_id, who)
            assert str(err.value), case
            assert store.get_appeal(aid) == before, case
            pd.testing.assert_frame_equal(store.events(aid), events, obj=str(case))
            pd.testing.assert_frame_equal(store.orders(appeal_id=aid), order_rows, obj=str(case))


# ------------------------------------------------------------------------------------------ scoped reads
def test_reads_outside_the_area_are_forbidden_or_left_out(store, places):
    in_id, out_id = new_appeal(store, places, "in"), new_appeal(store, places, "out")
    store.act(out_id, "accept", SETUP)
    order_out = int(store.issue_order(out_id, [places["d_out"]], issued_by=SETUP)["id"])
    c_in, c_out = places["in"].parent_code, places["out"].parent_code
    s_in = places["comm"].loc[c_in].parent_code
    s_out = places["comm"].loc[c_out].parent_code
    dispatcher, officer = principal("community_dispatcher", places), principal("subdistrict_officer", places)
    department = principal("department_officer", places)
    for who in (dispatcher, officer):
        assert wall.appeal_detail(store, in_id, who, wall_mode=False)["id"] == in_id
        with pytest.raises(access.Forbidden, match="outside your area"):
            wall.appeal_detail(store, out_id, who, wall_mode=False)
        with pytest.raises(access.Forbidden):
            wall.appeal_events(store, out_id, who, wall_mode=False)
        assert wall.actions_for(store.get_appeal(out_id), who) == []
        assert isinstance(wall.refusal(store.get_appeal(out_id), "accept", who), access.Forbidden)
    with pytest.raises(access.Forbidden):
        wall.appeal_detail(store, out_id, department, wall_mode=False)    # not dispatched to D_IN
    # The store's area filters, community included, on both stores.
    now = datetime.now(TZ)
    for area, inside in ((("community", c_in), in_id), (("subdistrict", s_in), in_id),
                         (("community", c_out), out_id)):
        column = {"community": "community_code", "subdistrict": "subdistrict_code"}[area[0]]
        rows = store.query_appeals(area=area)
        assert inside in set(rows["id"]) and set(rows[column]) == {area[1]}, area
        k = store.kpis(now - timedelta(days=1), now, area=area)
        assert k["received"] == len(store.query_appeals(area=area, since=now - timedelta(days=1), until=now))
        assert set(store.overdue(now + timedelta(days=30), area=area)[column]) <= {area[1]}
    assert places["d_out"] in set(store.department_stats(now - timedelta(days=1), now,
                                                         area=("community", c_out))["code"])
    assert places["d_out"] not in set(store.department_stats(now - timedelta(days=1), now,
                                                             area=("community", c_in))["code"])
    # A scoped role's wall: its own area only; another area is Forbidden; a district role sees both.
    snap = wall.snapshot(store, who=dispatcher)
    assert snap.area == ("community", c_in) and set(snap.points["community_code"]) == {c_in}
    assert in_id in set(snap.points["id"]) and out_id not in set(snap.points["id"])
    assert set(snap.warnings["community_code"].dropna()) <= {c_in}
    assert snap.open_orders == orders.orders_for(store, dispatcher, open_only=True)["order_id"].nunique()
    assert wall.snapshot(store, who=officer).area == ("subdistrict", s_in)
    assert wall.snapshot(store, who=officer, area=("community", c_in)).area == ("community", c_in)
    for who, area in ((dispatcher, ("community", c_out)), (officer, ("subdistrict", s_out)),
                      (officer, ("community", c_out))):
        with pytest.raises(access.Forbidden):
            wall.snapshot(store, who=who, area=area)
    with pytest.raises(access.Forbidden):
        wall.snapshot(store, who=department)
    everyone = wall.snapshot(store, who=principal("duty_officer", places))
    assert {in_id, out_id} <= set(everyone.points["id"])
    # Orders: a department sees its own rows only, a community its community's.
    assert set(orders.orders_for(store, department)["department_code"]) <= {places["d_in"]}
    assert order_out not in set(orders.orders_for(store, department)["order_id"])
    assert order_out not in set(orders.orders_for(store, dispatcher)["order_id"])
    assert order_out in set(orders.orders_for(store, principal("leader", places))["order_id"])


def test_a_scoped_principal_without_an_area_or_name_sees_nothing(store, places):
    aid = new_appeal(store, places, "in")
    for who in (access.Principal("x", "community_dispatcher"), access.Principal("", "duty_officer")):
        with pytest.raises(access.Forbidden):
            wall.appeal_detail(store, aid, who, wall_mode=False)
        with pytest.raises(access.Forbidden):
            wall.perform(store, aid, "respond", who)
    assert store.get_appeal(aid)["responded_at"] is None
    assert access.area_filter(access.Principal("d", "duty_officer")) is None
    assert access.Principal.of(type("A", (), {"name": "n", "role": "wall", "area_code": None})()) == \
        access.Principal("n", "wall")


def test_every_request_on_an_appeal_or_order_is_audited(store, places):
    """Done or refused, a request through the services is a row of the audit log, naming who asked, and
    the chain still verifies."""
    from services import audit

    officer = principal("duty_officer", places)
    aid = new_appeal(store, places, "in")
    wall.perform(store, aid, "respond", officer)
    with pytest.raises(access.Forbidden):
        wall.perform(store, aid, "resolve", officer)  # not the duty officer's to do
    aid2, order_id = prepare(store, places, "order_check_in", "out")
    department = principal("department_officer", places)
    with pytest.raises(access.Forbidden):
        orders.check_in(store, order_id, department)  # an order to another department
    rows = store.audit_rows(object_kind="appeal", object_id=aid)
    assert [(r["actor"], r["action"]) for r in rows.to_dict("records")] == [
        (officer.name, "appeal.respond"), (officer.name, "appeal.resolve.refused")]
    refused = store.audit_rows(object_kind="order", object_id=order_id).to_dict("records")
    assert [(r["actor"], r["action"]) for r in refused] == [(department.name, "order.check_in.refused")]
    assert "order_not_yours" in refused[0]["detail"]
    assert audit.verify(store) == (True, None)
