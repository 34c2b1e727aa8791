"""Intake's small-chunk paths (services/intake/parsing.py SMALL_CHUNK): below it, clean_text and the
odd-character scan go value by value instead of through pandas' string operations. Both ways must give
the same: the same values cleaned, and the same records checked alone or inside a long chunk."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from services import district
from services.intake.batches import check_records
from services.intake.parsing import SMALL_CHUNK, _clean_column, clean_text

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=TZ)
ODD = st.sampled_from(["\x00", "\x07", "\x7f", "\ufffd", "\t", "\n", " ", "　", "İ", "ß", "噪音", "a"])
TEXT = st.lists(st.one_of(ODD, st.characters()), max_size=6).map("".join)
VALUE = st.one_of(st.none(), TEXT, st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.booleans(),
                  st.just(float("nan")), st.just(pd.NA))


@given(st.lists(VALUE, max_size=SMALL_CHUNK - 1))
@settings(max_examples=200, deadline=None)
def test_clean_text_value_by_value_is_pandas_clean_text(values):
    s = pd.Series(values, dtype=object)
    pd.testing.assert_series_equal(clean_text(s), _clean_column(s))


def _point(i: int) -> tuple[float, float]:
    g = district.layers()["grid"]
    p = g.geometry.iloc[(i * 37) % len(g)].representative_point()
    return p.x, p.y


RECORD = st.fixed_dictionaries({
    "service_code": st.sampled_from(["noise", "wage_arrears", "legal_consultation", "no-such", ""]),
    "description": TEXT, "people": st.one_of(st.none(), st.integers(-1, 2000), TEXT),
    "urgency": st.one_of(st.none(), st.sampled_from(["1", "2", "3", "9", "紧急", "x"])),
    "phone": st.one_of(st.none(), TEXT), "inside": st.booleans(),
})


def _records(specs: list[dict], start: int) -> list[tuple[str, dict]]:
    out = []
    for i, spec in enumerate(specs):
        x, y = _point(start + i) if spec["inside"] else (113.2, 23.5)
        rec = {"external_id": f"E{start + i}", "service_type": spec["service_code"], "category": spec["service_code"],
               "channel": "hotline", "lon": x, "lat": y, "description": spec["description"],
               "people_involved": spec["people"], "urgency": spec["urgency"], "reporter_phone": spec["phone"]}
        rec = {k: v for k, v in rec.items() if v is not None}
        out.append((json.dumps(rec, ensure_ascii=False), rec))
    return out


@given(st.lists(RECORD, min_size=1, max_size=8))
@settings(max_examples=25, deadline=None)
def test_records_checked_alone_or_in_a_long_chunk_get_the_same_answers(specs):
    alone = _records(specs, 0)
    filler = _records([{"service_code": "noise", "description": "路灯", "people": 1, "urgency": "1",
                        "phone": None, "inside": True}] * SMALL_CHUNK, 1000)
    a_appeals, a_quar, _ = check_records("t", NOW, alone)
    b_appeals, b_quar, _ = check_records("t", NOW, alone + filler)
    n = len(alone)
    b_quar = b_quar[b_quar["line"] <= n].reset_index(drop=True)
    pd.testing.assert_frame_equal(a_quar.reset_index(drop=True), b_quar)
    b_appeals = b_appeals[b_appeals["external_id"].isin([r["external_id"] for _, r in alone])]
    assert len(a_appeals) == len(b_appeals)
    if not len(a_appeals):
        return
    cols = ["external_id", "service_type", "category", "description", "people_involved", "urgency", "tier",
            "grid_code", "reporter_phone"]
    assert a_appeals[cols].astype(str).values.tolist() == b_appeals[cols].astype(str).values.tolist()
    assert np.allclose(a_appeals["lon"].to_numpy(float), b_appeals["lon"].to_numpy(float))
