"""Domain errors: what a service raises when a request breaks a rule, in words a user can act on.

Pages show these messages as they are; the store raises them before anything is written, so an
illegal request never changes data.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base of every rule violation raised by services."""


class IllegalTransition(DomainError):
    """An action that the appeal's current state does not allow; says what is allowed next."""

    def __init__(self, action: str, status: str, allowed: Sequence[str], reason: str = "") -> None:
        self.action = action
        self.status = status
        self.allowed = list(allowed)
        self.reason = reason
        nxt = ", ".join(self.allowed) if self.allowed else "nothing (the appeal is closed)"
        why = f" ({reason})" if reason else ""
        super().__init__(f"cannot {action} an appeal that is '{status}'{why}; allowed next: {nxt}")


class NotFound(DomainError, LookupError):
    """No appeal, order or department with that key."""


class ValidationError(DomainError, ValueError):
    """A parameter is missing or out of range (e.g. an unknown satisfaction value or department)."""
