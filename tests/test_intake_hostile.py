"""Hostile input: every row that once crashed a whole file is now stored or quarantined, on both stores,
and importing the file again changes nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from services.intake import parse_timestamps
from services.intake.quarantine import escape, storable
from tests.helpers import STORES, reset_store
from tests.test_intake import quarantine_by_line, run

HEADER = "external_id,service_type,channel,category,description,lon,lat,reported_at\n"


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    """Both stores, emptied for each test (PostGIS: one schema for the module)."""
    yield from reset_store(request, tmp_path)


def _row(ext: str = "H1", ts: str = "2025-06-01 10:00", desc: str = "楼上漏水") -> str:
    return f"{ext},dispute,hotline,neighbour,{desc},113.93,22.77,{ts}\n"


def _import_twice(store, path):
    first = run(store, path)
    second = run(store, path)
    return first, second


def _one_quarantined(store, path, code):
    first, second = _import_twice(store, path)
    assert (first.stored, first.quarantined) == (0, 1), first.text()
    assert dict(first.by_reason) == {code: 1}
    assert (second.stored, second.quarantined, second.already_quarantined) == (0, 1, 1)
    assert len(store.quarantined(source="test")) == 1
    return quarantine_by_line(store)[2]


@pytest.mark.parametrize("ts", ["0001-01-01", "9999-12-31", "3000", "T1", "-1", "2-"])
def test_timestamp_out_of_range_or_odd_is_quarantined(store, tmp_path, ts):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + _row(ts=ts), encoding="utf-8")
    q = _one_quarantined(store, path, "bad_timestamp")
    assert ts in q["reason"] or "T" in ts


@pytest.mark.parametrize("where", ["description", "external_id"])
def test_json_lone_surrogate_is_bad_encoding(store, tmp_path, where):
    rec = {"external_id": "S1", "service_type": "dispute", "channel": "hotline", "category": "neighbour",
           "description": "漏水", "lon": 113.93, "lat": 22.77, "reported_at": "2025-06-01 10:00"}
    line = json.dumps(rec, ensure_ascii=False).replace(f'"{rec[where]}"', f'"{rec[where]}\\ud800"')
    path = tmp_path / "s.jsonl"
    path.write_text("\n" + line + "\n", encoding="utf-8")  # on line 2, like the CSV rows
    first, second = _import_twice(store, path)
    assert (first.stored, first.quarantined, dict(first.by_reason)) == (0, 1, {"bad_encoding": 1})
    assert (second.quarantined, second.already_quarantined) == (1, 1)
    q = quarantine_by_line(store)[2]
    assert "\\ud800" in q["raw"] and "ud800" in q["reason"]


def test_geojson_lone_surrogate_raw_is_escaped(store, tmp_path):
    text = ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point",'
            '"coordinates":[113.93,22.77]},"properties":{"external_id":"G1","service_type":"dispute",'
            '"channel":"hotline","description":"a\\udc00b","reported_at":"2025-06-01 10:00"}}]}')
    path = tmp_path / "s.geojson"
    path.write_text(text, encoding="utf-8")
    first, second = _import_twice(store, path)
    assert (first.stored, first.quarantined, dict(first.by_reason)) == (0, 1, {"bad_encoding": 1})
    assert second.already_quarantined == 1
    assert "a\\udc00b" in quarantine_by_line(store)[1]["raw"]


@pytest.mark.parametrize("ext,desc", [("N1", "a\x00b"), ("N\x001", "x"), ("U\x1f1", "x"), ("B\x07", "x"),
                                      ("D1", "del\x7f")])
def test_control_characters_are_quarantined(store, tmp_path, ext, desc):
    path = tmp_path / "n.csv"
    path.write_text(HEADER + _row(ext=ext, desc=desc), encoding="utf-8")
    q = _one_quarantined(store, path, "control_character")
    assert "U+00" in q["reason"]
    assert "\x00" not in q["raw"] and ("\\x00" in q["raw"]) == ("\x00" in ext + desc)


def test_nul_in_a_malformed_row_is_storable(store, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "a\x00,b\n", encoding="utf-8")
    q = _one_quarantined(store, path, "malformed_row")
    assert q["raw"] == "a\\x00,b"


@pytest.mark.parametrize("n", [101, 3000])
def test_long_external_id_is_quarantined(store, tmp_path, n):
    path = tmp_path / "l.csv"
    path.write_text(HEADER + _row(ext="编" * n), encoding="utf-8")
    q = _one_quarantined(store, path, "bad_external_id")
    assert f"{n:,}" in q["reason"] and "100" in q["reason"]


def test_external_id_at_the_limit_is_stored(store, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + _row(ext="编" * 100), encoding="utf-8")
    first, second = _import_twice(store, path)
    assert (first.stored, second.duplicates) == (1, 1)


@pytest.mark.parametrize("value,found", [(True, "true/false"), ({"x": 1}, "object"), ([1], "array"),
                                         (1.5, "number with a fraction")])
def test_json_external_id_of_the_wrong_type(store, tmp_path, value, found):
    rec = {"external_id": value, "service_type": "dispute", "channel": "hotline", "lon": 113.93, "lat": 22.77,
           "reported_at": "2025-06-01 10:00"}
    path = tmp_path / "w.jsonl"
    path.write_text("\n" + json.dumps(rec) + "\n", encoding="utf-8")
    q = _one_quarantined(store, path, "bad_external_id")
    assert found in q["reason"]


def test_json_integer_external_id_is_stored_as_text(store, tmp_path):
    recs = [{"external_id": 7, "service_type": "dispute", "channel": "hotline", "lon": 113.93, "lat": 22.77,
             "reported_at": "2025-06-01 10:00"}, {"service_type": "dispute"}]
    path = tmp_path / "i.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    s = run(store, path)
    assert (s.stored, s.quarantined) == (1, 1)
    assert store.query_appeals()["external_id"].tolist() == ["7"]  # not "7.0"


def test_quarantine_keeps_a_capped_raw_text_and_says_how_long_it_was():
    raw, reason = storable(["x" * 25_000, "a\x00b\ud800"], ["too long", "nul"])
    assert len(raw[0]) == 20_000 and "25,000" in reason[0] and "20,000" in reason[0]
    assert raw[1] == "a\\x00b\\ud800" and reason[1] == "nul"
    assert escape("plain \\ text") == "plain \\ text"


@pytest.mark.parametrize("text,code", [
    ("2025-06-01 10:00 xyz", "bad_timestamp"),
    ("2025-06-01 10:00 ABC/Def", "bad_timezone"),
    ("2025-06-01 10:00 EST", "bad_timezone"),
    ("1899-12-31", "bad_timestamp"),
    ("9999999999", "bad_timestamp"),
])
def test_what_follows_a_time_decides_the_reason(text, code):
    _, _, got, _ = parse_timestamps(pd.Series([text], dtype="string"))
    assert got[0] == code


@pytest.mark.parametrize("text,order,expected", [
    ("03/04/2024", None, "ambiguous_date"),
    ("12.05.2024", None, "ambiguous_date"),
    ("13/04/2024", None, "2024-04-13"),
    ("04/13/2024", None, "2024-04-13"),
    ("05/05/2024", None, "2024-05-05"),
    ("03/04/2024", "dmy", "2024-04-03"),
    ("03/04/2024", "mdy", "2024-03-04"),
    ("12.05.2024 08:30", "dmy", "2024-05-12"),
    ("13/04/2024", "mdy", "bad_timestamp"),
])
def test_day_and_month_order(text, order, expected):
    values, _, code, _ = parse_timestamps(pd.Series([text], dtype="string"), order)
    if expected[0].isdigit():
        assert code[0] is None
        assert values.iloc[0].tz_convert("Asia/Shanghai").strftime("%Y-%m-%d") == expected
    else:
        assert code[0] == expected
