"""The checks a row must pass, each with its reason code, run in the order a clerk must act on them."""

from __future__ import annotations

import numpy as np


class Checks:
    """Failed checks per row: the first reason code, and every message joined by '；'."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, None, object)
        self.message = np.full(n, "", object)
        self.failed = np.zeros(n, bool)

    def add(self, code: str, mask: np.ndarray, messages: list[str] | str) -> None:
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        msgs = [messages] * len(idx) if isinstance(messages, str) else list(messages)
        first = ~self.failed[idx]
        self.code[idx[first]] = code
        for i, msg in zip(idx, msgs, strict=True):
            self.message[i] = msg if not self.message[i] else f"{self.message[i]}；{msg}"
        self.failed[idx] = True


def fmt_degrees(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def projected_hint(lon: float, lat: float) -> str:
    if abs(lon) > 180 or abs(lat) > 90:
        return "；数值像投影坐标（米），应为经纬度（度）"
    return ""
