"""Helpers shared by test modules: the two stores that every store-backed test runs on."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.store.base import Store
from services.store.sqlite import SQLiteStore

# The params of a fixture (or test) that runs on both stores; the PostGIS half carries the postgis mark.
STORES = ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]


def sqlite_in(tmp_path: Path) -> SQLiteStore:
    """A SQLite store at ``tmp_path/var/gm.sqlite3``, laid out as the app keeps its own."""
    return SQLiteStore(tmp_path / "var" / "gm.sqlite3")


def fresh_store(request: pytest.FixtureRequest, tmp_path: Path, schema_prefix: str) -> Iterator[Store]:
    """The body of a fixture with ``params=STORES``: a new SQLite file in ``tmp_path``, or PostGIS in a new
    schema named ``schema_prefix`` plus a random suffix; closed or dropped afterwards."""
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "gm.sqlite3")
        yield s
        s.close()
        return
    from services.store.postgis import PostGISStore

    s = PostGISStore(request.getfixturevalue("postgis_url"), schema=f"{schema_prefix}{uuid.uuid4().hex[:10]}")
    yield s
    s.drop_schema()


def reset_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The body of a fixture with ``params=STORES``: a new SQLite store (:func:`sqlite_in`), or the
    module's ``pg_store`` (tests/conftest.py) emptied (quicker than a schema per test)."""
    if request.param == "sqlite":
        s = sqlite_in(tmp_path)
        yield s
        s.close()
    else:
        s = request.getfixturevalue("pg_store")
        s.reset()
        yield s


# -- signed-in page tests -------------------------------------------------------------------------------
APP = Path(__file__).resolve().parent.parent / "app.py"
TEST_PASSWORD = "correct horse battery staple"


def session_as(role: str = "duty_officer", area: str | None = None, url: str | None = None):
    """A signed-in services.sign_in.Session of a local account ``test_<role>[_<area>]`` in the app's store
    (``url``, default the one DATABASE_URL names, as the app will open it), made the way the sign-in form
    makes one; the account is added when missing."""
    from services import accounts, sign_in
    from services.store import open_store

    store = open_store(url)
    name = f"test_{role}" + (f"_{area}" if area else "")
    if store.get_account(name) is None:
        accounts.add_user(store, name, role, area_code=area, password=TEST_PASSWORD)
    return sign_in.local(store, name, TEST_PASSWORD)


def signed_in_app(role: str = "duty_officer", area: str | None = None, *, page: str | None = None,
                  query: dict[str, str] | None = None, timeout: float = 120):
    """An AppTest of app.py whose session is signed in as ``role`` (of ``area``), see ``session_as``; its
    next run opens ``page`` (a script path such as ``pages/district_map.py``) instead of the role's first
    screen (AppTest switches pages only after a first run, so that run is made here); ``query`` is the
    URL's query string from the first run on."""
    from streamlit.testing.v1 import AppTest

    from pages.ui import SESSION_KEY

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.session_state[SESSION_KEY] = session_as(role, area)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if page:
        at.run()
        at.switch_page(page)
    return at


CJK = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")


def _elements(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _elements(child)


def chinese_in(at) -> list[tuple[str, str]]:
    """Every CJK character an AppTest run shows (element protos and dataframe cells), with where: what an
    English page must not have. The language switch's own "中文" is left out."""
    from google.protobuf import text_format

    from services.i18n import t

    found = []
    for node in _elements(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        text = text_format.MessageToString(proto, as_utf8=True)
        if getattr(node, "key", None) == "lang_switch":
            text = text.replace(t("app.lang_zh", "en"), "")
        found += [(type(node).__name__, m) for m in CJK.findall(text)]
    for frame in at.dataframe:
        found += [("dataframe", m) for v in frame.value.astype(str).to_numpy().ravel() for m in CJK.findall(v)]
    return found
