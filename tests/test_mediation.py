"""Settling an appeal (三调联动) and the online judicial confirmation of its agreement (司法确认), on the pure
lifecycle: hand-made appeals, times checkable by hand (Thursday 9 October 2025; the rules as shipped:
confirmation due 30 minutes after the request, eligible from 100,000 yuan or a major matter)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services import access
from services.config import rules
from services.errors import IllegalTransition, ValidationError, describe
from services.lifecycle import allowed_actions, transition
from services.timeline import split_note

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 10, 9, 9, 0, tzinfo=TZ)


def dispute(**kw) -> dict:
    """A dispatched wage-arrears dispute of 12 people, 150,000 yuan (yellow, major)."""
    a = {"id": 11, "status": "dispatched", "service_type": "dispute", "category": "wage_arrears",
         "people_involved": 12, "urgency": 1, "amount_involved": 150_000.0, "tier": "yellow",
         "appeal_class": "major", "handling_level": "community", "reopened_count": 0, "reported_at": T0,
         "responded_at": T0, "accepted_at": T0, "dispatched_at": T0 + timedelta(minutes=10),
         "dispatched_to": "440311001001"}
    a.update(kw)
    return a


def step(a: dict, action: str, minutes: float, note: str = "", **params) -> tuple[dict, dict]:
    changes, events = transition(a, action, T0 + timedelta(minutes=minutes), actor="社区调度员", note=note, **params)
    return {**a, **changes}, events[0]


def test_a_dispute_must_say_how_it_was_settled():
    with pytest.raises(ValidationError) as exc:
        step(dispute(), "resolve", 60)
    assert exc.value.key == "error.resolve_needs_settlement"
    assert "人民调解" in describe(exc.value, "zh") and "People's mediation" in describe(exc.value, "en")
    with pytest.raises(ValidationError, match="unknown settlement 'arbitration'"):
        step(dispute(), "resolve", 60, settlement="arbitration")
    # Not a dispute: a legal consultation answered needs no settlement, and may say "without mediation".
    legal = dispute(service_type="legal", category="legal_consultation")
    a, ev = step(legal, "resolve", 60)
    assert a["status"] == "resolved" and a["settlement"] is None and ev["note"] == ""
    a, ev = step(legal, "resolve", 60, settlement="direct")
    assert a["settlement"] == "direct" and ev["note"] == "settlement=direct"


def test_a_mediation_names_its_mediator_and_may_give_the_agreed_amount():
    with pytest.raises(ValidationError) as exc:
        step(dispute(), "resolve", 60, settlement="people_mediation", mediator="  ")
    assert exc.value.key == "error.mediation_needs_mediator"
    assert describe(exc.value, "zh") == "人民调解须填写调解员姓名"
    with pytest.raises(ValidationError) as exc:                 # a mediator goes with a mediation only
        step(dispute(), "resolve", 60, settlement="direct", mediator="李四")
    assert exc.value.key == "error.mediator_without_mediation"
    for bad in (-1, "很多", float("inf"), 2e11, True):
        with pytest.raises(ValidationError) as exc:
            step(dispute(), "resolve", 60, settlement="people_mediation", mediator="李四", agreement_amount=bad)
        assert exc.value.key == "error.agreement_amount_invalid", bad
    a, ev = step(dispute(), "resolve", 60, "双方签订调解协议书", settlement="people_mediation",
                 mediator=" 李四  王五 ", agreement_amount="120000")
    assert (a["status"], a["settlement"], a["mediator"], a["agreement_amount"]) == \
        ("resolved", "people_mediation", "李四 王五", 120_000.0)
    assert ev["note"] == "settlement=people_mediation amount=120000 mediator=李四 王五; 双方签订调解协议书"
    assert split_note("resolve", ev["note"], "zh") == ("人民调解（调解员 李四 王五，协议金额 120,000 元）",
                                                       "双方签订调解协议书")
    assert split_note("resolve", ev["note"], "en")[0] == \
        "People's mediation (mediator 李四 王五, agreed amount 120,000 yuan)"
    # Nothing asked yet: the next clock is the confirmation, 24 hours after the resolution.
    assert (a["next_deadline_kind"], a["next_deadline_at"]) == ("confirm", T0 + timedelta(hours=25))


def test_judicial_confirmation_is_for_a_mediation_of_a_large_amount_or_a_major_matter():
    assert rules()["mediation"]["judicial_confirmation_min_amount"] == 100_000
    small = dispute(amount_involved=8000.0, tier="blue", appeal_class="ordinary")
    direct, _ = step(small, "resolve", 60, settlement="direct")
    mediated, _ = step(small, "resolve", 60, settlement="people_mediation", mediator="李四")
    for a, reason, zh in ((direct, "judicial_needs_mediation", "只有经调解达成的协议"),
                          (mediated, "judicial_below_threshold", "不足 100000 元")):
        assert "request_judicial_confirmation" not in allowed_actions(a)
        with pytest.raises(IllegalTransition) as exc:
            step(a, "request_judicial_confirmation", 70)
        assert exc.value.reason == reason and zh in describe(exc.value, "zh")
    # 8,000 involved but 100,000 agreed: the agreed amount counts; so does a major matter whatever the amount.
    agreed, _ = step(small, "resolve", 60, settlement="people_mediation", mediator="李四", agreement_amount=100_000)
    major, _ = step(dispute(amount_involved=0.0), "resolve", 60, settlement="judicial_mediation", mediator="驻社区法官")
    for a in (agreed, major):
        assert "request_judicial_confirmation" in allowed_actions(a)
        assert "record_judicial_confirmation" not in allowed_actions(a)


def test_confirm_waits_for_the_court_which_answers_within_half_an_hour():
    a, _ = step(dispute(), "resolve", 60, settlement="people_mediation", mediator="李四", agreement_amount=120_000)
    with pytest.raises(IllegalTransition) as exc:               # nothing asked: nothing to record
        step(a, "record_judicial_confirmation", 65, result="confirmed")
    assert exc.value.reason == "judicial_not_requested"
    a, ev = step(a, "request_judicial_confirmation", 70)           # 10:10
    assert (a["status"], a["judicial_requested_at"]) == ("resolved", T0 + timedelta(minutes=70))
    assert (a["next_deadline_kind"], a["next_deadline_at"]) == ("judicial_confirmation", T0 + timedelta(minutes=100))
    assert ev["note"] == "amount=120000" and split_note(ev["action"], ev["note"], "en")[0] == "amount 120,000 yuan"
    assert allowed_actions(a) == ["record_judicial_confirmation", "update_facts", "note"]
    with pytest.raises(IllegalTransition) as exc:
        step(a, "confirm", 80)
    assert exc.value.reason == "judicial_pending"
    assert "（司法确认已申请，须先登记法院的确认结果）；" in describe(exc.value, "zh")
    assert " (a judicial confirmation was requested: record the court's answer first);" in describe(exc.value, "en")
    with pytest.raises(IllegalTransition) as exc:
        step(a, "request_judicial_confirmation", 75)
    assert exc.value.reason == "judicial_pending"
    with pytest.raises(ValidationError, match="needs its result"):
        step(a, "record_judicial_confirmation", 90, result="maybe")
    with pytest.raises(ValidationError) as exc:
        step(a, "record_judicial_confirmation", 65, result="confirmed")   # before the request
    assert exc.value.key == "error.judicial_before_request"
    a, ev = step(a, "record_judicial_confirmation", 95, "（2025）粤0311民特123号", result="confirmed")
    assert (a["judicial_result"], a["judicial_recorded_at"]) == ("confirmed", T0 + timedelta(minutes=95))
    assert split_note(ev["action"], ev["note"], "zh") == ("确认有效", "（2025）粤0311民特123号")
    assert (a["next_deadline_kind"], a["next_deadline_at"]) == ("confirm", T0 + timedelta(hours=25))
    with pytest.raises(IllegalTransition) as exc:               # one confirmation per agreement
        step(a, "request_judicial_confirmation", 100)
    assert exc.value.reason == "judicial_recorded"
    a, _ = step(a, "confirm", 100)
    assert a["status"] == "confirmed" and a["settlement"] == "people_mediation"


def test_a_refused_confirmation_leaves_the_appeal_resolved_and_a_new_resolution_starts_afresh():
    a, _ = step(dispute(), "resolve", 60, settlement="people_mediation", mediator="李四", agreement_amount=120_000)
    a, _ = step(a, "request_judicial_confirmation", 70)
    a, _ = step(a, "record_judicial_confirmation", 90, "协议约定超出当事人处分权", result="refused")
    assert (a["status"], a["judicial_result"]) == ("resolved", "refused")
    assert "confirm" in allowed_actions(a) and "request_judicial_confirmation" not in allowed_actions(a)
    # Not satisfied at the return visit: reopened, resolved again by a new agreement, which may be sent anew.
    a, _ = step(a, "confirm", 100)
    a, _ = step(a, "feedback", 110)
    a, _ = step(a, "return_visit", 200, satisfaction="not_satisfied")
    a, _ = step(a, "resolve", 300, settlement="judicial_mediation", mediator="驻社区法官张三", agreement_amount=130_000)
    assert (a["judicial_requested_at"], a["judicial_recorded_at"], a["judicial_result"]) == (None, None, None)
    assert "request_judicial_confirmation" in allowed_actions(a)


def test_who_may_settle_and_how_the_mediator_is_kept():
    for role in ("community_dispatcher", "subdistrict_officer"):
        assert access.may_do(role, "request_judicial_confirmation") and access.may_do(role, "record_judicial_confirmation")
    for role in ("duty_officer", "leader", "department_officer", "wall", "planner", "admin"):
        assert not access.may_do(role, "request_judicial_confirmation"), role
    # The mediator's name is free text: masked in the audit log, masked for a leader, never on the wall.
    assert "mediator" in access.FREE_TEXT_PARAMS and "mediator" in access.TEXT_FIELDS
    a = {**dispute(settlement="people_mediation", mediator="李四 13812345678"), "reporter_name": "欧阳明华"}
    assert access.redact(a, "leader", wall_mode=False)["mediator"] == "李四 138****5678"
    assert "mediator" not in access.redact(a, "community_dispatcher", wall_mode=True)
