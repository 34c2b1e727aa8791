"""What the two stores share in their SQL: the names of columns and areas, the SQL fragments built from
the Python vocabulary (status sets, tier order, the wall's index), and the conversions of values and
frames on their way in and out (``py``, ``shape_appeals``, ``kpi_dict``, ``stats_frame``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import TZ
from services.errors import ValidationError
from services.store.base import APPEAL_COLUMNS, OPEN_STATUSES, PERSONAL_COLUMNS, TIMESTAMP_COLUMNS
from services.vocabulary import RESOLVED, RESOLVING, STATUSES

INSERT_COLUMNS = tuple(c for c in APPEAL_COLUMNS if c != "id")
INT_COLUMNS = ("people_involved", "urgency", "reopened_count")
FLOAT_COLUMNS = ("lon", "lat", "amount_involved", "agreement_amount")
ORDER_COLUMNS = ("order_id", "appeal_id", "community_code", "issued_by", "issued_at", "category", "tier",
                 "arrival_minutes", "arrive_by", "leader_level", "people_required", "resolution_hours",
                 "resolve_by", "status", "closed_at", "note", "department_code", "checked_in_at", "outcome",
                 "outcome_at", "people_on_site", "leader_level_on_site")
ORDER_TS = ("issued_at", "arrive_by", "resolve_by", "closed_at", "checked_in_at", "outcome_at")
POINT_COLUMNS = {
    "station": ("code", "name", "name_en", "level", "site_type", "offers_appeal", "offers_legal",
                "offers_psychological", "parent_code", "building_code", "lon", "lat"),
    "building": ("code", "name", "parent_code", "land_use", "population", "lon", "lat"),
}
# What the station register (Store.station_register) adds to a station's layer columns: its closing and
# its last edit on the data screen (services/reference_data.py); a closed station is absent from
# Store.points("station"), the one read every screen's stations come from.
STATION_STATE_COLUMNS = ("closed_at", "closed_by", "close_reason", "edited_at", "edited_by")
# The columns Store.update_station may change.
STATION_EDITABLE = ("name", "name_en", "level", "site_type", "offers_appeal", "offers_legal", "offers_psychological",
                    "parent_code", "building_code", "lon", "lat", "closed_at", "closed_by", "close_reason")
LEVEL_COLUMN = {"grid": "grid_code", "community": "community_code", "subdistrict": "subdistrict_code"}
QUARANTINE_COLUMNS = ("id", "received_at", "source", "file", "line", "raw", "reason", "reason_code")
# How a quarantine row was settled (Store.resolve_quarantine): fixed (sent again, corrected) or dismissed
# (nothing to keep); settled rows are what Store.purge_quarantine deletes after the retention.
QUARANTINE_RESOLUTIONS = ("fixed", "dismissed")
QUARANTINE_READ_COLUMNS = (*QUARANTINE_COLUMNS, "resolved_at", "resolution", "resolved_by", "appeal_id",
                           "resolution_note")
# An import job's states (services/import_jobs.py): waiting for the one import a store runs at a time,
# running, done, failed (the file could not be read: error says why), or interrupted (the server stopped
# while it ran: its appeals are one bulk load, one transaction, so none of them was stored; run it again).
IMPORT_JOB_STATUSES = ("queued", "running", "done", "failed", "interrupted")
IMPORT_JOB_COLUMNS = ("id", "source", "file_name", "format", "crs", "actor", "path", "status", "progress",
                      "total", "summary", "error", "created_at", "started_at", "finished_at")
# Where a signed-in identity comes from (services/identities.py): an OIDC provider or the trusted header
# of a reverse proxy; and what a mapping names: one user (an e-mail, subject or user name) or a group.
IDENTITY_PROVIDERS = ("oidc", "header")
IDENTITY_KINDS = ("user", "group")



def sql_in(values: Iterable[str]) -> str:
    """A parenthesised, quoted SQL list of ``values`` for ``IN``, e.g. ``('blue', 'yellow', 'red')``: how
    the schemas' CHECK constraints and the queries' status sets are built from the Python tuples."""
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


# Appeals resolved (and not reopened since), as the KPIs count them.
RESOLVED_SQL = f"status IN {sql_in(RESOLVED)}"
# Open appeals: ``status <> 'closed'`` is the predicate of every partial index of open appeals, and a
# query must repeat it word for word for SQLite to use one (PostgreSQL proves the implication itself).
OPEN_SQL = "status <> 'closed'"
# Tier order of the wall (red, yellow, blue); the partial index appeal_open_tier is on this expression.
TIER_RANK_SQL = "CASE tier WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END"
ORDER_SQL = {"newest": "reported_at DESC, id DESC", "oldest": "reported_at, id",
             "tier": f"{TIER_RANK_SQL}, reported_at DESC, id DESC"}
# The counts the analysis summary keeps per day and area (both schemas' analysis_day and
# analysis_day_community; services/store/analysis_summary.py SUMMED, the cohort counts that add up).
SUMMARY_COUNTS = ("received", "accepted", "resolved", "same_day_settled", "same_day_due",
                  "class1_responded_on_time", "class1_respond_due", "class1_accepted_on_time", "class1_accept_due",
                  "major_resolved_in_time", "major_due", "overdue_in_period", "reopened", "satisfied",
                  "basically_satisfied", "not_satisfied", "repeat_appeals")


def count_columns(sql_type: str) -> str:
    """The summary's count columns as DDL (``name TYPE NOT NULL``, one per line)."""
    return ",\n    ".join(f"{c} {sql_type} NOT NULL" for c in SUMMARY_COUNTS)


# The partial index of open appeals for the wall display (schema version 2 in both stores). It gives the
# points in wall order (red, yellow, blue, then newest) so that a LIMIT reads only that many rows, and,
# carrying grid_code, tier and status, answers the open counts per grid from the index alone. One index,
# not one per wall query: every new appeal enters it, and each index costs bulk inserts about a tenth.
WALL_INDEXES = (
    f"CREATE INDEX appeal_open_tier ON appeal (({TIER_RANK_SQL}), reported_at DESC, id DESC, grid_code, tier, "
    f"status) WHERE {OPEN_SQL}",
)
# The daily briefing's reads (services/store/briefing.py): the appeals still on their resolution clock
# (services.vocabulary RESOLVING: the predicate is written as the briefing's queries write it, so both
# planners use the partial index), those resolved after a cut-off, and a gathering's members by its id.
BRIEFING_INDEXES = (
    f"CREATE INDEX appeal_resolving ON appeal (reported_at) WHERE status IN {sql_in(RESOLVING)}",
    "CREATE INDEX appeal_resolved_at ON appeal (resolved_at)",
    "CREATE INDEX appeal_gathering_member ON appeal (gathering_id) WHERE gathering_id IS NOT NULL",
)
# A page of one subdistrict's or community's appeals in a report-time window, newest or oldest first (the
# Open311 GET requests.json, issue 16 §4): by area, then report time and id (the ORDER BY), a LIMIT of 1,000
# reads 1,000 index entries instead of every appeal of the window across the district. The indexes are on
# the expression ``area_page_sql``, which only such a page writes (queries.py): a planner uses an expression
# index only for that same expression, so the analysis's GROUP BY area and the wall's scoped counts never
# walk them (a plain (subdistrict_code, reported_at) index made SQLite, without statistics, walk it in full
# to group a month by subdistrict: 120 ms became 11.6 s at 1M appeals). Codes are never '', so the
# coalesce changes no answer.
AREA_PAGE_LEVELS = ("subdistrict", "community")


def area_page_sql(level: str) -> str:
    """The indexed expression of an area page's filter (see AREA_INDEXES); level is one of AREA_PAGE_LEVELS."""
    if level not in AREA_PAGE_LEVELS:
        raise ValidationError(f"no area page index for level {level!r}; expected {', '.join(AREA_PAGE_LEVELS)}")
    return f"coalesce({level}_code, '')"


AREA_INDEXES = tuple(f"CREATE INDEX appeal_{level}_reported ON appeal (({area_page_sql(level)}), reported_at, id)"
                     for level in AREA_PAGE_LEVELS)
# The tier rank of every row is 0, 1 or 2. Saying so in a query of open appeals in a time window lets both
# planners read appeal_open_tier by report time within each tier (three short ranges) instead of the index
# of all appeals by report time, which visits the closed ones as well.
OPEN_WINDOW_SQL = f"({TIER_RANK_SQL}) IN (0, 1, 2)"


def point_columns(kind: str) -> tuple[str, ...]:
    """The columns of a point layer (station or building)."""
    if kind not in POINT_COLUMNS:
        raise ValidationError(f"unknown point layer {kind!r}; expected station or building")
    return POINT_COLUMNS[kind]


def status_filter(statuses: Sequence[str]) -> tuple[str | None, list[str] | None]:
    """How to filter on ``statuses``: (``OPEN_SQL``, None) when they are exactly the open statuses (so a
    partial index of open appeals applies), (None, None) when they are every status, else (None, the
    statuses) for the store's own IN/ANY form."""
    wanted = set(statuses)
    if wanted == set(OPEN_STATUSES):
        return OPEN_SQL, None
    if wanted >= set(STATUSES):
        return None, None
    return None, list(statuses)


def order_sql(order: str) -> str:
    try:
        return ORDER_SQL[order]
    except KeyError:
        raise ValidationError(f"unknown order {order!r}; expected {', '.join(ORDER_SQL)}") from None


def now() -> datetime:
    """The current time in Asia/Shanghai."""
    return datetime.now(TZ)


def level_column(level: str) -> str:
    """The appeal column holding the code of an area level."""
    try:
        return LEVEL_COLUMN[level]
    except KeyError:
        raise ValidationError(f"unknown level {level!r}; expected grid, community or subdistrict") from None


def lonlat_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A plain frame with lon/lat columns (taken from a point geometry in EPSG:4326 when needed)."""
    if "lon" in frame and "lat" in frame:
        return pd.DataFrame(frame.drop(columns=["geometry"], errors="ignore"))
    if "geometry" not in frame:
        raise ValidationError("points need lon/lat columns or a point geometry")
    import geopandas as gpd

    gdf = frame if isinstance(frame, gpd.GeoDataFrame) else gpd.GeoDataFrame(frame, geometry="geometry")
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    out = pd.DataFrame(gdf.drop(columns=["geometry"]))
    out["lon"] = gdf.geometry.x.to_numpy()
    out["lat"] = gdf.geometry.y.to_numpy()
    return out



def local_frame(df: pd.DataFrame, ts_columns: Iterable[str]) -> pd.DataFrame:
    """Convert the given timestamp columns (tz-aware, any zone) to Asia/Shanghai in place and return df."""
    for c in ts_columns:
        if c in df:
            df[c] = pd.to_datetime(df[c], utc=True).dt.tz_convert(TZ)
    return df


def shape_appeals(df: pd.DataFrame) -> pd.DataFrame:
    """Uniform dtypes for appeal frames from either store."""
    for c in ("id", *INT_COLUMNS):
        if c in df:
            df[c] = df[c].astype("int64")
    for c in FLOAT_COLUMNS:
        if c in df:
            df[c] = df[c].astype(float)
    if "gathering_id" in df:
        df["gathering_id"] = pd.to_numeric(df["gathering_id"]).astype("Int64")
    return local_frame(df, TIMESTAMP_COLUMNS)


def py(v: Any) -> Any:
    """A plain Python value (None for NA, datetime for timestamps, int/float for numpy scalars)."""
    if v is None:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.to_pydatetime()
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def columns_for(include_personal: bool, columns: Sequence[str] | None = None) -> tuple[str, ...]:
    """Appeal columns returned to a caller: all (personal ones only when asked), or the named subset."""
    allowed = APPEAL_COLUMNS if include_personal else tuple(c for c in APPEAL_COLUMNS if c not in PERSONAL_COLUMNS)
    if columns is None:
        return allowed
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise ValidationError(f"cannot select appeal column(s) {', '.join(map(str, unknown))}")
    return tuple(c for c in allowed if c in set(columns))



KPI_KEYS = ("received", "accepted", "resolved", "resolved_on_time", "closed", "reopened", "satisfied", "rated",
            "class1_total", "class1_responded_on_time", "class1_accepted_on_time")
STATS_COLUMNS = ("code", "name", "orders", "checked_in", "timely_check_ins", "due_check_ins", "timely_check_in_rate",
                 "avg_arrival_minutes", "resolved_within_limit", "due_outcomes", "resolved_within_limit_rate")


def kpi_dict(row: Sequence[Any], overdue: Any) -> dict[str, Any]:
    """KPI figures from the SQL row, with the rates derived from the counts."""
    out: dict[str, Any] = {k: int(v or 0) for k, v in zip(KPI_KEYS, row, strict=True)}
    out["overdue_open"] = int(overdue or 0)
    out["resolution_rate"] = out["resolved"] / out["accepted"] if out["accepted"] else None
    out["on_time_rate"] = out["resolved_on_time"] / out["resolved"] if out["resolved"] else None
    out["satisfaction_rate"] = out["satisfied"] / out["rated"] if out["rated"] else None
    return out


def stats_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(STATS_COLUMNS))
    for c in ("orders", "checked_in", "timely_check_ins", "due_check_ins", "resolved_within_limit", "due_outcomes"):
        # SUM over rows whose condition is NULL (no outcome yet) is NULL in SQL: none counted is zero.
        df[c] = df[c].fillna(0).astype("int64")
    for c in ("timely_check_in_rate", "avg_arrival_minutes", "resolved_within_limit_rate"):
        df[c] = df[c].astype(float)
    return df

