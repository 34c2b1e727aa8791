"""Order rules per category and tier, read from config/rules.toml [orders]."""

from __future__ import annotations

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.config import rules
from services.errors import ValidationError
from services.orders import check_outcome, order_rule, outcomes, rule_for_appeal

TZ = ZoneInfo("Asia/Shanghai")


def test_tier_defaults_apply_to_a_category_without_its_own_rule():
    r = order_rule("noise", "blue")
    assert (r.arrival_minutes, r.leader_level, r.people, r.resolution_hours) == (120, "section_chief", 2, 72)
    r = order_rule("noise", "red")
    assert (r.arrival_minutes, r.leader_level, r.people, r.resolution_hours) == (30, "division_chief", 5, 24)
    assert r.suggested_departments == ("police", "housing")


def test_category_rules_override_key_by_key():
    r = order_rule("wage_arrears", "red")
    assert (r.arrival_minutes, r.leader_level, r.people, r.resolution_hours) == (30, "district_leader", 8, 24)
    # yellow wage arrears sets arrival, leader and people; the resolution time is the yellow default.
    r = order_rule("wage_arrears", "yellow")
    assert (r.arrival_minutes, r.leader_level, r.people, r.resolution_hours) == (45, "division_chief", 4, 48)
    # a blue psychological crisis: 20 minutes, 24 hours; leader and people from the blue default.
    r = rule_for_appeal({"category": "crisis", "tier": "blue"})
    assert (r.arrival_minutes, r.leader_level, r.people, r.resolution_hours) == (20, "section_chief", 2, 24)


def test_deadlines_of_an_order():
    c = order_rule("wage_arrears", "yellow").deadlines(datetime(2025, 10, 9, 10, 0, tzinfo=TZ))
    assert c.arrive_by == datetime(2025, 10, 9, 10, 45, tzinfo=TZ)
    assert c.resolve_by == datetime(2025, 10, 11, 10, 0, tzinfo=TZ)


def test_bad_inputs():
    with pytest.raises(ValidationError, match="unknown tier"):
        order_rule("noise", "purple")
    assert outcomes() == ("resolved", "partly_resolved", "unresolved")
    assert check_outcome("resolved") == "resolved"
    with pytest.raises(ValidationError, match="expected one of"):
        check_outcome("done")
    cfg = copy.deepcopy(rules())
    cfg["orders"]["tier"]["blue"]["leader_level"] = "组长"
    with pytest.raises(ValueError, match="leader level"):
        order_rule("noise", "blue", cfg)


def test_leader_levels_named_in_chinese_still_work():
    """A rules file written before leader levels became codes (科级, 处级, 区领导) gives the same codes."""
    cfg = copy.deepcopy(rules())
    cfg["orders"]["leader_levels"] = ["科级", "处级", "区领导"]
    cfg["orders"]["tier"]["red"]["leader_level"] = "处级"
    cfg["orders"]["category"]["wage_arrears"]["red"]["leader_level"] = "区领导"
    assert order_rule("noise", "red", cfg).leader_level == "division_chief"
    assert order_rule("wage_arrears", "red", cfg).leader_level == "district_leader"
    assert order_rule("noise", "blue", cfg).leader_level == "section_chief"
