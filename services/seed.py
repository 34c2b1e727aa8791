"""Fill an empty store with the sample district's reference data and twelve months of history.

The embedded default must show a living district on first start: departments, stations and buildings,
and the sample's appeal history with its events. The history is moved forward by whole days so that it
ends today (time-of-day patterns kept), because a wall display of a year-old "today" helps nobody.
The shifted history seldom fills today itself (right after midnight it holds nothing of today), so
after it ``services.seed_today`` adds today's appeals in every open status, newly reported ones
included. Both happen only into an empty store: a store with data is never touched.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from data import sample
from services.seed_today import seed_today
from services.store.base import Store

TZ = ZoneInfo("Asia/Shanghai")


def is_empty(store: Store) -> bool:
    """True when the store holds no appeal at all."""
    return store.query_appeals(limit=1).empty


def _points(kind: str) -> pd.DataFrame:
    gdf = sample.load_layers()[kind]
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    frame["lon"] = gdf.geometry.x.to_numpy()
    frame["lat"] = gdf.geometry.y.to_numpy()
    return frame


def seed_reference(store: Store) -> None:
    """Departments, stations and buildings (idempotent: replaced each time)."""
    store.load_departments(sample.load_departments())
    for kind in ("station", "building"):
        if kind in sample.load_layers():
            store.load_points(kind, _points(kind))


def history(now: datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's appeals and events, shifted by whole days so that the history ends within a day of now."""
    appeals, events = sample.load_appeal_history()
    now = (now or datetime.now(TZ)).astimezone(TZ)
    last = events["at"].max()
    # Whole days (floored, so back in time too when the sample was built after now), never past now:
    # the newest step lands within the last 24 hours.
    shift = pd.Timedelta(days=int((pd.Timestamp(now) - last) // pd.Timedelta(days=1)))
    frame = pd.DataFrame(appeals.drop(columns="geometry"))
    frame["lon"] = appeals.geometry.x.to_numpy()
    frame["lat"] = appeals.geometry.y.to_numpy()
    for col in [c for c in frame.columns if c.endswith("_at")]:
        frame[col] = frame[col] + shift
    events = events.copy()
    events["at"] = events["at"] + shift
    return frame, events


def ensure_seeded(store: Store, now: datetime | None = None) -> int:
    """Seed reference data always, and the history and today (services.seed_today) only into an empty
    store; returns appeals stored."""
    seed_reference(store)
    if not is_empty(store):
        return 0
    now = (now or datetime.now(TZ)).astimezone(TZ)
    appeals, events = history(now)
    stored = store.insert_appeals(appeals, events).stored
    return stored + len(seed_today(store, now))
