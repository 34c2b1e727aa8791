"""The store's part of partner API keys (issue 16, services/api_keys.py): the abstract methods, in a mixin of
their own so that services/store/base.py does not grow, and what their rows hold.

The store keeps what it is given: services/api_keys.py makes the keys, hashes them (only the SHA-256 is
stored), and checks partner names, service codes and areas. What the store guarantees is the one rule a
transaction must hold: at most one active key per partner (issuing revokes the partner's active key in
the same transaction; a partial unique index backs it). The SQL is services/store/api_keys_sql.py."""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

import pandas as pd

# What every call returns of a key's row: never its hash. ``services`` is a tuple of service codes (empty:
# every service).
API_KEY_COLUMNS = ("id", "partner", "services", "area_code", "created_at", "created_by", "revoked_at",
                   "revoked_by", "last_used_at")


class ApiKeyStore(abc.ABC):
    """The API-key part of the store contract (services.store.base.Store inherits it)."""

    @abc.abstractmethod
    def insert_api_key(self, partner: str, key_hash: str, *, services: tuple[str, ...] = (),
                       area_code: str | None = None, created_by: str, at: datetime | None = None
                       ) -> dict[str, Any]:
        """Store a new key's hash for ``partner`` with its scope and, in the same transaction, revoke the
        partner's active key (by ``created_by``, at ``at``, default now): a partner has at most one.
        Returns the new row (API_KEY_COLUMNS) with ``replaced``: the id of the key it revoked, or None."""

    @abc.abstractmethod
    def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        """The key with this hash, active or revoked (``revoked_at`` says which), without the hash; None
        when no key has it."""

    @abc.abstractmethod
    def mark_api_key_used(self, key_id: int, at: datetime | None = None) -> None:
        """Record that the key ``key_id`` was used at ``at`` (default now)."""

    @abc.abstractmethod
    def revoke_api_key(self, partner: str, *, revoked_by: str, at: datetime | None = None
                       ) -> dict[str, Any] | None:
        """Revoke ``partner``'s active key; returns it as revoked, or None when the partner had none."""

    @abc.abstractmethod
    def list_api_keys(self) -> pd.DataFrame:
        """Every key, active and revoked, by partner and id (API_KEY_COLUMNS: never the hash)."""
