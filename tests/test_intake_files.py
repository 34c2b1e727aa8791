"""Whole files that are not what they claim: one quarantine record each (``line`` empty), no row read,
exit status 0; and .xlsx workbooks read directly."""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook

from services.intake import Intake, main
from tests.helpers import STORES, reset_store
from tests.test_intake import NOW, run

HEADER = ["external_id", "service_type", "channel", "category", "description", "lon", "lat", "reported_at"]
ROWS = [["X1", "dispute", "hotline", "neighbour", "楼上漏水", 113.93, 22.77, datetime(2025, 6, 1, 10, 0)],
        ["X2", "legal", "walk_in", "", "咨询", "113.931", "22.771", "2025-06-01 11:00"],
        [12345, "complaint", "hotline", "noise", "夜间施工", 113.932, 22.772, "2025-06-01 12:00"]]


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    """Both stores, emptied for each test (PostGIS: one schema for the module)."""
    yield from reset_store(request, tmp_path)


def _workbook(rows=ROWS, blank_rows: int = 0, sheet: str | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    if sheet:
        wb.create_sheet("说明").append(["这张表不是数据"])
        ws.title = sheet
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    for _ in range(blank_rows):
        ws.append([None] * len(HEADER))
    ws.append(["X9", "dispute", "hotline", "", "", 113.93, 22.77, "2025-06-01 13:00"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _csv_text() -> str:
    return ",".join(HEADER) + "\nC1,dispute,hotline,neighbour,漏水,113.93,22.77,2025-06-01 10:00\n"


def _file_record(store):
    q = store.quarantined(source="test")
    assert len(q) == 1
    rec = q.iloc[0].to_dict()
    assert rec["line"] is None or rec["line"] != rec["line"]  # empty: the record is for the whole file
    return rec


FILES = {
    "workbook named csv": ("list.csv", lambda: _workbook(), "excel_workbook", "Excel"),
    "old workbook": ("list.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "excel_workbook", ".xls"),
    "gzip": ("list.csv.gz", lambda: gzip.compress(_csv_text().encode()), "archive", "gunzip"),
    "gzip named csv": ("list.csv", lambda: gzip.compress(_csv_text().encode()), "archive", "gzip"),
    "zip": ("list.zip", lambda: _zip(), "archive", "zip"),
    "pdf": ("list.csv", lambda: b"%PDF-1.7\n" + bytes(range(256)) * 4, "binary_file", "PDF"),
    "random bytes": ("list.csv", lambda: random.Random(7).randbytes(5000), "binary_file", "NUL"),
    "semicolons": ("list.csv", lambda: _csv_text().replace(",", ";").encode(), "wrong_delimiter", "CSV UTF-8"),
    "truncated geojson": ("list.geojson", lambda: _geojson()[:-40], "truncated_json", "truncated at byte"),
    "truncated in a string": ("list.geojson", lambda: _geojson()[:60], "truncated_json", "truncated at byte"),
    "invalid json document": ("list.json", lambda: b'[{"external_id": "A1",, "lon": 1}]', "invalid_document",
                              "line 1, column 23"),
    "unknown layout": ("list.json", lambda: b'{"hello": "world"}', "invalid_document", "FeatureCollection"),
}


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("list.csv", _csv_text())
    return out.getvalue()


def _geojson() -> bytes:
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.93, 22.77]},
              "properties": {"external_id": f"G{i}", "service_type": "dispute", "channel": "hotline",
                             "description": "漏水" * 5, "reported_at": "2025-06-01 10:00"}} for i in range(5)]
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False).encode()


@pytest.mark.parametrize("case", list(FILES))
def test_a_file_that_is_not_what_it_claims_gets_one_record(store, tmp_path, case):
    name, content, code, words = FILES[case]
    path = tmp_path / name
    path.write_bytes(content())
    first = run(store, path)
    assert first.file_reason_code == code, first.text()
    assert (first.rows, first.stored, first.quarantined) == (0, 0, 0) and first.accounted
    assert words in first.file_reason and "nothing was stored" in first.text()
    rec = _file_record(store)
    assert rec["reason_code"] == code and words in rec["reason"] and "\x00" not in rec["raw"]
    again = run(store, path)
    assert again.file_already_quarantined and len(store.quarantined(source="test")) == 1
    assert store.query_appeals().empty


def test_the_exit_status_is_0_for_a_refused_file(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_bytes(_workbook())
    assert main([str(path), "--store", f"sqlite:///{tmp_path / 'gm.sqlite3'}", "--source", "test"]) == 0
    out = capsys.readouterr().out
    assert "excel_workbook" in out and "nothing was stored" in out


def test_xlsx_is_read_directly(store, tmp_path):
    path = tmp_path / "clerk.xlsx"
    path.write_bytes(_workbook(blank_rows=2))
    first = run(store, path)
    assert first.fmt == "xlsx" and (first.rows, first.stored, first.quarantined) == (4, 4, 0), first.text()
    assert first.skipped["blank"] == 2 and "blank lines: 2" in first.text()
    appeals = store.query_appeals().set_index("external_id")
    assert sorted(appeals.index) == ["12345", "X1", "X2", "X9"]  # a whole number is not 12345.0
    assert appeals.loc["X1", "reported_at"].strftime("%Y-%m-%d %H:%M") == "2025-06-01 10:00"  # naive: Beijing
    again = run(store, path)
    assert (again.stored, again.duplicates) == (0, 4)


def test_xlsx_sheet_by_name(store, tmp_path):
    path = tmp_path / "clerk.xlsx"
    path.write_bytes(_workbook(sheet="诉求"))
    wrong = Intake(store, source="test", now=NOW).import_file(path, sheet="没有")
    assert wrong.file_reason_code == "excel_workbook" and "诉求" in wrong.file_reason
    right = Intake(store, source="test", now=NOW).import_file(path, sheet="诉求")
    assert right.stored == 4


def test_xlsx_without_a_name_is_read_by_content(store, tmp_path):
    path = tmp_path / "export"
    path.write_bytes(_workbook())
    assert run(store, path).stored == 4


def test_blank_and_delimiter_only_lines_are_counted(store, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(_csv_text() + "\n,,,,,,,\n\nC2,legal,hotline,,,113.93,22.77,2025-06-01 10:00\n  \n",
                    encoding="utf-8")
    s = run(store, path)
    assert (s.rows, s.stored) == (2, 2)
    assert dict(s.skipped) == {"blank": 3, "delimiters_only": 1}
    jl = tmp_path / "b.jsonl"
    jl.write_text('\n{"external_id": "J1", "service_type": "legal", "channel": "hotline", "lon": 113.93, '
                  '"lat": 22.77}\n\n', encoding="utf-8")
    assert dict(run(store, jl).skipped) == {"blank": 2}


def _qr_rows(layers, to_system, n: int = 30) -> str:
    """QR-scan rows that name their building, at the building's position written in another system."""
    from geo.coords import wgs84_to_bd09, wgs84_to_gcj02

    b = layers["building"].iloc[::97].head(n)
    lon, lat = b.geometry.x.to_numpy(), b.geometry.y.to_numpy()
    if to_system == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif to_system == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    lines = ["external_id,service_type,channel,lon,lat,building_code,reported_at"]
    lines += [f"Q{i},dispute,qr_scan,{x:.6f},{y:.6f},{code},2025-06-01 10:00"
              for i, (x, y, code) in enumerate(zip(lon, lat, b["code"], strict=True))]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("system,metres", [("gcj02", (300, 1000)), ("bd09", (800, 2000))])
def test_a_file_in_another_system_is_refused_as_a_whole(store, layers, tmp_path, system, metres):
    path = tmp_path / "qr.csv"
    path.write_text(_qr_rows(layers, system), encoding="utf-8")
    s = run(store, path)
    assert s.file_reason_code == "wrong_crs", s.text()
    assert f"--crs {system}" in s.file_reason and store.query_appeals().empty
    miss = float(s.file_reason.split("中位")[1].split("米")[0].replace(",", ""))
    assert metres[0] < miss < metres[1]
    right = Intake(store, source="test", now=NOW, crs=system).import_file(path)
    assert right.stored == 30 and right.file_reason_code is None


def test_a_file_in_its_declared_system_is_imported(store, layers, tmp_path):
    path = tmp_path / "qr.csv"
    path.write_text(_qr_rows(layers, "wgs84"), encoding="utf-8")
    assert run(store, path).stored == 30


def test_too_few_rows_naming_a_building_decide_nothing(store, layers, tmp_path):
    path = tmp_path / "qr.csv"
    path.write_text(_qr_rows(layers, "gcj02", n=4), encoding="utf-8")
    s = run(store, path)
    assert s.file_reason_code is None and s.stored + s.quarantined == 4


def test_docs_list_every_reason_code_with_what_to_do():
    """docs/intake.md has a table row for every reason code, row-level and whole-file."""
    from pathlib import Path

    from services.intake.schema import FILE_REASON_CODES, REASON_CODES

    docs = (Path(__file__).resolve().parents[1] / "docs" / "intake.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`") for line in docs.splitlines() if line.startswith("| `")}
    listed = {code.strip().strip("`") for row in rows for code in row.split("/")}
    assert set(REASON_CODES + FILE_REASON_CODES) <= listed, set(REASON_CODES + FILE_REASON_CODES) - listed
