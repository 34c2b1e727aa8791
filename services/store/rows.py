"""Preparing frames for a bulk insert: appeals and events validated and completed column by column on
numpy arrays (``Rows``), default ``report`` events, and re-keying events to the ids the store assigned.
Both stores insert from these arrays (services/store/pgbinary.py encodes them for PostGIS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.clocks import NAT, next_deadlines_us, utc_us
from services.errors import ValidationError
from services.store.base import EVENT_COLUMNS, TIMESTAMP_COLUMNS
from services.store.common import FLOAT_COLUMNS, INSERT_COLUMNS, INT_COLUMNS, lonlat_frame
from services.tiers import TIERS, appeal_classes, effective_tiers
from services.vocabulary import CHANNELS_NOTE, STATUSES

DEFAULTS: dict[str, Any] = {"status": "reported", "handling_level": "community", "reopened_count": 0,
                            "source_crs": "wgs84", "urgency": 1, "people_involved": 1}
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
