"""The reference-data tab (pages/data_reference.py) drawn by itself with AppTest.from_function: a store
seeded with the sample's departments and stations, a signed-in duty officer or admin, and ``draw``."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from services.store.sqlite import SQLiteStore


def _app(url: str, role: str, lang: str) -> None:
    from pages.data_reference import draw
    from services.store import open_store
    from tests.helpers import session_as

    draw(session_as(role, url=url).principal, open_store(url), lang)


@pytest.fixture
def url(tmp_path, layers):
    from services.seed import seed_reference

    path = tmp_path / "ref.sqlite3"
    store = SQLiteStore(path)
    seed_reference(store)
    store.close()
    return f"sqlite:///{path}"


def _run(url: str, role: str = "duty_officer", lang: str = "zh") -> AppTest:
    at = AppTest.from_function(_app, args=(url, role, lang), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_tab_shows_departments_stations_and_accounts(url, layers):
    at = _run(url)
    frames = [df.value for df in at.dataframe]
    depts, stations, accounts = frames[0], frames[1], frames[2]
    assert len(depts) == 13 and "代码" in depts.columns
    assert len(stations) == len(layers["station"]) and set(stations["状态"]) == {"运行中"}
    assert "test_duty_officer" in set(accounts["账号名"])
    assert any("不能修改" in i.value for i in at.info)           # a duty officer sees, but cannot change


def test_adding_a_department_from_the_form(url):
    at = _run(url, lang="en")
    at.text_input(key="dref_dept_code").input("veterans")
    at.text_input(key="dref_dept_name").input("区退役军人事务局")
    at.text_input(key="dref_dept_name_en").input("Veterans Affairs Bureau")
    at.button(key="dref_dept_add").click().run()
    assert [s.value for s in at.success] == ["Department 'veterans' added."]
    assert "veterans" in set(at.dataframe[0].value["Code"])
    store = SQLiteStore(url.removeprefix("sqlite:///"))
    try:
        assert "reference.department.add" in store.audit_rows()["action"].tolist()
    finally:
        store.close()


def test_closing_a_station_from_the_form(url):
    at = _run(url, role="admin", lang="en")
    at.selectbox(key="dref_edit_code").set_value("ST-S-02").run()
    at.text_input(key="dref_close_reason").input("Merged into the community hall")
    at.button(key="dref_close").click().run()
    assert [s.value for s in at.success] == ["Station 'ST-S-02' closed."]
    stations = at.dataframe[1].value.set_index("Code")
    assert stations.loc["ST-S-02", "State"] == "Closed"
    assert not at.info or not any("cannot change" in i.value for i in at.info)  # the admin may change areas


def test_a_planner_is_refused(url):
    at = AppTest.from_function(_app, args=(url, "planner", "en"), default_timeout=120)
    at.run()
    assert at.exception and "may not" in at.exception[0].message
    assert not at.dataframe


def test_each_language_stays_whole(url):
    """The tab's own words follow the language: no Chinese in English, no English word in Chinese (names,
    codes and file paths are data and are not checked)."""
    import re

    cjk, word = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]"), re.compile(r"[A-Za-z]")
    en = _run(url, lang="en")
    texts = [x.label for x in en.tabs] + [x.value for x in en.subheader] + [x.label for x in en.button] \
        + [x.value for x in en.caption if "folder" not in x.value] + [x.value for x in en.info] \
        + [c for df in en.dataframe for c in df.value.columns]
    assert texts and not [x for x in texts if cjk.search(x)]
    assert not [n for n in en.dataframe[1].value["Station"] if cjk.search(str(n))]   # stations by English name
    zh = _run(url, lang="zh")
    texts = [x.label for x in zh.tabs] + [x.value for x in zh.subheader] + [x.label for x in zh.button] \
        + [c for df in zh.dataframe for c in df.value.columns]
    assert texts and not [x for x in texts if word.search(x)]
