"""PostGIS agrees with geo.coverage: a building is covered when ST_DWithin in EPSG:4547 says a station is
within the radius, for every building of the sample, every service, and two radii."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from geo.coverage import SERVICES, StationSet, compute_coverage, demand_from_layers

pytestmark = pytest.mark.postgis

SCHEMA = "coverage_check"


def _ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon!r} {lat!r})"  # repr keeps every digit of the double


@pytest.fixture(scope="module")
def pg(postgis_url, layers):
    b = layers["building"]
    s = layers["station"]
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        try:
            conn.execute(f"CREATE TABLE {SCHEMA}.building (idx int PRIMARY KEY, code text, "
                         "geom geometry(Point, 4326), g geometry(Point, 4547))")
            conn.execute(f"CREATE TABLE {SCHEMA}.station (code text PRIMARY KEY, offers_appeal bool, "
                         "offers_legal bool, offers_psychological bool, geom geometry(Point, 4326), "
                         "g geometry(Point, 4547))")
            with conn.cursor().copy(f"COPY {SCHEMA}.building (idx, code, geom) FROM STDIN") as copy:
                for i, (code, x, y) in enumerate(zip(b.code, b.geometry.x, b.geometry.y, strict=True)):
                    copy.write_row((i, code, _ewkt(float(x), float(y))))
            with conn.cursor().copy(f"COPY {SCHEMA}.station (code, offers_appeal, offers_legal, "
                                    "offers_psychological, geom) FROM STDIN") as copy:
                for row in s.itertuples():
                    copy.write_row((row.code, bool(row.offers_appeal), bool(row.offers_legal),
                                    bool(row.offers_psychological),
                                    _ewkt(float(row.geometry.x), float(row.geometry.y))))
            # Transform once into the metric CRS and index there, so ST_DWithin is an indexed metre test.
            for table in ("building", "station"):
                conn.execute(f"UPDATE {SCHEMA}.{table} SET g = ST_Transform(geom, 4547)")
                conn.execute(f"CREATE INDEX ON {SCHEMA}.{table} USING gist (g)")
                conn.execute(f"ANALYZE {SCHEMA}.{table}")
            yield conn
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


@pytest.fixture(scope="module")
def ours(layers):
    return demand_from_layers(layers), StationSet.from_frame(layers["station"])


def _postgis_covered(conn, n: int, service: str | None, radius_m: float) -> np.ndarray:
    where = f"s.offers_{service} AND " if service else ""
    rows = conn.execute(
        f"SELECT b.idx FROM {SCHEMA}.building b WHERE EXISTS (SELECT 1 FROM {SCHEMA}.station s "
        f"WHERE {where}ST_DWithin(b.g, s.g, %s))", (radius_m,)).fetchall()
    covered = np.zeros(n, bool)
    covered[[r[0] for r in rows]] = True
    return covered


@pytest.mark.parametrize("service", [*SERVICES, None])
def test_every_building_agrees_with_st_dwithin(pg, ours, service):
    demand, stations = ours
    theirs = _postgis_covered(pg, len(demand), service, 500.0)
    mine = compute_coverage(demand, stations, service, 500.0).covered
    differ = np.flatnonzero(theirs != mine)
    assert not len(differ), f"{len(differ)} buildings differ, e.g. {demand.code[differ[:5]]}"
    assert 0 < mine.sum() < len(demand)


def test_another_radius_agrees_too(pg, ours):
    demand, stations = ours
    for radius in (300.0, 800.0):
        theirs = _postgis_covered(pg, len(demand), "appeal", radius)
        assert (theirs == compute_coverage(demand, stations, "appeal", radius).covered).all()


def test_the_sample_has_buildings_near_the_boundary(pg, ours):
    """Agreement means something only if some buildings sit close to 500 m from their nearest station."""
    n = pg.execute(
        f"SELECT count(*) FROM {SCHEMA}.building b WHERE EXISTS (SELECT 1 FROM {SCHEMA}.station s "
        "WHERE ST_DWithin(b.g, s.g, 505)) AND NOT EXISTS (SELECT 1 FROM "
        f"{SCHEMA}.station s WHERE ST_DWithin(b.g, s.g, 495))").fetchone()[0]
    assert n > 50
