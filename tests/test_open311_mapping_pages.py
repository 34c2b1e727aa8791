"""mapping.requests builds a page column-wise (issue 16 §4, for speed); it must give exactly the documents
mapping.request gives row by row, on rows read from either store, in both languages and both output
coordinate systems, with missing coordinates and times among them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from bench.wall import make_appeals
from geo.coords import wgs84_to_gcj02
from services.open311api import mapping
from services.seed import seed_reference
from tests.helpers import STORES, fresh_store


@pytest.fixture(params=STORES)
def store(request, tmp_path, layers):
    yield from fresh_store(request, tmp_path, "gm_o311pages_")


def _row_by_row(frame, lang: str, system: str) -> list[dict]:
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    if system == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    return [mapping.request(r, lang, float(lon[i]), float(lat[i]), system)
            for i, r in enumerate(frame.to_dict("records"))]


def test_page_equals_row_by_row(store):
    seed_reference(store)
    appeals = make_appeals(400, seed=5)
    appeals["external_id"] = [f"PG-{i}" for i in range(len(appeals))]
    store.insert_appeals(appeals)
    frame = store.query_appeals(include_personal=True, columns=list(mapping.READ_COLUMNS), order="newest",
                                since=datetime(2000, 1, 1, tzinfo=mapping.TZ),
                                until=datetime.now(mapping.TZ) + timedelta(days=1))
    assert len(frame) == 400
    frame.loc[frame.index[:3], "lat"] = np.nan            # a point without coordinates
    frame.loc[frame.index[3:6], "resolve_due_at"] = None   # no due time
    frame.loc[frame.index[6:9], "category"] = None         # a service type without a category
    for lang in ("zh", "en"):
        for system in mapping.OUTPUT_SYSTEMS:
            page = mapping.requests(frame, lang, system)
            assert json.dumps(page, ensure_ascii=False) == json.dumps(_row_by_row(frame, lang, system),
                                                                      ensure_ascii=False)
    assert mapping.requests(frame.iloc[0:0], "zh") == []
