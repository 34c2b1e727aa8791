"""Open311 files from other systems: status imported faithfully (closed stays closed, old open requests
are backlog whose clocks start at import), foreign service codes mapped per source, and a row's first
reason the one a clerk must act on first."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services.intake import Intake, IntakeError
from services.service_map import ServiceMapError, load_service_map
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, fresh_store

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)  # a Tuesday
OUTSIDE = (114.5, 22.77)  # east of Guangming (and not inside when swapped)


@pytest.fixture(scope="module")
def point(layers) -> tuple[float, float]:
    p = layers["grid"].geometry.iloc[0].representative_point()
    return p.x, p.y


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from fresh_store(request, tmp_path, "t_o311_")


def request(rid: str, lonlat: tuple[float, float], **kw) -> dict:
    lon, lat = lonlat
    return {"service_request_id": rid, "service_code": "legal", "long": lon, "lat": lat, **kw}


def load(store, tmp_path: Path, requests: list[dict], source: str = "city", **kw):
    path = tmp_path / f"{source}.json"
    path.write_text(json.dumps(requests, ensure_ascii=False), encoding="utf-8")
    return Intake(store, source=source, now=NOW, **kw).import_file(path)


def by_ext(store) -> dict[str, dict]:
    return {r["external_id"]: r for r in store.query_appeals().to_dict("records")}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)


# ------------------------------------------------------------------------------------------ status
def test_closed_request_is_stored_closed_with_two_imported_events_and_no_clocks(store, point, tmp_path):
    requests = [
        request("C1", point, status="closed", requested_datetime="2012-05-01T09:00:00+08:00",
                updated_datetime="2012-05-03T17:00:00+08:00", status_notes="已调解"),
        request("C2", point, status="closed", requested_datetime="2012-05-01T09:00:00+08:00"),  # no update
        request("O1", point, status="open", requested_datetime="2026-12-01T08:00:00+08:00"),
    ]
    s = load(store, tmp_path, requests)
    assert (s.stored, s.quarantined) == (3, 0)
    a = by_ext(store)
    c1 = a["C1"]
    assert c1["status"] == "closed" and c1["reported_at"] == ts("2012-05-01 09:00")
    for col in ("accepted_at", "resolved_at", "closed_at"):
        assert c1[col] == ts("2012-05-03 17:00"), col
    assert pd.isna(c1["next_deadline_at"]) and pd.isna(c1["next_deadline_kind"])
    assert pd.isna(c1["satisfaction"])  # nobody rated it here
    ev = store.events(int(c1["id"]))
    assert list(ev["action"]) == ["report", "import_close"]
    assert list(ev["at"]) == [ts("2012-05-01 09:00"), ts("2012-05-03 17:00")]
    assert list(ev["to_status"]) == ["reported", "closed"]
    assert set(ev["actor"]) == {"intake:city"}
    assert all("导入" in n and "imported" in n and "city" in n for n in ev["note"])
    assert "已调解" in ev["note"].iloc[1]

    c2 = a["C2"]
    assert c2["status"] == "closed" and c2["closed_at"] == ts("2012-05-01 09:00")  # fallback: requested
    assert list(store.events(int(c2["id"]))["action"]) == ["report", "import_close"]

    o1 = a["O1"]  # open and recent: as before, a plain report event and today's clock
    assert o1["status"] == "reported" and o1["reported_at"] == ts("2026-12-01 08:00")
    assert o1["next_deadline_kind"] == "resolve" and o1["next_deadline_at"] == ts("2026-12-01 23:59:59")
    ev = store.events(int(o1["id"]))
    assert list(ev["action"]) == ["report"] and "导入" not in ev["note"].iloc[0]

    assert store.overdue(NOW).empty
    assert list(store.overdue(NOW + timedelta(days=1))["id"]) == [o1["id"]]

    events = store.event_count()
    again = load(store, tmp_path, requests)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 3, 0)
    assert store.event_count() == events and by_ext(store)["C1"]["status"] == "closed"


def test_old_open_request_is_backlog_with_clocks_from_its_import(store, point, tmp_path):
    """[intake] backlog_hours = 72: open and reported 73 h before the import is backlog, 70 h is not; a
    row without a status is a report like any other (a history backfill keeps its times)."""
    requests = [
        request("B1", point, status="open", requested_datetime="2012-05-01T09:00:00+08:00"),
        request("B2", point, status="open", requested_datetime="2026-11-28T09:00:00+08:00"),  # 73 h
        request("R1", point, status="open", requested_datetime="2026-11-28T12:00:00+08:00"),  # 70 h
        request("N1", point, requested_datetime="2026-11-28T09:00:00+08:00"),  # no status
    ]
    s = load(store, tmp_path, requests)
    assert s.stored == 4
    a = by_ext(store)
    for ext, requested in (("B1", "2012-05-01 09:00"), ("B2", "2026-11-28 09:00")):
        b = a[ext]
        assert b["status"] == "reported" and b["reported_at"] == pd.Timestamp(NOW), ext
        assert b["next_deadline_at"] == ts("2026-12-01 23:59:59"), ext  # same day, from the import
        ev = store.events(int(b["id"]))
        assert list(ev["action"]) == ["report", "import_backlog"], ext
        assert list(ev["at"]) == [ts(requested), pd.Timestamp(NOW)], ext
        assert requested in ev["note"].iloc[1] and "导入" in ev["note"].iloc[0], ext
    r1, n1 = a["R1"], a["N1"]
    assert r1["reported_at"] == ts("2026-11-28 12:00")  # a late hand-over, still timed from its report
    assert n1["reported_at"] == ts("2026-11-28 09:00")
    assert list(store.overdue(NOW)["id"]) == [r1["id"], n1["id"]]  # both due 11-28 23:59:59, then by id
    assert list(store.events(int(r1["id"]))["action"]) == ["report"]


def test_bad_status_and_closing_times_are_quarantined(store, point, tmp_path):
    requests = [
        request("S1", point, status="pending_review", requested_datetime="2026-11-30T09:00:00+08:00"),
        request("S2", point, status="closed", requested_datetime="2026-11-30T09:00:00+08:00",
                updated_datetime="2026-11-29T09:00:00+08:00"),
        request("S3", point, status="closed", requested_datetime="2026-11-30T09:00:00+08:00",
                updated_datetime="2026-12-02T09:00:00+08:00"),
        request("S4", point, status="closed", requested_datetime="2026-11-30T09:00:00+08:00",
                updated_datetime="soon"),
        request("S5", point, status="已办结", updated_datetime="2026-11-30T18:00:00+08:00"),  # no requested time
    ]
    s = load(store, tmp_path, requests)
    q = {int(r["line"]): r for r in store.quarantined(source="city").to_dict("records")}
    assert {k: v["reason_code"] for k, v in q.items()} == {1: "unknown_status", 2: "bad_timestamp",
                                                           3: "future_timestamp", 4: "bad_timestamp"}
    assert "pending_review" in q[1]["reason"] and "updated_datetime" in q[2]["reason"]
    assert s.stored == 1
    s5 = by_ext(store)["S5"]
    assert s5["status"] == "closed" and s5["reported_at"] == s5["closed_at"] == ts("2026-11-30 18:00")


# ------------------------------------------------------------------------------------------ service codes
MAPPING = """
[city.service_code]
"001" = { service_type = "complaint", category = "noise" }
"002" = { category = "欠薪" }

[city.service_name]
"Graffiti" = { service_type = "complaint", category = "public_facility" }
"""


def test_foreign_codes_are_mapped_per_source_and_unmapped_ones_quarantined(store, point, tmp_path):
    mapping = tmp_path / "open311_services.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    when = "2026-12-01T09:00:00+08:00"
    requests = [
        request("M1", point, service_code="001", service_name="Loud music", requested_datetime=when),
        request("M2", point, service_code="GR-9", service_name="graffiti", requested_datetime=when),
        request("M3", point, service_code="002", requested_datetime=when),
        request("M4", point, service_code="001", requested_datetime=when, attributes={"category": "environment"}),
        request("U1", point, service_code="999", service_name="Pothole", requested_datetime=when),
        request("U2", OUTSIDE, service_code="999", requested_datetime=when),
    ]
    s = load(store, tmp_path, requests, service_map=mapping)
    assert (s.stored, s.quarantined) == (4, 2)
    a = by_ext(store)
    assert (a["M1"]["service_type"], a["M1"]["category"]) == ("complaint", "noise")
    assert (a["M2"]["service_type"], a["M2"]["category"]) == ("complaint", "public_facility")  # by name
    assert (a["M3"]["service_type"], a["M3"]["category"]) == ("dispute", "wage_arrears")  # category implies
    assert (a["M4"]["service_type"], a["M4"]["category"]) == ("complaint", "environment")  # the row's own
    q = {int(r["line"]): r for r in store.quarantined(source="city").to_dict("records")}
    assert q[5]["reason_code"] == "unknown_service_type"
    assert "'999'" in q[5]["reason"] and "'Pothole'" in q[5]["reason"] and str(mapping) in q[5]["reason"]
    assert "[city]" in q[5]["reason"]
    # Outside the district comes first, whatever the service code: the row is not ours at all.
    assert q[6]["reason_code"] == "outside_district" and "'999'" in q[6]["reason"]

    # The mapping is per source: another system's "001" is not ours to guess.
    s = load(store, tmp_path, [request("X1", point, service_code="001")], source="other", service_map=mapping)
    assert s.quarantined == 1
    assert store.quarantined(source="other")["reason_code"].tolist() == ["unknown_service_type"]


def test_outside_district_is_the_first_reason_before_vocabularies(store, tmp_path):
    header = "external_id,service_type,channel,lon,lat,reported_at"
    lines = [header, f"Q1,bogus,fax,{OUTSIDE[0]},{OUTSIDE[1]},2026-12-01 09:00",
             f"Q2,,,{OUTSIDE[0]},{OUTSIDE[1]},2026-12-01 09:00"]
    (tmp_path / "clerk.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    Intake(store, source="clerk", now=NOW).import_file(tmp_path / "clerk.csv")
    q = {int(r["line"]): r for r in store.quarantined(source="clerk").to_dict("records")}
    assert q[2]["reason_code"] == "outside_district"
    assert "bogus" in q[2]["reason"] and "fax" in q[2]["reason"]  # every failing check is still listed
    assert q[3]["reason_code"] == "outside_district" and "channel" in q[3]["reason"]


@pytest.mark.parametrize("text, named", [
    ('[city.service_code]\n"001" = { service_type = "roads" }\n', "[city.service_code] '001'"),
    ('[city.service_code]\n"001" = { category = "potholes" }\n', "[city.service_code] '001'"),
    ('[city.service_name]\n"Noise" = { service_type = "legal", category = "noise" }\n', "[city.service_name] 'Noise'"),
    ('[city.service_name]\n"Noise" = { type = "complaint" }\n', "[city.service_name] 'Noise'"),
    ('[city.codes]\n"001" = { service_type = "complaint" }\n', "[city]"),
    ('[city.service_code]\n"001" = "complaint"\n', "[city.service_code] '001'"),
    ('[city.service_code\n', "cannot read"),
])
def test_an_invalid_mapping_is_refused_naming_the_file_and_entry(tmp_path, text, named):
    path = tmp_path / "bad_services.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ServiceMapError) as exc:
        load_service_map(path)
    assert str(path) in str(exc.value) and named in str(exc.value)
    with SQLiteStore(tmp_path / "gm.sqlite3") as st, pytest.raises(IntakeError, match="bad_services.toml"):
        Intake(st, source="city", service_map=path)


def test_the_bundled_mapping_file_is_valid():
    m = load_service_map()
    assert m.path.name == "open311_services.toml" and m.path.is_file()


def test_a_mapping_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "services.toml"
    path.write_text('[city.service_code]\n"001" = { service_type = "complaint" }\n', encoding="utf-8")
    first = load_service_map(path)
    assert load_service_map(path) is first  # unchanged: not parsed again (every POST batch makes an Intake)
    path.write_text('[city.service_code]\n"001" = { service_type = "complaint" }\n'
                    '"002" = { service_type = "complaint" }\n', encoding="utf-8")
    second = load_service_map(path)
    assert second is not first and set(second.sources["city"].codes) == {"001", "002"}
    path.unlink()
    with pytest.raises(ServiceMapError):
        load_service_map(path)
