"""Helpers shared by test modules: the two stores that every store-backed test runs on."""

from __future__ import annotations

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
