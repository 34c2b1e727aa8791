"""The closed loop as a pure function: allowed moves, what each changes, and the errors for illegal ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services import facts
from services.config import rules
from services.errors import IllegalTransition, ValidationError, describe
from services.i18n import label
from services.lifecycle import TRANSITIONS, allowed_actions, check_dispatch_unit, effective_tier, transition

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 10, 9, 9, 0, tzinfo=TZ)   # Thursday after the National Day holiday


def new_appeal(**kw) -> dict:
    a = {"id": 7, "status": "reported", "category": "neighbour", "people_involved": 1, "urgency": 1,
         "amount_involved": 0.0, "tier": "blue", "appeal_class": "ordinary", "handling_level": "community",
         "reopened_count": 0, "reported_at": T0, "responded_at": None, "gathering_id": None,
         "gathering_tier": None}
    a.update(kw)
    return a


def step(a: dict, action: str, minutes: float, **params) -> tuple[dict, dict]:
    changes, events = transition(a, action, T0 + timedelta(minutes=minutes), actor="值班员", **params)
    assert len(events) == 1
    return {**a, **changes}, events[0]


def test_full_loop_and_events():
    a = new_appeal()
    path = [("respond", 5, {}), ("accept", 10, {}), ("dispatch", 20, {"target": "440311001001"}),
            ("resolve", 120, {}), ("confirm", 150, {}), ("feedback", 200, {}),
            ("return_visit", 3000, {"satisfaction": "satisfied"})]
    statuses = []
    for action, minutes, params in path:
        before = a["status"]
        a, ev = step(a, action, minutes, **params)
        assert ev["action"] == action and ev["from_status"] == before and ev["to_status"] == a["status"]
        assert ev["actor"] == "值班员" and ev["appeal_id"] == 7
        statuses.append(a["status"])
    assert statuses == ["reported", "accepted", "dispatched", "resolved", "confirmed", "feedback", "closed"]
    assert a["responded_at"] == T0 + timedelta(minutes=5)
    assert a["dispatched_to"] == "440311001001"
    assert a["closed_at"] == T0 + timedelta(minutes=3000)
    assert a["satisfaction"] == "satisfied"
    assert a["next_deadline_kind"] is None and a["next_deadline_at"] is None
    # Ordinary: due by midnight of the report day, kept after resolution for the on-time figure.
    assert a["resolve_due_at"] == datetime(2025, 10, 9, 23, 59, 59, tzinfo=TZ)


def test_illegal_move_says_what_is_allowed_next():
    a = new_appeal(responded_at=T0)
    with pytest.raises(IllegalTransition) as exc:
        transition(a, "resolve", T0)
    assert str(exc.value) == "cannot resolve an appeal that is 'reported'; allowed next: accept, escalate, update_facts, note"
    assert exc.value.allowed == ["accept", "escalate", "update_facts", "note"]
    # Not yet responded: responding is allowed too.
    assert allowed_actions(new_appeal()) == ["respond", "accept", "escalate", "update_facts", "note"]
    with pytest.raises(IllegalTransition, match="already responded"):
        transition(a, "respond", T0)


def test_closed_appeal_accepts_nothing():
    a = new_appeal(status="closed")
    for action in ("resolve", "update_facts", "escalate", "return_visit", "gathering"):
        with pytest.raises(IllegalTransition, match="allowed next: nothing"):
            transition(a, action, T0, satisfaction="satisfied", level="district", people_involved=3,
                       gathering_id=1, gathering_tier="red")
    assert allowed_actions(a) == []


def test_not_satisfied_reopens_and_must_be_resolved_again():
    a = new_appeal(status="feedback", resolved_at=T0, feedback_at=T0)
    a, ev = step(a, "return_visit", 60, satisfaction="not_satisfied")
    assert a["status"] == "reopened" and a["reopened_count"] == 1 and ev["note"] == "not_satisfied"
    assert a.get("closed_at") is None
    with pytest.raises(IllegalTransition) as exc:
        transition(a, "confirm", T0 + timedelta(minutes=90))
    assert "a reopened appeal must be resolved again first" in str(exc.value)
    assert "resolve" in exc.value.allowed
    # The clock restarts at the reopening visit: ordinary, so by midnight of that day.
    assert a["next_deadline_kind"] == "resolve"
    assert a["next_deadline_at"] == datetime(2025, 10, 9, 23, 59, 59, tzinfo=TZ)
    a, _ = step(a, "resolve", 120)
    a, _ = step(a, "confirm", 130)
    a, _ = step(a, "feedback", 140)
    a, _ = step(a, "return_visit", 200, satisfaction="basically_satisfied")
    assert a["status"] == "closed" and a["reopened_count"] == 1


def test_escalation_makes_it_major_and_only_goes_up():
    a = new_appeal(status="accepted")
    a, ev = step(a, "escalate", 5, level="subdistrict")
    assert a["handling_level"] == "subdistrict" and a["appeal_class"] == "major"
    assert a["status"] == "accepted" and ev["from_status"] == ev["to_status"] == "accepted"
    assert "community→subdistrict" in ev["note"]
    # Major: within 3 working days of Thu 9 Oct: Fri 10, Sat 11 (adjusted), Mon 13.
    assert a["next_deadline_at"] == datetime(2025, 10, 13, 23, 59, 59, tzinfo=TZ)
    with pytest.raises(ValidationError, match="only goes up"):
        transition(a, "escalate", T0, level="subdistrict")
    a, _ = step(a, "escalate", 6, level="district")
    assert "escalate" not in allowed_actions(a)
    with pytest.raises(IllegalTransition, match="district special team"):
        transition(a, "escalate", T0, level="district")


def test_update_facts_recomputes_tier_and_class():
    a = new_appeal(status="dispatched")
    a, ev = step(a, "update_facts", 5, people_involved=12)
    assert (a["tier"], a["appeal_class"]) == ("yellow", "major")
    assert "people_involved 1→12" in ev["note"] and "tier blue→yellow" in ev["note"]
    a, _ = step(a, "update_facts", 6, amount_involved=1_000_000)
    assert (a["tier"], a["appeal_class"]) == ("red", "class1")
    a, _ = step(a, "update_facts", 7, amount_involved=0, people_involved=2)
    assert (a["tier"], a["appeal_class"]) == ("blue", "ordinary")
    with pytest.raises(ValidationError):
        transition(a, "update_facts", T0, urgency=4)
    with pytest.raises(ValidationError):
        transition(a, "update_facts", T0)


def test_gathering_raises_tier_and_facts_cannot_lower_it_below_the_cluster():
    a = new_appeal(status="accepted")
    a, ev = step(a, "gathering", 5, gathering_id=3, gathering_tier="yellow")
    assert (a["tier"], a["appeal_class"], a["gathering_id"]) == ("yellow", "major", 3)
    a, _ = step(a, "update_facts", 6, people_involved=2)
    assert a["tier"] == "yellow"          # the cluster's tier still holds
    a, _ = step(a, "update_facts", 7, people_involved=40)
    assert a["tier"] == "red"             # the facts may raise it further
    assert effective_tier(1, 1, 0, "yellow") == "yellow"
    assert effective_tier(1, 3, 0, "yellow") == "red"


def test_transition_is_pure_and_validates():
    a = new_appeal()
    snapshot = dict(a)
    transition(a, "accept", T0 + timedelta(minutes=3))
    assert a == snapshot
    with pytest.raises(ValidationError, match="before the report"):
        transition(a, "accept", T0 - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="satisfaction"):
        transition(new_appeal(status="feedback"), "return_visit", T0, satisfaction="fine")
    with pytest.raises(ValidationError, match="target"):
        transition(new_appeal(status="accepted"), "dispatch", T0)
    with pytest.raises(ValidationError, match="unknown action"):
        transition(a, "teleport", T0)


def test_accepting_counts_as_responding():
    a, _ = step(new_appeal(appeal_class="class1", tier="red"), "accept", 4)
    assert a["responded_at"] == a["accepted_at"] == T0 + timedelta(minutes=4)


def test_every_status_is_reachable_and_closed_is_terminal():
    reached = {"reported"}
    frontier = ["reported"]
    while frontier:
        s = frontier.pop()
        for nxt in TRANSITIONS[s].values():
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    reached.add("reopened")  # via return_visit not_satisfied
    assert reached == set(TRANSITIONS)
    assert TRANSITIONS["closed"] == {}


# ------------------------------------------------------------------ facts, actors and units (issue 11 §4)
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("facts", "key"), [
    ({"amount_involved": NAN}, "error.fact_not_finite"),        # was stored as NULL ("0.0→nan")
    ({"amount_involved": INF}, "error.fact_not_finite"),
    ({"people_involved": INF}, "error.fact_not_finite"),
    ({"people_involved": "abc"}, "error.fact_not_a_number"),    # was a plain ValueError
    ({"urgency": "x"}, "error.fact_not_a_number"),
    ({"amount_involved": "abc"}, "error.fact_not_a_number"),
    ({"people_involved": True}, "error.fact_not_a_number"),     # a checkbox is not a count
    ({"people_involved": [3]}, "error.fact_not_a_number"),
    ({"people_involved": 1.5}, "error.people_out_of_range"),    # whole people only
    ({"people_involved": 0}, "error.people_out_of_range"),
    ({"people_involved": 100_001}, "error.people_out_of_range"),  # above [facts] people_max, as intake
    ({"amount_involved": -1}, "error.amount_out_of_range"),
    ({"amount_involved": 1e11 + 1}, "error.amount_out_of_range"),  # above [facts] amount_max, as intake
    ({"urgency": 4}, "error.urgency_range"),
    ({"urgency": 2.5}, "error.urgency_range"),
    ({"people_involved": 5, "urgency": 0}, "error.urgency_range"),  # one bad fact refuses the whole update
])
def test_update_facts_refuses_what_intake_refuses(facts, key):
    with pytest.raises(ValidationError) as exc:
        transition(new_appeal(), "update_facts", T0 + timedelta(minutes=5), actor="值班员", **facts)
    assert exc.value.key == key
    for lang in ("zh", "en"):
        assert describe(exc.value, lang) and "{" not in describe(exc.value, lang)


def test_update_facts_takes_numbers_at_the_limits_and_numeric_text():
    a, _ = step(new_appeal(), "update_facts", 5, people_involved=100_000, amount_involved=1e11, urgency=3)
    assert (a["people_involved"], a["amount_involved"], a["urgency"]) == (100_000, 1e11, 3)
    a, ev = step(a, "update_facts", 6, people_involved=" 2 ", amount_involved="0", urgency="紧急")
    assert (a["people_involved"], a["amount_involved"], a["urgency"]) == (2, 0.0, 2)
    assert type(a["people_involved"]) is int and type(a["amount_involved"]) is float
    a, _ = step(a, "update_facts", 7, people_involved=4.0)       # a whole float is a whole number
    assert a["people_involved"] == 4 and type(a["people_involved"]) is int


def test_update_facts_follows_a_changed_limit():
    cfg = {**rules(), "facts": {"people_max": 50, "amount_max": 1000}}
    with pytest.raises(ValidationError, match="1-50"):
        transition(new_appeal(), "update_facts", T0, actor="值班员", cfg=cfg, people_involved=51)
    with pytest.raises(ValidationError, match="0-1000 yuan"):
        transition(new_appeal(), "update_facts", T0, actor="值班员", cfg=cfg, amount_involved=1001)
    changes, _ = transition(new_appeal(), "update_facts", T0, actor="值班员", cfg=cfg, people_involved=50)
    assert changes["people_involved"] == 50


def test_out_of_range_is_one_vectorised_rule():
    lim = facts.Limits(people_max=10, amount_max=100.0)
    people = np.array([0, 1, 1.5, 10, 11, NAN, INF])
    assert facts.out_of_range("people_involved", people, lim).tolist() == [1, 0, 1, 0, 1, 0, 0]
    amount = np.array([-0.01, 0, 100, 100.5, NAN, -INF])
    assert facts.out_of_range("amount_involved", amount, lim).tolist() == [1, 0, 0, 1, 0, 0]
    urgency = np.array([0, 1, 2, 3, 4, 2.5, NAN])
    assert facts.out_of_range("urgency", urgency, lim).tolist() == [1, 0, 0, 0, 1, 1, 0]


@pytest.mark.parametrize("actor", [None, "", "   ", "\t\n", 7])
@pytest.mark.parametrize(("status", "action", "params"), [
    ("reported", "respond", {}), ("reported", "accept", {}), ("accepted", "dispatch", {"target": "C1"}),
    ("accepted", "order", {"departments": ["police"]}), ("dispatched", "resolve", {}),
    ("resolved", "confirm", {}), ("confirmed", "feedback", {}),
    ("feedback", "return_visit", {"satisfaction": "satisfied"}), ("reported", "escalate", {"level": "district"}),
    ("reported", "update_facts", {"people_involved": 3}), ("reported", "gathering",
                                                           {"gathering_id": 1, "gathering_tier": "red"}),
])
def test_every_action_needs_an_actor(actor, status, action, params):
    with pytest.raises(ValidationError) as exc:
        transition(new_appeal(status=status), action, T0 + timedelta(minutes=5), actor=actor, **params)
    assert exc.value.key == "error.actor_required"
    assert describe(exc.value, "zh") == f"“{label('action', action, 'zh')}”须注明操作人"


def test_a_dispatch_goes_to_the_appeals_community_or_a_known_department():
    a = new_appeal(status="accepted", community_code="440311001001")
    check_dispatch_unit(a, "440311001001", {"police"})
    check_dispatch_unit(a, "police", {"police"})
    for target in ("440311001002", "nowhere", "community", "police "):
        with pytest.raises(ValidationError) as exc:
            check_dispatch_unit(a, target, {"police"})
        assert exc.value.key == "error.unknown_dispatch_unit"
        assert str(exc.value) == (f"cannot dispatch to '{target}': the target must be the appeal's community "
                                  "(440311001001) or a known department")
    with pytest.raises(ValidationError, match=r"community \(none\)"):
        check_dispatch_unit(new_appeal(community_code=None), "community", set())


def test_a_note_changes_nothing_but_the_timeline():
    a = new_appeal()
    changes, events = transition(a, "note", T0, actor="disp", note="called the reporter back")
    assert changes["status"] == "reported" and set(changes) <= {"status", "resolve_due_at", "next_deadline_kind",
                                                                 "next_deadline_at"}
    assert events[0]["action"] == "note" and events[0]["note"] == "called the reporter back"
    with pytest.raises(ValidationError):
        transition(a, "note", T0, actor="disp", note="  ")
    assert "note" not in allowed_actions({**a, "status": "closed"})


def test_return_to_sender_hands_a_dispatched_appeal_back_with_a_reason():
    a = {**new_appeal(), "status": "dispatched", "dispatched_to": "police", "dispatched_at": T0}
    changes, events = transition(a, "return_to_sender", T0, actor="police.officer", reason="not ours")
    assert changes["status"] == "accepted" and changes["dispatched_to"] is None and changes["dispatched_at"] is None
    assert "not ours" in events[0]["note"] and "police" in events[0]["note"]
    with pytest.raises(ValidationError):
        transition(a, "return_to_sender", T0, actor="x")
    with pytest.raises(IllegalTransition):
        transition(new_appeal(), "return_to_sender", T0, actor="x", reason="r")
