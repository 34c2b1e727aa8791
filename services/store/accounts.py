"""Local accounts (account) in SQL written once: add, read, list, change, and count a failed sign-in
under the row's lock. The rules (names, roles, areas, hashing, throttling) are services/accounts.py's;
the store keeps what it is given."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from services.clocks import as_local
from services.errors import NotFound, ValidationError
from services.store.common import now
from services.store.dialect import SQLDialect

ACCOUNT_COLUMNS = ("id", "name", "role", "area_code", "display_name", "password_hash", "disabled", "created_at",
                   "updated_at", "failed_attempts", "locked_until")
# What update_account may change (updated_at is set with every change).
ACCOUNT_CHANGES = ("role", "area_code", "display_name", "password_hash", "disabled", "failed_attempts",
                   "locked_until")
_TIMES = ("created_at", "updated_at", "locked_until")


class SQLAccounts(SQLDialect):
    """The account part of the contract over the store's SQL primitives."""

    def _account_row(self, row: Any) -> dict[str, Any]:
        df = self._local_times(pd.DataFrame([tuple(row)], columns=list(ACCOUNT_COLUMNS)), _TIMES)
        out = {c: (None if pd.isna(v) else v) for c, v in df.iloc[0].items()}
        for c in _TIMES:
            out[c] = None if out[c] is None else out[c].to_pydatetime()
        out["id"], out["failed_attempts"], out["disabled"] = int(out["id"]), int(out["failed_attempts"]), \
            bool(out["disabled"])
        return out

    def _select_account(self, cx: Any, name: str, lock: bool = False) -> dict[str, Any] | None:
        rows = self._fetch(cx, f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM account WHERE name = {self.P}"
                               + (self._lock_clause("account") if lock else ""), (name,))
        return self._account_row(rows[0]) if rows else None

    def insert_account(self, name: str, role: str, password_hash: str, *, area_code: str | None = None,
                       display_name: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        when = self._param_ts(as_local(at) if at is not None else now())
        p = self.P
        with self._tx() as cx:
            rows = self._fetch(cx, "INSERT INTO account (name, role, area_code, display_name, password_hash, "
                                   f"created_at, updated_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) "
                                   "ON CONFLICT (name) DO NOTHING RETURNING id",
                               (name, role, area_code, display_name, password_hash, when, when))
            if not rows:
                raise ValidationError("error.account_exists", name=name)
            return self._select_account(cx, name)  # type: ignore[return-value]

    def get_account(self, name: str) -> dict[str, Any] | None:
        with self._read() as cx:
            return self._select_account(cx, str(name))

    def list_accounts(self) -> pd.DataFrame:
        cols = [c for c in ACCOUNT_COLUMNS if c != "password_hash"]
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(cols)} FROM account ORDER BY name", ())
        df = self._local_times(pd.DataFrame(rows, columns=cols), _TIMES)
        df["disabled"] = df["disabled"].astype(bool)
        for c in ("area_code", "display_name"):  # None, not NaN, where there is none
            df[c] = df[c].astype(object).where(df[c].notna(), None)
        return df

    def account_count(self) -> int:
        with self._read() as cx:
            return int(self._fetch(cx, "SELECT COUNT(*) FROM account", ())[0][0])

    def update_account(self, name: str, *, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        bad = sorted(set(changes) - set(ACCOUNT_CHANGES))
        if bad:
            raise ValidationError(f"not account fields that may change: {bad}")
        values = {c: (self._param_ts(v) if c == "locked_until" else v) for c, v in changes.items()}
        values["updated_at"] = self._param_ts(as_local(at) if at is not None else now())
        with self._tx() as cx:
            cur = cx.execute(f"UPDATE account SET {', '.join(f'{c} = {self.P}' for c in values)} "
                             f"WHERE name = {self.P}", (*values.values(), name))
            if cur.rowcount == 0:
                raise NotFound("error.no_account", name=name)
            return self._select_account(cx, name)  # type: ignore[return-value]

    def note_failed_sign_in(self, name: str, at: datetime, lock_after: int,
                            lock_for: timedelta) -> dict[str, Any] | None:
        at = as_local(at)
        p = self.P
        with self._tx() as cx:
            row = self._select_account(cx, name, lock=True)
            if row is None:
                return None
            failed = row["failed_attempts"] + 1
            locked = at + lock_for if failed >= lock_after else row["locked_until"]
            cx.execute(f"UPDATE account SET failed_attempts = {p}, locked_until = {p} WHERE name = {p}",
                       (0 if failed >= lock_after else failed, self._param_ts(locked), name))
            return self._select_account(cx, name)
