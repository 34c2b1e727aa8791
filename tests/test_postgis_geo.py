"""PostGIS agrees with our geometry: areas and distances in EPSG:4547, and point-in-grid assignment."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import shapely

from geo.assign import PolygonIndex
from geo.crs import area_m2, distance_m

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def pg(postgis_url, layers):
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS geo_check")
        conn.execute("DROP TABLE IF EXISTS geo_check.grid")
        conn.execute("CREATE TABLE geo_check.grid (idx int PRIMARY KEY, code text, geom geometry(MultiPolygon, 4326))")
        grid = layers["grid"]
        with conn.cursor().copy("COPY geo_check.grid (idx, code, geom) FROM STDIN") as copy:
            for i, (code, g) in enumerate(zip(grid.code, grid.geometry.values, strict=True)):
                mp = g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                copy.write_row((i, code, f"SRID=4326;{mp.wkt}"))
        conn.execute("CREATE INDEX ON geo_check.grid USING gist (geom)")
        yield conn
        conn.execute("DROP SCHEMA geo_check CASCADE")


def test_grid_areas_match_postgis(pg, layers):
    rows = pg.execute("SELECT idx, ST_Area(ST_Transform(geom, 4547)) FROM geo_check.grid ORDER BY idx").fetchall()
    theirs = np.array([r[1] for r in rows])
    ours = area_m2(layers["grid"].geometry.values)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_distances_match_postgis(pg):
    rng = np.random.default_rng(3)
    lon1, lat1 = rng.uniform(113.86, 114.0, 200), rng.uniform(22.70, 22.83, 200)
    lon2, lat2 = lon1 + rng.normal(0, 0.004, 200), lat1 + rng.normal(0, 0.004, 200)
    rows = pg.execute(
        "SELECT ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(a, b), 4326), 4547),"
        " ST_Transform(ST_SetSRID(ST_MakePoint(c, d), 4326), 4547))"
        " FROM unnest(%s::float8[], %s::float8[], %s::float8[], %s::float8[]) AS t(a, b, c, d)",
        (lon1.tolist(), lat1.tolist(), lon2.tolist(), lat2.tolist())).fetchall()
    np.testing.assert_allclose(distance_m(lon1, lat1, lon2, lat2), [r[0] for r in rows], rtol=1e-9, atol=1e-6)


def test_point_assignment_matches_st_intersects(pg, layers):
    rng = np.random.default_rng(4)
    minx, miny, maxx, maxy = layers["district"].total_bounds
    lon, lat = rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)
    ours = PolygonIndex.from_frame(layers["grid"]).locate(lon, lat)
    rows = pg.execute(
        "SELECT p.i, min(g.idx) FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(x, y, i)"
        " LEFT JOIN geo_check.grid g ON ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))"
        " GROUP BY p.i ORDER BY p.i", (lon.tolist(), lat.tolist())).fetchall()
    theirs = np.array([-1 if r[1] is None else r[1] for r in rows])
    assert (ours == theirs).all()
    assert (ours >= 0).sum() > 1000 and (ours < 0).sum() > 100
