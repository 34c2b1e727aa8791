"""What the orders page (/orders, 部门报到) shows, computed from the store for a signed-in principal.

A department officer sees the orders sent to its department and acts on them (check in on site, report
the outcome); the issuing side (a community, a subdistrict, the district) sees the same rows read-only,
with the state live. Two lists are for everyone who opens the page: the daily reminder (每日一提醒) of
open and late orders per department, and the weekly ranking (每周一例会) of the last full week.

No Streamlit here: pages/orders.py draws what these functions return. Roles and areas are checked by
services.access and services.orders (every step is audited there); personal data never leaves this
module: the reporter's name and phone are dropped, the description masked as ``access.redact`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from services import access, orders
from services.clocks import TZ, as_local
from services.store.base import Store

# The state of one department's part of an order, in the order the list shows them.
STATES = ("overdue", "open", "late", "on_time", "reported")
# The appeal's facts each row carries (no personal column, ever).
FACTS = ("external_id", "category", "tier", "subdistrict_code", "handling_level", "status", "description")
DESK_COLUMNS = ("order_id", "appeal_id", "department_code", "community_code", *FACTS, "issued_by", "issued_at",
                "arrive_by", "resolve_by", "seconds_left", "leader_level", "people_required", "state", "late",
                "checked_in_at", "arrival_minutes_taken", "people_on_site", "leader_level_on_site",
                "level_short", "people_short", "outcome", "outcome_at")


def _missing(v: Any) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def state_of(row: dict[str, Any], now: datetime) -> str:
    """overdue (not checked in, arrival deadline passed), open, late (checked in after the deadline),
    on_time, or reported (the outcome is in). On time is ``services.orders.on_time``."""
    if not _missing(row.get("outcome_at")):
        return "reported"
    checked = row.get("checked_in_at")
    if _missing(checked):
        return "overdue" if as_local(now) > row["arrive_by"] else "open"
    return "on_time" if orders.on_time(checked, row["arrive_by"]) else "late"


def level_below(on_site: str | None, required: str) -> bool | None:
    """True when the leader level that came is below the order's; None when nobody said who came."""
    if _missing(on_site):
        return None
    levels = orders.leader_levels()
    return levels.index(orders.leader_level_code(str(on_site))) < levels.index(required)


def _facts(store: Store, appeal_id: int, who: access.Principal) -> dict[str, Any]:
    """The appeal's facts ``who`` may read on this page: free text as ``access.redact`` says for its role
    (the reporter's name read only to mask it inside the description), no personal column."""
    appeal = store.get_appeal(appeal_id, include_personal=True)
    shown = access.redact(appeal, who.role, wall_mode=False)
    return {k: shown.get(k) for k in FACTS}


def desk(store: Store, who: access.Principal, now: datetime | None = None) -> pd.DataFrame:
    """One row per (order, department) ``who`` may see (``services.orders.orders_for``): the appeal's facts,
    the arrival deadline and ``seconds_left`` until it (from the check-in when there is one, else from
    ``now``; negative when late), the rule's leader level and people, the state (``STATES``), ``late``,
    who came and whether their level or number falls short of the rule. Overdue first, then open by
    deadline, then checked-in and reported ones, newest first."""
    now = as_local(now) if now is not None else datetime.now(TZ)
    rows = orders.orders_for(store, who)
    if rows.empty:
        return pd.DataFrame(columns=list(DESK_COLUMNS))
    facts = {int(a): _facts(store, int(a), who) for a in rows["appeal_id"].unique()}
    out = []
    for r in rows.to_dict("records"):
        checked = r["checked_in_at"]
        state = state_of(r, now)
        mark = now if _missing(checked) else checked
        taken = None if _missing(checked) else (checked - r["issued_at"]).total_seconds() / 60
        on_site = None if _missing(r["people_on_site"]) else int(r["people_on_site"])
        level = None if _missing(r["leader_level_on_site"]) else r["leader_level_on_site"]
        out.append({**{k: r[k] for k in ("order_id", "appeal_id", "department_code", "community_code")},
                    **facts[int(r["appeal_id"])],
                    "issued_by": r["issued_by"], "issued_at": r["issued_at"], "arrive_by": r["arrive_by"],
                    "resolve_by": r["resolve_by"], "seconds_left": (r["arrive_by"] - mark).total_seconds(),
                    "leader_level": r["leader_level"], "people_required": int(r["people_required"]),
                    "state": state, "late": state in ("overdue", "late") or
                    (state == "reported" and orders.on_time(checked, r["arrive_by"]) is False),
                    "checked_in_at": None if _missing(checked) else checked, "arrival_minutes_taken": taken,
                    "people_on_site": on_site, "leader_level_on_site": level,
                    "level_short": level_below(level, r["leader_level"]),
                    "people_short": None if on_site is None else on_site < int(r["people_required"]),
                    "outcome": None if _missing(r["outcome"]) else r["outcome"],
                    "outcome_at": None if _missing(r["outcome_at"]) else r["outcome_at"]})
    df = pd.DataFrame(out, columns=list(DESK_COLUMNS))
    df["_rank"] = df["state"].map({s: i for i, s in enumerate(STATES)})
    df["_open_due"] = df["arrive_by"].where(df["state"].isin(["overdue", "open"]))
    df["_issued"] = -df["issued_at"].map(lambda v: v.timestamp())
    df = df.sort_values(["_rank", "_open_due", "_issued", "order_id", "department_code"], na_position="last")
    return df.drop(columns=["_rank", "_open_due", "_issued"]).reset_index(drop=True)


def check_in(store: Store, who: access.Principal, order_id: int, *, people: int, leader_level: str,
             at: datetime | None = None) -> dict[str, Any]:
    """``who``'s department checks in on site on ``order_id`` with how many came and the most senior's
    level (``services.orders.check_in``: role and department checked, audited); returns the order."""
    return orders.check_in(store, int(order_id), who, at, people=int(people), leader_level=leader_level)


def report(store: Store, who: access.Principal, order_id: int, outcome: str, note: str = "",
           at: datetime | None = None) -> dict[str, Any]:
    """``who``'s department reports ``outcome`` (the rule's outcomes) with a ``note``
    (``services.orders.report_outcome``); returns the order."""
    return orders.report_outcome(store, int(order_id), outcome, who, at, note=note)


def may_act(who: access.Principal) -> bool:
    """True when ``who`` checks in and reports on this page (a department's officer); everyone else reads."""
    return access.may_do(who.role, "order_check_in")


# -- 每日一提醒: the morning list ------------------------------------------------------------------------
REMINDER_COLUMNS = ("department_code", "open", "late", "overdue", "orders")


@dataclass(frozen=True)
class Reminder:
    """The daily reminder: per department its open (no outcome yet) and late orders, and those rows."""

    summary: pd.DataFrame   # REMINDER_COLUMNS; orders = the order ids, comma-separated
    rows: pd.DataFrame      # the desk rows concerned (DESK_COLUMNS), by department then state


def daily_reminder(store: Store, who: access.Principal, now: datetime | None = None) -> Reminder:
    """The list the district sends each morning: per department the orders it has not reported on
    (``open``), of which ``late`` are past the arrival deadline unchecked or were checked in late, and
    ``overdue`` those still not on site. Scoped as ``desk``."""
    rows = desk(store, who, now)
    pending = rows[rows["state"] != "reported"].copy()
    if pending.empty:
        return Reminder(pd.DataFrame(columns=list(REMINDER_COLUMNS)), pending)
    pending = pending.sort_values(["department_code", "order_id"], kind="stable").reset_index(drop=True)
    summary = pending.groupby("department_code", sort=True).agg(
        open=("order_id", "size"), late=("late", "sum"), overdue=("state", lambda s: int((s == "overdue").sum())),
        orders=("order_id", lambda s: ",".join(str(int(v)) for v in s))).reset_index()
    summary["late"] = summary["late"].astype(int)
    summary = summary.sort_values(["late", "open", "department_code"], ascending=[False, False, True])
    return Reminder(summary[list(REMINDER_COLUMNS)].reset_index(drop=True), pending)


# -- 每周一例会: the weekly ranking ----------------------------------------------------------------------
RANKING_COLUMNS = ("rank", "rank_change", "department_code", "name", "score", "orders", "timely_check_ins",
                   "due_check_ins", "timely_check_in_rate", "avg_arrival_minutes", "p90_arrival_minutes",
                   "outcomes_reported")


def last_full_week(now: datetime) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of the last full week before ``now``, Asia/Shanghai."""
    local = as_local(now).astimezone(TZ)
    this_monday = datetime(local.year, local.month, local.day, tzinfo=TZ) - timedelta(days=local.weekday())
    return this_monday - timedelta(days=7), this_monday


def weekly_ranking(store: Store, who: access.Principal, now: datetime | None = None) -> pd.DataFrame:
    """The departments of the last full week (Mon-Sun, Asia/Shanghai; orders issued in it), as the
    department assessment ranks them with the weekly meeting's weights (``services.assessment.departments``,
    scheme ``weekly``; its one ranking definition): rank, ``rank_change`` (last week's rank minus this one;
    positive: moved up, NaN: not ranked then), score, orders, check-ins on time and their rate, average and
    90th-percentile minutes from order to check-in, outcomes reported."""
    from services import assessment

    now = as_local(now) if now is not None else datetime.now(TZ)
    since, _ = last_full_week(now)
    table = assessment.departments(store, who, assessment.period("week", since.date()), "weekly")
    return table[list(RANKING_COLUMNS)]
