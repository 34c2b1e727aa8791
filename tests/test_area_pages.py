"""Pages of one area's appeals by report time (services/store/common.py AREA_INDEXES, the Open311 GET's
read): the same answers as the plain area filter on both stores, and on SQLite the expression index is
what such a page reads while a GROUP BY area never touches it.

Hand-made: five appeals an hour apart, #1 #2 #4 #5 in community C1, #3 in C2 (all reported).
Newest two of C1 in the window [#1, #5]: #5, #4; oldest two: #1, #2. C1's subdistrict holds the four, and #3 too when C2 is in it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services.store.common import ORDER_SQL, area_page_sql
from tests.helpers import STORES, fresh_store

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from fresh_store(request, tmp_path, "t_area_pages_")


def _load(store, layers) -> tuple[list[int], str, str, str]:
    grids = layers["grid"]
    comm = layers["community"].set_index("code")
    g1 = grids.iloc[10]
    g2 = grids[grids.parent_code != g1.parent_code].iloc[0]
    rows = []
    for i, g in enumerate([g1, g1, g2, g1, g1]):
        p = g.geometry.representative_point()
        rows.append({"id": i + 1, "source": "t", "external_id": f"E{i + 1}", "channel": "hotline",
                     "service_type": "dispute", "category": "noise", "description": "噪音", "lon": p.x, "lat": p.y,
                     "source_crs": "wgs84", "people_involved": 1, "urgency": 1, "amount_involved": 0.0,
                     "subdistrict_code": comm.loc[g.parent_code].parent_code, "community_code": g.parent_code,
                     "grid_code": g.code, "reported_at": T0 + timedelta(hours=i)})
    ids = store.insert_appeals(pd.DataFrame(rows)).ids
    return ids, g1.parent_code, comm.loc[g1.parent_code].parent_code, g2.parent_code


def test_an_area_page_answers_as_the_plain_filter(store, layers):
    ids, c1, sub1, c2 = _load(store, layers)
    window = {"since": T0, "until": T0 + timedelta(hours=5)}

    def page(level, code, order, limit, **kw):
        return store.query_appeals(area=(level, code), order=order, limit=limit, columns=["id"], **window,
                                   **kw)["id"].tolist()

    assert page("community", c1, "newest", 2) == [ids[4], ids[3]]
    assert page("community", c1, "oldest", 2) == [ids[0], ids[1]]
    assert page("community", c2, "newest", 10) == [ids[2]]
    same_sub = sub1 == layers["community"].set_index("code").loc[c2].parent_code
    assert page("subdistrict", sub1, "oldest", 10) == ([*ids] if same_sub else [ids[0], ids[1], ids[3], ids[4]])
    assert page("community", "NO-SUCH", "newest", 10) == []
    # Another shape (tier order, a status filter) reads the plain column and answers the same.
    assert sorted(page("community", c1, "tier", 10)) == sorted([ids[0], ids[1], ids[3], ids[4]])
    assert page("community", c1, "newest", 10, statuses=["reported"]) == [ids[4], ids[3], ids[1], ids[0]]


def test_sqlite_reads_an_area_page_through_its_index_and_groups_without_it(tmp_path):
    from services.store.sqlite import SQLiteStore

    SQLiteStore(tmp_path / "gm.sqlite3").close()
    cx = sqlite3.connect(tmp_path / "gm.sqlite3")
    try:
        def plan(sql: str) -> str:
            return " ".join(r[-1] for r in cx.execute("EXPLAIN QUERY PLAN " + sql, (1, 2, "x")).fetchall())

        for level in ("subdistrict", "community"):
            page = plan(f"SELECT id FROM appeal WHERE reported_at >= ? AND reported_at < ? AND "
                        f"{area_page_sql(level)} = ? ORDER BY {ORDER_SQL['newest']} LIMIT 1000")
            assert f"appeal_{level}_reported" in page and "TEMP B-TREE" not in page, page
            grouped = plan(f"SELECT {level}_code, COUNT(*) FROM appeal WHERE reported_at >= ? AND reported_at < ? "
                           f"AND ? IS NOT NULL GROUP BY 1")
            assert f"appeal_{level}_reported" not in grouped, grouped
    finally:
        cx.close()
