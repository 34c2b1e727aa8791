"""Partner API keys (api_key, issue 16) in SQL written once for both stores (the contract is
services/store/api_keys.py). Service codes are kept comma-joined in one text column (NULL: every
service) and read back as a tuple."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from services.store.api_keys import API_KEY_COLUMNS, ApiKeyStore
from services.store.kiosk import SQLKiosk

_TIMES = ("created_at", "revoked_at", "last_used_at")
_SELECT = ", ".join(API_KEY_COLUMNS)


def _services_text(services: Sequence[str]) -> str | None:
    return ",".join(services) or None


def _services_tuple(text: Any) -> tuple[str, ...]:
    return tuple(c for c in str(text).split(",") if c) if isinstance(text, str) else ()


class SQLApiKeys(SQLKiosk, ApiKeyStore):
    """The API-key part of the contract over the store's SQL primitives (the row helpers are the kiosk
    tokens')."""

    def _key_frame(self, rows: list[Any]) -> pd.DataFrame:
        df = self._frame(rows, API_KEY_COLUMNS, _TIMES)
        df["services"] = pd.Series([_services_tuple(v) for v in df["services"]], index=df.index, dtype=object)
        return df

    def _key_record(self, rows: list[Any]) -> dict[str, Any] | None:
        out = self._record(rows, API_KEY_COLUMNS, _TIMES)
        if out is not None:
            out["services"] = _services_tuple(out["services"])
        return out

    def insert_api_key(self, partner: str, key_hash: str, *, services: tuple[str, ...] = (),
                       area_code: str | None = None, created_by: str, at: datetime | None = None
                       ) -> dict[str, Any]:
        when, p = self._at(at), self.P
        with self._tx() as cx:
            old = self._fetch(cx, f"UPDATE api_key SET revoked_at = {p}, revoked_by = {p} "
                                  f"WHERE partner = {p} AND revoked_at IS NULL RETURNING id",
                              (when, created_by, partner))
            rows = self._fetch(cx, "INSERT INTO api_key (partner, key_hash, services, area_code, created_at, "
                                   f"created_by) VALUES ({p}, {p}, {p}, {p}, {p}, {p}) RETURNING {_SELECT}",
                               (partner, key_hash, _services_text(services), area_code, when, created_by))
        out: dict[str, Any] = self._key_record(rows)  # type: ignore[assignment]
        out["replaced"] = int(old[0][0]) if old else None
        return out

    def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {_SELECT} FROM api_key WHERE key_hash = {self.P}", (key_hash,))
        return self._key_record(rows)

    def mark_api_key_used(self, key_id: int, at: datetime | None = None) -> None:
        with self._tx() as cx:
            cx.execute(f"UPDATE api_key SET last_used_at = {self.P} WHERE id = {self.P}",
                       (self._at(at), int(key_id)))

    def revoke_api_key(self, partner: str, *, revoked_by: str, at: datetime | None = None
                       ) -> dict[str, Any] | None:
        p = self.P
        with self._tx() as cx:
            rows = self._fetch(cx, f"UPDATE api_key SET revoked_at = {p}, revoked_by = {p} "
                                   f"WHERE partner = {p} AND revoked_at IS NULL RETURNING {_SELECT}",
                               (self._at(at), revoked_by, partner))
        return self._key_record(rows)

    def list_api_keys(self) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {_SELECT} FROM api_key ORDER BY {self._bytewise('partner')}, id", ())
        return self._key_frame(rows)
