"""The bulk-insert machinery under both stores, and the open-appeal indexes the wall display reads.

The contract tests (test_store_contract.py) check what an insert stores; these check the pieces that
make it fast without changing it: the binary COPY encoder's two paths give the same bytes, SQLite's
grouped executemany stores NULLs, literals and quotes exactly, timestamps keep their instant, and the
wall's queries of open appeals can use a partial index of open appeals in both databases.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from services.clocks import NAT, utc_us
from services.store import pgbinary
from services.store.base import OPEN_STATUSES
from services.store.sqlite import SQLiteStore
from services.tiers import compute_tiers

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 10, 9, 12, 0, tzinfo=TZ)


# ------------------------------------------------------------------------------------------ encoding
def _random_columns(rng: np.random.Generator, n: int) -> list[pgbinary.Column]:
    texts = ["", "诉求😀", "tab\there, newline\nthere", "x" * 300, "it's", None, float("nan"), 12, pd.NA]
    cols: list[pgbinary.Column] = []
    for kind in ("int8", "int4", "float8", "bool", "timestamptz", "text", "text"):
        null = rng.random(n) < 0.3 if rng.random() < 0.6 else None
        if kind == "int8":
            values = rng.integers(-2**62, 2**62, n)
        elif kind == "int4":
            values = rng.integers(-2**31, 2**31, n)
        elif kind == "float8":
            values = rng.normal(size=n) * 1e6
        elif kind == "bool":
            values = rng.random(n) < 0.5
        elif kind == "timestamptz":
            values = rng.integers(0, 2**52, n)
        else:
            values = np.array([texts[i] for i in rng.integers(0, len(texts), n)], dtype=object)
            if rng.random() < 0.2:
                values = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
        cols.append((kind, values, null))
    return cols


def test_small_batches_encode_to_the_same_bytes_as_the_arrow_path(monkeypatch):
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, pgbinary.SMALL + 1))
        cols = _random_columns(rng, n)
        small = pgbinary.encode_rows(cols)
        with monkeypatch.context() as m:
            m.setattr(pgbinary, "SMALL", 0)
            assert pgbinary.encode_rows(cols) == small


def test_binary_copy_bytes_of_one_row():
    row = pgbinary.encode([("int8", [1]), ("text", ["诉"]), ("text", [None]), ("float8", [0.5]),
                           ("timestamptz", pd.Series([pd.Timestamp("2000-01-01 00:00:01", tz="UTC")])),
                           ("bool", [True]), ("int4", [-1])])
    assert row == (pgbinary.HEADER + b"\x00\x07" + b"\x00\x00\x00\x08" + (1).to_bytes(8, "big")
                   + b"\x00\x00\x00\x03" + "诉".encode() + b"\xff\xff\xff\xff"
                   + b"\x00\x00\x00\x08" + np.array(0.5, ">f8").tobytes()
                   + b"\x00\x00\x00\x08" + (1_000_000).to_bytes(8, "big")
                   + b"\x00\x00\x00\x01\x01" + b"\x00\x00\x00\x04" + b"\xff\xff\xff\xff" + pgbinary.TRAILER)


def test_timestamps_to_microseconds_keep_the_instant():
    aware = pd.Series([pd.Timestamp("2025-10-09 08:00", tz=TZ), pd.NaT], dtype="datetime64[ns, Asia/Shanghai]")
    naive = pd.Series([pd.Timestamp("2025-10-09 08:00"), None])  # naive means Shanghai local time
    objects = pd.Series([datetime(2025, 10, 9, 0, 0, tzinfo=ZoneInfo("UTC")), None], dtype=object)
    expected = int(datetime(2025, 10, 9, 0, 0, tzinfo=ZoneInfo("UTC")).timestamp()) * 1_000_000
    for values in (aware, naive, objects):
        assert utc_us(values).tolist() == [expected, NAT]
    assert utc_us(pd.Series([None, None], dtype=object)).tolist() == [NAT, NAT]


# ------------------------------------------------------------------------------------------ SQLite
def test_sqlite_bulk_insert_stores_nulls_literals_and_quotes_exactly(tmp_path):
    """Enough rows for constant columns to become SQL literals, mixed NULL patterns, quotes and NULs."""
    n = 150
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "source": "it's a 'source'", "external_id": [f"E{i:04d}" for i in range(n)], "channel": "hotline",
        "service_type": "dispute",
        "category": np.where(rng.random(n) < 0.3, None, "neighbour").astype(object),
        "description": [None if i % 7 == 0 else f"描述 {i} 'q' \x00nul" if i % 11 == 0 else f"描述 {i}"
                        for i in range(n)],
        "lon": np.where(rng.random(n) < 0.2, np.nan, 113.93), "lat": 22.76,
        "people_involved": 1, "amount_involved": np.where(rng.random(n) < 0.5, np.nan, 12.5),
        "urgency": 1, "grid_code": np.where(rng.random(n) < 0.4, None, "G1").astype(object),
        "reporter_name": "张三", "reporter_phone": None,
        "reported_at": [NOW - timedelta(minutes=i) for i in range(n)],
        "responded_at": [NOW if i % 5 == 0 else None for i in range(n)],
    })
    store = SQLiteStore(tmp_path / "bulk.sqlite3")
    try:
        ids = store.insert_appeals(frame).ids
        got = store.query_appeals(include_personal=True, order="oldest").set_index("id").loc[ids]
        assert got["source"].tolist() == [frame["source"][0]] * n
        assert got["description"].tolist() == frame["description"].tolist()
        for col in ("category", "grid_code"):
            assert [None if pd.isna(v) else v for v in got[col]] == [None if pd.isna(v) else v for v in frame[col]]
        assert np.array_equal(got["lon"].to_numpy(), frame["lon"].to_numpy(), equal_nan=True)
        assert np.array_equal(got["amount_involved"].to_numpy(), frame["amount_involved"].to_numpy(), equal_nan=True)
        assert got["reporter_phone"].isna().all() and (got["reporter_name"] == "张三").all()
        assert got["responded_at"].notna().tolist() == [i % 5 == 0 for i in range(n)]
        assert (got["reported_at"] == pd.Series(frame["reported_at"].tolist(), index=got.index)).all()
        assert (got["status"] == "reported").all() and (got["reopened_count"] == 0).all()
        assert store.event_count() == n
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ indexes
def _district(n_open: int = 30, n_closed: int = 3000) -> pd.DataFrame:
    """Mostly closed appeals, all within the last 72 hours: only an index of open appeals avoids them."""
    n = n_open + n_closed
    closed = np.arange(n) >= n_open
    return pd.DataFrame({
        "source": "t", "external_id": [f"a{i}" for i in range(n)], "channel": "hotline", "service_type": "dispute",
        "category": "neighbour", "lon": 113.93, "lat": 22.76, "people_involved": 1 + 10 * (np.arange(n) % 3),
        "amount_involved": 0.0, "urgency": 1, "grid_code": [f"G{i % 2}" for i in range(n)],
        "status": np.where(closed, "closed", "reported"),
        "reported_at": [NOW - timedelta(minutes=i) for i in range(n)],
        "closed_at": [NOW if c else None for c in closed]})


@contextmanager
def _recording(store):
    """Record (sql, params) of the store's reads (query_appeals, counts)."""
    calls: list[tuple[str, object]] = []
    real = store._read

    class Conn:
        def __init__(self, cx):
            self._cx = cx

        def execute(self, sql, params=()):
            calls.append((sql, params))
            return self._cx.execute(sql, params)

        def cursor(self, *a, **kw):
            cur = self._cx.cursor(*a, **kw)

            class Cur:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    cur.close()

                def execute(self, sql, params=()):
                    calls.append((sql, params))
                    return cur.execute(sql, params)
            return Cur()

    @contextmanager
    def read():
        with real() as cx:
            yield Conn(cx)

    store._read = read
    try:
        yield calls
    finally:
        store._read = real


WALL_QUERIES = {
    "points": lambda s: s.query_appeals(statuses=OPEN_STATUSES, order="tier", limit=3),
    "grid counts": lambda s: s.counts("grid", open_only=True),
    "recent open": lambda s: s.query_appeals(statuses=list(reversed(OPEN_STATUSES)), since=NOW - timedelta(hours=72),
                                             until=NOW + timedelta(seconds=1)),
}


def _check_wall_queries_use_open_index(store, explain) -> None:
    store.insert_appeals(_district())
    for name, query in WALL_QUERIES.items():
        with _recording(store) as calls:
            result = query(store)
        assert len(result) > 0, name
        sql, params = calls[-1]
        assert "status <> 'closed'" in sql, name
        plan = explain(sql, params)
        assert "appeal_open_" in plan, (name, plan)
    # Wall order: red, yellow, blue, each newest first (the index order is the query's order).
    hand = _district()
    hand = hand[hand["status"] != "closed"].assign(tier=lambda f: compute_tiers(
        f["people_involved"].to_numpy(), f["urgency"].to_numpy(), f["amount_involved"].to_numpy()))
    rank = hand["tier"].map({"red": 0, "yellow": 1, "blue": 2})
    expected = hand.assign(rank=rank).sort_values(["rank", "reported_at"], ascending=[True, False])
    assert WALL_QUERIES["points"](store)["external_id"].tolist() == expected["external_id"].tolist()[:3]


def test_sqlite_wall_queries_use_a_partial_index_of_open_appeals(tmp_path):
    store = SQLiteStore(tmp_path / "idx.sqlite3")
    try:
        def explain(sql, params):
            with store._read() as cx:
                return " | ".join(r[-1] for r in cx.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        _check_wall_queries_use_open_index(store, explain)
    finally:
        store.close()


@pytest.mark.postgis
def test_postgis_wall_queries_use_a_partial_index_of_open_appeals(postgis_url):
    from services.store.postgis import PostGISStore

    store = PostGISStore(postgis_url, schema=f"gm_bulk_{uuid.uuid4().hex[:10]}", max_size=2)
    try:
        def explain(sql, params):
            with store._read() as cx:
                cx.execute("VACUUM ANALYZE appeal")
                return " | ".join(r[0] for r in cx.execute("EXPLAIN " + sql, params).fetchall())
        _check_wall_queries_use_open_index(store, explain)
    finally:
        store.drop_schema()
