"""The facts of an appeal (people involved, amount involved, urgency) and the one rule of what they may be.

Why one module: intake (a row of another system's file) and the lifecycle (``update_facts`` on the
workbench) take the same facts, and a value that intake quarantines must not get in by an update. The
rule, with its limits in config/rules.toml ``[facts]``:

- people_involved: a whole number from 1 to ``people_max``;
- amount_involved: yuan, finite, from 0 to ``amount_max``;
- urgency: 1 (ordinary 一般), 2 (urgent 紧急) or 3 (critical 特急).

``out_of_range`` is the rule, vectorised over finite values (intake runs it on a chunk; NaN and infinity
are ``not_finite`` there). ``check_fact``/``check_facts`` are the scalar form for one request: they
read the value as a number, refuse what is not one, not finite or out of range with a
``ValidationError`` (message keys ``error.fact_*`` in config/strings/messages.toml), and call
``out_of_range`` on it, so both paths apply the same limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from services.config import rules
from services.errors import Label, ValidationError
from services.vocabulary import URGENCY_LOOKUP

FACTS = ("people_involved", "urgency", "amount_involved")
URGENCIES = (1, 2, 3)


@dataclass(frozen=True)
class Limits:
    """The largest people involved and amount involved an appeal may have (config/rules.toml [facts])."""

    people_max: int = 100_000
    amount_max: float = 1e11

    @property
    def amount_en(self) -> str:
        """amount_max as written in English messages (1e11)."""
        a = self.amount_max
        return f"{a:.0e}".replace("e+", "e") if a >= 1e6 else f"{a:g}"

    @property
    def amount_yi(self) -> str:
        """amount_max in 亿 (1e8) yuan, as written in Chinese messages."""
        return f"{self.amount_max / 1e8:g}"


def limits(cfg: Mapping[str, Any] | None = None) -> Limits:
    """The limits of ``cfg`` (parsed rules; the shipped config/rules.toml when None)."""
    table = (cfg if cfg is not None else rules()).get("facts", {})
    d = Limits()
    return Limits(people_max=int(table.get("people_max", d.people_max)),
                  amount_max=float(table.get("amount_max", d.amount_max)))


def out_of_range(fact: str, values: np.ndarray, lim: Limits | None = None) -> np.ndarray:
    """Which finite ``values`` of ``fact`` break its rule (NaN and infinity are not flagged: they are
    not numbers to compare, and the caller reports them as not finite)."""
    lim = lim or limits()
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        if fact == "people_involved":
            bad = (v < 1) | (v > lim.people_max) | (v != np.round(v))
        elif fact == "amount_involved":
            bad = (v < 0) | (v > lim.amount_max)
        elif fact == "urgency":
            bad = ~np.isin(v, np.array(URGENCIES, dtype=float))
        else:
            raise ValueError(f"out_of_range: {fact!r} is not one of {FACTS}")
    return np.isfinite(v) & bad


def _number(fact: str, value: Any) -> float:
    """``value`` as a float, or ValidationError ``error.fact_not_a_number``. Numbers and numeric text are
    numbers (urgency also by name: 紧急, urgent); booleans and anything else are not."""
    if isinstance(value, str):
        text = value.strip()
        if fact == "urgency" and text.lower() in URGENCY_LOOKUP:
            return float(URGENCY_LOOKUP[text.lower()])
        try:
            return float(text)
        except ValueError:
            pass
    elif isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise ValidationError("error.fact_not_a_number", fact=Label("fact", fact), value=_show(value))


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:39] + "…"


def check_fact(fact: str, value: Any, lim: Limits | None = None) -> int | float:
    """One fact checked and typed (people and urgency ``int``, amount ``float``); raises
    ``ValidationError`` for a value that is not a number, not finite or out of range."""
    if fact not in FACTS:
        raise ValueError(f"check_fact: {fact!r} is not one of {FACTS}")
    lim = lim or limits()
    x = _number(fact, value)
    if not math.isfinite(x):
        raise ValidationError("error.fact_not_finite", fact=Label("fact", fact), value=_show(value))
    if out_of_range(fact, np.array([x]), lim)[0]:
        if fact == "people_involved":
            raise ValidationError("error.people_out_of_range", max=lim.people_max, value=_show(value))
        if fact == "amount_involved":
            raise ValidationError("error.amount_out_of_range", max=lim.amount_en, max_yi=lim.amount_yi,
                                  value=_show(value))
        raise ValidationError("error.urgency_range", value=_show(value))
    return x if fact == "amount_involved" else int(x)


def check_facts(facts: Mapping[str, Any], lim: Limits | None = None) -> dict[str, int | float]:
    """Every fact of ``facts`` checked and typed (see ``check_fact``), in FACTS order; the first bad one
    raises."""
    lim = lim or limits()
    return {k: check_fact(k, facts[k], lim) for k in FACTS if k in facts}
