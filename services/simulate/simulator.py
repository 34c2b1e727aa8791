"""The simulator's core: ``Simulator(store, rng).step(now)`` adds the arrivals since the previous call and
performs every lifecycle step due by ``now`` (usable from tests without a subprocess)."""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import TZ
from services.errors import DomainError
from services.intake import build_appeals
from services.simulate.appeals import Buildings, random_appeal
from services.simulate.plans import (
    Plan,
    Profile,
    departments_to_order,
    first_steps,
    new_plan,
    resolve_delay,
    settlement_params,
)
from services.store.base import OPEN_STATUSES, Store

SOURCE = "simulator"
ACTOR = "simulator"  # an actor code, labelled through the string table ([actor] in vocabulary.toml)
ORDER_ISSUER = "simulator_party"  # the simulator issuing orders as a community Party committee


@dataclass(order=True)
class _Task:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    appeal_id: int = field(compare=False, default=-1)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


class Simulator:
    """Writes arrivals and lifecycle steps into ``store``; call ``step(now)`` with increasing times."""

    def __init__(self, store: Store, rng: np.random.Generator | None = None, *, rate_per_s: float = 2.0,
                 profile: Profile | None = None, source: str = SOURCE, run_tag: str | None = None) -> None:
        self.store = store
        self.rng = rng or np.random.default_rng()
        self.rate = float(rate_per_s)
        self.p = profile or Profile()
        self.source = source
        self.tag = run_tag or f"{int(time.time()):x}{int(self.rng.integers(0, 1 << 16)):04x}"
        self.last: datetime | None = None
        self.agenda: list[_Task] = []
        self.plans: dict[int, Plan] = {}
        self.stats: Counter = Counter()
        self._seq = itertools.count()
        self._n = itertools.count(1)
        self._pending: list[dict[str, Any]] = []
        self.last_error = ""
        self._load_district()

    # -- set-up ----------------------------------------------------------------------------------
    def _load_district(self) -> None:
        from data.sample import load_departments, load_layers

        self.buildings = Buildings(load_layers()["building"])
        if self.store.departments().empty:
            self.store.load_departments(load_departments())
        self.departments = set(self.store.departments()["code"])

    def adopt(self, now: datetime, *, own_only: bool = True, limit: int = 500) -> int:
        """Take over open appeals already in the store (by default those of earlier simulator runs) and
        plan their next steps; returns how many."""
        frame = self.store.query_appeals(statuses=OPEN_STATUSES, order="oldest", limit=limit)
        if own_only and len(frame):
            frame = frame[frame["source"] == self.source]
        taken = 0
        for rec in frame.to_dict("records"):
            aid = int(rec["id"])
            if aid in self.plans:
                continue
            taken += 1
            plan = self.plan_appeal(rec)
            self.plans[aid] = plan
            nxt = {"reported": "accept", "accepted": "dispatch", "dispatched": "resolve", "reopened": "resolve",
                   "resolved": "confirm", "confirmed": "feedback", "feedback": "return_visit"}[rec["status"]]
            self._schedule(now + timedelta(minutes=float(self.rng.uniform(1, 30))), nxt, aid)
        self.stats["adopted"] += taken
        return taken

    # -- the clock ---------------------------------------------------------------------------------
    def step(self, now: datetime) -> dict[str, int]:
        """Add arrivals in (previous step, now] and perform every step due by ``now``; returns the counts
        of this step (the totals are in ``stats``)."""
        now = now.astimezone(TZ) if now.tzinfo else now.replace(tzinfo=TZ)
        before = Counter(self.stats)
        if self.last is None:
            self.last = now
        elif now > self.last:
            self._arrivals(self.last, now)
            self.last = now
        while self.agenda and self.agenda[0].at <= now:
            task = heapq.heappop(self.agenda)
            if task.kind != "arrive":
                self._flush_arrivals()  # what arrived before this task is in the store when it runs
            self._run(task)
        self._flush_arrivals()
        return dict(self.stats - before)

    def _schedule(self, at: datetime, kind: str, appeal_id: int = -1, **data: Any) -> None:
        heapq.heappush(self.agenda, _Task(at, next(self._seq), kind, appeal_id, data))

    # -- arrivals ----------------------------------------------------------------------------------
    def _arrivals(self, t0: datetime, t1: datetime) -> None:
        seconds = (t1 - t0).total_seconds()
        n = int(self.rng.poisson(self.rate * seconds))
        offsets = np.sort(self.rng.uniform(0, seconds, n))
        for off in offsets:
            self._pending.append(self.random_appeal(t0 + timedelta(seconds=float(off))))
        hours = seconds / 3600.0
        if self.rng.random() < 1 - np.exp(-self.p.gatherings_per_hour * hours) and len(self.buildings.construction_sites):
            start = t0 + timedelta(seconds=float(self.rng.uniform(0, seconds)))
            self.start_gathering(start)

    def start_gathering(self, start: datetime) -> None:
        """A construction-site crew reports wage arrears within minutes of ``start`` (scheduled as future
        arrivals, then a search for the cluster they form)."""
        site = int(self.rng.choice(self.buildings.construction_sites))
        near = self.buildings.sites_near(site, 150)
        size = int(self.rng.integers(self.p.gathering_size[0], self.p.gathering_size[1] + 1))
        gid = f"G{next(self._n)}"
        times = sorted(self.rng.exponential(self.p.gathering_minutes / 2, size))
        for k, minutes in enumerate(times):
            at = start + timedelta(minutes=float(min(minutes, 3 * self.p.gathering_minutes)))
            self._schedule(at, "arrive", row=self.random_appeal(
                at, category="wage_arrears", building=int(self.rng.choice(near)), gathering=gid, first=k == 0))
        last = start + timedelta(minutes=float(min(times[-1], 3 * self.p.gathering_minutes)) + 1)
        self._schedule(last, "cluster", category="wage_arrears")
        self.stats["gatherings"] += 1

    def random_appeal(self, at: datetime, *, category: str | None = None, building: int | None = None,
                      gathering: str | None = None, first: bool = False) -> dict[str, Any]:
        """A new appeal's intake row reported at ``at``, at a building of the district, with this run's
        external id (see ``services.simulate.appeals.random_appeal`` for the arguments and extra columns)."""
        return random_appeal(self.rng, self.buildings, f"SIM-{self.tag}-{next(self._n):06d}", at,
                             category=category, building=building, gathering=gathering, first=first)

    def _flush_arrivals(self) -> None:
        """Insert the pending arrivals (one bulk insert) and plan each new appeal's lifecycle."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        frame = pd.DataFrame(rows)
        appeals = build_appeals(frame.drop(columns=["_order", "b_lon", "b_lat"]), self.source)
        off = appeals["grid_code"].isna().to_numpy()
        if off.any():  # jittered past the district's edge: the building's own point
            frame.loc[off, "lon"], frame.loc[off, "lat"] = frame.loc[off, "b_lon"], frame.loc[off, "b_lat"]
            appeals = build_appeals(frame.drop(columns=["_order", "b_lon", "b_lat"]), self.source)
        result = self.store.insert_appeals(appeals, actor=ACTOR)
        self.stats["appeals"] += result.stored
        self.stats["duplicates"] += result.duplicates
        if result.stored != len(appeals):
            return  # a repeated run tag: do not guess which rows are ours
        for rec, aid, force_order in zip(appeals.to_dict("records"), result.ids, frame["_order"], strict=True):
            plan = self.plan_appeal(rec)
            plan.order = plan.order or bool(force_order)
            self.plans[int(aid)] = plan
            for at, kind in first_steps(plan, rec["reported_at"], self.rng):
                self._schedule(at, kind, int(aid))

    # -- plans -------------------------------------------------------------------------------------
    def plan_appeal(self, rec: dict[str, Any]) -> Plan:
        """What will happen to the stored appeal ``rec``, drawn with this simulator's profile."""
        return new_plan(rec, self.rng, self.p)

    def departments_to_order(self, plan: Plan) -> list[str]:
        """The departments an order on the planned appeal sends on site (one to three the store knows)."""
        return departments_to_order(plan, self.departments, self.rng)

    # -- performing a task -------------------------------------------------------------------------
    def _run(self, task: _Task) -> None:
        try:
            getattr(self, f"_do_{task.kind}")(task)
        except DomainError as exc:  # someone else moved the appeal (e.g. from the dashboard): let it go
            self.stats["skipped"] += 1
            self.stats[f"skipped_{task.kind}"] += 1
            self.plans.pop(task.appeal_id, None)
            self.last_error = str(exc)

    def _act(self, task: _Task, action: str, **params: Any) -> dict[str, Any]:
        out = self.store.act(task.appeal_id, action, ACTOR, at=task.at, **params)
        self.stats[action] += 1
        return out

    def _do_arrive(self, task: _Task) -> None:
        self._pending.append(task.data["row"])

    def _do_cluster(self, task: _Task) -> None:
        """Find gathering clusters among recent open appeals of the category and mark them."""
        from services.gathering import find_clusters, gathering_rules

        window = timedelta(hours=float(gathering_rules()["window_hours"]))
        recent = self.store.query_appeals(statuses=OPEN_STATUSES, categories=[task.data["category"]],
                                          since=task.at - window, until=task.at + timedelta(seconds=1))
        if recent.empty:
            return
        labels, table = find_clusters(recent)
        hit = labels >= 0
        if not hit.any():
            return
        tier = dict(zip(table["gathering_id"], table["tier"], strict=True))
        assignments = pd.DataFrame({"appeal_id": recent.loc[hit, "id"].astype("int64").to_numpy(),
                                    "gathering_id": labels[hit].to_numpy(),
                                    "gathering_tier": labels[hit].map(tier).to_numpy(object)})
        self.stats["gathering_marked"] += self.store.mark_gathering(assignments, actor=ACTOR, at=task.at)

    def _do_respond(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is not None:
            self._act(task, "respond")
            self.stats["late_respond"] += plan.late_respond

    def _do_accept(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        self._act(task, "accept")
        if plan.appeal_class == "class1" and plan.late_accept:
            self.stats["late_accept"] += 1
        nxt = "escalate" if plan.escalate else "dispatch"
        self._schedule(task.at + timedelta(minutes=float(self.rng.uniform(2, 20))), nxt, task.appeal_id)

    def _do_escalate(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        self._act(task, "escalate", level=plan.escalate)
        self._schedule(task.at + timedelta(minutes=float(self.rng.uniform(2, 15))), "dispatch", task.appeal_id)

    def _do_dispatch(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        if plan.order and self.departments:
            order = self.store.issue_order(task.appeal_id, self.departments_to_order(plan), issued_by=ORDER_ISSUER,
                                           at=task.at)
            self.stats["orders"] += 1
            arrive = float(order.get("arrival_minutes") or 60)
            hours = float(order.get("resolution_hours") or 24)
            plan.outcomes_due = len(order["departments"])
            for dep in order["departments"]:
                code = dep["department_code"]
                late = self.rng.random() < self.p.late_check_in
                minutes = arrive * (self.rng.uniform(1.1, 2.0) if late else self.rng.uniform(0.2, 0.95))
                check_at = task.at + timedelta(minutes=float(minutes))
                self._schedule(check_at, "check_in", task.appeal_id, order_id=int(order["id"]), department=code,
                               late=late, hours=hours)
            return
        target = plan.community_code if not plan.escalate else \
            (self.departments_to_order(plan)[0] if self.departments else plan.community_code)
        # A dispatch goes to a unit that exists: the appeal's community, else a department.
        if not target and self.departments:
            target = self.departments_to_order(plan)[0]
        self._act(task, "dispatch", target=target)
        self._schedule(task.at + resolve_delay(plan, task.at, self.rng), "resolve", task.appeal_id)

    def _do_check_in(self, task: _Task) -> None:
        self.store.check_in(task.data["order_id"], task.data["department"], at=task.at)
        self.stats["check_ins_late" if task.data["late"] else "check_ins_on_time"] += 1
        hours = task.data["hours"]
        frac = self.rng.uniform(1.05, 1.5) if self.rng.random() < self.p.late_resolve else self.rng.uniform(0.05, 0.6)
        self._schedule(task.at + timedelta(hours=float(hours * frac)), "outcome", task.appeal_id,
                       order_id=task.data["order_id"], department=task.data["department"])

    def _do_outcome(self, task: _Task) -> None:
        outcome = str(self.rng.choice(["resolved", "partly_resolved", "unresolved"], p=[0.9, 0.08, 0.02]))
        self.store.report_outcome(task.data["order_id"], task.data["department"], outcome, at=task.at)
        self.stats["outcomes"] += 1
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        plan.outcomes_due -= 1
        if plan.outcomes_due <= 0:
            self._schedule(task.at + timedelta(minutes=float(self.rng.uniform(5, 30))), "resolve", task.appeal_id)

    def _do_resolve(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        self._act(task, "resolve", **settlement_params(plan.category, task.appeal_id))
        self.stats["late_resolve"] += plan.late_resolve
        self._schedule(task.at + timedelta(minutes=float(self.rng.uniform(10, 120))), "confirm", task.appeal_id)

    def _do_confirm(self, task: _Task) -> None:
        if task.appeal_id in self.plans:
            self._act(task, "confirm")
            self._schedule(task.at + timedelta(minutes=float(self.rng.uniform(10, 240))), "feedback", task.appeal_id)

    def _do_feedback(self, task: _Task) -> None:
        if task.appeal_id in self.plans:
            self._act(task, "feedback")
            lo, hi = self.p.return_visit_hours
            self._schedule(task.at + timedelta(hours=float(self.rng.uniform(lo, hi))), "return_visit", task.appeal_id)

    def _do_return_visit(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        if plan.unhappy:
            plan.unhappy = False  # the second time round the reporter is satisfied
            self._act(task, "return_visit", satisfaction="not_satisfied")
            self.stats["reopened"] += 1
            plan.late_resolve = False
            self._schedule(task.at + timedelta(hours=float(self.rng.uniform(2, 20))), "resolve", task.appeal_id)
            return
        sat = str(self.rng.choice(["satisfied", "basically_satisfied"], p=[0.96, 0.04]))
        self._act(task, "return_visit", satisfaction=sat)
        self.stats["closed"] += 1
        self.plans.pop(task.appeal_id, None)

    # -- reporting ---------------------------------------------------------------------------------
    def summary(self) -> str:
        s = self.stats
        lines = [f"新诉求 new appeals: {s['appeals']}（聚集事件 gatherings: {s['gatherings']}，"
                 f"标记聚集 marked: {s['gathering_marked']}）",
                 "处置 actions: " + ", ".join(f"{k} {s[k]}" for k in
                                             ("respond", "accept", "escalate", "dispatch", "resolve", "confirm",
                                              "feedback", "return_visit") if s[k]),
                 f"发令 orders: {s['orders']}（按时报到 on-time check-ins {s['check_ins_on_time']}，"
                 f"迟到 late {s['check_ins_late']}，结果 outcomes {s['outcomes']}）",
                 f"超时 late: 响应 respond {s['late_respond']}，受理 accept {s['late_accept']}，"
                 f"化解 resolve {s['late_resolve']}",
                 f"重新办理 reopened: {s['reopened']}；办结 closed: {s['closed']}；跳过 skipped: {s['skipped']}；"
                 f"待办 still planned: {len(self.agenda)}"]
        return "\n".join(lines)
