"""The planner's edit history and saved scenarios (站点规划方案), without Streamlit.

Why: what-if edits (remove, move, add a station) are the planner's work. In the session they form a
stack where one user action is one step (a click adds one station; applying a siting plan adds its k
sites as one step), so undo takes back exactly the last action. A scenario keeps that work across page
reloads and server restarts: it is stored through the store contract (``save_scenario`` and friends)
as a JSON object with the edits, the service and radius they were made for and, when the scenario came
from a siting run, that run's summary. The comparison recomputes each scenario's coverage from its
edits, so what is compared is always what loading the scenario would show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from geo.siting import SitingScenario
from services import planning
from services.i18n import t
from services.store import Store, open_store

PAYLOAD_VERSION = 1


# --------------------------------------------------------------------------------------------- history
@dataclass(frozen=True)
class EditStack:
    """What-if edits in order, grouped in steps (one per user action) so that :meth:`undo` takes back the
    last action whole. Immutable: a page keeps one in its session and replaces it."""

    edits: tuple[planning.Edit, ...] = ()
    steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if sum(self.steps) != len(self.edits) or any(n <= 0 for n in self.steps):
            raise ValueError("steps must be positive and add up to the number of edits")

    def push(self, edits: planning.Edit | Sequence[planning.Edit], *, store: Store) -> EditStack:
        """The stack with one more step; PlanningError (nothing changed) when an edit does not apply."""
        new = (edits,) if isinstance(edits, planning.Edit) else tuple(edits)
        if not new:
            return self
        planning.network(self.edits + new, store=store)  # raises PlanningError for an edit that does not apply
        return EditStack(self.edits + new, self.steps + (len(new),))

    def undo(self) -> EditStack:
        """The stack without its last step (the same stack when empty)."""
        if not self.steps:
            return self
        return EditStack(self.edits[:-self.steps[-1]], self.steps[:-1])

    @property
    def last_step(self) -> tuple[planning.Edit, ...]:
        return self.edits[-self.steps[-1]:] if self.steps else ()

    def __len__(self) -> int:
        return len(self.steps)


# --------------------------------------------------------------------------------------------- payload
def edit_to_dict(edit: planning.Edit) -> dict[str, Any]:
    """An edit as a JSON object (only the fields its operation uses)."""
    out: dict[str, Any] = {"op": edit.op}
    if edit.code is not None:
        out["code"] = edit.code
    if edit.lon is not None:
        out["lon"], out["lat"] = float(edit.lon), float(edit.lat)
    if edit.name is not None:
        out["name"] = edit.name
    if edit.op == "add":
        out["services"] = list(edit.services)
    return out


def edit_from_dict(data: dict[str, Any]) -> planning.Edit:
    """The edit a JSON object describes (PlanningError when it is not one)."""
    try:
        lon, lat = data.get("lon"), data.get("lat")
        return planning.Edit(str(data["op"]), code=data.get("code"), lon=None if lon is None else float(lon),
                             lat=None if lat is None else float(lat), name=data.get("name"),
                             services=tuple(data.get("services") or planning.SERVICES))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise planning.PlanningError("planning.err_scenario") from None


def _json_safe(v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)


def siting_summary(scenario: SitingScenario) -> dict[str, Any]:
    """A siting run's summary figures as JSON values (NaN as null), with its model, method and k."""
    return {"model": scenario.model, "method": scenario.method, "k": scenario.k,
            **{k: _json_safe(v) for k, v in scenario.summary.items()}}


def payload(stack: EditStack, service: str, radius_m: float, siting: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a scenario stores: its edits (and their steps), service, radius, and a siting summary."""
    return {"version": PAYLOAD_VERSION, "service": str(service), "radius_m": float(radius_m),
            "edits": [edit_to_dict(e) for e in stack.edits], "steps": list(stack.steps), "siting": siting}


@dataclass(frozen=True)
class Scenario:
    """A saved scenario as the page uses it."""

    id: int
    name: str
    created_by: str
    created_at: datetime
    service: str
    radius_m: float
    stack: EditStack
    siting: dict[str, Any] | None = None


def from_record(record: dict[str, Any]) -> Scenario:
    """A scenario from the store's record (``Store.load_scenario``)."""
    data = record["payload"]
    edits = tuple(edit_from_dict(e) for e in data.get("edits") or ())
    steps = tuple(int(n) for n in data.get("steps") or ())
    if sum(steps) != len(edits) or any(n <= 0 for n in steps):
        steps = (1,) * len(edits)  # older or hand-made payloads: one step per edit
    return Scenario(id=int(record["id"]), name=str(record["name"]), created_by=str(record["created_by"]),
                    created_at=record["created_at"], service=str(data.get("service", "appeal")),
                    radius_m=float(data.get("radius_m", planning.DEFAULT_RADIUS_M)),
                    stack=EditStack(edits, steps), siting=data.get("siting"))


# --------------------------------------------------------------------------------------------- storage
def _store(store: Store | None) -> Store:
    return store if store is not None else open_store()


def free_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when taken."""
    taken = set(taken)
    final, i = name, 2
    while final in taken:
        final, i = f"{name} ({i})", i + 1
    return final


def save(name: str | None, stack: EditStack, service: str, radius_m: float, created_by: str | None = None, *,
         lang: str = "zh", siting: dict[str, Any] | None = None, store: Store | None = None) -> Scenario:
    """Store a scenario under ``name`` (default 方案 1, 2...; a number is added to a name already taken);
    ``created_by`` is the name the planner typed (default 规划人员/planner until sign-in gives an actor)."""
    s = _store(store)
    names = s.list_scenarios()["name"].tolist()
    base = (name or "").strip() or t("planning.scenario_numbered", lang, n=len(names) + 1)
    author = (created_by or "").strip() or t("planning.default_author", lang)
    return from_record(s.save_scenario(free_name(base, names), payload(stack, service, radius_m, siting), author))


def saved(store: Store | None = None) -> list[Scenario]:
    """Every saved scenario, in the order saved (scenarios that no longer parse are left out)."""
    out = []
    for rec in _store(store).list_scenarios().to_dict("records"):
        try:
            out.append(from_record(rec))
        except planning.PlanningError:
            continue
    return out


def load(key: int | str, store: Store | None = None) -> Scenario:
    """One saved scenario by id or name (``services.errors.NotFound`` when there is none)."""
    return from_record(_store(store).load_scenario(key))


def delete(keys: Iterable[int | str], store: Store | None = None) -> int:
    """Delete scenarios by id or name; returns how many there were."""
    s = _store(store)
    return sum(s.delete_scenario(k) for k in keys)


# --------------------------------------------------------------------------------------------- compare
def saved_table(chosen: Sequence[Scenario], lang: str) -> pd.DataFrame:
    """The saved scenarios as a list (name, saved by, saved at, edits, service, radius) in ``lang``."""
    return pd.DataFrame({
        t("planning.scenario_name", lang): [sc.name for sc in chosen],
        t("planning.col_saved_by", lang): [sc.created_by for sc in chosen],
        t("planning.col_saved_at", lang): [sc.created_at.strftime("%Y-%m-%d %H:%M") for sc in chosen],
        t("planning.col_edits", lang): [len(sc.stack.edits) for sc in chosen],
        t("planning.cmp_service", lang): [planning.service_label(sc.service, lang) for sc in chosen],
        t("planning.cmp_radius", lang): [int(sc.radius_m) for sc in chosen],
        t("planning.col_from_siting", lang): ["✓" if sc.siting else "" for sc in chosen],
    }, index=pd.RangeIndex(1, len(chosen) + 1))


_SITING_ROWS = (
    ("model", "planning.cmp_model"), ("method", "planning.cmp_method"), ("k", "planning.cmp_k"),
    ("sites", "planning.cmp_sites"), ("status", "planning.cmp_status"), ("mip_gap", "planning.cmp_gap"),
    ("population_gained", "planning.cmp_gained"), ("unreachable_population", "planning.cmp_unreachable"),
    ("candidates", "planning.cmp_candidates"), ("solve_s", "planning.cmp_solve_s"),
)


def _siting_value(item: str, v: object, lang: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if item == "model":
        return t(f"planning.model_{v}", lang)
    if item == "method":
        return t("planning.method_greedy" if v == "greedy" else "planning.method_exact", lang)
    if item == "status":
        return planning.status_label(str(v), lang)
    if item == "mip_gap":
        return f"{float(v):.2%}"
    if item in ("population_gained", "unreachable_population"):
        return f"{float(v):,.0f}"
    if item == "solve_s":
        return f"{float(v):.2f}"
    if item in ("candidates", "sites", "k"):
        return f"{int(v):,}"
    return str(v)


def compare_frame(chosen: Sequence[Scenario], lang: str, *, store: Store) -> pd.DataFrame:
    """Scenarios side by side (one column each, headed by name): who saved them and when, service, radius,
    edits, and the coverage their edits give (recomputed now); siting figures when any came from a run."""
    if not chosen:
        return pd.DataFrame()
    columns: dict[str, list[str]] = {}
    any_siting = any(sc.siting for sc in chosen)
    for sc in chosen:
        try:
            fig: planning.Figures | None = planning.figures(planning.network(sc.stack.edits, store=store),
                                                            sc.service, sc.radius_m, store=store)
        except planning.PlanningError:
            fig = None  # an edit names a station the district no longer has
        values = [sc.created_by, sc.created_at.strftime("%Y-%m-%d %H:%M"), planning.service_label(sc.service, lang),
                  f"{sc.radius_m:.0f}", f"{len(sc.stack.edits):,}",
                  "-" if fig is None else f"{fig.stations:,}",
                  "-" if fig is None else f"{fig.population_share:.2%}",
                  "-" if fig is None else f"{fig.population_uncovered:,}"]
        if any_siting:
            values += [_siting_value(item, (sc.siting or {}).get(item), lang) for item, _ in _SITING_ROWS]
        columns[sc.name] = values
    index = [t(k, lang) for k in ("planning.cmp_saved_by", "planning.cmp_saved_at", "planning.cmp_service",
                                  "planning.cmp_radius", "planning.cmp_edits", "planning.cmp_stations",
                                  "planning.cmp_population_share", "planning.cmp_uncovered")]
    if any_siting:
        index += [t(k, lang) for _, k in _SITING_ROWS]
    return pd.DataFrame(columns, index=index)


def default_name(scenario: SitingScenario, lang: str = "zh") -> str:
    """A siting scenario's default name, e.g. ``MCLP k=5 · 诉求服务 · 500米 · 精确``."""
    k = f" k={scenario.k}" if scenario.k is not None else ""
    method = t("planning.method_greedy" if scenario.method == "greedy" else "planning.method_exact", lang)
    return t("planning.scenario_default", lang, model=scenario.model.upper(), k=k,
             service=planning.service_label(scenario.service, lang), radius=f"{scenario.radius_m:.0f}",
             method=method)
