"""Shared fixtures: the sample district, and a PostGIS database that fails (never skips) under CI."""

from __future__ import annotations

import os

import pytest

from data.sample import ensure_sample, load_layers


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
