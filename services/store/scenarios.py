"""Planners' saved scenarios (planning_scenario) in SQL written once: save, list, load, delete."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.errors import NotFound, ValidationError
from services.store.base import SCENARIO_COLUMNS
from services.store.common import now
from services.store.dialect import SQLDialect


class SQLScenarios(SQLDialect):
    """The planning-scenario part of the contract over the store's SQL primitives."""

    def save_scenario(self, name: str, payload: dict[str, Any], created_by: str, *,
                      at: datetime | None = None, replace: bool = False) -> dict[str, Any]:
        name, created_by = str(name or "").strip(), str(created_by or "").strip()
        if not name:
            raise ValidationError("a scenario needs a name")
        if not created_by:
            raise ValidationError("a scenario needs who saved it (created_by)")
        if not isinstance(payload, dict):
            raise ValidationError("a scenario's payload is a JSON object (a dict)")
        try:
            text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"a scenario's payload must be JSON: {exc}") from None
        p = self.P
        on_conflict = ("DO UPDATE SET created_by = excluded.created_by, created_at = excluded.created_at, "
                       "payload = excluded.payload") if replace else "DO NOTHING"
        with self._tx() as cx:
            rows = self._fetch(cx, "INSERT INTO planning_scenario (name, created_by, created_at, payload) "
                                   f"VALUES ({p}, {p}, {p}, {self._json_param()}) ON CONFLICT (name) {on_conflict} "
                                   "RETURNING id", (name, created_by, self._param_ts(at or now()), text))
        if not rows:
            raise ValidationError(f"a scenario named {name!r} exists already")
        return self.load_scenario(int(rows[0][0]))

    def _scenario_frame(self, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._read() as cx:
            rows = self._fetch(cx, f"SELECT {', '.join(SCENARIO_COLUMNS)} FROM planning_scenario {where} "
                                   "ORDER BY id", params)
        df = self._local_times(pd.DataFrame(rows, columns=list(SCENARIO_COLUMNS)), ["created_at"])
        df["id"] = df["id"].astype("int64")
        df["payload"] = [json.loads(v) if isinstance(v, str) else v for v in df["payload"]]
        return df

    def _scenario_where(self, key: int | str) -> tuple[str, tuple[Any, ...]]:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return f"WHERE id = {self.P}", (int(key),)
        if isinstance(key, str):
            return f"WHERE name = {self.P}", (key.strip(),)
        raise ValidationError(f"a scenario is named by its id (int) or name (str), not {key!r}")

    def list_scenarios(self) -> pd.DataFrame:
        return self._scenario_frame()

    def load_scenario(self, key: int | str) -> dict[str, Any]:
        df = self._scenario_frame(*self._scenario_where(key))
        if df.empty:
            raise NotFound(f"no planning scenario {key!r}")
        out = df.iloc[0].to_dict()
        out["id"] = int(out["id"])
        out["created_at"] = out["created_at"].to_pydatetime()
        return out

    def delete_scenario(self, key: int | str) -> bool:
        where, params = self._scenario_where(key)
        with self._tx() as cx:
            return bool(self._fetch(cx, f"DELETE FROM planning_scenario {where} RETURNING id", params))
