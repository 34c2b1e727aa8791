"""Tiers (红黄蓝分级预警) and appeal classes, from the facts of an appeal.

Thresholds come from config/rules.toml ([tier], [appeal_class]); this module only applies them, so the
rule lives in one place. Vectorised variants exist because the sample generator and bulk intake tier
tens of thousands of appeals at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from services.config import rules

TIERS = ("blue", "yellow", "red")
TIER_RANK = {t: i for i, t in enumerate(TIERS)}
CLASSES = ("ordinary", "major", "class1")


def _tier_rules(cfg: dict[str, Any] | None) -> dict[str, Any]:
    return (cfg or rules())["tier"]


def compute_tier(people_involved: int, urgency: int, amount_involved: float,
                 cfg: dict[str, Any] | None = None) -> str:
    """Red, yellow or blue: the highest level that any one fact reaches."""
    return str(compute_tiers(np.array([people_involved]), np.array([urgency]),
                             np.array([amount_involved], float), cfg)[0])


def compute_tiers(people: np.ndarray, urgency: np.ndarray, amount: np.ndarray,
                  cfg: dict[str, Any] | None = None) -> np.ndarray:
    """Vectorised ``compute_tier``; missing amounts (NaN) count as zero."""
    r = _tier_rules(cfg)
    people = np.nan_to_num(np.asarray(people, float))
    urgency = np.nan_to_num(np.asarray(urgency, float))
    amount = np.nan_to_num(np.asarray(amount, float))
    red = (people >= r["red_people"]) | (amount >= r["red_amount"]) | (urgency >= r["red_urgency"])
    yellow = (people >= r["yellow_people"]) | (amount >= r["yellow_amount"]) | (urgency >= r["yellow_urgency"])
    return np.where(red, "red", np.where(yellow, "yellow", "blue")).astype(object)


def tier_ranks(tiers: np.ndarray) -> np.ndarray:
    """TIER_RANK of each tier; -1 for anything else (None and NaN included)."""
    tiers = np.asarray(tiers, object)
    out = np.full(len(tiers), -1, np.int64)
    for t, r in TIER_RANK.items():
        out[tiers == t] = r
    return out


def effective_tiers(people: np.ndarray, urgency: np.ndarray, amount: np.ndarray,
                    gathering_tiers: np.ndarray | None = None, cfg: dict[str, Any] | None = None) -> np.ndarray:
    """The tier an appeal carries: the tier of its facts (``compute_tiers``) raised to the tier of its
    gathering cluster where that is higher. A missing gathering tier (None, NaN) raises nothing. The one
    rule behind ``services.lifecycle.effective_tier`` (one appeal) and the stores' bulk insert."""
    tier = compute_tiers(people, urgency, amount, cfg)
    if gathering_tiers is None:
        return tier
    g = np.asarray(gathering_tiers, object)
    return np.where(tier_ranks(g) > tier_ranks(tier), g, tier).astype(object)


def raise_tier(tier: str, steps: int = 1) -> str:
    """The tier ``steps`` levels higher, capped at red (used for gathering clusters)."""
    return TIERS[min(TIER_RANK[tier] + steps, len(TIERS) - 1)]


def appeal_class(tier: str, urgency: int, escalated: bool = False, cfg: dict[str, Any] | None = None) -> str:
    """``class1`` (10-min response, 30-min acceptance), ``major`` (special team) or ``ordinary``."""
    return str(appeal_classes(np.array([tier], object), np.array([urgency]), np.array([escalated]), cfg)[0])


def appeal_classes(tiers: np.ndarray, urgency: np.ndarray, escalated: np.ndarray | None = None,
                   cfg: dict[str, Any] | None = None) -> np.ndarray:
    """Vectorised ``appeal_class``."""
    c = (cfg or rules())["appeal_class"]
    tiers = np.asarray(tiers, object)
    urgency = np.nan_to_num(np.asarray(urgency, float))
    escalated = np.zeros(len(tiers), bool) if escalated is None else np.asarray(escalated, bool)
    class1 = np.isin(tiers, c["class1_tiers"]) | (urgency >= c["class1_min_urgency"])
    major = np.isin(tiers, c["major_tiers"]) | escalated
    return np.where(class1, "class1", np.where(major, "major", "ordinary")).astype(object)
