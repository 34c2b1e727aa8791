"""Department assessment (考核) and the community view (社区发令), issue 14 §2, for a signed-in principal.

Per department, for the orders issued in a period [since, until) (Asia/Shanghai): orders received,
checked in, checked in on time (count and rate over the check-ins due), the average and 90th-percentile
minutes from order to check-in, leader level and people as the order required, resolved within the
order's limit, and the outcomes reported by outcome. All are the store's SQL
(``Store.department_assessment``, services/store/assessment.py; the conditions are
``SQLDialect.measures``, on time is ``services.orders.on_time_sql``). Here only the per-department score
and the rank are added, from the rates:

    score = 100 x sum(w_i x rate_i) / sum(w_i)   over the rates with something due (weights:
    config/rules.toml [assessment.weekly] for the weekly meeting 每周一例会, [assessment.quarterly] for
    the quarterly assessment 每季度一考核)

ranked by score (highest first), then on-time rate, then quicker average arrival, then code; the
``rank_change`` is the rank in the previous period of the same length minus this one (positive: moved up,
NaN: not ranked then). The community view counts per issuing community the orders issued, the
departments called, the officials on site (people who checked in) and the on-time rate.

Who may read it is ``read_assessment`` (services/access.py says why each role has it or not); a
subdistrict or community sees the departments' work on its own area's orders, every other reader the
district's. CLI: ``python -m services.assessment --period week --date 2025-10-15 [--scheme quarterly]``
prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd

from services import access
from services.analysis.periods import CALENDAR_KINDS, Period, custom, period  # noqa: F401 - re-exported
from services.config import rules
from services.errors import ValidationError
from services.store.base import Store

PERIODS = CALENDAR_KINDS   # the periods are the analysis's (services/analysis/periods.py): one definition
SCHEMES = ("weekly", "quarterly")
# The rates the score weighs, by their key in config/rules.toml [assessment.*] and their column.
SCORED = {"on_time": "timely_check_in_rate", "level_as_required": "level_as_required_rate",
          "people_as_required": "people_as_required_rate", "resolved_in_limit": "resolved_within_limit_rate"}


def weights(scheme: str, cfg: dict[str, Any] | None = None) -> dict[str, float]:
    """The weights of ``scheme`` (weekly / quarterly) from config/rules.toml [assessment.<scheme>]."""
    if scheme not in SCHEMES:
        raise ValidationError("error.assessment_scheme", scheme=scheme, schemes=", ".join(SCHEMES))
    section = (cfg or rules())["assessment"][scheme]
    unknown = set(section) - set(SCORED)
    if unknown or any(float(v) < 0 for v in section.values()) or not sum(float(v) for v in section.values()):
        raise ValueError(f"[assessment.{scheme}] needs non-negative weights of {sorted(SCORED)}, not all 0")
    return {k: float(section.get(k, 0.0)) for k in SCORED}


def default_scheme(p: Period) -> str:
    """Quarters and years are the quarterly assessment's; shorter periods the weekly meeting's."""
    return "quarterly" if p.kind in ("quarter", "year") else "weekly"


def score(table: pd.DataFrame, w: dict[str, float]) -> pd.Series:
    """The score (0-100) of each row: the weighted mean of its rates with something due (NaN when none)."""
    num = pd.Series(0.0, index=table.index)
    den = pd.Series(0.0, index=table.index)
    for key, col in SCORED.items():
        if not w[key]:
            continue
        rate = table[col].astype(float)
        known = rate.notna()
        num = num + (rate.fillna(0.0) * w[key]).where(known, 0.0)
        den = den + pd.Series(w[key], index=table.index).where(known, 0.0)
    return (100 * num / den.where(den > 0)).astype(float)


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` sorted by score, on-time rate (highest first), average arrival (quickest), code, with
    ``rank`` 1, 2, … (no scored rate ranks last)."""
    out = table.sort_values(["score", "timely_check_in_rate", "avg_arrival_minutes", "department_code"],
                            ascending=[False, False, True, True], na_position="last").reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def _scope(who: access.Principal) -> tuple[str, str] | None:
    """The store's ``area=`` for ``who``: a subdistrict or community its own area, everyone else (a
    department's officer included, see services/access.py) the district."""
    access.check_principal(who)
    access.check_action(who.role, "read_assessment")
    area = access.area_filter(who)
    return None if area is None or area[0] == "department" else area


def area_of(who: access.Principal) -> tuple[str, str] | None:
    """The area the assessment covers for ``who`` (``(level, code)``, None for the district): what an
    export of it is named and headed by, whatever area the page around it is looking at."""
    return _scope(who)


def _ranked(store: Store, area: tuple[str, str] | None, p: Period, w: dict[str, float]) -> pd.DataFrame:
    table = store.department_assessment(p.since, p.until, area=area).rename(columns={"code": "department_code"})
    table.insert(2, "score", score(table, w))
    return rank(table)


def departments(store: Store, who: access.Principal, p: Period, scheme: str | None = None) -> pd.DataFrame:
    """The ranking table of ``p`` for ``who``: rank, rank_change (against ``p.previous()``), the score of
    ``scheme`` (default ``default_scheme``), then every figure of ``Store.department_assessment``.
    ``attrs`` hold the period, the scheme and its weights."""
    area = _scope(who)
    scheme = scheme or default_scheme(p)
    w = weights(scheme)
    table = _ranked(store, area, p, w)
    before = _ranked(store, area, p.previous(), w)
    previous = dict(zip(before["department_code"], before["rank"], strict=True))
    change = [previous[c] - r if c in previous else float("nan")
              for c, r in zip(table["department_code"], table["rank"], strict=True)]
    table.insert(1, "rank_change", pd.Series(change, index=table.index, dtype="float"))
    table.attrs.update(period=p.label(), scheme=scheme, weights=w)
    return table


def communities(store: Store, who: access.Principal, p: Period) -> pd.DataFrame:
    """Per issuing community of ``who``'s scope (a subdistrict its communities, a community itself): orders
    issued (社区发令次数), departments called, officials on site, the on-time rate; most orders first."""
    area = _scope(who)
    table = store.community_assessment(p.since, p.until, area=area).rename(columns={"code": "community_code"})
    table = table.sort_values(["orders_issued", "community_code"], ascending=[False, True], na_position="last")
    table = table.reset_index(drop=True)
    table.attrs.update(period=p.label())
    return table


def _json_value(v: Any) -> Any:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m services.assessment``: the ranking (or ``--communities``) of a period as JSON, read as
    the district's duty officer would (``--store`` URL, default DATABASE_URL or the SQLite file)."""
    from services.store import create_store, database_url

    parser = argparse.ArgumentParser(prog="python -m services.assessment",
                                     description="Department assessment (考核) of a period, as JSON.")
    parser.add_argument("--store", metavar="URL")
    parser.add_argument("--period", choices=PERIODS, default="week")
    parser.add_argument("--date", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD")
    parser.add_argument("--scheme", choices=SCHEMES)
    parser.add_argument("--communities", action="store_true", help="the community view instead")
    args = parser.parse_args(argv)
    store = create_store(database_url(args.store))
    try:
        who = access.Principal("cli", "duty_officer")
        p = period(args.period, args.date)
        table = communities(store, who, p) if args.communities else departments(store, who, p, args.scheme)
        rows = [{k: _json_value(v) for k, v in r.items()} for r in table.to_dict("records")]
        print(json.dumps({"period": p.label(), "since": p.since.isoformat(), "until": p.until.isoformat(),
                          **({} if args.communities else {"scheme": table.attrs["scheme"]}), "rows": rows},
                         ensure_ascii=False, indent=1))
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
