"""What the benchmark scripts share: where to find a PostGIS server for the PostGIS half of a run."""

from __future__ import annotations

import os


def postgis_url() -> str | None:
    """A PostgreSQL URL from TEST_DATABASE_URL or DATABASE_URL (``./dev db`` prints one), else None."""
    for var in ("TEST_DATABASE_URL", "DATABASE_URL"):
        url = os.environ.get(var, "")
        if url.startswith(("postgresql://", "postgres://")):
            return url
    return None
