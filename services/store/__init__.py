"""The store: one interface (``base.Store``), SQLite by default, PostGIS when ``DATABASE_URL`` says so.

``open_store()`` reads ``DATABASE_URL``: ``sqlite:///var/gm.sqlite3`` (the default; a relative path is
relative to the repository root, an absolute one is written ``sqlite:////abs/path``) or
``postgresql://user:pass@host:port/db[?schema=name]``. Stores are cached per URL and thread-safe, so
pages and jobs share one connection pool; the schema is created or migrated when a store opens.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from services.config import REPO_ROOT
from services.store.base import APPEAL_COLUMNS, EVENT_COLUMNS, OPEN_STATUSES, InsertResult, Store

DEFAULT_URL = "sqlite:///var/gm.sqlite3"
_stores: dict[str, Store] = {}
_lock = threading.Lock()


def database_url(url: str | None = None) -> str:
    """The URL in use: the argument, else ``DATABASE_URL``, else the embedded SQLite file."""
    return url or os.environ.get("DATABASE_URL") or DEFAULT_URL


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///`` URL names (relative paths from the repository root)."""
    rest = url.removeprefix("sqlite:///")
    if rest == url or not rest or rest == ":memory:":
        raise ValueError(f"not a file SQLite URL: {url!r} (expected sqlite:///relative/path or "
                         "sqlite:////absolute/path)")
    path = Path(rest)
    return path if path.is_absolute() else REPO_ROOT / path


def create_store(url: str | None = None) -> Store:
    """A new store for ``url`` (not cached): SQLite or PostGIS by the URL's scheme."""
    url = database_url(url)
    if url.startswith("sqlite:"):
        from services.store.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from services.store.postgis import PostGISStore

        return PostGISStore(url)
    raise ValueError(f"unsupported DATABASE_URL {url!r}: use sqlite:///path or postgresql://...")


def open_store(url: str | None = None) -> Store:
    """The shared store for ``url`` (default: ``DATABASE_URL``, else ``sqlite:///var/gm.sqlite3``)."""
    url = database_url(url)
    with _lock:
        store = _stores.get(url)
        if store is None or getattr(store, "closed", False):
            store = _stores[url] = create_store(url)
        return store


def close_stores() -> None:
    """Close every cached store (end of a job or test session)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


__all__ = ["APPEAL_COLUMNS", "EVENT_COLUMNS", "OPEN_STATUSES", "DEFAULT_URL", "InsertResult", "Store",
           "close_stores", "create_store", "database_url", "open_store", "sqlite_path"]
