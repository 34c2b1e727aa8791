"""What the two stores share: preparing frames for bulk insert, bulk loads, shaping results, the queries
and the action flows.

``SQLStore`` implements the contract's actions (act, mark_gathering, orders) and the queries that differ
between the databases only in dialect (appeal queries, counts, events, orders, quarantine) once, over a
small dialect each store supplies (placeholder, how timestamps go in and come out, "one of these
values", byte order, row locks) and a few primitives it writes in its own SQL (``_tx``,
``_select_appeal``, ``_insert_order``, the aggregates, the bulk paths). So the two stores differ only in
SQL, never in a rule: the rules come from services.lifecycle / clocks / orders, called here inside the
store's transaction. ``SQLBulkLoad`` is the store-independent half of ``Store.bulk_load``.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import NAT, TZ, as_local, next_deadlines_us, utc_us
from services.errors import Label, Labels, NotFound, ValidationError
from services.lifecycle import ACTIONS, SYSTEM_ACTIONS, transition
from services.orders import check_outcome, rule_for_appeal
from services.store.base import (
    APPEAL_COLUMNS,
    EVENT_COLUMNS,
    OPEN_STATUSES,
    PERSONAL_COLUMNS,
    SCENARIO_COLUMNS,
    TIMESTAMP_COLUMNS,
    BulkLoad,
    InsertResult,
    Store,
)
from services.tiers import TIERS, appeal_classes, effective_tiers
from services.vocabulary import CHANNELS_NOTE, RESOLVED, STATUSES

INSERT_COLUMNS = tuple(c for c in APPEAL_COLUMNS if c != "id")
INT_COLUMNS = ("people_involved", "urgency", "reopened_count")
FLOAT_COLUMNS = ("lon", "lat", "amount_involved")
DEFAULTS: dict[str, Any] = {"status": "reported", "handling_level": "community", "reopened_count": 0,
                            "source_crs": "wgs84", "urgency": 1, "people_involved": 1}
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
# The partial index of open appeals for the wall display (schema version 2 in both stores). It gives the
# points in wall order (red, yellow, blue, then newest) so that a LIMIT reads only that many rows, and,
# carrying grid_code, tier and status, answers the open counts per grid from the index alone. One index,
# not one per wall query: every new appeal enters it, and each index costs bulk inserts about a tenth.
WALL_INDEXES = (
    f"CREATE INDEX appeal_open_tier ON appeal (({TIER_RANK_SQL}), reported_at DESC, id DESC, grid_code, tier, "
    f"status) WHERE {OPEN_SQL}",
)
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


# Kind of every appeal column in a bulk insert (services.store.pgbinary kinds).
COLUMN_KINDS: dict[str, str] = {
    c: ("timestamptz" if c in TIMESTAMP_COLUMNS else "int4" if c in INT_COLUMNS else "int8" if c == "gathering_id"
        else "float8" if c in FLOAT_COLUMNS else "text") for c in INSERT_COLUMNS}
EVENT_KINDS: dict[str, str] = {"src_id": "int8", "at": "timestamptz", "actor": "text", "action": "text",
                               "from_status": "text", "to_status": "text", "note": "text"}


@dataclass
class Rows:
    """Equally long columns for a bulk insert, as numpy arrays by kind (``kinds``): text as object arrays
    with None where NULL, int4/int8 as int64, float8 as float64 (NaN where NULL), timestamptz as int64
    microseconds since the epoch, UTC (``services.clocks.NAT`` where NULL). ``null`` holds each column's
    NULL mask, or None when it has no NULL. Plain arrays, not a DataFrame: both stores read them column
    by column, and building a frame per insert cost more than the insert's own preparation."""

    values: dict[str, np.ndarray]
    null: dict[str, np.ndarray | None]
    kinds: dict[str, str]

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    def take(self, idx: np.ndarray) -> Rows:
        """The rows at ``idx`` (positions or a boolean mask), in that order."""
        null = {c: None if m is None else m[idx] for c, m in self.null.items()}
        return Rows({c: v[idx] for c, v in self.values.items()},
                    {c: None if m is None or not m.any() else m for c, m in null.items()}, self.kinds)

    def column(self, name: str) -> tuple[str, np.ndarray, np.ndarray | None]:
        """(kind, values, null mask or None) of one column, as services.store.pgbinary encodes it."""
        return self.kinds[name], self.values[name], self.null[name]

    def all_null(self, name: str) -> bool:
        m = self.null[name]
        return m is not None and bool(m.all())


def _text(values: Any, default: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """An object array with None (or ``default``) where missing, and the NULL mask (None if no NULL)."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    null = pd.isna(arr)
    if not null.any():
        return arr, None
    arr = arr.copy()
    if default is not None:
        arr[null] = default
        return arr, None
    arr[null] = None
    return arr, null


def _as_str(arr: np.ndarray) -> np.ndarray:
    """Every value as str (ids given as numbers are stored as their text)."""
    if pd.api.types.infer_dtype(arr, skipna=False) == "string":
        return arr
    return np.array([str(v) for v in arr], dtype=object)


def _isin(arr: np.ndarray, allowed: Iterable[Any]) -> np.ndarray:
    return pd.Series(arr, copy=False).isin(list(allowed)).to_numpy()


def _ints(s: pd.Series | None, default: int, n: int) -> np.ndarray:
    if s is None:
        return np.full(n, default, np.int64)
    if pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
        return s.to_numpy(dtype=np.int64)
    return pd.to_numeric(s.where(s.notna(), default)).astype("int64").to_numpy()


def _floats(s: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    if s is None:
        return np.full(n, np.nan), np.ones(n, bool)
    a = s.to_numpy(dtype=np.float64) if s.dtype == np.float64 else \
        pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    null = np.isnan(a)
    return a, (null if null.any() else None)


def prepare_appeals(appeals: pd.DataFrame, events: pd.DataFrame | None) -> tuple[Rows, Rows | None, int]:
    """Validate and complete a frame for insert: (rows with ``src_id`` + INSERT_COLUMNS, the events of
    those rows keyed by ``src_id`` or None, repeats of a key inside the frame).

    Tier/class are computed where missing; closed_at, resolve_due_at and next_deadline_* are computed by
    services.clocks (on the microsecond arrays, one calendar look-up per distinct day). Column by column
    on numpy arrays, without a per-row Python step.
    """
    df = appeals if "lon" in appeals and "lat" in appeals else lonlat_frame(appeals)
    for col in ("source", "external_id", "reported_at"):
        if col not in df or df[col].isna().any():
            raise ValidationError(f"every appeal needs {col}")
    if events is not None and "id" not in df:
        raise ValidationError("events given but the appeals frame has no id column to key them")
    n = len(df)
    get = df.get
    values: dict[str, np.ndarray] = {}
    null: dict[str, np.ndarray | None] = {}
    values["src_id"] = df["id"].to_numpy() if "id" in df else np.arange(1, n + 1)
    null["src_id"] = None
    for c in INSERT_COLUMNS:
        kind = COLUMN_KINDS[c]
        s = get(c)
        if kind == "text":
            if s is None:
                d = DEFAULTS.get(c)
                values[c], null[c] = np.full(n, d, object), (None if d is not None else np.ones(n, bool))
            else:
                values[c], null[c] = _text(s, DEFAULTS.get(c))
        elif kind == "timestamptz":
            values[c] = utc_us(s) if s is not None else np.full(n, NAT, np.int64)
            m = values[c] == NAT
            null[c] = m if m.any() else None
        elif kind == "int4":
            values[c], null[c] = _ints(s, DEFAULTS[c], n), None
        elif kind == "float8":
            values[c], null[c] = _floats(s, n)
        else:  # gathering_id: a negative id means none
            if s is None or not s.notna().any():
                values[c], null[c] = np.zeros(n, np.int64), (np.ones(n, bool) if n else None)
            else:
                gid = pd.to_numeric(s, errors="coerce")
                gid = gid.where(gid >= 0).astype("Int64")
                m = gid.isna().to_numpy()
                values[c], null[c] = gid.fillna(0).to_numpy(dtype=np.int64), (m if m.any() else None)
    values["source"] = _as_str(values["source"])
    values["external_id"] = _as_str(values["external_id"])
    status = values["status"]
    bad = ~_isin(status, STATUSES)
    if bad.any():
        raise ValidationError(f"unknown status {sorted(set(str(x) for x in status[bad]))!r}")

    # Tier and class where the caller left them out (tier of the facts raised to the gathering tier).
    tier, tier_null = values["tier"], null["tier"]
    if tier_null is not None:
        g = null["gathering_tier"]
        t = effective_tiers(values["people_involved"], values["urgency"], values["amount_involved"],
                            values["gathering_tier"] if g is None or not g.all() else None)
        tier = np.where(tier_null, t, tier)
        values["tier"], null["tier"] = tier, None
    if not _isin(tier, TIERS).all():
        raise ValidationError(f"unknown tier {sorted(set(str(x) for x in tier) - set(TIERS))!r}")
    if null["appeal_class"] is not None:
        k = appeal_classes(tier, values["urgency"], values["handling_level"] != "community")
        values["appeal_class"] = np.where(null["appeal_class"], k, values["appeal_class"])
        null["appeal_class"] = None
    closed = (status == "closed") & (values["closed_at"] == NAT)
    if closed.any():
        values["closed_at"] = np.where(closed, values["return_visit_at"], values["closed_at"])
        m = values["closed_at"] == NAT
        null["closed_at"] = m if m.any() else None
    kinds, at, due = next_deadlines_us(status, values["appeal_class"], values)
    for c, v in (("resolve_due_at", due), ("next_deadline_at", at)):
        values[c] = v
        m = v == NAT
        null[c] = m if m.any() else None
    values["next_deadline_kind"] = kinds
    m = kinds == None  # noqa: E711 - elementwise on an object array
    null["next_deadline_kind"] = m if m.any() else None

    rows = Rows(values, null, {"src_id": "int8", **COLUMN_KINDS})
    src, ext = values["source"], values["external_id"]
    if n > 1:
        one_source = bool((src == src[0]).all())
        dup = (pd.Series(ext, copy=False).duplicated(keep="first") if one_source else
               pd.DataFrame({"s": src, "e": ext}).duplicated(keep="first")).to_numpy()
        repeats = int(dup.sum())
        if repeats:
            rows = rows.take(~dup)
    else:
        repeats = 0
    return rows, (prepare_events(events, rows.values["src_id"]) if events is not None else None), repeats


def prepare_events(events: pd.DataFrame, src_ids: np.ndarray) -> Rows:
    """The events whose ``appeal_id`` is one of ``src_ids`` (as ``src_id``), in frame order, as Rows."""
    if not isinstance(events, pd.DataFrame):
        events = pd.DataFrame(events)
    for col in ("appeal_id", "at", "action"):
        if col not in events:
            raise ValidationError(f"events need {col}")
    keep = pd.Series(events["appeal_id"].to_numpy(), copy=False).isin(pd.Series(src_ids, copy=False)).to_numpy()
    ev = events if keep.all() else events[keep]
    m = len(ev)
    values: dict[str, np.ndarray] = {"src_id": ev["appeal_id"].to_numpy()}
    null: dict[str, np.ndarray | None] = {"src_id": None}
    values["at"] = utc_us(ev["at"].reset_index(drop=True))
    nat = values["at"] == NAT
    null["at"] = nat if nat.any() else None
    for c in EVENT_COLUMNS[3:]:
        if c in ev:
            values[c], null[c] = _text(ev[c])
        else:
            values[c], null[c] = np.full(m, None, object), (np.ones(m, bool) if m else None)
    return Rows(values, null, EVENT_KINDS)


def rekey(src_ids: np.ndarray, ids: np.ndarray, events: Rows) -> tuple[Rows, np.ndarray]:
    """The events of the appeals just stored (frame ids ``src_ids`` stored as ``ids``), in their order,
    and the stored appeal id of each (events of rows not stored are dropped)."""
    index = pd.Index(src_ids)
    if index.is_unique:
        pos = index.get_indexer(events.values["src_id"])
    else:  # a frame id given twice: the last row with it wins, as a dict would
        last = dict(zip(src_ids.tolist(), range(len(src_ids)), strict=True))
        pos = np.array([last.get(k, -1) for k in events.values["src_id"].tolist()], np.int64)
    keep = pos >= 0
    if not keep.all():
        events, pos = events.take(keep), pos[keep]
    return events, np.asarray(ids, np.int64)[pos]


# -- bulk loads (Store.bulk_load) ------------------------------------------------------------------------
# Secondary indexes a large load drops and builds again (names as in both schemas; SQLite has no
# appeal_geom). Primary keys and the unique (source, external_id) stay: duplicates and ids rely on them.
REBUILD_INDEXES = ("appeal_geom", "appeal_reported_at", "appeal_open_deadline", "appeal_open_tier",
                   "appeal_event_appeal")
# Loads smaller than this keep every index: dropping and building costs more than it saves.
REBUILD_MIN_ROWS = 20_000


def plan_rebuild(expected_rows: int | None, stored_rows: int) -> bool:
    """Whether a load of ``expected_rows`` into a table of ``stored_rows`` drops and rebuilds indexes:
    only when it is large and brings at least as many appeals as are stored (then one build over all
    rows is cheaper than maintaining the indexes row by row)."""
    return expected_rows is not None and expected_rows >= REBUILD_MIN_ROWS and expected_rows >= stored_rows


def report_event_rows(rows: Rows, actor: str) -> Rows:
    """One ``report`` event by ``actor`` per appeal of ``rows`` (keyed by ``src_id``) at its reported_at,
    noting how it came in (扫码上报, 书记在线…; the channel code itself when it has no note): what the
    stores write when no events are given."""
    n = len(rows)
    # A handful of channels: each distinct one is looked up once, then spread by its code.
    codes, channels = pd.factorize(rows.values["channel"], use_na_sentinel=True)
    table = np.array([CHANNELS_NOTE.get(c, c) for c in channels] + [None], dtype=object)
    note = table[codes]  # code -1 (no channel) takes the trailing None
    null = codes < 0
    return Rows({"src_id": rows.values["src_id"], "at": rows.values["reported_at"],
                 "actor": np.full(n, str(actor), object), "action": np.full(n, "report", object),
                 "from_status": np.full(n, None, object), "to_status": np.full(n, "reported", object),
                 "note": note},
                {"src_id": None, "at": None, "actor": None, "action": None, "from_status": np.ones(n, bool),
                 "to_status": None, "note": null if null.any() else None}, EVENT_KINDS)


class SQLBulkLoad(BulkLoad, abc.ABC):
    """The store-independent part of a bulk load: preparing each batch, duplicates within the load
    (a set of keys per source) and against stored rows, ids, events. A store supplies the look-up of
    stored keys, id reservation and the write, and opens/ends the transaction."""

    def __init__(self, expected_rows: int | None) -> None:
        self.expected_rows = expected_rows
        self.stored = 0
        self.duplicates = 0
        self.rebuild = False
        self._seen: dict[str, set[str]] = {}
        self._open = True

    # -- what a store supplies --------------------------------------------------------------------
    @abc.abstractmethod
    def _stored_mask(self, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        """True where (source, external_id) was stored before this load began."""

    @abc.abstractmethod
    def _reserve_ids(self, n: int) -> np.ndarray:
        """``n`` new appeal ids, ascending."""

    @abc.abstractmethod
    def _write(self, rows: Rows, ids: np.ndarray, events: Rows, event_appeal_ids: np.ndarray) -> None:
        """Write (or queue for writing, inside the load's transaction) new appeals and their events."""

    # -- shared ---------------------------------------------------------------------------------------
    def _remember(self, source: np.ndarray, external_id: np.ndarray) -> None:
        for src in pd.unique(source):
            self._seen.setdefault(str(src), set()).update(external_id[source == src].tolist())

    def _seen_mask(self, source: np.ndarray, external_id: np.ndarray) -> np.ndarray:
        out = np.zeros(len(source), bool)
        for src in pd.unique(source):
            seen = self._seen.get(str(src))
            if seen:
                m = source == src
                out[m] = [e in seen for e in external_id[m].tolist()]
        return out

    def add(self, appeals: pd.DataFrame, events: pd.DataFrame | None = None, *,
            actor: str = "intake") -> InsertResult:
        if not self._open:
            raise RuntimeError("this bulk load has ended")
        rows, ev, repeats = prepare_appeals(appeals, events)
        if not len(rows):
            self.duplicates += repeats
            return InsertResult(0, repeats, [])
        src, ext = rows.values["source"], rows.values["external_id"]
        dup = self._seen_mask(src, ext)
        if not self.rebuild and not dup.all():  # a rebuilding load knows every stored key already
            fresh = np.flatnonzero(~dup)
            dup[fresh] = self._stored_mask(src[fresh], ext[fresh])
        duplicates = repeats + int(dup.sum())
        self.duplicates += duplicates
        if dup.any():
            rows = rows.take(~dup)
        if not len(rows):
            return InsertResult(0, duplicates, [])
        self._remember(rows.values["source"], rows.values["external_id"])
        ids = self._reserve_ids(len(rows))
        evs, appeal_ids = rekey(rows.values["src_id"], ids, report_event_rows(rows, actor) if ev is None else ev)
        self._write(rows, ids, evs, appeal_ids)
        self.stored += len(rows)
        return InsertResult(len(rows), duplicates, ids.tolist())

    def _finish(self) -> None:
        """Complete the writes, rebuild what was dropped and commit."""
        self._open = False

    def _abort(self) -> None:
        """Roll everything back."""
        self._open = False


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
    def _insert_order(self, cx: Any, order: dict[str, Any], departments: list[str]) -> int:
        """Insert an order and its departments; returns the order id."""

    @abc.abstractmethod
    def _known_departments(self, cx: Any, codes: list[str]) -> set[str]:
        """Which of ``codes`` are departments."""

    @abc.abstractmethod
    def _open_bulk_load(self, expected_rows: int | None) -> SQLBulkLoad:
        """Begin a bulk load: its transaction, the rebuild plan, and (when rebuilding) the stored keys."""

    # -- the dialect: all that differs between the two stores' SQL, so that the queries below are
    # written once ---------------------------------------------------------------------------------
    P = "?"  # the driver's parameter placeholder

    @abc.abstractmethod
    def _param_ts(self, value: Any) -> Any:
        """A timestamp as the driver stores it (None, NaT stay None)."""

    @abc.abstractmethod
    def _any_of(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        """The condition "``column`` is one of ``values``" and its one parameter."""

    @abc.abstractmethod
    def _local_times(self, df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """``df`` with its timestamp ``columns`` (as the driver returned them) in Asia/Shanghai."""

    @abc.abstractmethod
    def _json_param(self) -> str:
        """The placeholder of a parameter holding JSON text, as the column that keeps JSON takes it."""

    def _bytewise(self, expr: str) -> str:
        """``expr`` for ORDER BY in byte order (codes sort the same in both stores)."""
        return expr

    def _lock_clause(self, tables: str) -> str:
        """What locks the selected rows of ``tables`` until the transaction ends ("" where the write
        transaction already excludes every other writer)."""
        return ""

    def _fetch(self, cx: Any, sql: str, params: Sequence[Any] | dict[str, Any], binary: bool = False) -> list[Any]:
        """Every row of a query (``binary``: a hint that results are many and wide)."""
        return cx.execute(sql, params).fetchall()

    def _executemany(self, cx: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cx.executemany(sql, rows)

    def _window(self, since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
        """Conditions and parameters of a report-time window [since, until)."""
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append(f"reported_at >= {self.P}")
            params.append(self._param_ts(since))
        if until is not None:
            where.append(f"reported_at < {self.P}")
            params.append(self._param_ts(until))
        return where, params

    # -- primitives written once in the dialect ---------------------------------------------------------
    def _update_appeal(self, cx: Any, appeal_id: int, changes: dict[str, Any]) -> None:
        """Write changed columns of one appeal."""
        cols = [c for c in changes if c in APPEAL_COLUMNS and c != "id"]
        if len(cols) != len(changes):
            raise ValidationError(f"not appeal columns: {sorted(set(changes) - set(cols))}")
        values = [self._param_ts(changes[c]) if c in TIMESTAMP_COLUMNS else py(changes[c]) for c in cols]
        cx.execute(f"UPDATE appeal SET {', '.join(f'{c} = {self.P}' for c in cols)} WHERE id = {self.P}",
                   (*values, appeal_id))

    def _insert_events(self, cx: Any, events: list[dict[str, Any]]) -> None:
        """Append events (dicts of EVENT_COLUMNS without id)."""
        p = self.P
        self._executemany(
            cx, "INSERT INTO appeal_event (appeal_id, at, actor, action, from_status, to_status, note) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            [(e["appeal_id"], self._param_ts(e["at"]), e.get("actor"), e["action"], e.get("from_status"),
              e.get("to_status"), e.get("note")) for e in events])

    def _select_order_rows(self, cx: Any, order_id: int | None = None, appeal_id: int | None = None,
                           open_only: bool = False, lock: bool = False) -> pd.DataFrame:
        """Orders joined with their departments (ORDER_COLUMNS), Asia/Shanghai timestamps."""
        where: list[str] = []
        params: list[Any] = []
        if order_id is not None:
            where.append(f"o.id = {self.P}")
            params.append(order_id)
        if appeal_id is not None:
            where.append(f"o.appeal_id = {self.P}")
            params.append(appeal_id)
        if open_only:
            where.append("o.status = 'open'")
        sql = ("SELECT o.id, o.appeal_id, o.community_code, o.issued_by, o.issued_at, o.category, o.tier, "
               "o.arrival_minutes, o.arrive_by, o.leader_level, o.people_required, o.resolution_hours, "
               "o.resolve_by, o.status, o.closed_at, o.note, d.department_code, d.checked_in_at, d.outcome, "
               "d.outcome_at FROM appeal_order o JOIN order_department d ON d.order_id = o.id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY o.id, {self._bytewise('d.department_code')}"
        if lock:
            sql += self._lock_clause("o, d")
        rows = self._fetch(cx, sql, params)
        return self._local_times(pd.DataFrame(rows, columns=list(ORDER_COLUMNS)), ORDER_TS)

    def _update_order_department(self, cx: Any, order_id: int, department_code: str,
                                 changes: dict[str, Any]) -> None:
        """Write check-in or outcome of one department of an order."""
        cols = list(changes)
        values = [self._param_ts(changes[c]) if c in ORDER_TS else py(changes[c]) for c in cols]
        cx.execute(f"UPDATE order_department SET {', '.join(f'{c} = {self.P}' for c in cols)} "
                   f"WHERE order_id = {self.P} AND department_code = {self.P}", (*values, order_id, department_code))

    def _close_order(self, cx: Any, order_id: int, at: datetime) -> None:
        """Mark an order closed at ``at``."""
        cx.execute(f"UPDATE appeal_order SET status = 'closed', closed_at = {self.P} WHERE id = {self.P}",
                   (self._param_ts(at), order_id))

    # -- reads written once in the dialect ------------------------------------------------------------
    def events(self, appeal_id: int) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(EVENT_COLUMNS)} FROM appeal_event WHERE appeal_id = {self.P} "
                                   "ORDER BY at, id", (int(appeal_id),))
        return self._local_times(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)), ["at"])

    def event_count(self) -> int:
        with self._read() as cx:
            return int(self._fetch(cx, "SELECT COUNT(*) FROM appeal_event", ())[0][0])

    def query_appeals(self, *, statuses: Sequence[str] | None = None, tiers: Sequence[str] | None = None,
                      categories: Sequence[str] | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      area: tuple[str, str] | None = None, limit: int | None = None,
                      order: str = "newest", include_personal: bool = False,
                      columns: Sequence[str] | None = None) -> pd.DataFrame:
        where, params = self._window(since, until)
        if statuses is not None:
            fixed, values = status_filter(statuses)
            if fixed:
                where.append(fixed)
                if since is not None or until is not None:
                    where.append(OPEN_WINDOW_SQL)
            elif values is not None:
                cond, param = self._any_of("status", values)
                where.append(cond)
                params.append(param)
        for col, values in (("tier", tiers), ("category", categories)):
            if values is not None:
                cond, param = self._any_of(col, list(values))
                where.append(cond)
                params.append(param)
        if area is not None:
            where.append(f"{level_column(area[0])} = {self.P}")
            params.append(area[1])
        cols = columns_for(include_personal, columns)
        sql = f"SELECT {', '.join(cols)} FROM appeal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_sql(order)}"
        if limit is not None:
            sql += f" LIMIT {self.P}"
            params.append(int(limit))
        with self._read() as cx:
            rows = self._fetch(cx, sql, params, binary=True)
        return shape_appeals(self._local_times(pd.DataFrame(rows, columns=list(cols)), TIMESTAMP_COLUMNS))

    def counts(self, level: str, *, since: datetime | None = None, until: datetime | None = None,
               open_only: bool = False) -> pd.DataFrame:
        col = level_column(level)
        where, params = self._window(since, until)
        if open_only:
            where += [OPEN_SQL, OPEN_WINDOW_SQL] if where else [OPEN_SQL]
        sql = f"SELECT {col} AS code, tier, status, COUNT(*) AS n FROM appeal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += (f" GROUP BY 1, 2, 3 ORDER BY {col} IS NULL, "
                + ", ".join(self._bytewise(c) for c in (col, "tier", "status")))
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        df = pd.DataFrame(rows, columns=["code", "tier", "status", "n"])
        df["n"] = df["n"].astype("int64")
        return df

    def departments(self) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT code, name, name_en FROM department ORDER BY {self._bytewise('code')}", ())
        return pd.DataFrame(rows, columns=["code", "name", "name_en"])

    def points(self, kind: str) -> pd.DataFrame:
        cols = point_columns(kind)
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(cols)} FROM {kind} ORDER BY {self._bytewise('code')}", ())
        df = pd.DataFrame(rows, columns=list(cols))
        for c in ("offers_appeal", "offers_legal", "offers_psychological"):
            if c in df:
                df[c] = df[c].astype("boolean")
        return df

    def quarantined(self, *, source: str | None = None) -> pd.DataFrame:
        sql = f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM quarantine"
        params: list[Any] = []
        if source is not None:
            sql += f" WHERE source = {self.P}"
            params.append(source)
        sql += " ORDER BY received_at DESC, id DESC"
        with self._read() as cx:
            rows = self._fetch(cx, sql, params)
        return self._local_times(pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS)), ["received_at"])

    # -- planning scenarios ----------------------------------------------------------------------------
    def save_scenario(self, name: str, payload: dict[str, Any], created_by: str, *,
                      at: datetime | None = None, replace: bool = False) -> dict[str, Any]:
        name, created_by = str(name or "").strip(), str(created_by or "").strip()
        if not name:
            raise ValidationError("a scenario needs a name")
        if not created_by:
            raise ValidationError("a scenario needs who saved it (created_by)")
        if not isinstance(payload, dict):
            raise ValidationError("a scenario's payload is a JSON object (a dict)")
        try:
            text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"a scenario's payload must be JSON: {exc}") from None
        p = self.P
        on_conflict = ("DO UPDATE SET created_by = excluded.created_by, created_at = excluded.created_at, "
                       "payload = excluded.payload") if replace else "DO NOTHING"
        with self._tx() as cx:
            rows = self._fetch(cx, "INSERT INTO planning_scenario (name, created_by, created_at, payload) "
                                   f"VALUES ({p}, {p}, {p}, {self._json_param()}) ON CONFLICT (name) {on_conflict} "
                                   "RETURNING id", (name, created_by, self._param_ts(at or now()), text))
        if not rows:
            raise ValidationError(f"a scenario named {name!r} exists already")
        return self.load_scenario(int(rows[0][0]))

    def _scenario_frame(self, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(SCENARIO_COLUMNS)} FROM planning_scenario {where} "
                                   "ORDER BY id", params)
        df = self._local_times(pd.DataFrame(rows, columns=list(SCENARIO_COLUMNS)), ["created_at"])
        df["id"] = df["id"].astype("int64")
        df["payload"] = [json.loads(v) if isinstance(v, str) else v for v in df["payload"]]
        return df

    def _scenario_where(self, key: int | str) -> tuple[str, tuple[Any, ...]]:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return f"WHERE id = {self.P}", (int(key),)
        if isinstance(key, str):
            return f"WHERE name = {self.P}", (key.strip(),)
        raise ValidationError(f"a scenario is named by its id (int) or name (str), not {key!r}")

    def list_scenarios(self) -> pd.DataFrame:
        return self._scenario_frame()

    def load_scenario(self, key: int | str) -> dict[str, Any]:
        df = self._scenario_frame(*self._scenario_where(key))
        if df.empty:
            raise NotFound(f"no planning scenario {key!r}")
        out = df.iloc[0].to_dict()
        out["id"] = int(out["id"])
        out["created_at"] = out["created_at"].to_pydatetime()
        return out

    def delete_scenario(self, key: int | str) -> bool:
        where, params = self._scenario_where(key)
        with self._tx() as cx:
            return bool(self._fetch(cx, f"DELETE FROM planning_scenario {where} RETURNING id", params))

    # -- shared flows --------------------------------------------------------------------------------
    @contextmanager
    def bulk_load(self, expected_rows: int | None = None) -> Iterator[BulkLoad]:
        load = self._open_bulk_load(expected_rows)
        try:
            yield load
        except BaseException:
            load._abort()
            raise
        load._finish()

    def get_appeal(self, appeal_id: int, *, include_personal: bool = True) -> dict[str, Any]:
        with self._read() as cx:
            row = self._select_appeal(cx, int(appeal_id))
        if row is None:
            raise NotFound("error.no_appeal", id=appeal_id)
        if not include_personal:
            for c in PERSONAL_COLUMNS:
                row.pop(c, None)
        return row

    def act(self, appeal_id: int, action: str, actor: str, at: datetime | None = None, note: str = "",
            **params: Any) -> dict[str, Any]:
        if action == "order":
            raise ValidationError("error.order_via_issue_order")
        if action in SYSTEM_ACTIONS:
            raise ValidationError("error.system_action", action=Label("action", action))
        if action not in ACTIONS:
            raise ValidationError("error.unknown_action", action=Label("action", action),
                                  actions=Labels("action", [a for a in ACTIONS if a not in SYSTEM_ACTIONS]))
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            appeal = self._select_appeal(cx, int(appeal_id), lock=True)
            if appeal is None:
                raise NotFound("error.no_appeal", id=appeal_id)
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
                    raise NotFound("error.no_appeal", id=row.appeal_id)
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
            raise NotFound("error.no_order", id=order_id)
        return self._order_dict(rows)

    def issue_order(self, appeal_id: int, departments: Iterable[str], issued_by: str,
                    at: datetime | None = None, note: str = "") -> dict[str, Any]:
        deps = list(dict.fromkeys(str(d) for d in departments))
        if not deps:
            raise ValidationError("error.order_needs_department")
        at = as_local(at) if at is not None else now()
        with self._tx() as cx:
            appeal = self._select_appeal(cx, int(appeal_id), lock=True)
            if appeal is None:
                raise NotFound("error.no_appeal", id=appeal_id)
            unknown = sorted(set(deps) - self._known_departments(cx, deps))
            if unknown:
                raise ValidationError("error.unknown_departments", codes=unknown)
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
                raise NotFound("error.no_order", id=order_id)
            mine = rows[rows["department_code"] == department_code]
            if mine.empty:
                raise NotFound("error.department_not_on_order", department=department_code, order=order_id)
            row = mine.iloc[0]
            if at < row["issued_at"]:
                raise ValidationError("error.before_order", at=at)
            if outcome is None:
                if pd.notna(row["checked_in_at"]):
                    raise ValidationError("error.already_checked_in", department=department_code, order=order_id)
                changes = {"checked_in_at": at}
                action, text = "order_check_in", f"发令#{order_id} {department_code} 报到"
            else:
                check_outcome(outcome)
                if pd.isna(row["checked_in_at"]):
                    raise ValidationError("error.check_in_first", department=department_code, order=order_id)
                if pd.notna(row["outcome_at"]):
                    raise ValidationError("error.already_reported", department=department_code, order=order_id)
                changes = {"outcome": outcome, "outcome_at": at}
                action, text = "order_outcome", f"发令#{order_id} {department_code} {outcome}"
            self._update_order_department(cx, int(order_id), department_code, changes)
            appeal = self._select_appeal(cx, int(row["appeal_id"]), lock=True)
            if appeal is None:
                raise NotFound("error.order_missing_appeal", order=order_id, appeal=row["appeal_id"])
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

