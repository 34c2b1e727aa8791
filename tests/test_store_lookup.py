"""The store's lookup by (source, external_id), ``appeal_id_by_key`` and ``appeal_ids_by_key``, on both
stores: the id of the appeal stored under that key, None for an unknown key, and the source and id
together make the key (two sources may use the same external id)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services.intake import build_appeals
from tests.helpers import STORES, reset_store

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2025, 10, 9, 9, 0, tzinfo=TZ)


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


def _appeals(source: str, ids: list[str]) -> pd.DataFrame:
    valid = pd.DataFrame({"external_id": ids, "channel": "hotline", "service_type": "dispute",
                          "category": "neighbour", "lon": 113.935, "lat": 22.748, "source_crs": "wgs84",
                          "people_involved": 1, "urgency": 1, "amount_involved": 0.0,
                          "reported_at": pd.Timestamp(AT)})
    return build_appeals(valid, source)


def test_lookup_by_source_and_external_id(store):
    a = store.insert_appeals(_appeals("hotline12345", ["HL-1", "HL-2"]))
    b = store.insert_appeals(_appeals("open311:partner", ["HL-1"]))
    assert len(a.ids) == 2 and len(b.ids) == 1
    assert store.appeal_id_by_key("hotline12345", "HL-1") == a.ids[0]
    assert store.appeal_id_by_key("hotline12345", "HL-2") == a.ids[1]
    assert store.appeal_id_by_key("open311:partner", "HL-1") == b.ids[0]
    assert store.appeal_id_by_key("open311:partner", "HL-2") is None
    assert store.appeal_id_by_key("nobody", "HL-1") is None
    assert isinstance(store.appeal_id_by_key("hotline12345", "HL-1"), int)


def test_lookup_of_many_keys_in_one_read(store):
    a = store.insert_appeals(_appeals("hotline12345", ["HL-1", "HL-2", "HL-3"]))
    store.insert_appeals(_appeals("open311:partner", ["HL-4"]))
    got = store.appeal_ids_by_key("hotline12345", ["HL-3", "HL-1", "HL-4", "HL-1", "nope"])
    assert got == {"HL-1": a.ids[0], "HL-3": a.ids[2]}  # HL-4 is another source's; repeats asked once
    assert store.appeal_ids_by_key("hotline12345", []) == {}
    assert all(isinstance(v, int) for v in got.values())
