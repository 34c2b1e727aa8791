"""What the two stores share: preparing frames for bulk insert, shaping results, and the action flows.

``SQLStore`` implements the contract's actions (act, mark_gathering, orders) once, on top of a few
primitives each store writes in its own SQL (``_tx``, ``_select_appeal``, ``_update_appeal``,
``_insert_events``, ...). So the two stores differ only in SQL, never in a rule: the rules come from
services.lifecycle / clocks / orders, called here inside the store's transaction.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import TZ, as_local, next_deadlines, resolve_deadlines
from services.errors import NotFound, ValidationError
from services.lifecycle import ACTIONS, SYSTEM_ACTIONS, transition
from services.orders import check_outcome, rule_for_appeal
from services.store.base import APPEAL_COLUMNS, EVENT_COLUMNS, PERSONAL_COLUMNS, TIMESTAMP_COLUMNS, Store
from services.tiers import TIER_RANK, TIERS, appeal_classes, compute_tiers

INSERT_COLUMNS = tuple(c for c in APPEAL_COLUMNS if c != "id")
INT_COLUMNS = ("people_involved", "urgency", "reopened_count")
FLOAT_COLUMNS = ("lon", "lat", "amount_involved")
DEFAULTS: dict[str, Any] = {"status": "reported", "handling_level": "community", "reopened_count": 0,
                            "source_crs": "wgs84", "urgency": 1, "people_involved": 1}
STATUSES = ("reported", "accepted", "dispatched", "resolved", "confirmed", "feedback", "reopened", "closed")
ORDER_COLUMNS = ("order_id", "appeal_id", "community_code", "issued_by", "issued_at", "category", "tier",
                 "arrival_minutes", "arrive_by", "leader_level", "people_required", "resolution_hours",
                 "resolve_by", "status", "closed_at", "note", "department_code", "checked_in_at", "outcome",
                 "outcome_at")
ORDER_TS = ("issued_at", "arrive_by", "resolve_by", "closed_at", "checked_in_at", "outcome_at")
POINT_COLUMNS = {
    "station": ("code", "name", "level", "site_type", "offers_appeal", "offers_legal", "offers_psychological",
                "parent_code", "building_code", "lon", "lat"),
    "building": ("code", "name", "parent_code", "land_use", "population", "lon", "lat"),
}
LEVEL_COLUMN = {"grid": "grid_code", "community": "community_code", "subdistrict": "subdistrict_code"}
QUARANTINE_COLUMNS = ("id", "received_at", "source", "file", "line", "raw", "reason", "reason_code")


def now() -> datetime:
    """The current time in Asia/Shanghai."""
    return datetime.now(TZ)


def utc_series(s: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC (naive values are taken as Asia/Shanghai local time)."""
    s = pd.to_datetime(s)
    if s.dt.tz is None:
        s = s.dt.tz_localize(TZ)
    return s.dt.tz_convert("UTC")


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


def prepare_appeals(appeals: pd.DataFrame, events: pd.DataFrame | None
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None, int]:
    """Validate and complete a frame for insert: (rows with ``src_id`` + INSERT_COLUMNS, the events of
    those rows keyed by ``src_id`` or None, repeats of a key inside the frame).

    Timestamps come out tz-aware UTC; tier/class are computed where missing; closed_at, resolve_due_at
    and next_deadline_* are computed by services.clocks.
    """
    df = lonlat_frame(appeals).reset_index(drop=True)
    for col in ("source", "external_id", "reported_at"):
        if col not in df or df[col].isna().any():
            raise ValidationError(f"every appeal needs {col}")
    if events is not None and "id" not in df:
        raise ValidationError("events given but the appeals frame has no id column to key them")
    df["src_id"] = df["id"].to_numpy() if "id" in df else np.arange(1, len(df) + 1)
    for col in INSERT_COLUMNS:
        if col not in df:
            df[col] = DEFAULTS.get(col)
        elif col in DEFAULTS:
            df[col] = df[col].where(df[col].notna(), DEFAULTS[col])
    df["source"] = df["source"].astype(str)
    df["external_id"] = df["external_id"].astype(str)
    bad = ~df["status"].isin(STATUSES)
    if bad.any():
        raise ValidationError(f"unknown status {sorted(set(df.loc[bad, 'status'].astype(str)))!r}")
    gid = pd.to_numeric(df["gathering_id"], errors="coerce")
    df["gathering_id"] = gid.where(gid >= 0).astype("Int64")
    for c in TIMESTAMP_COLUMNS:
        df[c] = utc_series(df[c]) if df[c].notna().any() else pd.Series(pd.NaT, index=df.index,
                                                                      dtype="datetime64[us, UTC]")
    for c in INT_COLUMNS:
        df[c] = pd.to_numeric(df[c]).astype("int64")
    for c in FLOAT_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)

    # Tier and class where the caller left them out (tier of the facts raised to the gathering tier).
    need_tier = df["tier"].isna().to_numpy()
    if need_tier.any():
        t = compute_tiers(df["people_involved"].to_numpy(), df["urgency"].to_numpy(),
                          df["amount_involved"].to_numpy())
        g = df["gathering_tier"].to_numpy(object)
        rank = np.array([TIER_RANK.get(x, -1) if isinstance(x, str) else -1 for x in g])
        trank = np.array([TIER_RANK[x] for x in t])
        t = np.where(rank > trank, g, t)
        df.loc[need_tier, "tier"] = t[need_tier]
    if not df["tier"].isin(TIERS).all():
        raise ValidationError(f"unknown tier {sorted(set(df['tier'].astype(str)) - set(TIERS))!r}")
    need_class = df["appeal_class"].isna().to_numpy()
    if need_class.any():
        k = appeal_classes(df["tier"].to_numpy(object), df["urgency"].to_numpy(),
                           (df["handling_level"] != "community").to_numpy())
        df.loc[need_class, "appeal_class"] = k[need_class]
    closed = (df["status"] == "closed") & df["closed_at"].isna()
    df.loc[closed, "closed_at"] = df.loc[closed, "return_visit_at"]
    df["resolve_due_at"] = utc_series(resolve_deadlines(df))
    kinds, at = next_deadlines(df)
    df["next_deadline_kind"] = kinds
    df["next_deadline_at"] = utc_series(at) if at.notna().any() else pd.Series(
        pd.NaT, index=df.index, dtype="datetime64[us, UTC]")

    dup = df.duplicated(["source", "external_id"], keep="first")
    repeats = int(dup.sum())
    df = df.loc[~dup, ["src_id", *INSERT_COLUMNS]].reset_index(drop=True)

    ev = None
    if events is not None:
        ev = pd.DataFrame(events).copy()
        for col in ("appeal_id", "at", "action"):
            if col not in ev:
                raise ValidationError(f"events need {col}")
        for col in ("actor", "from_status", "to_status", "note"):
            if col not in ev:
                ev[col] = None
        ev = ev[ev["appeal_id"].isin(df["src_id"])]
        ev = ev.rename(columns={"appeal_id": "src_id"})[["src_id", *EVENT_COLUMNS[2:]]].reset_index(drop=True)
        ev["at"] = utc_series(ev["at"])
        for c in EVENT_COLUMNS[3:]:
            ev[c] = ev[c].astype(object).where(ev[c].notna(), None)
    return df, ev, repeats


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


def columns_for(include_personal: bool) -> tuple[str, ...]:
    """Appeal columns returned to a caller."""
    return APPEAL_COLUMNS if include_personal else tuple(c for c in APPEAL_COLUMNS if c not in PERSONAL_COLUMNS)


class SQLStore(Store, abc.ABC):
    """The contract's actions written once over per-store SQL primitives."""

    # -- primitives each store implements in its own SQL ---------------------------------------------
    @abc.abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """A write transaction (commits on success, rolls back on any exception); yields a connection."""

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A connection for reads (no write lock); yields a connection."""

    @abc.abstractmethod
    def _select_appeal(self, cx: Any, appeal_id: int, lock: bool = False) -> dict[str, Any] | None:
        """One appeal as a dict with Python values and Asia/Shanghai datetimes (locked if ``lock``)."""

    @abc.abstractmethod
    def _update_appeal(self, cx: Any, appeal_id: int, changes: dict[str, Any]) -> None:
        """Write changed columns of one appeal."""

    @abc.abstractmethod
    def _insert_events(self, cx: Any, events: list[dict[str, Any]]) -> None:
        """Append events (dicts of EVENT_COLUMNS without id)."""

    @abc.abstractmethod
    def _insert_order(self, cx: Any, order: dict[str, Any], departments: list[str]) -> int:
        """Insert an order and its departments; returns the order id."""

    @abc.abstractmethod
    def _select_order_rows(self, cx: Any, order_id: int | None = None, appeal_id: int | None = None,
                           open_only: bool = False, lock: bool = False) -> pd.DataFrame:
        """Orders joined with their departments (ORDER_COLUMNS), Asia/Shanghai timestamps."""

    @abc.abstractmethod
    def _update_order_department(self, cx: Any, order_id: int, department_code: str,
                                 changes: dict[str, Any]) -> None:
        """Write check-in or outcome of one department of an order."""

    @abc.abstractmethod
    def _close_order(self, cx: Any, order_id: int, at: datetime) -> None:
        """Mark an order closed at ``at``."""

    @abc.abstractmethod
    def _known_departments(self, cx: Any, codes: list[str]) -> set[str]:
        """Which of ``codes`` are departments."""

    # -- shared flows --------------------------------------------------------------------------------
    def get_appeal(self, appeal_id: int, *, include_personal: bool = True) -> dict[str, Any]:
        with self._read() as cx:
            row = self._select_appeal(cx, int(appeal_id))
        if row is None:
            raise NotFound(f"no appeal with id {appeal_id}")
        if not include_personal:
            for c in PERSONAL_COLUMNS:
                row.pop(c, None)
        return row

    def act(self, appeal_id: int, action: str, actor: str, at: datetime | None = None, note: str = "",
            **params: Any) -> dict[str, Any]:
        if action == "order":
            raise ValidationError("orders are issued with issue_order (they need departments and rules)")
        if action in SYSTEM_ACTIONS:
            raise ValidationError(f"{action} is a system action; use mark_gathering")
        if action not in ACTIONS:
            raise ValidationError(f"unknown action {action!r}")
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            appeal = self._select_appeal(cx, int(appeal_id), lock=True)
            if appeal is None:
                raise NotFound(f"no appeal with id {appeal_id}")
            changes, events = transition(appeal, action, at, actor=actor, note=note, **params)
            self._update_appeal(cx, int(appeal_id), changes)
            self._insert_events(cx, events)
            appeal.update(changes)
        return self.get_appeal(int(appeal_id))

    def mark_gathering(self, assignments: pd.DataFrame, actor: str = "system",
                       at: datetime | None = None) -> int:
        at = as_local(at) if at is not None else now()
        changed = 0
        with self._tx() as cx:
            for row in assignments.itertuples(index=False):
                appeal = self._select_appeal(cx, int(row.appeal_id), lock=True)
                if appeal is None:
                    raise NotFound(f"no appeal with id {row.appeal_id}")
                if appeal["status"] == "closed":
                    continue
                if appeal.get("gathering_id") == int(row.gathering_id) and \
                        appeal.get("gathering_tier") == row.gathering_tier:
                    continue
                event_at = max(at, appeal["reported_at"])
                changes, events = transition(appeal, "gathering", event_at, actor=actor,
                                             gathering_id=int(row.gathering_id),
                                             gathering_tier=str(row.gathering_tier))
                self._update_appeal(cx, int(row.appeal_id), changes)
                self._insert_events(cx, events)
                changed += 1
        return changed

    # -- orders --------------------------------------------------------------------------------------
    def _order_dict(self, rows: pd.DataFrame) -> dict[str, Any]:
        first = rows.iloc[0]
        out = {k: py(first[k]) for k in ORDER_COLUMNS[:16]}
        out["id"] = out.pop("order_id")
        out["departments"] = [{k: py(r[k]) for k in ORDER_COLUMNS[16:]} for _, r in rows.iterrows()]
        return out

    def order(self, order_id: int) -> dict[str, Any]:
        with self._read() as cx:
            rows = self._select_order_rows(cx, order_id=int(order_id))
        if rows.empty:
            raise NotFound(f"no order with id {order_id}")
        return self._order_dict(rows)

    def issue_order(self, appeal_id: int, departments: Iterable[str], issued_by: str,
                    at: datetime | None = None, note: str = "") -> dict[str, Any]:
        deps = list(dict.fromkeys(str(d) for d in departments))
        if not deps:
            raise ValidationError("an order needs at least one department")
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            appeal = self._select_appeal(cx, int(appeal_id), lock=True)
            if appeal is None:
                raise NotFound(f"no appeal with id {appeal_id}")
            unknown = sorted(set(deps) - self._known_departments(cx, deps))
            if unknown:
                raise ValidationError(f"unknown department(s): {', '.join(unknown)}")
            # Check the move before writing the order, so an illegal order leaves no row behind.
            transition(appeal, "order", at, actor=issued_by, departments=deps)
            rule = rule_for_appeal(appeal)
            clock = rule.deadlines(at)
            order = {"appeal_id": int(appeal_id), "community_code": appeal.get("community_code"),
                     "issued_by": issued_by, "issued_at": at, "category": appeal.get("category"),
                     "tier": appeal["tier"], "arrival_minutes": rule.arrival_minutes, "arrive_by": clock.arrive_by,
                     "leader_level": rule.leader_level, "people_required": rule.people,
                     "resolution_hours": rule.resolution_hours, "resolve_by": clock.resolve_by,
                     "status": "open", "closed_at": None, "note": note}
            order_id = self._insert_order(cx, order, deps)
            changes, events = transition(appeal, "order", at, actor=issued_by, note=note, departments=deps,
                                         order_id=order_id, rule=rule)
            self._update_appeal(cx, int(appeal_id), changes)
            self._insert_events(cx, events)
        return self.order(order_id)

    def _order_step(self, order_id: int, department_code: str, at: datetime | None, outcome: str | None
                    ) -> dict[str, Any]:
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            rows = self._select_order_rows(cx, order_id=int(order_id), lock=True)
            if rows.empty:
                raise NotFound(f"no order with id {order_id}")
            mine = rows[rows["department_code"] == department_code]
            if mine.empty:
                raise NotFound(f"department {department_code} is not on order {order_id}")
            row = mine.iloc[0]
            if at < row["issued_at"]:
                raise ValidationError(f"{at.isoformat()} is before the order was issued")
            if outcome is None:
                if pd.notna(row["checked_in_at"]):
                    raise ValidationError(f"{department_code} already checked in on order {order_id}")
                changes = {"checked_in_at": at}
                action, text = "order_check_in", f"发令#{order_id} {department_code} 报到"
            else:
                check_outcome(outcome)
                if pd.isna(row["checked_in_at"]):
                    raise ValidationError(f"{department_code} must check in on order {order_id} "
                                          "before reporting an outcome")
                if pd.notna(row["outcome_at"]):
                    raise ValidationError(f"{department_code} already reported on order {order_id}")
                changes = {"outcome": outcome, "outcome_at": at}
                action, text = "order_outcome", f"发令#{order_id} {department_code} {outcome}"
            self._update_order_department(cx, int(order_id), department_code, changes)
            appeal = self._select_appeal(cx, int(row["appeal_id"]), lock=True)
            if appeal is None:
                raise NotFound(f"order {order_id} refers to a missing appeal {row['appeal_id']}")
            self._insert_events(cx, [{"appeal_id": int(row["appeal_id"]), "at": at, "actor": department_code,
                                      "action": action, "from_status": appeal["status"],
                                      "to_status": appeal["status"], "note": text}])
            if outcome is not None and (rows["outcome_at"].notna() | (rows["department_code"] == department_code)).all():
                self._close_order(cx, int(order_id), at)
        return self.order(order_id)

    def check_in(self, order_id: int, department_code: str, at: datetime | None = None) -> dict[str, Any]:
        return self._order_step(order_id, department_code, at, None)

    def report_outcome(self, order_id: int, department_code: str, outcome: str,
                       at: datetime | None = None) -> dict[str, Any]:
        return self._order_step(order_id, department_code, at, outcome)

    def orders(self, *, open_only: bool = False, appeal_id: int | None = None) -> pd.DataFrame:
        with self._read() as cx:
            return self._select_order_rows(cx, appeal_id=appeal_id, open_only=open_only)


KPI_KEYS = ("received", "accepted", "resolved", "resolved_on_time", "closed", "reopened", "satisfied", "rated",
            "class1_total", "class1_responded_on_time", "class1_accepted_on_time")
STATS_COLUMNS = ("code", "name", "orders", "checked_in", "timely_check_ins", "timely_check_in_rate",
                 "avg_arrival_minutes", "resolved_within_limit", "resolved_within_limit_rate")


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
    for c in ("orders", "checked_in", "timely_check_ins", "resolved_within_limit"):
        # SUM over rows whose condition is NULL (no outcome yet) is NULL in SQL: none counted is zero.
        df[c] = df[c].fillna(0).astype("int64")
    for c in ("timely_check_in_rate", "avg_arrival_minutes", "resolved_within_limit_rate"):
        df[c] = df[c].astype(float)
    return df

