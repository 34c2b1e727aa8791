"""Seed "today" into a freshly seeded store, so that a newcomer's wall is alive at any hour.

The wall shows today (Asia/Shanghai, from local midnight). The sample's history, shifted by whole days,
ends within a day of now but seldom lines up with today: right after midnight, or when its last day
ends early, today holds no appeal, the KPIs read 0 and there is nothing to accept. So, right after the
history goes into an empty store, ``seed_today(store, now)`` adds a modest day's work ([seed] in
config/rules.toml): appeals reported between local midnight and ``now`` and moved through the loop
through the store's own actions, so that today holds every open status —

- reported (待受理): several, the newest in the last few minutes; among those, critical ones (特急,
  hence red and class-1 with their 10-minute response clock running) of the [seed] ``critical`` causes;
- accepted, dispatched (one or more by an order, 发令, with one department checked in when time
  allows), resolved, confirmed, feedback, and reopened (return visit not satisfied).

How: each appeal is drawn by the live simulator's own appeal maker (``services.simulate.Simulator``:
the sample's mix of services, channels and causes, at a real building of the sample, weighted by land
use and population) and coded to subdistrict/community/grid by ``services.intake.build_appeals`` like
every other appeal; the lifecycle goes through ``store.act`` / ``store.issue_order``, so the stored
columns, deadlines and events are exactly what the dashboard itself would write. Actors are the
project's actor codes ([actor] in config/strings/vocabulary.toml), as in the sample's history: citizen
or grid worker reports, the community handler dispatches, resolves and orders, the duty officer does
the rest.

Times: an appeal that goes further through the loop was reported earlier (its report falls in the first
``1 - k/10`` of the time since midnight for k steps); its steps fall between its report and ``now``,
within [seed] ``steps_within_hours`` of the report. Right after midnight everything is squeezed into the
minutes since midnight: the loop is unrealistically quick then, but the wall is never empty. Reports are
whole seconds strictly before ``now`` when ``now`` is past midnight (the store's windows are
[since, until)); no step is after ``now``. The random draws are seeded from ``now``, so one ``now``
always seeds the same day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import TZ
from services.config import rules
from services.intake import build_appeals
from services.simulate import Simulator
from services.simulate.plans import settlement_params
from services.store.base import Store
from services.vocabulary import CHANNELS_NOTE

SOURCE = "sample"  # the bundled sample district's data, like the history it completes
# The happy path of the loop; an appeal of each open status has taken the first len(PATH[status]) steps.
PATH = {"reported": (), "accepted": ("accept",), "dispatched": ("accept", "dispatch"),
        "resolved": ("accept", "dispatch", "resolve"),
        "confirmed": ("accept", "dispatch", "resolve", "confirm"),
        "feedback": ("accept", "dispatch", "resolve", "confirm", "feedback"),
        "reopened": ("accept", "dispatch", "resolve", "confirm", "feedback", "return_visit")}
# Who reports through which channel, as in data/generate.py: residents themselves, else a grid worker.
_CITIZEN_CHANNELS = ("qr_scan", "walk_in", "hotline")
_HANDLER = "community_handler"   # dispatches, resolves and orders (a fresh appeal is the community's)
_OFFICER = "duty_officer"        # accepts, confirms, feeds back and visits again


def today_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [seed] section, checked: counts per open status, and the just-now, critical and order shares
    that must fit inside them."""
    s = (cfg or rules())["seed"]
    counts = {status: int(s["today"].get(status, 0)) for status in PATH}
    if any(n < 1 for n in counts.values()):
        raise ValueError(f"[seed] today needs at least one appeal of every open status: {counts}")
    if not len(s["critical"]) <= int(s["just_now"]) <= counts["reported"]:
        raise ValueError("[seed] needs len(critical) <= just_now <= today.reported")
    if not 1 <= int(s["ordered"]) <= counts["dispatched"]:
        raise ValueError("[seed] needs 1 <= ordered <= today.dispatched")
    return {**s, "today": counts}


def day_start(now: datetime) -> datetime:
    """Local midnight (Asia/Shanghai) of ``now``'s day."""
    return now.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)


def _plan(now: datetime, rng: np.random.Generator, s: dict[str, Any], critical: int) -> list[dict[str, Any]]:
    """Per appeal: its target status, report time and, for the special ones, cause and urgency
    (``critical``: the urgency that makes an appeal red and class-1)."""
    midnight = day_start(now)
    span = (now - midnight).total_seconds()
    recent = min(float(s["just_now_minutes"]) * 60, span)
    out: list[dict[str, Any]] = []
    for status, n in s["today"].items():
        k = len(PATH[status])
        for i in range(n):
            if status == "reported" and i < int(s["just_now"]):
                offset = rng.uniform(span - recent, span) if recent > 0 else 0.0
            else:
                offset = rng.uniform(0, span * (1 - k / 10)) if span > 0 else 0.0
            item: dict[str, Any] = {"status": status, "at": midnight + timedelta(seconds=int(offset))}
            if status == "reported" and i < len(s["critical"]):
                item["category"] = str(s["critical"][i])
                item["urgency"] = critical
            if status == "dispatched" and i < int(s["ordered"]):
                item["category"], item["order"] = str(s["order_category"]), True
            out.append(item)
    return out


def _step_times(report: datetime, now: datetime, k: int, rng: np.random.Generator,
                within: timedelta) -> list[datetime]:
    """k increasing whole-second times in [report, now], within ``within`` of the report."""
    room = max(min(now - report, within).total_seconds(), 0.0)
    times = [report + timedelta(seconds=float(x)) for x in np.sort(rng.uniform(0, room, k))]
    return [max(report, t.replace(microsecond=0)) for t in times]


def seed_today(store: Store, now: datetime | None = None, cfg: dict[str, Any] | None = None) -> list[int]:
    """Add today's appeals in every open status (see the module docstring); returns their ids.

    Meant for a store that was empty a moment ago (``services.seed.ensure_seeded`` calls it right after
    the history); it never looks at what else the store holds.
    """
    now = (now or datetime.now(TZ)).astimezone(TZ)
    cfg = cfg or rules()
    s = today_rules(cfg)
    critical = max(int(cfg["tier"]["red_urgency"]), int(cfg["appeal_class"]["class1_min_urgency"]))
    rng = np.random.default_rng(int(pd.Timestamp(now).value))
    sim = Simulator(store, rng, source=SOURCE, run_tag=f"TODAY{now:%Y%m%d%H%M%S}")
    plan = _plan(now, rng, s, critical)
    rows = []
    for item in plan:
        row = sim.random_appeal(item["at"], category=item.get("category"))  # a real building, the sample's mix
        if "urgency" in item:
            row["urgency"] = item["urgency"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    extra = ["_order", "b_lon", "b_lat"]
    appeals = build_appeals(frame.drop(columns=extra), SOURCE)
    off = appeals["grid_code"].isna().to_numpy()
    if off.any():  # jittered past the district's edge: the building's own point, as the simulator does
        frame.loc[off, "lon"], frame.loc[off, "lat"] = frame.loc[off, "b_lon"], frame.loc[off, "b_lat"]
        appeals = build_appeals(frame.drop(columns=extra), SOURCE)
    events = pd.DataFrame({
        "appeal_id": appeals["id"], "at": appeals["reported_at"],
        "actor": ["citizen" if c in _CITIZEN_CHANNELS else "grid_worker" for c in appeals["channel"]],
        "action": "report", "from_status": None, "to_status": "reported",
        "note": [CHANNELS_NOTE.get(c, c) for c in appeals["channel"]]})
    ids = store.insert_appeals(appeals, events).ids
    within = timedelta(hours=float(s["steps_within_hours"]))
    for item, rec, aid in zip(plan, appeals.to_dict("records"), ids, strict=True):
        steps = PATH[item["status"]]
        report = pd.Timestamp(rec["reported_at"]).to_pydatetime()
        for action, at in zip(steps, _step_times(report, now, len(steps), rng, within), strict=True):
            if action == "dispatch" and item.get("order"):
                departments = sim.departments_to_order(sim.plan_appeal(rec))
                order = store.issue_order(aid, departments, issued_by=_HANDLER, at=at)
                first = order["departments"][0]["department_code"]
                check_in = at + timedelta(minutes=float(order.get("arrival_minutes") or 60) * rng.uniform(0.2, 0.9))
                if check_in <= now:
                    store.check_in(int(order["id"]), first, at=check_in.replace(microsecond=0))
            elif action == "dispatch":
                # To the appeal's own community; one outside every community goes to a department.
                target = rec["community_code"] or (sim.departments_to_order(sim.plan_appeal(rec)) or [None])[0]
                store.act(aid, "dispatch", _HANDLER, at=at, target=target)
            elif action == "return_visit":
                store.act(aid, "return_visit", _OFFICER, at=at, satisfaction="not_satisfied")
            elif action == "resolve":
                store.act(aid, "resolve", _HANDLER, at=at, **settlement_params(rec.get("category"), aid))
            else:
                store.act(aid, action, _HANDLER if action == "resolve" else _OFFICER, at=at)
    return [int(i) for i in ids]
