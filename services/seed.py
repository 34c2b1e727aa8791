"""Fill an empty store with the sample district's reference data and twelve months of history.

The embedded default must show a living district on first start: departments, stations and buildings,
and the sample's appeal history with its events. The history is moved forward by whole days so that it
ends today (time-of-day patterns kept), because a wall display of a year-old "today" helps nobody.
The shifted history seldom fills today itself (right after midnight it holds nothing of today), so
after it ``services.seed_today`` adds today's appeals in every open status, newly reported ones
included. Both happen only into an empty store: a store with data is never touched.

The app seeds its store once per process at start-up (app.py); ``python -m services.seed [--store URL]``
seeds the configured store (``DATABASE_URL``) from the command line and prints what it did.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime

import pandas as pd

from data import sample
from services import reference
from services.clocks import TZ
from services.seed_today import seed_today
from services.store.base import Store


def is_empty(store: Store) -> bool:
    """True when the store holds no appeal at all."""
    return store.query_appeals(limit=1).empty


def _points(kind: str) -> pd.DataFrame:
    gdf = sample.load_layers()[kind]
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    frame["lon"] = gdf.geometry.x.to_numpy()
    frame["lat"] = gdf.geometry.y.to_numpy()
    return frame


def seed_reference(store: Store) -> dict[str, int]:
    """Departments, stations and buildings from the layer folder; returns the count of each loaded.
    The layers are the sample's, or the user's own when ``GM_DATA_DIR`` names a folder (data/sample.py):
    the store then holds the user's stations and buildings, and the screens read them from there.

    Until someone edits the register on the data screen (services/reference_data.py) the folder is the
    source and each seeding replaces what the store holds (idempotent). Once a station was added, moved,
    changed, closed or reopened there (``Store.reference_edited("station")``), the store's stations are
    the district's own register and seeding leaves them alone (``stations_kept`` is 1, ``stations`` 0);
    a re-survey of the stations is then entered on the data screen, not dropped into the folder. Once a
    department was added or renamed there, seeding only adds the folder's departments the store does not
    have (new codes), never overwriting a name an admin gave. Buildings are always replaced."""
    departments = sample.load_departments()
    counts = {"stations_kept": 0}
    if store.reference_edited("department"):
        departments = departments[~departments["code"].astype(str).isin(set(store.departments()["code"]))]
    store.load_departments(departments)
    counts["departments"] = len(departments)
    for kind in ("station", "building"):
        if kind == "station" and store.reference_edited("station"):
            counts["stations_kept"] = 1
            counts["stations"] = 0
            continue
        if kind in sample.load_layers():
            points = _points(kind)
            reference.load_points(store, kind, points)
            counts[f"{kind}s"] = len(points)
        else:  # the layers have none: none stay from an earlier seeding either
            reference.load_points(store, kind, pd.DataFrame({"code": [], "lon": [], "lat": []}))
    return counts


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


def seed(store: Store, now: datetime | None = None) -> dict[str, int]:
    """Seed reference data always, and the history and today (services.seed_today) only into an empty
    store; returns the counts: departments, stations, buildings (replaced), history and today (appeals
    added; both 0 when the store already held appeals)."""
    counts = seed_reference(store)
    counts["history"] = counts["today"] = 0
    if not is_empty(store):
        return counts
    now = (now or datetime.now(TZ)).astimezone(TZ)
    appeals, events = history(now)
    counts["history"] = store.insert_appeals(appeals, events).stored
    counts["today"] = len(seed_today(store, now))
    return counts


def ensure_seeded(store: Store, now: datetime | None = None) -> int:
    """Seed reference data always, and the history and today (services.seed_today) only into an empty
    store; returns appeals stored."""
    counts = seed(store, now)
    return counts["history"] + counts["today"]


def _shown(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def main(argv: list[str] | None = None) -> int:
    from services.store import create_store, database_url

    parser = argparse.ArgumentParser(
        prog="python -m services.seed",
        description="Seed a store with the sample district: departments, stations and buildings (replaced "
                    "every time until the register is edited on the data screen), and into an empty store only, twelve months of appeal history moved to end "
                    "today plus today's appeals in every open status. A store that holds appeals keeps them.")
    parser.add_argument("--store", metavar="URL",
                        help="sqlite:///path or postgresql://... (default: DATABASE_URL, else "
                             "sqlite:///var/gm.sqlite3)")
    args = parser.parse_args(argv)
    url = database_url(args.store)
    store = create_store(url)
    try:
        c = seed(store)
    finally:
        store.close()
    print(f"{_shown(url)}: reference replaced: {c['departments']} departments, {c.get('stations', 0)} stations, "
          f"{c.get('buildings', 0)} buildings")
    if c["stations_kept"]:
        print("stations kept: the store's station register was edited on the data screen")
    if c["history"] or c["today"]:
        print(f"appeals added: {c['history']} of history, {c['today']} of today")
    else:
        print("appeals added: none (the store already holds appeals)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
