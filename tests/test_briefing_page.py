"""The daily briefing end to end and on its page: the CLI on a hand-made store writes a PDF whose
headline equals the hand counts (tests/test_briefing_content.py's store), twice the same bytes, and an
empty day that says so; who may see which area's briefings and who may make one
(services/briefing/library.py); and /briefing drawn with AppTest for an admin, a leader and a community
dispatcher."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services import access
from services.briefing import jobs, library
from services.errors import NotFound, describe
from services.i18n import t
from services.store.sqlite import SQLiteStore
from tests.helpers import APP, chinese_in, signed_in_app
from tests.test_briefing_content import C1, C3, S1, D
from tests.test_briefing_content import make as make_hand_store
from tests.test_briefing_render import pdf_text

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = access.Principal("root", "admin")
LEADER = access.Principal("lin", "leader")
DISPATCHER = access.Principal("chen", "community_dispatcher", C1)
OFFICER = access.Principal("zhao", "subdistrict_officer", S1)
# The hand store's headline as the PDF prints it: value, day before, 7-day average.
HAND = {
    "received": ("4", "1", "0.6"),
    "accepted": ("2", "1", "0.6"),
    "resolved": ("1", "1", "0.4"),
    "resolution_rate": ("50.0%", "100.0%", "75.0%"),
    "same_day_rate": ("50.0%", "100.0%", "50.0%"),
    "class1_respond_on_time": ("50.0%", "—", "—"),
    "overdue_now": ("4", "1", "0.6"),
}


@pytest.fixture(scope="module")
def hand_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("briefing_page") / "gm.sqlite3"
    store = SQLiteStore(path)
    make_hand_store(store)
    store.close()
    return f"sqlite:///{path}"


def _cli(url: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    env.pop(jobs.DROP_ENV, None)
    return subprocess.run([sys.executable, "-m", "services.briefing", "--out", str(out),
                           "--now", "2026-01-10T07:00:00+08:00", *args],
                          cwd=APP.parent, env=env, capture_output=True, text=True, timeout=300)


def test_the_cli_makes_the_hand_counted_briefing_twice_the_same(hand_url, tmp_path):
    first = _cli(hand_url, tmp_path / "a", "--date", D.isoformat())
    assert first.returncode == 0, first.stderr
    second = _cli(hand_url, tmp_path / "b", "--date", D.isoformat())
    assert second.returncode == 0, second.stderr
    name = f"briefing-{library.district_code()}-{D.isoformat()}"
    for suffix in (".pdf", ".png"):
        a, b = (tmp_path / d / (name + suffix) for d in ("a", "b"))
        assert a.read_bytes() == b.read_bytes(), suffix
    text = pdf_text((tmp_path / "a" / f"{name}.pdf").read_bytes(), tmp_path)
    lines = text.splitlines()
    for code, expected in HAND.items():
        label = t(f"analysis.measure.{code}", "zh")
        row = [ln for ln in lines if ln.strip().startswith(label + " ")]
        assert row and tuple(row[0].split()[-3:]) == expected, (code, row)
    assert t("briefing.pdf.cut_off", "zh", at="2026-01-09 24:00") in text


def test_a_day_with_no_data_says_so(hand_url, tmp_path):
    done = _cli(hand_url, tmp_path, "--date", "2025-06-01", "--lang", "en")
    assert done.returncode == 0, done.stderr
    text = pdf_text((tmp_path / f"briefing-{library.district_code()}-2025-06-01-en.pdf").read_bytes(), tmp_path)
    assert "Nothing was received on" in " ".join(text.split())


def test_an_unknown_area_fails_with_its_reason_and_no_file(hand_url, tmp_path):
    done = _cli(hand_url, tmp_path, "--date", D.isoformat(), "--area", "999")
    assert done.returncode != 0 and "999" in (done.stderr + done.stdout)
    assert not list(tmp_path.glob("briefing-*.pdf"))


# --------------------------------------------------------------------------------- who sees what
def test_areas_by_role():
    everything = library.areas_for(LEADER)
    assert everything[0] == library.district_code() and S1 in everything and C3 in everything
    assert library.areas_for(ADMIN) == everything
    mine = library.areas_for(OFFICER)
    assert mine[0] == S1 and C1 in mine and C3 not in mine and library.district_code() not in mine
    assert library.areas_for(DISPATCHER) == [C1]
    with pytest.raises(access.Forbidden):
        library.areas_for(access.Principal("p", "planner"))


@pytest.fixture
def folder(hand_url, tmp_path, monkeypatch):
    """A briefing folder with the district's and C1's and C3's briefings of D, made by the admin."""
    from services.store import open_store

    monkeypatch.setenv(jobs.DIR_ENV, str(tmp_path))
    monkeypatch.delenv(jobs.DROP_ENV, raising=False)
    store = open_store(hand_url)
    now = datetime(2026, 1, 10, 7, tzinfo=TZ)
    for area in (library.district_code(), C1, C3):
        library.make_now(store, ADMIN, D, area, "zh", now=now)
    return store, tmp_path


def test_listing_and_reading_follow_the_area(folder):
    store, _ = folder
    assert {r["area"] for r in library.listing(LEADER)} == {library.district_code(), C1, C3}
    assert [r["area"] for r in library.listing(DISPATCHER)] == [C1]
    assert {r["area"] for r in library.listing(OFFICER)} == {C1}
    assert library.read(store, DISPATCHER, D, C1, "zh", "pdf").startswith(b"%PDF-")
    with pytest.raises(access.Forbidden) as refused:
        library.read(store, DISPATCHER, D, C3, "zh", "pdf")
    assert C3 in describe(refused.value, "zh")
    with pytest.raises(NotFound):
        library.read(store, LEADER, date(2026, 1, 1), C1, "zh", "pdf")
    before = len(store.audit_rows(object_kind="export"))
    library.read(store, LEADER, D, C1, "zh", "png", download=True)
    assert len(store.audit_rows(object_kind="export")) == before + 1
    assert library.first_page(library.read(store, LEADER, D, C1, "zh", "pdf")).startswith(b"\x89PNG")


def test_only_an_admin_makes_one_and_a_failure_is_shown_until_mended(folder, monkeypatch):
    store, out = folder
    with pytest.raises(access.Forbidden):
        library.make_now(store, LEADER, D, C1, "zh")
    assert store.audit_rows(actor="lin").action.iloc[-1] == "briefing_made.refused"
    from services.briefing import render

    real = render.pdf
    monkeypatch.setattr(render, "pdf", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(library.BriefingFailed, match="disk full"):
        library.make_now(store, ADMIN, D, C1, "en")
    [failed] = library.failing(LEADER)
    assert (failed["area"], failed["lang"], failed["ok"]) == (C1, "en", False)
    assert library.failing(DISPATCHER) == [failed] and library.failing(access.Principal("x", "community_dispatcher", C3)) == []
    monkeypatch.setattr(render, "pdf", real)
    library.make_now(store, ADMIN, D, C1, "en", now=datetime(2026, 1, 10, 7, tzinfo=TZ))
    assert library.failing(LEADER) == []
    assert any(not r["ok"] for r in library.runs(LEADER))   # still in the history


# ------------------------------------------------------------------------------------------------ the page
def _page(role: str, area: str | None, url: str, out: Path, lang: str = "zh"):
    at = signed_in_app(role, area, page="pages/briefing.py", query={"lang": lang} if lang == "en" else None)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def page_env(folder, monkeypatch, hand_url):
    monkeypatch.setenv("DATABASE_URL", hand_url)
    return folder


def test_the_page_lists_previews_and_offers_downloads(page_env, hand_url):
    _, out = page_env
    at = _page("leader", None, hand_url, out)
    assert at.title[0].value == t("briefing_page.title", "zh")
    table = at.dataframe[0].value
    assert len(table) == 3 and set(table[t("briefing_page.col_date", "zh")]) == {D.isoformat()}
    assert len(at.get("download_button")) == 2
    assert len(at.get("image")) == 2                     # the first page and the map
    assert not [e for e in at.expander if e.label == t("briefing_page.make_title", "zh")]   # no "make it now"


def test_a_dispatcher_sees_only_its_community(page_env, hand_url):
    _, out = page_env
    at = _page("community_dispatcher", C1, hand_url, out)
    table = at.dataframe[0].value
    assert list(table[t("briefing_page.col_area", "zh")]) == [library.area_name(C1, "zh")]


def test_an_admin_makes_one_now_on_the_page_in_english(page_env, hand_url):
    _, out = page_env
    at = _page("admin", None, hand_url, out, lang="en")
    at.selectbox(key="br_make_area").set_value(C3)
    at.selectbox(key="br_make_lang").set_value("en")
    at.date_input(key="br_make_date").set_value(D)
    at.button(key="br_make").click().run(timeout=300)
    assert not at.exception, at.exception
    assert any(f"briefing-{C3}-{D.isoformat()}-en.pdf" in s.value for s in at.success), [s.value for s in at.success]
    assert (out / f"briefing-{C3}-{D.isoformat()}-en.pdf").is_file()


def test_the_page_in_english_shows_no_chinese(page_env, hand_url):
    """Every element of /briefing in English (the table's cells, the failures' line, the runs) is free of
    CJK characters, except the language switch's "中文"."""
    _, out = page_env
    at = _page("admin", None, hand_url, out, lang="en")
    found = chinese_in(at)
    assert not found, found[:20]
    assert at.title[0].value == t("briefing_page.title", "en")
