"""The measures of the analysis (分析研判), each defined once: its code, whether it is a count or a rate
(and of what), and where its name and one-sentence definition are (config/strings/analysis.toml
``analysis.measure.<code>`` / ``analysis.definition.<code>``: the tooltip a page shows).

The figures themselves are computed in SQL, once for both stores, in services/store/analysis.py; this
module says what they mean and holds the one rule applied to them (the flag).

Cohort: unless a measure says otherwise, it counts the appeals *reported* in the period ``[since,
until)`` in their state at ``now`` (a February appeal resolved in March counts as resolved for
February). ``overdue_now`` (open appeals past their next deadline at ``now``) and ``orders_issued``
(orders issued in the period, by issue time) are not cohort measures.

Decisions, each written in the measure's definition too:

- a rate is NULL (NaN) when its denominator is 0; a rate's denominator counts what is *due* at ``now``
  (settled, or past its limit), so that today's figures do not count appeals whose time is not up;
- a reopened appeal resolved twice counts its *last* resolution, against the clock it ran on (restarted by
  the reopening return visit, [clocks]): the appeal row keeps that resolution and that deadline
  (``resolved_at``, ``resolve_due_at``); ``same_day_settled`` likewise uses the last resolution, so an
  appeal settled the same day and then reopened is not a same-day settlement;
- "major" is every appeal on the working-days clock: major and class-1 (``appeal_class <> 'ordinary'``);
- ``overdue_in_period`` checks the limits the appeal row still shows: class-1 response and acceptance,
  the (last) resolution, confirmation and feedback, and any deadline past at ``now``. A late *first*
  resolution of an appeal later reopened and resolved in time, and a late return visit of a closed
  appeal (counted in working days), are not kept by the row and are not counted (the reopening shows in
  ``reopened``);
- appeals without a code at the level asked (no grid, say) are left out of that level's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.config import rules
from services.i18n import t


@dataclass(frozen=True)
class Measure:
    """One measure: ``code``; ``kind`` count or rate; for a rate its numerator and denominator codes."""

    code: str
    kind: str = "count"
    numerator: str | None = None
    denominator: str | None = None
    cohort: bool = True

    def name(self, lang: str | None = None) -> str:
        return t(f"analysis.measure.{self.code}", lang)

    def definition(self, lang: str | None = None, cfg: dict[str, Any] | None = None) -> str:
        """The one-sentence definition, with the rule numbers it states taken from config/rules.toml."""
        return t(f"analysis.definition.{self.code}", lang, **rule_numbers(cfg))


def _rate(code: str, numerator: str, denominator: str) -> Measure:
    return Measure(code, "rate", numerator, denominator)


MEASURES: tuple[Measure, ...] = (
    Measure("received"),
    Measure("accepted"),
    Measure("resolved"),
    _rate("resolution_rate", "resolved", "accepted"),
    Measure("same_day_settled"),
    Measure("same_day_due"),
    _rate("same_day_rate", "same_day_settled", "same_day_due"),
    Measure("class1_responded_on_time"),
    Measure("class1_respond_due"),
    _rate("class1_respond_on_time", "class1_responded_on_time", "class1_respond_due"),
    Measure("class1_accepted_on_time"),
    Measure("class1_accept_due"),
    _rate("class1_accept_on_time", "class1_accepted_on_time", "class1_accept_due"),
    Measure("major_resolved_in_time"),
    Measure("major_due"),
    _rate("major_resolved_in_time_rate", "major_resolved_in_time", "major_due"),
    Measure("overdue_now", cohort=False),
    Measure("overdue_in_period"),
    Measure("reopened"),
    Measure("satisfied"),
    Measure("basically_satisfied"),
    Measure("not_satisfied"),
    Measure("gatherings"),
    Measure("orders_issued", cohort=False),
    Measure("repeat_appeals"),
)
BY_CODE = {m.code: m for m in MEASURES}
CODES = tuple(m.code for m in MEASURES)
COUNTS = tuple(m.code for m in MEASURES if m.kind == "count")
RATES = tuple(m.code for m in MEASURES if m.kind == "rate")
# The cohort measures: what the trend gives per day or week (overdue_now and orders_issued are not
# counted by report day).
COHORT = tuple(m.code for m in MEASURES if m.cohort)
# The rates the flag watches.
FLAG_RATES = ("resolution_rate", "same_day_rate")
# What ``received`` is broken down by (Store.analysis_breakdown).
BREAKDOWNS = ("channel", "service_type", "category")


def measure(code: str) -> Measure:
    return BY_CODE[code]


def analysis_rules(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The [analysis] section of the rules (repeat_days, flag_below_rate)."""
    return (cfg or rules())["analysis"]


def rule_numbers(cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule numbers the definitions state."""
    cfg = cfg or rules()
    c, a = cfg["clocks"], cfg["analysis"]
    return {"respond_minutes": c["class1_respond_minutes"], "accept_minutes": c["class1_accept_minutes"],
            "working_days": c["major_resolve_working_days"], "confirm_hours": c["confirm_hours"],
            "feedback_hours": c["feedback_hours"], "repeat_days": a["repeat_days"],
            "flag_below": f"{float(a['flag_below_rate']):.0%}"}


def flagged(row: dict[str, Any], cfg: dict[str, Any] | None = None) -> bool:
    """True when the area's resolution rate or same-day rate is below [analysis] flag_below_rate (a rate
    with no denominator is not flagged)."""
    below = float(analysis_rules(cfg)["flag_below_rate"])
    for code in FLAG_RATES:
        v = row.get(code)
        if v is not None and v == v and float(v) < below:
            return True
    return False


def describe_measures(lang: str | None = None, cfg: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Every measure as ``{code, kind, name, definition}`` in ``lang``: the legend and tooltips of a page."""
    return [{"code": m.code, "kind": m.kind, "name": m.name(lang), "definition": m.definition(lang, cfg)}
            for m in MEASURES]
