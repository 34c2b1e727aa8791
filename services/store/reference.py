"""The contract's reference-data register written once in the dialect: departments and stations as the
data screen keeps them (services/reference_data.py): add, rename, edit, close and reopen, each stamped
with who edited it and when.

The layer reads (``departments``, ``points``) are services.store.queries'; what this adds is the
register (every station, closed ones too, with their state), the edits, and ``reference_edited``: once a
department or station was edited here, the store's register is the district's own and seeding no
longer replaces it from the layer folder (services/seed.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from services.clocks import as_local
from services.errors import NotFound, ValidationError
from services.store.common import STATION_EDITABLE, STATION_STATE_COLUMNS, now, point_columns, py
from services.store.dialect import SQLDialect

DEPARTMENT_REGISTER = ("code", "name", "name_en", "edited_at", "edited_by", "orders")
_BOOLS = ("offers_appeal", "offers_legal", "offers_psychological")


class SQLReference(SQLDialect):
    """Store.department_register … Store.reference_edited over the store's SQL primitives."""

    def _stamp(self, at: datetime | None) -> Any:
        return self._param_ts(as_local(at) if at is not None else now())

    # -- departments ----------------------------------------------------------------------------------
    def department_register(self) -> pd.DataFrame:
        sql = ("SELECT d.code, d.name, d.name_en, d.edited_at, d.edited_by, COUNT(o.order_id) AS orders "
               "FROM department d LEFT JOIN order_department o ON o.department_code = d.code "
               f"GROUP BY d.code, d.name, d.name_en, d.edited_at, d.edited_by ORDER BY {self._bytewise('d.code')}")
        with self._read() as cx:
            rows = self._fetch(cx, sql, ())
        df = self._local_times(pd.DataFrame(rows, columns=list(DEPARTMENT_REGISTER)), ["edited_at"])
        df["orders"] = df["orders"].astype("int64")
        return df

    def add_department(self, code: str, name: str, name_en: str | None, actor: str,
                       at: datetime | None = None) -> None:
        p = self.P
        with self._tx() as cx:
            cur = cx.execute(f"INSERT INTO department (code, name, name_en, edited_at, edited_by) "
                             f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (code) DO NOTHING",
                             (code, name, name_en, self._stamp(at), actor))
            if cur.rowcount != 1:
                raise ValidationError("error.department_code_taken", code=code)

    def rename_department(self, code: str, name: str, name_en: str | None, actor: str,
                          at: datetime | None = None) -> None:
        p = self.P
        with self._tx() as cx:
            cur = cx.execute(f"UPDATE department SET name = {p}, name_en = {p}, edited_at = {p}, edited_by = {p} "
                             f"WHERE code = {p}", (name, name_en, self._stamp(at), actor, code))
            if cur.rowcount != 1:
                raise NotFound("error.department_not_found", code=code)

    # -- stations -------------------------------------------------------------------------------------
    def station_register(self) -> pd.DataFrame:
        cols = (*point_columns("station"), *STATION_STATE_COLUMNS)
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(cols)} FROM station ORDER BY {self._bytewise('code')}", ())
        df = self._local_times(pd.DataFrame(rows, columns=list(cols)), ["closed_at", "edited_at"])
        for c in _BOOLS:
            df[c] = df[c].astype("boolean")
        return df

    def station(self, code: str) -> dict[str, Any]:
        """One station of the register (closed ones too) as a dict; ``NotFound`` when there is none."""
        df = self.station_register()
        hit = df[df["code"] == code]
        if hit.empty:
            raise NotFound("error.station_not_found", code=code)
        return {k: py(v) for k, v in hit.iloc[0].to_dict().items()}

    def add_station(self, row: dict[str, Any], actor: str, at: datetime | None = None) -> None:
        cols = [c for c in point_columns("station") if c in row]
        p = self.P
        values = [py(row[c]) for c in cols]
        with self._tx() as cx:
            cur = cx.execute(f"INSERT INTO station ({', '.join(cols)}, edited_at, edited_by) "
                             f"VALUES ({', '.join([p] * (len(cols) + 2))}) ON CONFLICT (code) DO NOTHING",
                             (*values, self._stamp(at), actor))
            if cur.rowcount != 1:
                raise ValidationError("error.station_code_taken", code=row.get("code"))

    def update_station(self, code: str, changes: dict[str, Any], actor: str, at: datetime | None = None) -> None:
        unknown = sorted(set(changes) - set(STATION_EDITABLE))
        if unknown or not changes:
            raise ValueError(f"update_station: not editable: {', '.join(unknown) or '(nothing to change)'}")
        p = self.P
        sets = [f"{c} = {p}" for c in changes] + [f"edited_at = {p}", f"edited_by = {p}"]
        values = [self._param_ts(v) if c == "closed_at" else py(v) for c, v in changes.items()]
        with self._tx() as cx:
            cur = cx.execute(f"UPDATE station SET {', '.join(sets)} WHERE code = {p}",
                             (*values, self._stamp(at), actor, code))
            if cur.rowcount != 1:
                raise NotFound("error.station_not_found", code=code)

    def reference_edited(self, kind: str) -> bool:
        if kind not in ("department", "station"):
            raise ValueError(f"reference_edited: {kind!r} is not department or station")
        with self._read() as cx:
            return bool(self._fetch(cx, f"SELECT 1 FROM {kind} WHERE edited_at IS NOT NULL LIMIT 1", ()))
