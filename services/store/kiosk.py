"""Kiosk tokens (kiosk_token) and the identity-to-role map (identity_role) in SQL written once.

The store keeps what it is given: services/kiosk.py makes the tokens (and hashes them: only the hash is
stored) and services/identities.py checks providers, roles, areas and lowercases user values. What the
store guarantees is the one rule a transaction must hold: at most one active token per screen (issuing
revokes the screen's active token in the same transaction; a partial unique index backs it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from services.clocks import as_local
from services.errors import ValidationError
from services.store.common import now
from services.store.dialect import SQLDialect

# What list_kiosk_tokens and the rows of the other calls show: never the token's hash.
KIOSK_COLUMNS = ("id", "screen", "created_at", "created_by", "revoked_at", "revoked_by", "last_seen_at")
_KIOSK_TIMES = ("created_at", "revoked_at", "last_seen_at")
IDENTITY_COLUMNS = ("id", "provider", "kind", "value", "role", "area_code", "created_at", "created_by")
_IDENTITY_TIMES = ("created_at",)


class SQLKiosk(SQLDialect):
    """The kiosk-token and identity-map parts of the contract over the store's SQL primitives."""

    def _at(self, at: datetime | None) -> Any:
        return self._param_ts(as_local(at) if at is not None else now())

    def _frame(self, rows: list[Any], columns: Sequence[str], times: Sequence[str]) -> pd.DataFrame:
        """Rows as a frame with local times, ids as int64 and None (not NaN) in empty text columns."""
        df = self._local_times(pd.DataFrame([tuple(r) for r in rows], columns=list(columns)), times)
        df["id"] = df["id"].astype("int64")
        for c in columns:
            if c not in times and c != "id":
                df[c] = df[c].astype(object).where(df[c].notna(), None)
        return df

    def _record(self, rows: list[Any], columns: Sequence[str], times: Sequence[str]) -> dict[str, Any] | None:
        """The first row as a dict of Python values (datetimes in Asia/Shanghai, None where empty)."""
        if not rows:
            return None
        out = dict(zip(columns, tuple(rows[0]), strict=True))  # no frame for one row: a key check is on every POST
        for c in times:
            out[c] = self._local_time(out[c])
        out["id"] = int(out["id"])
        return out

    # -- kiosk tokens --------------------------------------------------------------------------------
    def insert_kiosk_token(self, screen: str, token_hash: str, *, created_by: str,
                           at: datetime | None = None) -> dict[str, Any]:
        when, p = self._at(at), self.P
        with self._tx() as cx:
            cx.execute(f"UPDATE kiosk_token SET revoked_at = {p}, revoked_by = {p} "
                       f"WHERE screen = {p} AND revoked_at IS NULL", (when, created_by, screen))
            rows = self._fetch(cx, "INSERT INTO kiosk_token (screen, token_hash, created_at, created_by) "
                                   f"VALUES ({p}, {p}, {p}, {p}) RETURNING {', '.join(KIOSK_COLUMNS)}",
                               (screen, token_hash, when, created_by))
        return self._record(rows, KIOSK_COLUMNS, _KIOSK_TIMES)  # type: ignore[return-value]

    def find_kiosk_token(self, token_hash: str) -> dict[str, Any] | None:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(KIOSK_COLUMNS)} FROM kiosk_token "
                                   f"WHERE token_hash = {self.P} AND revoked_at IS NULL", (token_hash,))
        return self._record(rows, KIOSK_COLUMNS, _KIOSK_TIMES)

    def mark_kiosk_seen(self, token_id: int, at: datetime | None = None) -> None:
        with self._tx() as cx:
            cx.execute(f"UPDATE kiosk_token SET last_seen_at = {self.P} WHERE id = {self.P}",
                       (self._at(at), int(token_id)))

    def revoke_kiosk_token(self, screen: str, *, revoked_by: str, at: datetime | None = None
                           ) -> dict[str, Any] | None:
        p = self.P
        with self._tx() as cx:
            rows = self._fetch(cx, f"UPDATE kiosk_token SET revoked_at = {p}, revoked_by = {p} "
                                   f"WHERE screen = {p} AND revoked_at IS NULL RETURNING {', '.join(KIOSK_COLUMNS)}",
                               (self._at(at), revoked_by, screen))
        return self._record(rows, KIOSK_COLUMNS, _KIOSK_TIMES)

    def list_kiosk_tokens(self) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(KIOSK_COLUMNS)} FROM kiosk_token "
                                   f"ORDER BY {self._bytewise('screen')}, id", ())
        return self._frame(rows, KIOSK_COLUMNS, _KIOSK_TIMES)

    # -- identity -> role ----------------------------------------------------------------------------
    def insert_identity_role(self, provider: str, kind: str, value: str, role: str, area_code: str | None = None,
                             *, created_by: str, at: datetime | None = None) -> dict[str, Any]:
        p = self.P
        with self._tx() as cx:
            rows = self._fetch(cx, "INSERT INTO identity_role (provider, kind, value, role, area_code, created_at, "
                                   f"created_by) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) "
                                   "ON CONFLICT (provider, kind, value) DO NOTHING "
                                   f"RETURNING {', '.join(IDENTITY_COLUMNS)}",
                               (provider, kind, value, role, area_code, self._at(at), created_by))
        if not rows:
            raise ValidationError("error.identity_exists", provider=provider, kind=kind, value=value)
        return self._record(rows, IDENTITY_COLUMNS, _IDENTITY_TIMES)  # type: ignore[return-value]

    def delete_identity_role(self, mapping_id: int) -> dict[str, Any] | None:
        with self._tx() as cx:
            rows = self._fetch(cx, f"DELETE FROM identity_role WHERE id = {self.P} "
                                   f"RETURNING {', '.join(IDENTITY_COLUMNS)}", (int(mapping_id),))
        return self._record(rows, IDENTITY_COLUMNS, _IDENTITY_TIMES)

    def list_identity_roles(self, provider: str | None = None) -> pd.DataFrame:
        where, params = ("", ()) if provider is None else (f" WHERE provider = {self.P}", (provider,))
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(IDENTITY_COLUMNS)} FROM identity_role{where} "
                                   f"ORDER BY provider, kind, {self._bytewise('value')}, id", params)
        return self._frame(rows, IDENTITY_COLUMNS, _IDENTITY_TIMES)
