"""What the daily briefing says (每日简报, issue 15): ``build`` reads the store once for a report day and an
area and returns a services/briefing/model.py ``Briefing``, every text in the briefing's language. Rights
are not checked here: the caller checks ``access.READ_BRIEFING`` and the area (services/access.py).

The definitions, each written once:

- **cut-off** (``cut_off``): the next local midnight after the report day (Asia/Shanghai), or, when that
  is still to come at ``now``, ``now`` floored to the minute. Everything is read as of the cut-off and
  ``made_at`` is the cut-off, so the same store and date give the same briefing.
- **headline**: the analysis measures (services/analysis/measures.py, computed by
  services/analysis/service.area_figures at the cut-off) for the report day, the day before, and the 7 days
  before the report day (a custom period): a count's week figure is its daily mean, a rate's is pooled
  (the 7-day period's numerator sum over its denominator sum, which is that period's rate).
  ``overdue_now`` is read at the cut-off for the report day, at the day before's end for the day before,
  and its week figure is the mean of the 7 day-end counts (each read with ``now`` = that day's end).
- **unresolved at the cut-off** (每日清零, the map's grids and points): reported before the cut-off and
  still on its resolution clock (services.vocabulary RESOLVING) or resolved at or after the cut-off
  (services/store/briefing.py). Every community of the area is listed: those with items first, oldest
  item first, then the cleared ones by code.
- **red warnings**: red-tier appeals reported on the report day, with their status now. **gatherings**:
  the clusters (their marks, services/gathering.py) with a member reported on the report day in the
  area, all their members counted; ``open`` counts members not yet resolved, ``community`` is the
  members' most frequent one.
- **orders**: the orders issued on the report day on the area's appeals; issued and still_open count
  orders, the check-ins count order × department, on time as ``services.orders.on_time_sql`` (the one
  definition of 准时报到), late = checked in after the arrival deadline, not_checked_in = no check-in yet.
- **notes**: the (at most 3) categories whose report-day count rose most above their 7-day daily mean
  (only rises); the (at most 3) communities with the most reopened appeals (the measure ``reopened``)
  among those reported in the 7 days up to and including the report day; and every year on a computed
  (unofficial) holiday calendar (services/work_calendar.py) between the earliest and the latest of the
  report day and the open appeals' next deadlines.
- **empty**: nothing reported on the report day and nothing unresolved at the cut-off.

No personal data: no reporter, description, note or mediator is read.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from services import district
from services.analysis.measures import COUNTS, measure
from services.analysis.periods import Period, custom, period
from services.analysis.service import area_figures, areas_in
from services.briefing.model import HEADLINE, Briefing, Figure, MapData, Note
from services.clocks import TZ, as_local, unofficial_years
from services.errors import ValidationError
from services.gathering import marked_clusters
from services.i18n import label, normalise_lang, t
from services.store.base import Store
from services.store.common import now as _now
from services.vocabulary import RESOLVING
from services.wall import grid_levels

AREA_KINDS = ("subdistrict", "community")
NOTE_KINDS = ("categories_rising", "reopened_communities", "unofficial_calendar")
TOP_NOTES = 3
WEEK_DAYS = 7


def cut_off(report_date: date, now: datetime) -> datetime:
    """The moment the briefing of ``report_date`` reads the data at: the next local midnight after it, or
    ``now`` floored to the minute when that midnight is still to come."""
    end = datetime.combine(report_date + timedelta(days=1), time(), TZ)
    at = as_local(now)
    return end if end <= at else at.replace(second=0, microsecond=0)


def _check_area(area: tuple[str, str] | None) -> tuple[str, str] | None:
    if area is None:
        return None
    kind, code = str(area[0]), str(area[1])
    if kind not in AREA_KINDS or code not in district.names(kind, "zh"):
        raise ValidationError("error.briefing_area", kind=kind, code=code)
    return kind, code


def area_name(area: tuple[str, str] | None, lang: str) -> str:
    """The area's name in ``lang`` (the district's when ``area`` is None)."""
    if area is None:
        return next(iter(district.names("district", lang).values()))
    return district.name_of(area[0], area[1], lang)


# -- the headline ---------------------------------------------------------------------------------------
def _figures(store: Store, p: Period, at: datetime, area: tuple[str, str] | None, cfg: dict | None
             ) -> dict[str, Any]:
    """The district-level row of ``area`` for period ``p`` read at ``at`` (zeros and no rates if empty)."""
    df = area_figures(store, "district", area, p, at, cfg=cfg)
    if df.empty:
        return {c: 0 for c in COUNTS}
    return df.iloc[0].to_dict()


def _num(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def headline(store: Store, report_date: date, cut: datetime, area: tuple[str, str] | None = None,
             cfg: dict | None = None) -> tuple[Figure, ...]:
    """One Figure per code of HEADLINE (the module's definition)."""
    day, before = period("day", report_date), period("day", report_date - timedelta(days=1))
    week = custom(report_date - timedelta(days=WEEK_DAYS), report_date - timedelta(days=1))
    now_row, before_row, week_row = (_figures(store, p, cut, area, cfg) for p in (day, before, week))
    day_ends = [_figures(store, period("day", d), period("day", d).until, area, cfg)["overdue_now"]
                for d in (week.start + timedelta(days=k) for k in range(WEEK_DAYS))]
    out = []
    for code in HEADLINE:
        rate = measure(code).kind == "rate"
        if code == "overdue_now":
            vals = (now_row[code], day_ends[-1], sum(day_ends) / WEEK_DAYS)
        elif rate:
            vals = (now_row.get(code), before_row.get(code), week_row.get(code))
        else:
            vals = (now_row[code], before_row[code], week_row[code] / WEEK_DAYS)
        out.append(Figure(code, *(_num(v) for v in vals), is_rate=rate))
    return tuple(out)


# -- 每日清零 -----------------------------------------------------------------------------------------------
def clearance(store: Store, cut: datetime, area: tuple[str, str] | None, lang: str) -> pd.DataFrame:
    """Every community of the area with what was unresolved at the cut-off (the module's order)."""
    rows = store.briefing_clearance(cut, area=area)
    codes = areas_in("community", area)
    codes += sorted(set(rows["community_code"]) - set(codes))
    out = pd.DataFrame({"community": codes}).merge(rows.rename(columns={"community_code": "community"}),
                                                   on="community", how="left")
    out["open_overnight"] = out["open_overnight"].fillna(0).astype("int64")
    out["oldest_id"] = out["oldest_id"].astype("Int64")
    out["oldest_category"] = [label("category", c, lang) if isinstance(c, str) else None
                              for c in out["oldest_category"]]
    names = district.names("community", lang)
    out.insert(1, "name", [names.get(c, c) for c in out["community"]])
    busy = out[out["open_overnight"] > 0].sort_values(["oldest_reported_at", "oldest_id"])
    clear = out[out["open_overnight"] == 0].sort_values("community")
    cols = ["community", "name", "open_overnight", "oldest_id", "oldest_reported_at", "oldest_category"]
    return pd.concat([busy, clear])[cols].reset_index(drop=True)


# -- red warnings and gatherings ------------------------------------------------------------------------
def red_warnings(store: Store, day: Period, area: tuple[str, str] | None, lang: str) -> pd.DataFrame:
    df = store.briefing_red(day.since, day.until, area=area)
    names = district.names("community", lang)
    return pd.DataFrame({
        "id": df["id"].astype("int64"), "reported_at": df["reported_at"],
        "category": [label("category", c, lang) for c in df["category"]],
        "community": [names.get(c, c or "") for c in df["community_code"]],
        "status": [label("status", s, lang) for s in df["status"]]})


def gatherings(store: Store, day: Period, area: tuple[str, str] | None, lang: str
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the gatherings table of the Briefing, the clusters of the map)."""
    members = store.briefing_gathering_members(day.since, day.until, area=area)
    cols = ["gathering_id", "size", "tier", "community", "first_reported_at", "open", "status"]
    map_cols = ["lon", "lat", "size", "radius_m", "tier"]
    clusters = marked_clusters(members)
    if clusters.empty:
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=map_cols)
    names = district.names("community", lang)
    rows = []
    for g, m in members.groupby("gathering_id", sort=True):
        comm = m["community_code"].dropna().astype(str)
        top = sorted(comm.value_counts().items(), key=lambda kv: (-kv[1], kv[0]))
        still = int(m["status"].isin(RESOLVING).sum())
        rows.append({"gathering_id": int(g), "community": names.get(top[0][0], top[0][0]) if top else "",
                     "first_reported_at": m["reported_at"].min(), "open": still,
                     "status": t("briefing.content.gathering_open" if still else "briefing.content.gathering_settled",
                                 lang)})
    table = clusters[["gathering_id", "size", "tier"]].merge(pd.DataFrame(rows), on="gathering_id")
    table["size"] = table["size"].astype("int64")
    return table[cols].reset_index(drop=True), clusters[map_cols].reset_index(drop=True)


# -- orders ---------------------------------------------------------------------------------------------
def orders(store: Store, day: Period, area: tuple[str, str] | None, lang: str) -> tuple[dict[str, int], pd.DataFrame]:
    counts, late = store.briefing_orders(day.since, day.until, area=area)
    names = district.names("department", lang, store)
    late = late.sort_values(["late", "department"], ascending=[False, True], ignore_index=True)
    late.insert(1, "name", [names.get(c, c) for c in late["department"]])
    return counts, late[["department", "name", "late"]]


# -- notes ----------------------------------------------------------------------------------------------
def _by_category(store: Store, p: Period, area: tuple[str, str] | None) -> pd.Series:
    df = store.analysis_breakdown("district", p.since, p.until, "category", parent=area)
    return df.dropna(subset=["value"]).groupby("value")["received"].sum()


def notes(store: Store, report_date: date, cut: datetime, area: tuple[str, str] | None, lang: str,
          cfg: dict | None = None) -> tuple[Note, ...]:
    """The three notes (the module's definitions), kinds in NOTE_KINDS order."""
    day = period("day", report_date)
    week = custom(report_date - timedelta(days=WEEK_DAYS), report_date - timedelta(days=1))
    now_, before = _by_category(store, day, area), _by_category(store, week, area) / WEEK_DAYS
    cats = pd.DataFrame({"day": now_, "average": before}).fillna(0)
    cats["change"] = cats["day"] - cats["average"]
    cats = cats[cats["change"] > 0].rename_axis("category").reset_index()
    cats = cats.sort_values(["change", "category"], ascending=[False, True]).head(TOP_NOTES)
    rising = tuple({"category": r.category, "name": label("category", r.category, lang), "day": int(r.day),
                    "average": float(r.average), "change": float(r.change)} for r in cats.itertuples())
    last7 = custom(report_date - timedelta(days=WEEK_DAYS - 1), report_date)
    comm = area_figures(store, "community", area, last7, cut, lang, cfg)
    comm = comm[comm["reopened"] > 0].sort_values(["reopened", "code"], ascending=[False, True]).head(TOP_NOTES)
    reopened = tuple({"community": r.code, "name": r.name, "reopened": int(r.reopened)} for r in comm.itertuples())
    lo, hi = store.briefing_clock_span(area=area)
    days = [report_date, *(d.date() for d in (lo, hi) if d is not None)]
    years = tuple({"year": y, "basis": "computed"} for y in unofficial_years(min(days), max(days)))
    return (Note("categories_rising", rising), Note("reopened_communities", reopened),
            Note("unofficial_calendar", years))


# -- the map --------------------------------------------------------------------------------------------
def map_data(store: Store, cut: datetime, area: tuple[str, str] | None, clusters: pd.DataFrame,
             cfg: dict | None = None) -> MapData:
    levels = grid_levels(store.briefing_grid_counts(cut, area=area), cfg).rename(columns={"code": "grid"})
    levels = levels.reindex(columns=["grid", "level", "open_total", "red", "yellow", "blue"])
    points = store.briefing_points(cut, area=area)[["lon", "lat", "tier", "overdue"]]
    return MapData(grid_levels=levels.reset_index(drop=True), points=points.reset_index(drop=True),
                   clusters=clusters)


# -- the briefing ---------------------------------------------------------------------------------------
def build(store: Store, report_date: date, *, area: tuple[str, str] | None = None, lang: str = "zh",
          now: datetime | None = None, cfg: dict | None = None) -> Briefing:
    """The briefing of ``area`` (kind subdistrict|community, code; None: the whole district) for
    ``report_date`` in ``lang``, read at ``cut_off(report_date, now)`` (default now)."""
    lang = normalise_lang(lang)
    area = _check_area(area)
    cut = cut_off(report_date, now if now is not None else _now())
    day = period("day", report_date)
    heads = headline(store, report_date, cut, area, cfg)
    clear = clearance(store, cut, area, lang)
    gather, clusters = gatherings(store, day, area, lang)
    counts, late = orders(store, day, area, lang)
    received = next(f.value for f in heads if f.code == "received") or 0
    empty = received == 0 and int(clear["open_overnight"].sum()) == 0
    return Briefing(area=area, area_name=area_name(area, lang), report_date=report_date, cut_off=cut, lang=lang,
                    headline=heads, clearance=clear, red_warnings=red_warnings(store, day, area, lang),
                    gatherings=gather, orders=counts, late_departments=late,
                    notes=notes(store, report_date, cut, area, lang, cfg),
                    map=map_data(store, cut, area, clusters, cfg), empty=empty, made_at=cut)
