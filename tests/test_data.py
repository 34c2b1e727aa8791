"""Data management (/data, issue 13 §4): import jobs, the quarantine fixed or dismissed, and the page.

The hand-made file has one good row (x3), one duplicate of a stored appeal (x1) and one point far outside
the district (x2, lon 200): its summary is 1 stored / 1 duplicate / 1 quarantined.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access, import_jobs, quarantine_fix
from services.errors import NotFound, ValidationError
from services.i18n import t
from services.store.sqlite import SQLiteStore
from tests.helpers import STORES, reset_store, signed_in_app

TZ = ZoneInfo("Asia/Shanghai")
DUTY = access.Principal("zhang", "duty_officer")
HEADER = "external_id,channel,service_type,category,description,lon,lat,people_involved,urgency,reported_at"
GOOD = "hotline,dispute,neighbour,楼上漏水 13812345678,113.935,22.748,1,1,2026-12-01 09:00"
CSV = "\n".join([HEADER, f"x1,{GOOD}", "x2,hotline,dispute,neighbour,坏点,200,22.748,1,1,2026-12-01 09:00",
                 f"x3,{GOOD}"]) + "\n"


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    yield from reset_store(request, tmp_path)


@pytest.fixture
def lite(tmp_path):
    s = SQLiteStore(tmp_path / "gm.sqlite3")
    yield s
    s.close()


def _done(store, job_id: int, seconds: float = 120) -> dict:
    end = datetime.now() + timedelta(seconds=seconds)
    while datetime.now() < end:
        job = store.import_job(job_id)
        if job["status"] in ("done", "failed"):
            return job
        threading.Event().wait(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _imported(store) -> dict:
    """x1 stored first by its own job, then the hand-made file: 1/1/1."""
    first = import_jobs.start(store, DUTY, import_jobs.Upload("x1.csv", f"{HEADER}\nx1,{GOOD}\n".encode(), "hot"))
    assert _done(store, first["id"])["summary"]["stored"] == 1
    job = import_jobs.start(store, DUTY, import_jobs.Upload("t.csv", CSV.encode(), "hot"))
    return _done(store, job["id"])


# ------------------------------------------------------------------------------------------ the store
def test_import_jobs_in_the_store(store):
    a = store.create_import_job(source="s", file_name="a.csv", fmt="csv", crs="gcj02", actor="zhang", path="/x/a",
                                total=100)
    b = store.create_import_job(source="s", file_name="b.csv", fmt="auto", crs="wgs84", actor="zhang", path="/x/b")
    assert (a["status"], a["progress"], a["total"], a["summary"]) == ("queued", 0, 100, None)
    assert store.import_jobs()["id"].tolist() == [b["id"], a["id"]]          # newest first
    assert store.claim_import_job()["id"] == a["id"]                          # oldest queued first
    assert store.claim_import_job() is None                                   # one at a time
    done = store.update_import_job(a["id"], status="done", progress=100, summary={"stored": 3},
                                   finished_at=datetime(2026, 12, 1, 9, tzinfo=TZ))
    assert done["summary"] == {"stored": 3} and done["finished_at"] == datetime(2026, 12, 1, 9, tzinfo=TZ)
    assert store.claim_import_job()["id"] == b["id"]
    assert store.interrupt_import_jobs([a["id"], b["id"]]) == 1               # only the running one
    assert store.import_job(b["id"])["status"] == "interrupted"
    assert store.import_jobs(statuses=["done"])["id"].tolist() == [a["id"]]
    with pytest.raises(ValidationError):
        store.update_import_job(a["id"], status="lost")
    with pytest.raises(ValidationError):
        store.update_import_job(a["id"], path="/elsewhere")
    with pytest.raises(ValidationError):
        store.create_import_job(source=" ", file_name="a", fmt="csv", crs="wgs84", actor="z", path="/p")
    with pytest.raises(NotFound):
        store.import_job(999)


def test_a_settled_quarantine_row_keeps_its_appeal_and_reason(store):
    store.quarantine(pd.DataFrame({"source": ["s", "s"], "file": ["f", "f"], "line": [2, 3], "raw": ["a", "b"],
                                   "reason": ["r", "r"], "reason_code": ["missing_field", "missing_field"]}))
    first, second = sorted(store.quarantined()["id"])
    assert store.resolve_quarantine([first], "fixed", "zhang", appeal_id=7) == 1
    assert store.resolve_quarantine([second], "dismissed", "zhang", note=" 测试数据 ") == 1
    one, two = store.quarantine_row(first), store.quarantine_row(second)
    assert (one["resolution"], one["appeal_id"], one["resolution_note"]) == ("fixed", 7, None)
    assert (two["resolution"], two["appeal_id"], two["resolution_note"]) == ("dismissed", None, "测试数据")
    assert store.resolve_quarantine([first], "dismissed", "li", note="x") == 0   # the first settlement stays
    with pytest.raises(NotFound):
        store.quarantine_row(999)


# ------------------------------------------------------------------------------------------ the jobs
def test_a_job_runs_to_its_summary_and_is_audited(lite):
    job = _imported(lite)
    s = job["summary"]
    assert (job["status"], s["rows"], s["stored"], s["duplicates"], s["quarantined"]) == ("done", 3, 1, 1, 1)
    assert s["by_reason"] == {"outside_district": 1} and s["path"] == "t.csv"
    assert job["progress"] == job["total"] == len(CSV.encode())
    assert lite.quarantined()["file"].tolist() == ["t.csv"]
    started = lite.audit_rows()
    assert started["action"].tolist().count("import.start") == 2
    jobs = import_jobs.jobs(lite, DUTY)
    assert jobs["id"].tolist() == [job["id"], job["id"] - 1] and "path" not in jobs


def test_a_job_whose_thread_is_gone_is_interrupted_and_a_second_job_waits(lite, tmp_path):
    a = import_jobs.start(lite, DUTY, import_jobs.Upload("a.csv", CSV.encode(), "hot"), run=False)
    b = import_jobs.start(lite, DUTY, import_jobs.Upload("b.csv", CSV.encode(), "hot"), run=False)
    assert lite.claim_import_job()["id"] == a["id"]         # a runs (in a thread that then died)
    assert lite.claim_import_job() is None                  # b waits while a runs
    assert lite.import_job(b["id"])["status"] == "queued"
    assert import_jobs.mark_interrupted(lite) == 1          # no thread of this process runs a
    assert lite.import_job(a["id"])["status"] == "interrupted"
    import_jobs.wake(lite)
    assert _done(lite, b["id"])["status"] == "done"         # then b runs


def test_a_dispatcher_may_not_import_nor_fix(lite):
    who = access.Principal("wang", "community_dispatcher", "440311001001")
    with pytest.raises(access.Forbidden):
        import_jobs.start(lite, who, import_jobs.Upload("a.csv", CSV.encode(), "hot"))
    assert lite.import_jobs().empty and lite.audit_rows()["action"].tolist() == ["import.start.refused"]
    with pytest.raises(access.Forbidden):
        quarantine_fix.dismiss(lite, who, 1, "no")
    with pytest.raises(ValidationError):
        import_jobs.start(lite, DUTY, import_jobs.Upload("a.csv", CSV.encode(), " "))


# ------------------------------------------------------------------------------------------ quarantine
def test_a_fixed_row_becomes_an_appeal_linked_both_ways(lite):
    _imported(lite)
    qid = int(lite.quarantined()["id"].iloc[0])
    form = quarantine_fix.form(lite, DUTY, qid)
    assert form["fixable"] and form["fields"]["lon"] == "200" and form["fields"]["external_id"] == "x2"
    aid = quarantine_fix.fix(lite, DUTY, qid, {**form["fields"], "lon": "113.935"})
    appeal, row = lite.get_appeal(aid), lite.quarantine_row(qid)
    assert (appeal["source"], appeal["external_id"], appeal["lon"]) == ("hot", "x2", 113.935)
    assert (row["resolution"], row["resolved_by"], row["appeal_id"]) == ("fixed", "zhang", aid)
    notes = lite.events(aid)["note"].tolist()
    assert any(f"#{qid}" in str(n) for n in notes)
    last = lite.audit_rows().iloc[-1]
    assert last["action"] == "quarantine.fix" and f'"appeal_id":{aid}' in last["detail"]


def test_a_masked_field_left_as_shown_keeps_its_value(lite):
    _imported(lite)
    lite.quarantine(pd.DataFrame({"source": ["hot"], "file": ["t.csv"], "line": [9], "reason": ["r"],
                                  "raw": ["x9,hotline,dispute,neighbour,电话 13912345678,200,22.748,1,1,2026-12-01 09:00"],
                                  "reason_code": ["outside_district"]}))
    qid = int(lite.quarantined()["id"].iloc[0])
    form = quarantine_fix.form(lite, DUTY, qid)
    assert form["fields"]["description"] == "电话 139****5678"
    aid = quarantine_fix.fix(lite, DUTY, qid, {**form["fields"], "lon": "113.935"})
    assert lite.get_appeal(aid)["description"] == "电话 13912345678"


def test_a_fix_refused_again_changes_nothing(lite):
    _imported(lite)
    qid = int(lite.quarantined()["id"].iloc[0])
    before, appeals = lite.quarantine_row(qid), len(lite.query_appeals())
    with pytest.raises(ValidationError, match="refused again"):
        quarantine_fix.fix(lite, DUTY, qid, quarantine_fix.form(lite, DUTY, qid)["fields"])
    assert lite.quarantine_row(qid) == before and len(lite.query_appeals()) == appeals
    assert lite.audit_rows().iloc[-1]["action"] == "quarantine.fix.refused"


def test_dismiss_needs_a_reason_and_keeps_it_masked_in_the_log(lite):
    lite.quarantine(pd.DataFrame({"source": ["s"], "file": ["f.csv"], "line": [pd.NA], "raw": ["%PDF"],
                                  "reason": ["not text"], "reason_code": ["not_text"]}))
    qid = int(lite.quarantined()["id"].iloc[0])
    assert not quarantine_fix.form(lite, DUTY, qid)["fixable"]
    with pytest.raises(ValidationError):
        quarantine_fix.fix(lite, DUTY, qid, {})
    with pytest.raises(ValidationError):
        quarantine_fix.dismiss(lite, DUTY, qid, "  ")
    assert lite.quarantine_row(qid)["resolved_at"] is None
    quarantine_fix.dismiss(lite, DUTY, qid, "发件人 13812345678 确认是误发")
    row = lite.quarantine_row(qid)
    assert (row["resolution"], row["resolution_note"]) == ("dismissed", "发件人 13812345678 确认是误发")
    last = lite.audit_rows().iloc[-1]
    assert last["action"] == "quarantine.dismiss" and "138****5678" in last["detail"]
    assert "13812345678" not in last["detail"]


# ------------------------------------------------------------------------------------------ the page
def _page_store(ext: str):
    from services.store import open_store

    store = open_store(None)
    store.quarantine(pd.DataFrame({"source": ["pagesrc"], "file": ["p.csv"], "line": [2],
                                   "raw": [f'{{"external_id": "{ext}", "channel": "hotline", "service_type": "dispute", '
                                           '"category": "neighbour", "description": "d", "lon": 200, "lat": 22.748, '
                                           '"reported_at": "2026-12-01 09:00"}'],
                                   "reason": ["outside"], "reason_code": ["outside_district"]}))
    job = store.create_import_job(source="pagesrc", file_name="p.csv", fmt="csv", crs="wgs84", actor="zhang",
                                  path="/nowhere/p.csv", total=10)
    store.update_import_job(job["id"], status="done", progress=10, summary={"rows": 3, "stored": 1, "duplicates": 1,
                                                                            "quarantined": 1})
    return store


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_shows_history_and_quarantine_and_fixes_a_row(lang):
    store = _page_store(f"p-{lang}")
    at = signed_in_app("duty_officer", page="pages/data.py", query={"lang": lang})
    at.run()
    assert not at.exception
    assert [tab.label for tab in at.tabs][:3] == [t(f"data.tab_{k}", lang) for k in ("import", "quarantine", "reference")]
    assert any("p.csv" in str(df.value.to_string()) for df in at.dataframe)
    qid = max(int(i) for i in store.quarantined(source="pagesrc")["id"])
    at.selectbox(key="q_pick").set_value(qid).run()
    at.text_input(key=f"q_why_{qid}").set_value("").run()
    at.button(key=f"q_dismiss_{qid}").click().run()
    assert at.error and store.quarantine_row(qid)["resolved_at"] is None       # no reason: refused
    at.text_input(key=f"qf_{qid}_lon").set_value("113.935").run()
    at.button(key=f"q_fix_{qid}").click().run()
    assert not at.exception
    row = store.quarantine_row(qid)
    assert row["resolution"] == "fixed" and store.get_appeal(row["appeal_id"])["external_id"] == f"p-{lang}"


def test_a_community_dispatcher_cannot_open_data():
    who = access.Principal("wang", "community_dispatcher", "440311001001")
    with pytest.raises(access.Forbidden):
        access.check_page(who, "data")
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # /data is not in its menu
        signed_in_app("community_dispatcher", "440311001001", page="pages/data.py")
    for role in ("admin", "duty_officer"):
        access.check_page(access.Principal("x", role), "data")
