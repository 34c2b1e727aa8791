"""Quarantine as people may see it (services/quarantine.py): raw rows masked by role, and the retention
job that deletes settled rows. The store side (resolve_quarantine, purge_quarantine) is in the contract
tests on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from services import access, quarantine
from services.store.sqlite import SQLiteStore

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 10, 9, 12, tzinfo=TZ)
RAW = "x1,hotline,张三丰,13812345678,440300199001011238,6222021234567890128"


@pytest.fixture()
def store(tmp_path):
    s = SQLiteStore(tmp_path / "q.sqlite3")
    s.quarantine(pd.DataFrame({"source": ["csv", "csv", "other"], "file": ["a.csv"] * 3, "line": [2, 3, 4],
                               "raw": [RAW, "工单440300199001011235,12345热线", "ok"],
                               "reason": ["电话 13812345678 不在辖区", "no time", "no place"],
                               "reason_code": ["bad_place", "missing_time", "missing_place"],
                               "received_at": [NOW - timedelta(days=60)] * 3}))
    yield s
    s.close()


def test_raw_rows_are_masked_for_roles_without_the_right(store):
    for role in ("duty_officer", "leader"):
        q = quarantine.quarantined(store, role, source="csv").set_index("line")
        # The reporter's name is not known for a refused row: the numbers are masked, the name is not.
        assert q.loc[2, "raw"] == "x1,hotline,张三丰,138****5678,440***********1238,***************0128"
        assert q.loc[2, "reason"] == "电话 138****5678 不在辖区"
        assert q.loc[3, "raw"] == "工单440300199001011235,12345热线"      # not an ID, not a phone
    shown = quarantine.quarantined(store, "community_dispatcher")
    assert RAW in shown["raw"].tolist() and len(shown) == 3
    assert quarantine.quarantined(store, "leader", source="other")["raw"].tolist() == ["ok"]
    with pytest.raises(access.Forbidden):
        quarantine.quarantined(store, "intruder")


def test_pages_never_read_quarantine_from_the_store():
    from pathlib import Path

    pages = Path(__file__).resolve().parent.parent / "pages"
    assert not [p.name for p in pages.glob("*.py") if ".quarantined(" in p.read_text(encoding="utf-8")
                and "quarantine.quarantined(" not in p.read_text(encoding="utf-8")]


def test_purge_keeps_settled_rows_for_the_retention(store):
    days = quarantine.retention_days()
    assert days == 30
    ids = dict(zip(store.quarantined()["line"], store.quarantined()["id"], strict=True))
    store.resolve_quarantine([ids[2]], "fixed", "数据管理员", at=NOW - timedelta(days=days, minutes=1))
    store.resolve_quarantine([ids[3]], "dismissed", "数据管理员", at=NOW - timedelta(days=days - 1))
    n, before = quarantine.purge(store, now=NOW)
    assert (n, before) == (1, NOW - timedelta(days=days))
    assert sorted(store.quarantined()["line"]) == [3, 4]          # 3: settled too recently; 4: unsettled
    assert quarantine.purge(store, now=NOW, days=0)[0] == 1
    assert store.quarantined()["line"].tolist() == [4]


def test_the_purge_job_says_what_it_did(store, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'q.sqlite3'}"
    ids = store.quarantined()["id"].tolist()
    store.resolve_quarantine(ids[:2], "dismissed", "数据管理员", at=datetime.now(TZ) - timedelta(days=40))
    assert quarantine.main(["purge", "--dry-run", "--store", url]) == 0
    assert "would delete 2 settled row(s)" in capsys.readouterr().out and len(store.quarantined()) == 3
    assert quarantine.main(["purge", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "deleted 2 settled row(s)" in out and "retention 30 days" in out and "1 row(s) left" in out
    assert len(store.quarantined()) == 1
    with pytest.raises(SystemExit):
        quarantine.main(["purge", "--days", "-1", "--store", url])


def test_a_refused_resolution_reads_in_both_languages(store):
    from services.errors import ValidationError, describe

    with pytest.raises(ValidationError) as exc:
        store.resolve_quarantine([1], "ignored", "数据管理员")
    assert "已更正、已驳回" in describe(exc.value, "zh") and "Fixed, Dismissed" in describe(exc.value, "en")
    with pytest.raises(ValidationError) as exc:
        store.resolve_quarantine([1], "fixed", "")
    assert "处理人" in describe(exc.value, "zh") and "who did it" in describe(exc.value, "en")
