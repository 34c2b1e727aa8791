"""Who may see and do what (design.md: "Who may see and do what: services/access.py").

Personal data (reporter name and phone) is shown only to roles that handle the case, and never on the
wall display, which strangers can read from across the room. Pages ask here; they never decide.
"""

from __future__ import annotations

from typing import Any

from services.store.base import PERSONAL_COLUMNS

# Roles that may see a reporter's contact details on a personal screen (to call them back).
PERSONAL_DATA_ROLES = frozenset({"community_dispatcher"})


def may_see_personal(role: str, *, wall_mode: bool) -> bool:
    """True only for a case-handling role on a personal screen; the wall display never shows it."""
    return not wall_mode and role in PERSONAL_DATA_ROLES


def mask_name(name: str | None) -> str:
    """张三丰 -> 张**: the surname stays so that staff can address the person politely."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678."""
    if not phone:
        return ""
    p = str(phone)
    return p[:3] + "*" * max(len(p) - 7, 0) + p[-4:] if len(p) >= 8 else "*" * len(p)


def redact(appeal: dict[str, Any], role: str, *, wall_mode: bool) -> dict[str, Any]:
    """The appeal with personal fields removed (wall mode) or masked (roles without the right)."""
    out = dict(appeal)
    if wall_mode:
        for col in PERSONAL_COLUMNS:
            out.pop(col, None)
    elif not may_see_personal(role, wall_mode=wall_mode):
        out["reporter_name"] = mask_name(out.get("reporter_name"))
        out["reporter_phone"] = mask_phone(out.get("reporter_phone"))
    return out
