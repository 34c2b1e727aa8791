"""Intake: every row of every format is stored, a duplicate, or quarantined with the right reason."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from services.intake import Intake, main, parse_timestamps
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, fresh_store

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=TZ)
ROOT = Path(__file__).resolve().parents[1]
HEADER = ("external_id,service_type,channel,category,description,lon,lat,people_involved,amount_involved,urgency,"
          "reported_at,source_crs")


@pytest.fixture(scope="module")
def known(layers) -> dict:
    """A point placed by hand: the representative point of a red sub-grid inside a happiness unit, with
    the codes it must get (found with plain Shapely, not geo.assign)."""
    sub, grid, comm, hu = layers["subgrid"], layers["grid"], layers["community"], layers["happiness_unit"]
    for i in range(len(sub)):
        p = sub.geometry.iloc[i].representative_point()
        units = hu[hu.contains(p)]
        if len(units):
            break
    else:
        pytest.fail("no red sub-grid lies in a happiness unit")
    gcode = sub["parent_code"].iloc[i]
    ccode = grid.set_index("code").loc[gcode, "parent_code"]
    return {"lon": p.x, "lat": p.y, "subgrid_code": sub["code"].iloc[i], "grid_code": gcode,
            "community_code": ccode, "subdistrict_code": comm.set_index("code").loc[ccode, "parent_code"],
            "happiness_unit_code": units["code"].iloc[0]}


@pytest.fixture
def sqlite_store(tmp_path):
    store = SQLiteStore(tmp_path / "gm.sqlite3")
    yield store
    store.close()


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    """The key test runs on both stores (PostGIS in a fresh schema, dropped afterwards)."""
    yield from fresh_store(request, tmp_path, "t_intake_")


def run(store, path: Path, source: str = "test", **kw):
    return Intake(store, source=source, now=NOW, **kw).import_file(path)


def stored_by_ext(store) -> dict[str, dict]:
    frame = store.query_appeals(include_personal=True)
    return {r["external_id"]: r for r in frame.to_dict("records")}


def quarantine_by_line(store, source: str = "test") -> dict[int, dict]:
    return {int(r["line"]): r for r in store.quarantined(source=source).to_dict("records")}


# ------------------------------------------------------------------------------------------ CSV
def csv_rows(k: dict) -> list[tuple[str, str]]:
    """(line text, expected outcome: 'stored' or a reason_code); line 1 is the header."""
    p = f"{k['lon']:.8f},{k['lat']:.8f}"
    sw = f"{k['lat']:.8f},{k['lon']:.8f}"
    return [
        (f"C01,法律服务,扫码,,good row,{p},1,,1,2025-06-01 10:00,", "stored"),
        (f'C02,legal,qr_scan,labour_law,ok,{p},3,"12,000",紧急,2025-06-01T10:00:00+08:00,', "stored"),
        (f"C03,,hotline,欠薪,category gives service,{p},25,1.2万,2,2025/6/1 9:05,", "stored"),
        (f"C04,心理服务,书记在线,,,{p},1,,1,,", "stored"),
        (f"C05,legal,hotline,,,,{k['lat']:.8f},1,,1,2025-06-01 10:00,", "missing_field"),
        (f"C06,legal,hotline,,,abc,{k['lat']:.8f},1,,1,2025-06-01 10:00,", "not_a_number"),
        (f"C07,legal,hotline,,,NaN,{k['lat']:.8f},1,,1,2025-06-01 10:00,", "not_finite"),
        (f"C08,legal,hotline,,,{sw},1,,1,2025-06-01 10:00,", "lonlat_swapped"),
        ("C09,legal,hotline,,,114.5,22.77,1,,1,2025-06-01 10:00,", "outside_district"),
        (f"C10,bogus,hotline,,,{p},1,,1,2025-06-01 10:00,", "unknown_service_type"),
        (f"C11,legal,传真,,,{p},1,,1,2025-06-01 10:00,", "unknown_channel"),
        (f"C12,legal,hotline,,,{p},1,,1,2025-02-30 10:00,", "bad_timestamp"),
        (f"C13,legal,hotline,,,{p},1,,1,2025-06-01 10:00 Mars/Olympus,", "bad_timezone"),
        (f"C14,legal,hotline,,,{p},1,,1,2025-06-01T10:00:00+25:00,", "bad_timezone"),
        (f"C15,legal,hotline,,,{p},1,,1,2025-06-02 12:30,", "future_timestamp"),
        (f"C16,legal,hotline,,,{p},1,,1,2025-06-02 12:03,", "stored"),  # within the 5-minute tolerance
        ("C17,legal,hotline,x", "malformed_row"),
        ('C18,"legal,hotline,,,113.9,22.7,1,,1,,', "malformed_row"),  # unclosed quote
        (f"C19,dispute,walk_in,,after the bad quote,{p},1,,1,2025-06-01 11:00,", "stored"),
        (f"C01,legal,hotline,,same id again,{p},1,,1,2025-06-01 10:00,", "duplicate_in_file"),
        (f"C20,legal,hotline,,,{p},0,,1,2025-06-01 10:00,", "out_of_range"),
        (f"C21,legal,hotline,,,{p},1,,9,2025-06-01 10:00,", "out_of_range"),
        (f"C22,legal,hotline,alien_abduction,,{p},1,,1,2025-06-01 10:00,", "unknown_category"),
        (f"C23,legal,hotline,,,{p},1,,1,2025-06-01 10:00,utm50", "unknown_crs"),
        (f"C24,legal,hotline,,,{p},1,,1,2025-06-01 10:00 CST,", "bad_timezone"),
        ("C25,legal,hotline,,,,,1,,1,2025-06-01 10:00,", "missing_field"),
    ]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> dict[int, tuple[str, str]]:
    """Write the rows (with a blank line in the middle, which is not a row); returns line -> row."""
    lines = [HEADER]
    where: dict[int, tuple[str, str]] = {}
    for i, (text, expected) in enumerate(rows):
        if i == 5:
            lines.append("")
        lines.append(text)
        where[len(lines)] = (text, expected)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return where


def test_csv_every_row_stored_or_quarantined_and_reimport_changes_nothing(store, known, tmp_path):
    rows = csv_rows(known)
    where = write_csv(tmp_path / "appeals.csv", rows)
    first = run(store, tmp_path / "appeals.csv")
    assert first.fmt == "csv"
    assert first.rows == len(rows)
    assert first.stored + first.duplicates + first.quarantined == first.rows
    expected_stored = {t.split(",")[0] for t, e in rows if e == "stored"}
    assert first.stored == len(expected_stored) and first.duplicates == 0

    appeals = stored_by_ext(store)
    assert set(appeals) == expected_stored
    q = quarantine_by_line(store)
    assert {line: r["reason_code"] for line, r in q.items()} == \
        {line: e for line, (t, e) in where.items() if e != "stored"}
    for line, r in q.items():
        assert r["raw"] == where[line][0]  # verbatim
        assert r["source"] == "test" and r["file"] == "appeals.csv"
        assert r["reason"] and any("\u4e00" <= ch <= "\u9fff" for ch in r["reason"])  # Chinese first

    c01 = appeals["C01"]
    for col in ("subdistrict_code", "community_code", "grid_code", "subgrid_code", "happiness_unit_code"):
        assert c01[col] == known[col], col
    assert c01["service_type"] == "legal" and c01["channel"] == "qr_scan" and c01["source_crs"] == "wgs84"
    assert c01["status"] == "reported" and c01["tier"] == "blue" and c01["appeal_class"] == "ordinary"
    assert pd.Timestamp(c01["reported_at"]) == pd.Timestamp("2025-06-01 10:00", tz=TZ)  # naive = Shanghai
    assert appeals["C02"]["amount_involved"] == 12000 and appeals["C02"]["urgency"] == 2
    assert pd.Timestamp(appeals["C03"]["reported_at"]) == pd.Timestamp("2025-06-01 09:05", tz=TZ)
    c03 = appeals["C03"]
    assert (c03["service_type"], c03["category"], c03["amount_involved"]) == ("dispute", "wage_arrears", 12000)
    assert (c03["tier"], c03["appeal_class"]) == ("yellow", "major")  # 25 people
    assert pd.Timestamp(appeals["C04"]["reported_at"]) == pd.Timestamp(NOW)  # no time: now
    assert appeals["C04"]["channel"] == "secretary_online"

    events_before = store.event_count()
    quarantine_before = len(store.quarantined())
    second = run(store, tmp_path / "appeals.csv")
    assert (second.stored, second.duplicates, second.quarantined) == (0, first.stored, first.quarantined)
    assert second.already_quarantined == first.quarantined
    assert len(store.quarantined()) == quarantine_before
    assert store.event_count() == events_before
    assert len(store.query_appeals()) == first.stored


def test_a_file_is_one_load_all_or_nothing(store, known, tmp_path, monkeypatch):
    """Intake loads a file through one Store.bulk_load, told roughly how many rows to expect; a failure
    in the middle of the file stores none of its appeals, and the next run stores them all."""
    rows = [r for r in csv_rows(known) if r[1] == "stored"]
    write_csv(tmp_path / "appeals.csv", rows)
    expected: list[int | None] = []
    real_bulk_load = store.bulk_load

    def spy(expected_rows=None):
        expected.append(expected_rows)
        return real_bulk_load(expected_rows)

    monkeypatch.setattr(store, "bulk_load", spy)
    calls = {"n": 0}
    real_store = Intake._store

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_store(self, *args)

    with monkeypatch.context() as m:
        m.setattr(Intake, "_store", failing)
        with pytest.raises(RuntimeError, match="disk full"):
            run(store, tmp_path / "appeals.csv", chunk_size=2)
    assert store.query_appeals().empty and store.event_count() == 0
    summary = run(store, tmp_path / "appeals.csv", chunk_size=2)
    assert summary.stored == len(rows) == len(store.query_appeals())
    assert len(expected) == 2 and all(len(rows) / 2 <= e <= len(rows) * 2 for e in expected)


def test_estimate_rows():
    from services.intake import estimate_rows

    head = b"external_id,lon\nA,1\nB,2\n"                          # 3 lines in 25 bytes
    assert estimate_rows("csv", len(head), head) == 2                  # the header is not a record
    assert estimate_rows("csv", 100 * len(head), head) == 299
    assert estimate_rows("jsonl", 10 * len(head), head) == 30
    assert estimate_rows("csv", 5, b"a,b,c") == 1 and estimate_rows("csv", 0, b"") == 0
    assert estimate_rows("geojson", 3_000_000, b"{") == 10_000


def test_undecodable_bytes_are_quarantined_and_gb18030_is_read(sqlite_store, known, tmp_path):
    p = f"{known['lon']:.8f},{known['lat']:.8f}"
    good = f"E1,法律服务,扫码,,中文描述,{p},1,,1,2025-06-01 10:00,\n".encode()
    bad = b"E2,legal,hotline,," + b"\xff\xfe broken" + f",{p},1,,1,2025-06-01 10:00,\n".encode()
    (tmp_path / "mixed.csv").write_bytes((HEADER + "\n").encode() + good + bad)
    s = run(sqlite_store, tmp_path / "mixed.csv", source="mixed")
    assert (s.stored, s.quarantined) == (1, 1)
    assert quarantine_by_line(sqlite_store, "mixed")[3]["reason_code"] == "bad_encoding"

    (tmp_path / "gbk.csv").write_bytes((HEADER + "\n" + f"G1,纠纷调处,来访,邻里纠纷,楼上噪音,{p},2,,1,"
                                        "2025-06-01 10:00,\n").encode("gb18030"))
    s = run(sqlite_store, tmp_path / "gbk.csv", source="gbk")
    assert s.stored == 1
    g1 = stored_by_ext(sqlite_store)["G1"]
    assert (g1["service_type"], g1["channel"], g1["category"], g1["description"]) == \
        ("dispute", "walk_in", "neighbour", "楼上噪音")


# ------------------------------------------------------------------------------------------ JSON formats
def test_jsonl(sqlite_store, known, tmp_path):
    lon, lat = known["lon"], known["lat"]
    lines = [
        json.dumps({"external_id": "J1", "service_type": "心理服务", "channel": "书记在线", "lon": lon, "lat": lat,
                    "reported_at": "2025-06-01T02:00:00Z"}, ensure_ascii=False),
        '{"external_id": "J2", "service_type": "legal", "channel": "walk_in", "lon": NaN, "lat": 22.77}',
        '{"external_id": "J3", "service_type": "legal", ',
        "[1, 2]",
        json.dumps({"type": "Feature", "id": "J4", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"service_type": "dispute", "channel": "来访", "people_involved": 35}}),
        json.dumps({"external_id": 5, "service_type": "legal", "channel": "walk_in", "lon": str(lon),
                    "lat": str(lat), "people_involved": None}),
        json.dumps({"external_id": "J6", "service_type": "legal", "channel": "hotline", "lon": lon}),
    ]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n",
                                         encoding="utf-8")
    s = run(sqlite_store, tmp_path / "feed.jsonl")
    assert s.fmt == "jsonl" and s.rows == 7 and s.stored + s.duplicates + s.quarantined == 7
    appeals = stored_by_ext(sqlite_store)
    assert set(appeals) == {"J1", "J4", "5"}
    assert pd.Timestamp(appeals["J1"]["reported_at"]) == pd.Timestamp("2025-06-01 10:00", tz=TZ)
    assert appeals["J4"]["tier"] == "red" and appeals["J4"]["appeal_class"] == "class1"  # 35 people
    assert appeals["5"]["people_involved"] == 1
    q = quarantine_by_line(sqlite_store)
    assert {k: v["reason_code"] for k, v in q.items()} == {2: "not_finite", 3: "invalid_json", 5: "not_an_object",
                                                           8: "missing_field"}
    assert q[3]["raw"] == lines[2] and q[5]["raw"] == "[1, 2]"


def test_geojson(sqlite_store, known, tmp_path):
    lon, lat = known["lon"], known["lat"]

    def feature(fid, geom, **props):
        return {"type": "Feature", "id": fid, "geometry": geom,
                "properties": {"service_type": "legal", "channel": "hotline", **props}}

    doc = {"type": "FeatureCollection", "features": [
        feature("F1", {"type": "Point", "coordinates": [lon, lat]}, reported_at="2025-06-01 08:00"),
        feature("F2", {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.01, lat]]}),
        feature("F3", None),
        feature("F4", {"type": "Point", "coordinates": [lat, lon]}),
        feature(None, {"type": "Point", "coordinates": [lon, lat]}, external_id="F5", channel="扫码"),
    ]}
    (tmp_path / "points.geojson").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    s = run(sqlite_store, tmp_path / "points.geojson")
    assert s.fmt == "geojson" and s.rows == 5 and s.stored == 2 and s.quarantined == 3
    appeals = stored_by_ext(sqlite_store)
    assert set(appeals) == {"F1", "F5"} and appeals["F5"]["channel"] == "qr_scan"
    assert appeals["F1"]["grid_code"] == known["grid_code"]
    q = quarantine_by_line(sqlite_store)
    assert {k: v["reason_code"] for k, v in q.items()} == {2: "bad_geometry", 3: "missing_field",
                                                           4: "lonlat_swapped"}
    assert json.loads(q[4]["raw"]) == doc["features"][3]


def test_open311(sqlite_store, known, tmp_path):
    lon, lat = known["lon"], known["lat"]
    requests = [
        {"service_request_id": "638344", "status": "open", "status_notes": None, "service_name": "法律服务",
         "service_code": "GM-LEGAL-01", "description": "欠薪咨询", "agency_responsible": "区司法局",
         "requested_datetime": "2025-06-01T09:30:00+08:00", "updated_datetime": "2025-06-01T10:00:00+08:00",
         "address": "光明街道某工地", "lat": lat, "long": lon, "first_name": "伟", "last_name": "王",
         "phone": "13800000000", "media_url": "http://example.invalid/x.jpg"},
        {"service_request_id": "638345", "status": "closed", "service_code": "dispute", "lat": lat, "long": lon,
         "requested_datetime": "2025-05-31T21:30:00-04:00",
         "attributes": {"channel": "扫码", "category": "欠薪", "people_involved": 20}},
        {"service_request_id": "638346", "service_code": "pothole", "lat": lat, "long": lon},
        {"service_request_id": "638347", "service_code": "legal", "lat": lat, "long": lon,
         "attribute[channel]": "walk_in", "attribute[urgency]": "特急"},
    ]
    (tmp_path / "requests.json").write_text(json.dumps(requests, ensure_ascii=False), encoding="utf-8")
    s = run(sqlite_store, tmp_path / "requests.json", source="open311")
    assert s.fmt == "open311" and (s.rows, s.stored, s.quarantined) == (4, 3, 1)
    appeals = stored_by_ext(sqlite_store)
    a = appeals["638344"]
    assert (a["service_type"], a["channel"], a["status"]) == ("legal", "hotline", "reported")
    assert a["description"] == "欠薪咨询（地址：光明街道某工地）"
    assert (a["reporter_name"], a["reporter_phone"]) == ("王伟", "13800000000")
    assert pd.Timestamp(a["reported_at"]) == pd.Timestamp("2025-06-01 09:30", tz=TZ)
    b = appeals["638345"]
    assert (b["service_type"], b["channel"], b["category"], b["people_involved"], b["status"]) == \
        ("dispute", "qr_scan", "wage_arrears", 20, "closed")  # status closed: stored closed
    assert pd.Timestamp(b["reported_at"]) == pd.Timestamp("2025-06-01 09:30", tz=TZ)
    assert pd.Timestamp(b["closed_at"]) == pd.Timestamp(b["reported_at"])  # no updated_datetime: requested
    d = appeals["638347"]
    assert (d["channel"], d["urgency"], d["appeal_class"]) == ("walk_in", 3, "class1")
    assert quarantine_by_line(sqlite_store, "open311")[3]["reason_code"] == "unknown_service_type"


# ------------------------------------------------------------------------------------------ coordinates
def test_gcj02_and_bd09_land_within_a_metre_of_the_truth(sqlite_store, known, tmp_path):
    lon, lat = known["lon"], known["lat"]
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    blon, blat = (float(v) for v in wgs84_to_bd09(lon, lat))
    (tmp_path / "amap.csv").write_text(HEADER + f"\nK1,legal,hotline,,,{glon!r},{glat!r},1,,1,2025-06-01 10:00,\n"
                                       f"K2,legal,hotline,,,{blon!r},{blat!r},1,,1,2025-06-01 10:00,BD-09\n",
                                       encoding="utf-8")
    s = run(sqlite_store, tmp_path / "amap.csv", crs="gcj02")
    assert s.stored == 2
    appeals = stored_by_ext(sqlite_store)
    for ext, crs in (("K1", "gcj02"), ("K2", "bd09")):
        a = appeals[ext]
        dx = (a["lon"] - lon) * 111_320 * np.cos(np.radians(lat))
        dy = (a["lat"] - lat) * 110_574
        assert np.hypot(dx, dy) < 1.0, ext
        assert a["source_crs"] == crs
        assert a["grid_code"] == known["grid_code"]
    # Taken as WGS84, the GCJ-02 point would be hundreds of metres off: the conversion matters.
    assert np.hypot((glon - lon) * 111_320 * np.cos(np.radians(lat)), (glat - lat) * 110_574) > 300


# ------------------------------------------------------------------------------------------ timestamps
@pytest.mark.parametrize("text, expected", [
    ("2025-06-01 10:00", "2025-06-01T02:00:00Z"),
    ("2025-06-01T10:00:00+08:00", "2025-06-01T02:00:00Z"),
    ("2025-06-01T02:00:00Z", "2025-06-01T02:00:00Z"),
    ("2025-06-01 10:00:00.5", "2025-06-01T02:00:00.5Z"),
    ("2025/6/1 10:00", "2025-06-01T02:00:00Z"),
    ("2025年6月1日 10:00", "2025-06-01T02:00:00Z"),
    ("2025-06-01 10:00 UTC+8", "2025-06-01T02:00:00Z"),
    ("2025-06-01 10:00 +0800", "2025-06-01T02:00:00Z"),
    ("2025-06-01 10:00 Asia/Shanghai", "2025-06-01T02:00:00Z"),
    ("2025-06-01T10:00:00+08:00[Asia/Shanghai]", "2025-06-01T02:00:00Z"),
    ("2025-06-01 04:00 Europe/London", "2025-06-01T03:00:00Z"),
    ("2025-06-01 10:00 北京时间", "2025-06-01T02:00:00Z"),
    ("1748743200", "2025-06-01T02:00:00Z"),
    ("1748743200000", "2025-06-01T02:00:00Z"),
    ("2025-02-30 10:00", "bad_timestamp"),
    ("2025-06-01 25:00", "bad_timestamp"),
    ("yesterday-ish", "bad_timestamp"),
    ("2025-06-01 10:00 Mars/Olympus", "bad_timezone"),
    ("2025-06-01 10:00+25:00", "bad_timezone"),
    ("2025-06-01 10:00 CST", "bad_timezone"),
])
def test_timestamp_spellings(text, expected):
    values, missing, code, _ = parse_timestamps(pd.Series([text], dtype="string"))
    assert not missing[0]
    if expected.endswith("Z"):
        assert code[0] is None
        assert values.iloc[0] == pd.Timestamp(expected)
    else:
        assert code[0] == expected


# ------------------------------------------------------------------------------------------ CLI
def test_cli_help_and_exit_statuses(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--crs" in out and "--source" in out and "Asia/Shanghai" in out
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "x.csv"), "--crs", "utm50"])
    assert exc.value.code == 2
    assert main([str(tmp_path / "missing.csv"), "--store", f"sqlite:///{tmp_path / 'gm.sqlite3'}"]) == 1
    # A truncated file is accounted for by its whole-file quarantine record (issue 11): exit 0.
    (tmp_path / "broken.geojson").write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    assert main([str(tmp_path / "broken.geojson"), "--store", f"sqlite:///{tmp_path / 'gm.sqlite3'}"]) == 0
    assert "truncated_json" in capsys.readouterr().out


def test_cli_imports_a_file(known, tmp_path):
    """The real entry point, in a subprocess: exit 0, summary printed, JSON summary accounts for every row."""
    rows = csv_rows(known)[:12]
    write_csv(tmp_path / "clerk.csv", rows)
    db = tmp_path / "cli.sqlite3"
    cmd = [sys.executable, "-m", "services.intake", str(tmp_path / "clerk.csv"), "--store", f"sqlite:///{db}",
           "--source", "clerk", "--json"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 12 and summary["stored"] == 4
    assert summary["stored"] + summary["duplicates"] + summary["quarantined"] == summary["rows"]
    assert "stored" in proc.stdout and "lonlat_swapped" in proc.stdout
