"""Shared fixtures: the sample district, and a PostGIS database (and a store in it per test module) that fails
(never skips) under CI."""

from __future__ import annotations

import os
import tempfile
import uuid

import pytest

from data.sample import ensure_sample, load_layers


def pytest_configure(config):
    """Tests never use the checkout's own store (var/gm.sqlite3, what ``./dev run`` serves and where its
    first admin account is made): unless DATABASE_URL names one, the app, its pages and the servers that
    tests start use a SQLite file of this test run, seeded once."""
    if not os.environ.get("DATABASE_URL"):
        run_dir = tempfile.mkdtemp(prefix="gm-tests-")
        os.environ["DATABASE_URL"] = f"sqlite:///{run_dir}/gm.sqlite3"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def layers():
    """The bundled sample district's layers (built on first use), EPSG:4326."""
    ensure_sample()
    return load_layers()


@pytest.fixture(scope="session")
def postgis_url() -> str:
    """URL of a PostGIS database for tests (TEST_DATABASE_URL, set up by ./dev test).

    Without one, the test skips on a developer's machine and fails under CI=true, so CI can never pass
    with the PostGIS half of the suite silently missing.
    """
    url = os.environ.get("TEST_DATABASE_URL")
    problem = None
    if not url:
        problem = "TEST_DATABASE_URL is not set (./dev test sets up a local PostGIS)"
    else:
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT postgis_full_version()")
        except Exception as exc:  # noqa: BLE001 - any failure means no usable PostGIS
            problem = f"PostGIS at TEST_DATABASE_URL is not usable: {exc}"
    if problem:
        if _in_ci():
            pytest.fail(f"CI=true and PostGIS is required: {problem}")
        pytest.skip(problem)
    return url


@pytest.fixture(scope="module")
def pg_store(request, postgis_url):
    """A PostGIS store in a fresh schema for the requesting test module (``gm_<module>_<random>``, a pool
    of 4 connections), dropped afterwards; ``tests.helpers.reset_store`` empties it for each test."""
    from services.store.postgis import PostGISStore

    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    store = PostGISStore(postgis_url, schema=f"gm_{module}_{uuid.uuid4().hex[:10]}", max_size=4)
    yield store
    store.drop_schema()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (never Playwright's own download); a missing
    Chromium skips on a developer's machine and fails under CI=true."""
    from tests.browser import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if not path:
        if _in_ci():
            pytest.fail("CI=true and Debian's chromium is not installed (./dev test installs it)")
        pytest.skip("chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()
