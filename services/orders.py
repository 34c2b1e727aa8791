"""Order rules (社区发令、部门执行): what an order on an appeal requires, per category and tier.

The rules live in config/rules.toml [orders]: ``[orders.category.<category>.<tier>]`` overrides
``[orders.tier.<tier>]`` key by key. The store applies them when a community issues an order and
``services.clocks.order_deadlines`` turns them into deadlines. Leader levels are codes
(``section_chief``, ``division_chief``, ``district_leader``) labelled through the string table
(``label("leader_level", code, lang)``); a rules file that names them in Chinese (科级, 处级, 区领导) still works.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services import access, audit
from services.clocks import OrderClock, order_deadlines
from services.config import rules
from services.errors import Label, Labels, ValidationError
from services.i18n import LANGS, table
from services.tiers import TIERS

RULE_KEYS = ("arrival_minutes", "leader_level", "people", "resolution_hours")


@dataclass(frozen=True)
class OrderRule:
    """What an order requires: arrival limit, leader level on site, people, resolution limit."""

    category: str
    tier: str
    arrival_minutes: int
    leader_level: str
    people: int
    resolution_hours: int
    suggested_departments: tuple[str, ...] = ()

    def deadlines(self, issued_at: datetime) -> OrderClock:
        """Arrival and resolution deadlines for an order issued at ``issued_at``."""
        return order_deadlines(issued_at, self.arrival_minutes, self.resolution_hours)


def leader_level_code(value: str) -> str:
    """The code of a leader level given as its code or as its label in any language (处级 -> division_chief);
    the value itself when it names no level."""
    value = str(value).strip()
    for key, texts in table().items():
        group, _, code = key.partition(".")
        if group == "leader_level" and value in (code, *(texts[lang] for lang in LANGS)):
            return code
    return value


def order_config(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [orders] section of the rules."""
    return (cfg or rules())["orders"]


def order_rule(category: str, tier: str, cfg: dict[str, Any] | None = None) -> OrderRule:
    """The rule for an order on an appeal of ``category`` and ``tier`` (category entry over tier default)."""
    o = order_config(cfg)
    if tier not in TIERS:
        raise ValidationError("error.unknown_tier", tier=Label("tier", tier), tiers=Labels("tier", TIERS))
    merged = dict(o["tier"][tier])
    merged.update(o.get("category", {}).get(category, {}).get(tier, {}))
    missing = [k for k in RULE_KEYS if k not in merged]
    if missing:
        raise ValueError(f"[orders] rule for {category}/{tier} lacks {', '.join(missing)}")
    level = leader_level_code(merged["leader_level"])
    levels = [leader_level_code(v) for v in o["leader_levels"]]
    if level not in levels:
        raise ValueError(f"[orders] leader level {merged['leader_level']!r} is not one of {o['leader_levels']}")
    return OrderRule(category, tier, int(merged["arrival_minutes"]), level,
                     int(merged["people"]), int(merged["resolution_hours"]),
                     tuple(o.get("departments", {}).get(category, ())))


def rule_for_appeal(appeal: dict[str, Any], cfg: dict[str, Any] | None = None) -> OrderRule:
    """The order rule for an appeal (its category and current tier)."""
    return order_rule(str(appeal["category"]), str(appeal["tier"]), cfg)


def leader_levels(cfg: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Leader level codes, lowest first (config/rules.toml [orders] leader_levels)."""
    return tuple(leader_level_code(v) for v in order_config(cfg)["leader_levels"])


# The one meaning of a timely check-in (准时报到): checked in, at or before the arrival deadline (the
# deadline minute itself counts as on time). Written once as this comparison; ``on_time_sql`` renders it
# for the stores' aggregates (``department_stats``, ``department_assessment``) and ``on_time`` applies it
# to one row (the orders page's marks), so the two cannot drift apart.
ON_TIME_COMPARISON = "<="
_COMPARE = {"<=": operator.le, "<": operator.lt}


def on_time_sql(checked_in_at: str = "d.checked_in_at", arrive_by: str = "o.arrive_by") -> str:
    """The SQL condition of a timely check-in over the columns ``checked_in_at`` and ``arrive_by``
    (by default an ``order_department d`` row and its ``appeal_order o``)."""
    return f"{checked_in_at} IS NOT NULL AND {checked_in_at} {ON_TIME_COMPARISON} {arrive_by}"


def on_time(checked_in_at: Any, arrive_by: Any) -> bool | None:
    """``on_time_sql`` for one row: True when checked in at or before the arrival deadline, None when
    not checked in."""
    if checked_in_at is None or arrive_by is None or checked_in_at != checked_in_at:  # NaT / NaN
        return None
    return bool(_COMPARE[ON_TIME_COMPARISON](checked_in_at, arrive_by))


def outcomes(cfg: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Outcomes a department may report."""
    return tuple(order_config(cfg)["outcomes"])


def check_outcome(outcome: str, cfg: dict[str, Any] | None = None) -> str:
    """``outcome`` if allowed, else a ValidationError naming the allowed ones."""
    allowed = outcomes(cfg)
    if outcome not in allowed:
        raise ValidationError("error.unknown_outcome", outcome=Label("outcome", outcome),
                              outcomes=Labels("outcome", allowed))
    return outcome


# -- a department's steps on an order, for a signed-in principal (issue 12 §2) ------------------------
def _own_department(store: Any, order_id: int, action: str, who: access.Principal) -> tuple[dict[str, Any], str]:
    """The order and the department ``who`` acts for: ``Forbidden`` unless its role may do ``action`` and
    the order was sent to its department (``who.area_code``); ``NotFound`` for an unknown order."""
    access.check_principal(who)
    access.check_action(who.role, action)
    order = store.order(order_id)
    department = str(who.area_code)
    if department not in {d["department_code"] for d in order["departments"]}:
        raise access.Forbidden("error.order_not_yours", order=order_id, department=department)
    return order, department


def check_in(store: Any, order_id: int, who: access.Principal, at: datetime | None = None, *,
             people: int | None = None, leader_level: str | None = None) -> dict[str, Any]:
    """``who``'s department reports on site on order ``order_id`` (recorded as done by ``who.name``), with
    how many ``people`` came and the ``leader_level`` of the most senior; ``Forbidden`` for a role that
    may not, or an order not sent to its department, and nothing changes. Done or refused, it is a row
    of the audit log."""
    def step() -> dict[str, Any]:
        _, department = _own_department(store, order_id, "order_check_in", who)
        return store.check_in(order_id, department, at, actor=who.name, people=people, leader_level=leader_level)

    access.check_principal(who)
    detail = {k: v for k, v in (("people", people), ("leader_level", leader_level)) if v is not None} or None
    return audit.audited(store, who.name, "order.check_in", "order", order_id, detail, step, who.address)


def report_outcome(store: Any, order_id: int, outcome: str, who: access.Principal,
                   at: datetime | None = None, *, note: str = "") -> dict[str, Any]:
    """``who``'s department reports its outcome on order ``order_id`` (as ``check_in``), with a ``note``
    kept in the appeal's event."""
    def step() -> dict[str, Any]:
        _, department = _own_department(store, order_id, "order_outcome", who)
        return store.report_outcome(order_id, department, outcome, at, actor=who.name, note=note)

    access.check_principal(who)
    return audit.audited(store, who.name, "order.outcome", "order", order_id, {"outcome": outcome}, step,
                         who.address)


def orders_for(store: Any, who: access.Principal, *, open_only: bool = False) -> Any:
    """The orders (one row per order and department, as ``Store.orders``) ``who`` may see: every order
    for a district-wide role, those of its community or subdistrict's communities, or only the rows of
    its own department."""
    from services import district

    area = access.area_filter(who)
    rows = store.orders(open_only=open_only)
    if area is None or rows.empty:
        return rows
    if area[0] == "department":
        keep = rows["department_code"] == area[1]
    else:
        keep = rows["community_code"].isin(district.communities_in(area))
    return rows[keep].reset_index(drop=True)
