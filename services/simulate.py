"""A live feed: realistic new appeals written into the store, and open ones moved through their lifecycle.

``python -m services.simulate [--rate 2/s] [--duration 1h] [--speed 1] [--seed N] [--store URL]``
keeps the wall display alive: appeals arrive at random (Poisson) from the district's buildings, with the
sample's mix of services, channels and causes; each is responded to, accepted, dispatched (or ordered on,
社区发令), resolved, confirmed, fed back and visited again — mostly on time, some late, now and then one
reopened because the reporter was not satisfied. Now and then a gathering happens: the crew of one
construction site reports wage arrears within minutes; the cluster is marked (services.gathering) and
the community orders departments on site, which check in early or late and report their outcome.

Time: ``--speed`` multiplies simulated time against the wall clock (``--speed 60`` runs an hour of
lifecycle in a minute; simulated time then runs ahead of the real clock, so use a scratch store).
``--rate`` is in simulated time. ``--duration`` is wall-clock time (default: until stopped). Ctrl-C or
SIGTERM finishes the current step, prints a summary and exits 0.

The core is ``Simulator(store, rng).step(now)``, usable from tests without a subprocess: each call adds
the arrivals since the previous call and performs every lifecycle step due by ``now``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from services.errors import DomainError
from services.intake import build_appeals
from services.store.base import OPEN_STATUSES, Store
from services.vocabulary import CATEGORIES, CATEGORY_LAND_USE, CATEGORY_ZH, CHANNELS, SERVICE_TYPES

TZ = ZoneInfo("Asia/Shanghai")
SOURCE = "simulator"
ACTOR = "simulator"  # an actor code, labelled through the string table ([actor] in vocabulary.toml)
ORDER_ISSUER = "simulator_party"  # the simulator issuing orders as a community Party committee
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余叶杜")
_GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅海燕文辉俊")


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


@dataclass(order=True)
class _Task:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    appeal_id: int = field(compare=False, default=-1)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class _Plan:
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


def parse_rate(text: str) -> float:
    """``2/s``, ``30/min``, ``100/h`` or a bare number (per second) -> appeals per second."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hr|hour))?\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: use e.g. 2/s, 30/min or 100/h")
    per = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}
    return float(m.group(1)) / per.get(m.group(2) or "s", 1)


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``1h``, ``1h30m`` or a bare number of seconds -> seconds."""
    parts = re.findall(r"([0-9]*\.?[0-9]+)\s*([smhd]?)", text or "")
    if not parts or re.sub(r"[0-9.\sSMHDsmhd]", "", text):
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: use e.g. 30s, 10m, 1h")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(v) * unit[u.lower()] for v, u in parts)


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
        self.plans: dict[int, _Plan] = {}
        self.stats: Counter = Counter()
        self._seq = itertools.count()
        self._n = itertools.count(1)
        self._pending: list[dict[str, Any]] = []
        self.last_error = ""
        self._load_district()

    # -- set-up ----------------------------------------------------------------------------------
    def _load_district(self) -> None:
        from data.sample import load_departments, load_layers

        layers = load_layers()
        b = layers["building"]
        self.b_lon = b.geometry.x.to_numpy()
        self.b_lat = b.geometry.y.to_numpy()
        self.b_code = b["code"].to_numpy(object)
        self.b_use = b["land_use"].to_numpy(object) if "land_use" in b else np.full(len(b), "scattered", object)
        self.b_pop = b["population"].to_numpy(float) + 0.5 if "population" in b else np.ones(len(b))
        self.community_name = dict(zip(layers["community"]["code"], layers["community"]["name"], strict=True))
        self._weights: dict[str, np.ndarray] = {}
        self.sites = np.flatnonzero(self.b_use == "construction")
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
            plan = self._new_plan(rec)
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
            self._pending.append(self._random_appeal(t0 + timedelta(seconds=float(off))))
        hours = seconds / 3600.0
        if self.rng.random() < 1 - np.exp(-self.p.gatherings_per_hour * hours) and len(self.sites):
            start = t0 + timedelta(seconds=float(self.rng.uniform(0, seconds)))
            self._gathering(start)

    def _gathering(self, start: datetime) -> None:
        """A construction-site crew reports wage arrears within minutes (scheduled as future arrivals)."""
        site = int(self.rng.choice(self.sites))
        d = np.hypot((self.b_lon[self.sites] - self.b_lon[site]) * 102_700, (self.b_lat[self.sites] -
                                                                             self.b_lat[site]) * 110_800)
        near = self.sites[d < 150]
        size = int(self.rng.integers(self.p.gathering_size[0], self.p.gathering_size[1] + 1))
        gid = f"G{next(self._n)}"
        times = sorted(self.rng.exponential(self.p.gathering_minutes / 2, size))
        for k, minutes in enumerate(times):
            at = start + timedelta(minutes=float(min(minutes, 3 * self.p.gathering_minutes)))
            self._schedule(at, "arrive", row=self._random_appeal(
                at, category="wage_arrears", building=int(self.rng.choice(near)), gathering=gid, first=k == 0))
        last = start + timedelta(minutes=float(min(times[-1], 3 * self.p.gathering_minutes)) + 1)
        self._schedule(last, "cluster", category="wage_arrears")
        self.stats["gatherings"] += 1

    def _building_for(self, category: str) -> int:
        w = self._weights.get(category)
        if w is None:
            uses = CATEGORY_LAND_USE.get(category)
            w = self.b_pop.copy()
            if uses:
                w = w * np.array([uses.get(u, 0.02) for u in self.b_use])
            w = w / w.sum()
            self._weights[category] = w
        return int(self.rng.choice(len(w), p=w))

    def _random_appeal(self, at: datetime, *, category: str | None = None, building: int | None = None,
                       gathering: str | None = None, first: bool = False) -> dict[str, Any]:
        r = self.rng
        if category is None:
            service = str(r.choice(list(SERVICE_TYPES), p=_p(SERVICE_TYPES)))
            cats = CATEGORIES[service]
            category = str(r.choice(list(cats), p=_p(cats)))
        else:
            service = next(s for s, cats in CATEGORIES.items() if category in cats)
        if gathering:
            channel = str(r.choice(["active_discovery", "hotline", "walk_in", "qr_scan"], p=[0.4, 0.3, 0.2, 0.1]))
            people = int(r.integers(1, 4))
            urgency = int(r.choice([2, 3], p=[0.8, 0.2]))
        else:
            channel = str(r.choice(list(CHANNELS), p=_p(CHANNELS)))
            people = 1 if r.random() < 0.85 else int(r.integers(2, 8))
            if category in ("wage_arrears", "labour_law"):
                people = max(people, int(r.choice([1, 2, 3, 5, 8, 12, 20, 35],
                                                   p=[0.4, 0.2, 0.12, 0.1, 0.08, 0.05, 0.03, 0.02])))
            urgency = int(r.choice([1, 2, 3], p=[0.90, 0.09, 0.01]))
        if category in ("wage_arrears", "labour_law"):
            amount = float(np.round(people * r.lognormal(8.9 if not gathering else 9.8, 0.6), -2))
        elif service in ("dispute", "legal") and r.random() < 0.5:
            amount = float(np.round(r.lognormal(9.0, 1.2), -2))
        else:
            amount = 0.0
        bi = self._building_for(category) if building is None else building
        jitter = r.normal(0, 6, 2)
        who = f"涉及{people}人" if people > 1 else "个人诉求"
        money = f"，涉及金额约{amount / 10000:.1f}万元" if amount > 0 else ""
        return {
            "external_id": f"SIM-{self.tag}-{next(self._n):06d}", "channel": channel, "service_type": service,
            "category": category, "description": f"{CATEGORY_ZH[category]}：{who}{money}"
                                                 + ("（工地集体反映）" if gathering else ""),
            "lon": self.b_lon[bi] + jitter[0] / 102_700, "lat": self.b_lat[bi] + jitter[1] / 110_800,
            "b_lon": self.b_lon[bi], "b_lat": self.b_lat[bi],
            "source_crs": "wgs84", "people_involved": people, "amount_involved": amount, "urgency": urgency,
            "reported_at": pd.Timestamp(at).floor("s"), "building_code": self.b_code[bi],
            "reporter_name": str(r.choice(_SURNAMES)) + "".join(r.choice(_GIVEN, int(r.integers(1, 3)))),
            "reporter_phone": f"1{r.choice(['38', '39', '58', '59', '86', '35'])}{int(r.integers(0, 10**8)):08d}",
            "_order": bool(first),
        }

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
            plan = self._new_plan(rec)
            plan.order = plan.order or bool(force_order)
            self.plans[int(aid)] = plan
            self._plan_first_steps(int(aid), plan, rec["reported_at"])

    # -- plans -------------------------------------------------------------------------------------
    def _new_plan(self, rec: dict[str, Any]) -> _Plan:
        r, p = self.rng, self.p
        klass = str(rec["appeal_class"])
        serious = klass != "ordinary"
        plan = _Plan(klass, str(rec["tier"]), str(rec.get("category") or ""), str(rec.get("community_code") or ""))
        plan.late_respond = klass == "class1" and r.random() < p.late_respond
        plan.late_accept = klass == "class1" and r.random() < p.late_accept
        plan.late_resolve = r.random() < p.late_resolve
        if serious and r.random() < p.escalate_major and (rec.get("handling_level") or "community") == "community":
            plan.escalate = "district" if plan.tier == "red" and r.random() < 0.4 else "subdistrict"
        plan.order = r.random() < (p.order_major if serious else p.order_ordinary)
        plan.unhappy = r.random() < p.not_satisfied
        return plan

    def _plan_first_steps(self, aid: int, plan: _Plan, reported: Any) -> None:
        r = self.rng
        t0 = pd.Timestamp(reported).to_pydatetime()
        if plan.appeal_class == "class1":  # 10-minute response, 30-minute acceptance (some late)
            respond = r.uniform(11, 25) if plan.late_respond else r.uniform(1, 8)
            accept = r.uniform(31, 60) if plan.late_accept else min(respond + r.uniform(2, 15), 29.5)
            self._schedule(t0 + timedelta(minutes=respond), "respond", aid)
        else:
            accept = r.uniform(5, 60)
            if r.random() < 0.5:
                self._schedule(t0 + timedelta(minutes=accept * r.uniform(0.2, 0.8)), "respond", aid)
        self._schedule(t0 + timedelta(minutes=max(accept, 0.5)), "accept", aid)

    def _resolve_delay(self, plan: _Plan, at: datetime) -> timedelta:
        r = self.rng
        if plan.appeal_class == "ordinary":
            left = (at.replace(hour=23, minute=59, second=0) - at).total_seconds() / 60
            if plan.late_resolve or left < 20:
                return timedelta(minutes=max(left, 0) + r.uniform(30, 600))
            return timedelta(minutes=r.uniform(10, min(left - 5, 300)))
        if plan.late_resolve:
            return timedelta(hours=r.uniform(80, 120))
        return timedelta(hours=r.uniform(1, 30))

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

    def _departments(self, plan: _Plan) -> list[str]:
        from services.orders import order_rule

        try:
            suggested = [d for d in order_rule(plan.category, plan.tier).suggested_departments
                         if d in self.departments]
        except (DomainError, KeyError, ValueError):
            suggested = []
        if not suggested:
            suggested = [d for d in ("petitions", "justice") if d in self.departments] or sorted(self.departments)[:1]
        return suggested[:int(self.rng.integers(1, min(len(suggested), 3) + 1))]

    def _do_dispatch(self, task: _Task) -> None:
        plan = self.plans.get(task.appeal_id)
        if plan is None:
            return
        if plan.order and self.departments:
            order = self.store.issue_order(task.appeal_id, self._departments(plan), issued_by=ORDER_ISSUER,
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
            (self._departments(plan)[0] if self.departments else plan.community_code)
        self._act(task, "dispatch", target=target or "community")
        self._schedule(task.at + self._resolve_delay(plan, task.at), "resolve", task.appeal_id)

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
        self._act(task, "resolve")
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


def _p(table: dict[str, float]) -> np.ndarray:
    p = np.array(list(table.values()), float)
    return p / p.sum()


# ------------------------------------------------------------------------------------------ running
def run(sim: Simulator, *, speed: float = 1.0, duration_s: float | None = None, tick_s: float = 1.0,
        start: datetime | None = None, stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic, on_step: Callable[[datetime, dict], None] | None = None,
        ) -> None:
    """Step ``sim`` every ``tick_s`` wall seconds until ``stop`` is set or ``duration_s`` has passed.

    Simulated time is ``start + speed * wall time elapsed``. A stop request is honoured between steps,
    so the step in progress always finishes.
    """
    stop = stop or threading.Event()
    start = start or datetime.now(TZ)
    wall0 = clock()
    sim.step(start)
    while not stop.is_set():
        elapsed = clock() - wall0
        if duration_s is not None and elapsed >= duration_s:
            break
        wait = tick_s if duration_s is None else min(tick_s, max(duration_s - elapsed, 0.0))
        if stop.wait(wait):
            break
        elapsed = clock() - wall0
        now = start + timedelta(seconds=elapsed * speed)
        try:
            counts = sim.step(now)
        except Exception as exc:
            if not store_busy(exc):
                raise
            # A large import holds the store (SQLite has one writer): new arrivals wait in the
            # simulator and go in at a later step; a lifecycle step that failed is skipped.
            print(f"存储繁忙，稍后重试 store busy, retrying at the next step: {exc}", file=sys.stderr)
            continue
        if on_step is not None:
            on_step(now, counts)


def store_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is busy with another writer or briefly unreachable (worth retrying),
    rather than that something is wrong with what was written."""
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return False
    return isinstance(exc, psycopg.OperationalError)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.simulate",
        description="Write realistic new appeals into the store and move open ones through their lifecycle "
                    "(orders, late check-ins, reopenings, gatherings), so that the wall display is alive. "
                    "Ctrl-C stops cleanly.")
    p.add_argument("--rate", type=parse_rate, default=parse_rate("2/s"),
                   help="new appeals per simulated time: 2/s, 30/min, 100/h (default 2/s)")
    p.add_argument("--duration", type=parse_duration, default=None,
                   help="wall-clock run time: 30s, 10m, 1h (default: until stopped)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated seconds per wall second (default 1; >1 runs ahead of the real clock)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    p.add_argument("--start", help="simulated start time, ISO 8601 (default now; naive = Asia/Shanghai)")
    p.add_argument("--tick", type=float, default=1.0, help="wall seconds between steps (default 1)")
    p.add_argument("--store", help="store URL (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    p.add_argument("--adopt", choices=("own", "all", "none"), default="own",
                   help="open appeals to take over at start: from earlier simulator runs (own, default), "
                        "every open appeal (all), or none")
    p.add_argument("--quiet", action="store_true", help="no line per step")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.speed <= 0 or args.tick <= 0:
        print("--speed and --tick must be positive", file=sys.stderr)
        return 2
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            print(f"bad --start {args.start!r}: use ISO 8601, e.g. 2025-06-01T09:00", file=sys.stderr)
            return 2
        start = start.replace(tzinfo=TZ) if start.tzinfo is None else start
    from services.clocks import unofficial_cli_note
    from services.store import create_store

    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    store = create_store(args.store)
    try:
        sim = Simulator(store, np.random.default_rng(args.seed), rate_per_s=args.rate)
        start = start or datetime.now(TZ)
        if args.adopt != "none":
            sim.adopt(start, own_only=args.adopt == "own")

        def show(now: datetime, counts: dict) -> None:
            if counts and not args.quiet:
                print(f"{now:%Y-%m-%d %H:%M:%S} " + " ".join(f"{k}+{v}" for k, v in sorted(counts.items())),
                      flush=True)

        print(f"模拟开始 simulating into {store.url} at {args.rate:g}/s x{args.speed:g} "
              f"(Ctrl-C to stop)", flush=True)
        run(sim, speed=args.speed, duration_s=args.duration, tick_s=args.tick, start=start, stop=stop,
            on_step=show)
        print("模拟结束 stopped." if stop.is_set() else "模拟结束 done.")
        print(sim.summary(), flush=True)
        if note := unofficial_cli_note():  # deadlines on a computed calendar: say so
            print(note, file=sys.stderr)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
