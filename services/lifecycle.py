"""The closed loop of an appeal (一张网闭环) as data, and the one pure function that applies it.

report → accept → dispatch → resolve → confirm → feedback → return visit (回访): satisfied or basically
satisfied closes the appeal; not satisfied reopens it, and a reopened appeal must be resolved again
before it can be confirmed. Resolving records how the matter was settled (``settlement``: people's,
administrative or judicial mediation with the mediator's name, 三调联动; a dispute must say it), and a
mediation agreement on a large amount or a major matter may be sent for online judicial confirmation
(司法确认): while the court's answer is awaited the appeal's next deadline is that confirmation (half an
hour, [clocks] judicial_confirmation_minutes) and it cannot be confirmed. Escalation hands it from the community to a subdistrict or district special
team (专班) and makes it major. Updating the facts (people, urgency, amount) recomputes the tier and
class. A closed appeal accepts no action.

``transition`` is pure: it takes an appeal as a dict (APPEAL_COLUMNS) and returns the changed columns and
the events to append. Both stores call it inside their transaction and persist exactly what it returns,
so the rules are the same on SQLite and PostGIS, and an illegal action raises before anything is written.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import as_local, next_deadline, resolve_due
from services.config import rules
from services.errors import IllegalTransition, Label, Labels, Message, ValidationError
from services.facts import FACTS, check_facts
from services.facts import limits as fact_limits
from services.i18n import label
from services.tiers import TIERS, appeal_class, effective_tiers
from services.vocabulary import (  # noqa: F401 - the statuses are re-exported for callers
    JUDICIAL_RESULTS,
    MEDIATIONS,
    OPEN_STATUSES,
    RESOLVING,
    SETTLEMENTS,
    STATUSES,
)

# status -> action -> next status. An action that keeps the status maps to the same status.
TRANSITIONS: dict[str, dict[str, str]] = {
    "reported": {"respond": "reported", "accept": "accepted", "escalate": "reported",
                 "update_facts": "reported", "note": "reported"},
    "accepted": {"dispatch": "dispatched", "order": "dispatched", "escalate": "accepted",
                 "update_facts": "accepted", "note": "accepted"},
    "dispatched": {"resolve": "resolved", "dispatch": "dispatched", "order": "dispatched",
                   "escalate": "dispatched", "update_facts": "dispatched", "return_to_sender": "accepted",
                   "note": "dispatched"},
    "resolved": {"confirm": "confirmed", "request_judicial_confirmation": "resolved",
                 "record_judicial_confirmation": "resolved", "update_facts": "resolved", "note": "resolved"},
    "confirmed": {"feedback": "feedback", "update_facts": "confirmed", "note": "confirmed"},
    "feedback": {"return_visit": "closed", "update_facts": "feedback",   # not satisfied -> reopened
                 "note": "feedback"},
    "reopened": {"resolve": "resolved", "dispatch": "reopened", "order": "reopened", "escalate": "reopened",
                 "update_facts": "reopened", "note": "reopened"},
    "closed": {},
}
# The statuses themselves are listed once, in services.vocabulary: the machine covers exactly those.
assert tuple(TRANSITIONS) == STATUSES, "TRANSITIONS must cover services.vocabulary.STATUSES, in order"
# Actions done by the system rather than a person: allowed on every open appeal, not offered in menus.
SYSTEM_ACTIONS = ("gathering",)
# ``note`` adds a clerk's note and changes nothing else; ``return_to_sender`` (退回) is the unit an
# appeal was dispatched to handing it back, with a reason, to the dispatcher who accepted it: the
# appeal is "accepted" again, with no unit, and must be dispatched anew (its dispatch clock runs again).
# ``request_judicial_confirmation`` sends a resolved appeal's mediation agreement for online judicial
# confirmation (司法确认) and ``record_judicial_confirmation`` records the court's answer (``result``
# confirmed or refused); both keep the appeal resolved.
ACTIONS = ("respond", "accept", "dispatch", "order", "resolve", "confirm", "feedback", "return_visit",
           "escalate", "update_facts", "return_to_sender", "note", "request_judicial_confirmation",
           "record_judicial_confirmation", *SYSTEM_ACTIONS)
# The timestamp column each action sets.
STAMP = {"respond": "responded_at", "accept": "accepted_at", "dispatch": "dispatched_at",
         "resolve": "resolved_at", "confirm": "confirmed_at", "feedback": "feedback_at",
         "return_visit": "return_visit_at"}
SATISFACTION = ("satisfied", "basically_satisfied", "not_satisfied")
LEVELS = ("community", "subdistrict", "district")
# Appeal columns of the settlement, cleared and set again by every resolve (a new resolution is a new
# agreement: a confirmation asked or answered for the one before does not carry over).
SETTLEMENT_COLUMNS = ("settlement", "mediator", "agreement_amount", "judicial_requested_at",
                      "judicial_recorded_at", "judicial_result")
MEDIATOR_MAX = 50   # characters of a mediator's name (or names, 调解员甲、调解员乙)


def _missing(v: Any) -> bool:
    return v is None or (not isinstance(v, (str, list, tuple)) and bool(pd.isna(v)))


def judicial_pending(appeal: dict[str, Any]) -> bool:
    """True while a judicial confirmation was requested and the court's answer is not recorded yet."""
    return not _missing(appeal.get("judicial_requested_at")) and _missing(appeal.get("judicial_recorded_at"))


def judicial_amount(appeal: dict[str, Any]) -> float:
    """The amount a judicial confirmation is judged on: the agreed amount, else the amount involved."""
    v = appeal.get("agreement_amount")
    if _missing(v):
        v = appeal.get("amount_involved")
    return 0.0 if _missing(v) else float(v)


def mediation_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [mediation] section of the rules."""
    return (cfg or rules())["mediation"]


def judicial_refusal(appeal: dict[str, Any], cfg: dict[str, Any] | None = None) -> str:
    """Why ``request_judicial_confirmation`` is not allowed on this resolved appeal (a key of
    ``error.reason``), or "" when it is: the appeal must be settled by mediation (a mediation agreement is
    what a court confirms), not asked already, and be a large amount (``[mediation]
    judicial_confirmation_min_amount`` or more) or a major or class-1 matter."""
    if appeal.get("settlement") not in MEDIATIONS:
        return "judicial_needs_mediation"
    if judicial_pending(appeal):
        return "judicial_pending"
    if not _missing(appeal.get("judicial_recorded_at")):
        return "judicial_recorded"
    if appeal.get("appeal_class") == "ordinary" and \
            judicial_amount(appeal) < float(mediation_rules(cfg)["judicial_confirmation_min_amount"]):
        return "judicial_below_threshold"
    return ""


def allowed_actions(appeal: dict[str, Any], cfg: dict[str, Any] | None = None) -> list[str]:
    """User actions allowed next for this appeal, in menu order."""
    status = appeal["status"]
    out = []
    for action in TRANSITIONS.get(status, {}):
        if action == "respond" and not _missing(appeal.get("responded_at")):
            continue  # responded once already
        if action == "escalate" and (appeal.get("handling_level") or "community") == LEVELS[-1]:
            continue  # already at the district special team
        if action == "confirm" and judicial_pending(appeal):
            continue  # the court's answer first
        if action == "request_judicial_confirmation" and judicial_refusal(appeal, cfg):
            continue
        if action == "record_judicial_confirmation" and not judicial_pending(appeal):
            continue  # nothing asked, or answered already
        out.append(action)
    return out


def _agreement_amount(value: Any, cfg: dict[str, Any] | None) -> float:
    """The agreed amount in yuan: a finite number from 0 to [facts] amount_max, as the amount involved
    (``ValidationError`` ``error.agreement_amount_invalid`` otherwise)."""
    lim = fact_limits(cfg)
    try:
        x = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(value, bool) or not (0 <= x <= lim.amount_max):   # NaN and infinity fail too
        raise ValidationError("error.agreement_amount_invalid", value=str(value)[:40], max=lim.amount_en,
                              max_yi=lim.amount_yi)
    return x


def _settlement(appeal: dict[str, Any], params: dict[str, Any],
                cfg: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The settlement columns a resolve sets, and the start of its event's note (codes and values, which
    services.timeline shows in the reader's language): ``settlement=…``, then ``amount=…`` and
    ``mediator=…`` when given."""
    settlement = params.get("settlement")
    settlement = None if _missing(settlement) or settlement == "" else settlement
    if settlement is None and appeal.get("service_type") == "dispute":
        raise ValidationError("error.resolve_needs_settlement", choices=Labels("settlement", SETTLEMENTS))
    if settlement is not None and settlement not in SETTLEMENTS:
        raise ValidationError("error.unknown_settlement", settlement=str(settlement),
                              choices=Labels("settlement", SETTLEMENTS))
    mediator = params.get("mediator")
    mediator = "" if _missing(mediator) else " ".join(str(mediator).split())
    amount = params.get("agreement_amount")
    amount = None if _missing(amount) or amount == "" else amount
    if settlement in MEDIATIONS:
        if not mediator:
            raise ValidationError("error.mediation_needs_mediator", settlement=Label("settlement", settlement))
        if len(mediator) > MEDIATOR_MAX or any(c in mediator for c in ";；="):
            raise ValidationError("error.mediator_invalid", max=MEDIATOR_MAX)
    elif mediator or amount is not None:
        raise ValidationError("error.mediator_without_mediation",
                              settlement=Label("settlement", settlement) if settlement else Message("error.none"))
    if amount is not None:
        amount = _agreement_amount(amount, cfg)
    changes = {c: None for c in SETTLEMENT_COLUMNS}
    changes.update(settlement=settlement, mediator=mediator or None, agreement_amount=amount)
    if settlement is None:
        return changes, ""
    detail = f"settlement={settlement}"
    if amount is not None:
        detail += f" amount={amount:.0f}"
    if mediator:
        detail += f" mediator={mediator}"
    return changes, detail


def check_dispatch_unit(appeal: dict[str, Any], target: Any, departments: Collection[str]) -> None:
    """A dispatch (分拨) hands the appeal to a unit that exists: its own community (``community_code``,
    where the community handles it: 每日清零) or a department the store knows (``departments``, the
    codes of ``Store.departments()``). Anything else raises ``ValidationError`` and the store writes
    nothing. The store calls this inside its transaction, after ``transition`` accepted the move."""
    community = appeal.get("community_code")
    code = str(target)
    if (not _missing(community) and code == str(community)) or code in departments:
        return
    raise ValidationError("error.unknown_dispatch_unit", target=code,
                          community=Message("error.none") if _missing(community) else str(community))


def effective_tier(people_involved: Any, urgency: Any, amount_involved: Any,
                   gathering_tier: str | None = None, cfg: dict[str, Any] | None = None) -> str:
    """Tier from the facts, raised to the tier of the appeal's gathering cluster if that is higher
    (``services.tiers.effective_tiers`` on one appeal)."""
    return str(effective_tiers(np.array([0 if _missing(people_involved) else int(people_involved)]),
                               np.array([0 if _missing(urgency) else int(urgency)]),
                               np.array([0.0 if _missing(amount_involved) else float(amount_involved)]),
                               np.array([gathering_tier], object), cfg)[0])


def _reclassify(merged: dict[str, Any], cfg: dict[str, Any] | None) -> dict[str, Any]:
    tier = effective_tier(merged.get("people_involved"), merged.get("urgency"), merged.get("amount_involved"),
                          merged.get("gathering_tier"), cfg)
    urgency = 0 if _missing(merged.get("urgency")) else int(merged["urgency"])
    klass = appeal_class(tier, urgency, (merged.get("handling_level") or "community") != "community", cfg)
    return {"tier": tier, "appeal_class": klass}


def _diff_note(before: dict[str, Any], after: dict[str, Any], keys: Sequence[str]) -> str:
    parts = []
    for k in keys:
        b, a = before.get(k), after.get(k)
        if k in after and not (_missing(b) and _missing(a)) and b != a:
            parts.append(f"{k} {b}→{a}")
    return "; ".join(parts)


def transition(appeal: dict[str, Any], action: str, at: datetime, actor: str = "system", note: str = "",
               cfg: dict[str, Any] | None = None, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Apply ``action`` to ``appeal`` at ``at``: returns (changed columns, events to append).

    Raises ``IllegalTransition`` (saying what is allowed next) when the action is not allowed now and
    ``ValidationError`` for bad parameters. Never mutates ``appeal``. Params per action: dispatch
    ``target``; order ``departments`` (and ``order_id``, ``rule`` for the note); return_visit
    ``satisfaction``; escalate ``level``; update_facts any of ``people_involved``, ``urgency``,
    ``amount_involved`` (checked by ``services.facts``: the limits of intake); gathering ``gathering_id``,
    ``gathering_tier``; return_to_sender ``reason``; note needs ``note``; resolve ``settlement`` (one of
    SETTLEMENTS, required for a dispute), ``mediator`` (required with a mediation, refused without) and
    ``agreement_amount`` (yuan, with a mediation); record_judicial_confirmation ``result`` (one of
    JUDICIAL_RESULTS). Every action needs an ``actor`` (who did it, not blank). Which units a dispatch
    ``target`` may name is the store's to check (``check_dispatch_unit``).
    """
    if action not in ACTIONS:
        raise ValidationError("error.unknown_action", action=Label("action", action), actions=Labels("action", ACTIONS))
    if not isinstance(actor, str) or not actor.strip():
        raise ValidationError("error.actor_required", action=Label("action", action))
    status = appeal["status"]
    if status not in TRANSITIONS:
        raise ValidationError("error.unknown_status", status=Label("status", status))
    allowed = allowed_actions(appeal, cfg)
    if action in SYSTEM_ACTIONS:
        if status == "closed":
            raise IllegalTransition(action, status, allowed)
    elif action not in allowed:
        reason = ""
        if action == "respond" and action in TRANSITIONS[status]:
            reason = "already_responded"
        elif action == "escalate" and action in TRANSITIONS[status]:
            reason = "at_district"
        elif action == "confirm" and status == "reopened":
            reason = "resolve_again"
        elif action == "confirm" and status == "resolved":
            reason = "judicial_pending"
        elif action == "request_judicial_confirmation" and status == "resolved":
            reason = judicial_refusal(appeal, cfg)
        elif action == "record_judicial_confirmation" and status == "resolved":
            reason = "judicial_recorded" if not _missing(appeal.get("judicial_recorded_at")) else "judicial_not_requested"
        raise IllegalTransition(action, status, allowed, reason)

    at = as_local(at)
    reported = appeal.get("reported_at")
    if not _missing(reported) and at < as_local(pd.Timestamp(reported).to_pydatetime()):
        raise ValidationError("error.before_report", action=Label("action", action), at=at,
                              reported=pd.Timestamp(reported))

    to_status = TRANSITIONS[status].get(action, status)
    changes: dict[str, Any] = {}
    detail = ""
    if action in STAMP:
        changes[STAMP[action]] = at
    if action == "accept" and _missing(appeal.get("responded_at")):
        changes["responded_at"] = at  # accepting is a response
    if action == "dispatch":
        target = params.get("target")
        if not target:
            raise ValidationError("error.dispatch_needs_target")
        changes["dispatched_to"] = str(target)
        if status == "reopened":
            changes.pop("dispatched_at")  # a reopened appeal stays reopened until resolved again
        detail = f"→ {target}"
    elif action == "order":
        departments = [str(d) for d in params.get("departments") or []]
        if not departments:
            raise ValidationError("error.order_needs_department")
        changes["dispatched_to"] = ",".join(departments)
        if status == "accepted":
            changes["dispatched_at"] = at
        rule = params.get("rule")
        detail = f"发令#{params.get('order_id', '')} → {','.join(departments)}"
        if rule is not None:
            detail += (f"；{label('leader_level', rule.leader_level, 'zh')}带队，{rule.people}人，"
                       f"{rule.arrival_minutes}分钟内报到，"
                       f"{rule.resolution_hours}小时内化解")
    elif action == "resolve":
        settled, detail = _settlement(appeal, params, cfg)
        changes.update(settled)
    elif action == "request_judicial_confirmation":
        changes["judicial_requested_at"] = at
        detail = f"amount={judicial_amount(appeal):.0f}"
    elif action == "record_judicial_confirmation":
        result = params.get("result")
        if result not in JUDICIAL_RESULTS:
            raise ValidationError("error.judicial_needs_result", choices=Labels("judicial_result", JUDICIAL_RESULTS))
        if at < as_local(pd.Timestamp(appeal["judicial_requested_at"]).to_pydatetime()):
            raise ValidationError("error.judicial_before_request", at=at,
                                  requested=pd.Timestamp(appeal["judicial_requested_at"]))
        changes.update(judicial_recorded_at=at, judicial_result=result)
        detail = result
    elif action == "return_visit":
        sat = params.get("satisfaction")
        if sat not in SATISFACTION:
            raise ValidationError("error.return_visit_needs_satisfaction",
                                  choices=Labels("satisfaction", SATISFACTION))
        changes["satisfaction"] = sat
        if sat == "not_satisfied":
            to_status = "reopened"
            changes["reopened_count"] = int(appeal.get("reopened_count") or 0) + 1
        else:
            changes["closed_at"] = at
        detail = sat
    elif action == "escalate":
        level = params.get("level")
        current = appeal.get("handling_level") or "community"
        if level not in LEVELS[1:]:
            raise ValidationError("error.escalate_needs_level", levels=Labels("handling_level", LEVELS[1:]))
        if LEVELS.index(level) <= LEVELS.index(current):
            raise ValidationError("error.escalate_only_up", current=Label("handling_level", current),
                                  level=Label("handling_level", level))
        changes["handling_level"] = level
        detail = f"{current}→{level}"
    elif action == "update_facts":
        given = {k: params[k] for k in FACTS if k in params and params[k] is not None}
        if not given:
            raise ValidationError("error.update_facts_needs_one", facts=Labels("fact", FACTS))
        facts = check_facts(given, fact_limits(cfg))   # the rule intake keeps to (services.facts)
        changes.update(facts)
    elif action == "return_to_sender":
        reason = str(params.get("reason") or "").strip()
        if not reason:
            raise ValidationError("error.return_needs_reason")
        changes.update(dispatched_to=None, dispatched_at=None)
        detail = f"退回 {appeal.get('dispatched_to') or ''}：{reason}"
    elif action == "note":
        if not str(note or "").strip():
            raise ValidationError("error.note_needs_text")
    elif action == "gathering":
        gid, gtier = params.get("gathering_id"), params.get("gathering_tier")
        if gid is None or gtier not in TIERS:
            raise ValidationError("error.gathering_needs")
        changes["gathering_id"] = int(gid)
        changes["gathering_tier"] = gtier
        detail = f"聚集#{gid} {gtier}"

    merged = {**appeal, **changes, "status": to_status}
    if action in ("escalate", "update_facts", "gathering"):
        changes.update(_reclassify(merged, cfg))
        merged.update(changes)
        facts_note = _diff_note(appeal, merged, (*FACTS, "tier", "appeal_class"))
        detail = "; ".join(p for p in (detail, facts_note) if p)
    changes["status"] = to_status
    merged["status"] = to_status
    if to_status in RESOLVING:
        changes["resolve_due_at"] = resolve_due(merged, cfg)
    deadline = next_deadline(merged, cfg=cfg)
    changes["next_deadline_kind"] = deadline.kind if deadline else None
    changes["next_deadline_at"] = deadline.at if deadline else None

    event = {"appeal_id": appeal.get("id"), "at": at, "actor": actor, "action": action,
             "from_status": status, "to_status": to_status,
             "note": "; ".join(p for p in (detail, note) if p)}
    return changes, [event]
