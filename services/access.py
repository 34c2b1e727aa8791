"""Who may see and do what (design.md: "Who may see and do what: services/access.py").

Personal data (reporter name and phone) is shown only to roles that handle the case, and never on the
wall display, which strangers can read from across the room. Pages ask here; they never decide.

Every service call that shows an appeal or acts on one carries the caller's ``role``; the services check
it here (``check_role``, ``check_action``) before they read or write. Until sign-in exists every page
takes its role from ``pages.ui.role()``, which returns ``DEFAULT_ROLE``; sign-in replaces that one call.
A role that may not do something gets ``Forbidden`` (a DomainError, in the user's language) and nothing
changes.
"""

from __future__ import annotations

from typing import Any

from services.errors import DomainError, Label, Labels
from services.store.base import PERSONAL_COLUMNS

# What each role may do to an appeal (lifecycle actions and ``order``, the issue of an order).
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    # The command centre's duty officer: takes the call, accepts, dispatches, orders, escalates.
    "duty_officer": frozenset({"respond", "accept", "dispatch", "order", "escalate"}),
    # A community's dispatcher handles the case to the end and calls the reporter back.
    "community_dispatcher": frozenset({"respond", "accept", "dispatch", "order", "escalate", "resolve", "confirm",
                                       "feedback", "return_visit", "update_facts"}),
    # A leader or visitor watching the screens: reads, never acts.
    "viewer": frozenset(),
}
ROLES = tuple(ROLE_ACTIONS)
# The role of every page until sign-in exists (pages.ui.role()).
DEFAULT_ROLE = "duty_officer"
# Roles that may see a reporter's contact details on a personal screen (to call them back).
PERSONAL_DATA_ROLES = frozenset({"community_dispatcher"})


class Forbidden(DomainError, PermissionError):
    """The caller's role may not see or do this."""


def check_role(role: str) -> str:
    """``role`` when it is a known role; ``Forbidden`` otherwise (an unknown role may do nothing)."""
    if role not in ROLE_ACTIONS:
        raise Forbidden("error.unknown_role", role=role, roles=Labels("role", ROLES))
    return role


def may_do(role: str, action: str) -> bool:
    """True when ``role`` may perform ``action`` (a lifecycle action or ``order``); False for an unknown role."""
    return action in ROLE_ACTIONS.get(role, frozenset())


def check_action(role: str, action: str) -> None:
    """Raises ``Forbidden`` unless ``role`` may perform ``action``; call it before anything is written."""
    check_role(role)
    if not may_do(role, action):
        raise Forbidden("error.role_may_not", role=Label("role", role), action=Label("action", action))


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
    """The appeal with personal fields removed (wall mode, whatever the role) or masked (roles without the
    right); an unknown role gets ``Forbidden``."""
    check_role(role)
    out = dict(appeal)
    if wall_mode:
        for col in PERSONAL_COLUMNS:
            out.pop(col, None)
    elif not may_see_personal(role, wall_mode=wall_mode):
        out["reporter_name"] = mask_name(out.get("reporter_name"))
        out["reporter_phone"] = mask_phone(out.get("reporter_phone"))
    return out
