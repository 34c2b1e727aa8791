"""What the simulator will do with an appeal: the profile of the simulated work, each appeal's plan (drawn
when it arrives), the delays of its steps and the departments an order sends on site."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.errors import DomainError


@dataclass
class Profile:
    """The shape of the simulated work: shares and delays (minutes unless named otherwise)."""

    late_respond: float = 0.05          # class-1 responded after the 10-minute limit
    late_accept: float = 0.05           # class-1 accepted after the 30-minute limit
    late_resolve: float = 0.06          # resolved after the deadline
    not_satisfied: float = 0.04         # return visit not satisfied: reopened
    escalate_major: float = 0.5         # major/class-1 appeals handed to a special team
    order_major: float = 0.3            # major/class-1 appeals on which the community issues an order
    order_ordinary: float = 0.02        # ordinary appeals with an order
    late_check_in: float = 0.1          # departments arriving after the order's limit
    gatherings_per_hour: float = 0.3    # construction-site wage-arrears gatherings per simulated hour
    gathering_size: tuple[int, int] = (12, 25)
    gathering_minutes: float = 12.0     # the crew's reports spread over about this long
    return_visit_hours: tuple[float, float] = (1.0, 20.0)


@dataclass
class Plan:
    """What will happen to one appeal (decided when it arrives)."""

    appeal_class: str
    tier: str
    category: str
    community_code: str
    late_respond: bool = False
    late_accept: bool = False
    late_resolve: bool = False
    escalate: str | None = None
    order: bool = False
    unhappy: bool = False
    outcomes_due: int = 0


def new_plan(rec: dict[str, Any], rng: np.random.Generator, profile: Profile) -> Plan:
    """The plan for a stored appeal ``rec`` (its class, tier, category, community and handling level),
    its lateness, escalation, order and the reporter's satisfaction drawn with the profile's shares."""
    r, p = rng, profile
    klass = str(rec["appeal_class"])
    serious = klass != "ordinary"
    plan = Plan(klass, str(rec["tier"]), str(rec.get("category") or ""), str(rec.get("community_code") or ""))
    plan.late_respond = klass == "class1" and r.random() < p.late_respond
    plan.late_accept = klass == "class1" and r.random() < p.late_accept
    plan.late_resolve = r.random() < p.late_resolve
    if serious and r.random() < p.escalate_major and (rec.get("handling_level") or "community") == "community":
        plan.escalate = "district" if plan.tier == "red" and r.random() < 0.4 else "subdistrict"
    plan.order = r.random() < (p.order_major if serious else p.order_ordinary)
    plan.unhappy = r.random() < p.not_satisfied
    return plan


def first_steps(plan: Plan, reported: Any, rng: np.random.Generator) -> list[tuple[datetime, str]]:
    """When a new appeal is responded to (class-1 always, others half the time) and accepted, in order:
    a class-1 appeal within its 10-minute response and 30-minute acceptance limits, unless planned late."""
    r = rng
    t0 = pd.Timestamp(reported).to_pydatetime()
    steps = []
    if plan.appeal_class == "class1":  # 10-minute response, 30-minute acceptance (some late)
        respond = r.uniform(11, 25) if plan.late_respond else r.uniform(1, 8)
        accept = r.uniform(31, 60) if plan.late_accept else min(respond + r.uniform(2, 15), 29.5)
        steps.append((t0 + timedelta(minutes=respond), "respond"))
    else:
        accept = r.uniform(5, 60)
        if r.random() < 0.5:
            steps.append((t0 + timedelta(minutes=accept * r.uniform(0.2, 0.8)), "respond"))
    steps.append((t0 + timedelta(minutes=max(accept, 0.5)), "accept"))
    return steps


def resolve_delay(plan: Plan, at: datetime, rng: np.random.Generator) -> timedelta:
    """How long after dispatch at ``at`` the appeal is resolved: an ordinary one within the day, a major
    one within 30 hours, unless planned late."""
    r = rng
    if plan.appeal_class == "ordinary":
        left = (at.replace(hour=23, minute=59, second=0) - at).total_seconds() / 60
        if plan.late_resolve or left < 20:
            return timedelta(minutes=max(left, 0) + r.uniform(30, 600))
        return timedelta(minutes=r.uniform(10, min(left - 5, 300)))
    if plan.late_resolve:
        return timedelta(hours=r.uniform(80, 120))
    return timedelta(hours=r.uniform(1, 30))


def departments_to_order(plan: Plan, known: set[str], rng: np.random.Generator) -> list[str]:
    """One to three of the departments the order rule suggests for the appeal's category and tier (those
    in ``known``, the store's departments), else petitions and justice, else the first known one."""
    from services.orders import order_rule

    try:
        suggested = [d for d in order_rule(plan.category, plan.tier).suggested_departments if d in known]
    except (DomainError, KeyError, ValueError):
        suggested = []
    if not suggested:
        suggested = [d for d in ("petitions", "justice") if d in known] or sorted(known)[:1]
    return suggested[:int(rng.integers(1, min(len(suggested), 3) + 1))]


# How a simulated resolution is settled (三调联动): a dispute by a mediation, mostly the community's people's
# mediators, then the department concerned and the judges stationed in communities; about 2 % not settled
# and referred to arbitration or court (seed 001: mediation succeeds in 98 % of cases). Anything else is
# handled without mediation. The mediator is named by role, not by an invented person.
DISPUTE_SETTLEMENTS = {"people_mediation": 0.72, "administrative_mediation": 0.18, "judicial_mediation": 0.08,
                       "referred": 0.02}
MEDIATORS = {"people_mediation": "社区人民调解员", "administrative_mediation": "职能部门调解员",
             "judicial_mediation": "驻社区法官"}


def settlement_params(category: str | None, appeal_id: int) -> dict[str, Any]:
    """The ``resolve`` parameters of a simulated resolution: ``settlement`` (and ``mediator``) for an
    appeal of ``category``. Chosen from the appeal's id, not drawn from the simulator's generator, so
    that adding the settlement left every other draw of a run as it was."""
    from services.vocabulary import CATEGORY_SERVICE

    if CATEGORY_SERVICE.get(str(category or "")) != "dispute":
        return {"settlement": "direct"}
    u = (int(appeal_id) * 2654435761 % 2**32) / 2**32          # Knuth's multiplicative hash: spread ids
    cum = np.cumsum(list(DISPUTE_SETTLEMENTS.values()))
    kind = list(DISPUTE_SETTLEMENTS)[min(int(np.searchsorted(cum, u, side="right")), len(cum) - 1)]
    return {"settlement": kind, **({"mediator": MEDIATORS[kind]} if kind in MEDIATORS else {})}
