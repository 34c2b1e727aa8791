"""First start: a fresh store gets the sample's history shifted to end by now, and "today" in every open
status, newly reported ones included, at any hour; a store with data gets nothing (services/seed.py,
services/seed_today.py). On SQLite and PostGIS."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from data import sample
from services.config import REPO_ROOT, rules
from services.seed import ensure_seeded, history
from services.seed_today import PATH, day_start, seed_today
from services.store.base import OPEN_STATUSES
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 6, 3, tzinfo=TZ)  # a Tuesday, before the sample's own end (it is built at "now")
NOWS = [DAY.replace(hour=0, minute=3), DAY.replace(hour=9), DAY.replace(hour=23, minute=50)]
ACTORS = set(tomllib.loads((REPO_ROOT / "config/strings/vocabulary.toml").read_text("utf-8"))["actor"])


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


@pytest.fixture
def short_history(monkeypatch):
    """The sample's last two days only (the seeding is the same, the test is quicker)."""
    appeals, events = sample.load_appeal_history()
    keep = appeals[appeals["reported_at"] >= appeals["reported_at"].max() - pd.Timedelta(days=2)]
    monkeypatch.setattr(sample, "load_appeal_history",
                        lambda: (keep, events[events["appeal_id"].isin(keep["id"])]))
    return len(keep)


def _check_today(store, now: datetime) -> pd.DataFrame:
    """What a newcomer's wall needs of today, asserted; returns today's appeals."""
    midnight = day_start(now)
    today = store.query_appeals(since=midnight, until=now)
    assert set(OPEN_STATUSES) <= set(today["status"])
    reported = today[today["status"] == "reported"]
    assert (reported["tier"] == "red").any() and (reported["appeal_class"] == "class1").any()
    just_now = now - timedelta(minutes=float(rules()["seed"]["just_now_minutes"]))
    assert (reported["reported_at"] >= just_now).any()
    assert store.kpis(midnight, now)["received"] >= len(today) > 0
    assert store.query_appeals(since=now).empty  # nothing reported after now
    orders = store.orders()
    assert set(orders["appeal_id"]) & set(today.loc[today["status"] == "dispatched", "id"])
    departments = set(store.departments()["code"])  # a department checks in on site itself
    for aid in today["id"]:
        ev = store.events(int(aid))
        assert ev["at"].min() >= midnight and ev["at"].max() <= now
        assert set(ev["actor"]) <= ACTORS | departments
    return today


@pytest.mark.parametrize("now", NOWS, ids=lambda t: f"{t:%H%M}")
def test_a_fresh_store_holds_today_in_every_open_status(store, now, short_history):
    stored = ensure_seeded(store, now)
    today = _check_today(store, now)
    assert stored == short_history + sum(rules()["seed"]["today"].values())
    before = len(store.query_appeals())
    assert ensure_seeded(store, now + timedelta(minutes=5)) == 0
    assert len(store.query_appeals()) == before
    assert len(store.query_appeals(since=day_start(now), until=now)) == len(today)


def test_the_full_sample_seeds_today_right_after_midnight(tmp_path):
    store = SQLiteStore(tmp_path / "gm.sqlite3")
    try:
        ensure_seeded(store, NOWS[0])
        _check_today(store, NOWS[0])
    finally:
        store.close()


def test_a_store_with_data_gets_no_today(tmp_path):
    store = SQLiteStore(tmp_path / "gm.sqlite3")
    try:
        seed_today(store, NOWS[1] - timedelta(days=1))
        assert ensure_seeded(store, NOWS[1]) == 0
        assert store.query_appeals(since=day_start(NOWS[1])).empty
    finally:
        store.close()


def test_today_is_the_same_for_the_same_now(tmp_path):
    cols = ["external_id", "status", "reported_at", "category", "grid_code", "tier", "accepted_at", "resolved_at"]
    frames = []
    for name in ("a", "b"):
        store = SQLiteStore(tmp_path / f"{name}.sqlite3")
        try:
            seed_today(store, NOWS[1])
            frames.append(store.query_appeals(order="oldest")[cols].reset_index(drop=True))
        finally:
            store.close()
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[0]["status"].value_counts().to_dict() == rules()["seed"]["today"]
    assert set(PATH) == set(OPEN_STATUSES)


@pytest.mark.parametrize("now", [DAY.replace(hour=9), datetime.now(TZ) + timedelta(days=40)],
                         ids=["before_the_sample_end", "after_it"])
def test_the_history_ends_within_a_day_before_now(now):
    appeals, events = history(now)
    assert now - timedelta(days=1) < events["at"].max() <= now
    assert appeals["reported_at"].max() <= now


def test_the_command_line_seeds_the_store_it_is_given_and_says_what_it_did(tmp_path, short_history, capsys):
    from services.seed import main

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["--store", url]) == 0
    out = capsys.readouterr().out
    departments = len(sample.load_departments())
    assert f"{url}: reference replaced: {departments} departments" in out
    assert f"appeals added: {short_history} of history, {sum(rules()['seed']['today'].values())} of today" in out
    store = SQLiteStore(tmp_path / "cli.sqlite3")
    try:
        assert len(store.query_appeals()) == short_history + sum(rules()["seed"]["today"].values())
    finally:
        store.close()
    assert main(["--store", url]) == 0                         # a second run adds nothing
    assert "appeals added: none" in capsys.readouterr().out
    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    assert help_exit.value.code == 0 and "--store" in capsys.readouterr().out
