"""Domain errors: what a service raises when a request breaks a rule, in words a user can act on.

An error carries a message key of the string table (config/strings/messages.toml, ``error.*``) and its
parameters, so that a page shows it in the user's language: ``describe(exc, lang)``. Parameters that are
codes of a vocabulary (a status, an action) are passed as ``Label``/``Labels`` and rendered through
``label()`` in that language; ``Message`` is a nested message (a reason). ``str(exc)`` is the English
text with the raw codes, for logs, the CLI and tests. An error raised with plain text instead of a key
(code outside the domain services) is shown as is in English and as a generic sentence in Chinese.

The store raises these before anything is written, so an illegal request never changes data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.i18n import label, normalise_lang, t, table

# The sentence shown in Chinese for an error raised with plain (English) text and no message key.
UNKEYED = "error.unkeyed"


@dataclass(frozen=True)
class Label:
    """A code of a vocabulary group, shown as its label (``label(group, code, lang)``)."""

    group: str
    code: Any


@dataclass(frozen=True)
class Labels:
    """A list of codes of one group, shown as labels joined by the language's list separator;
    ``empty`` is the message key shown when the list is empty."""

    group: str
    codes: tuple
    empty: str = "error.none"

    def __init__(self, group: str, codes: Sequence[Any], empty: str = "error.none") -> None:
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "codes", tuple(codes))
        object.__setattr__(self, "empty", empty)


@dataclass(frozen=True)
class Message:
    """A nested message of the table (e.g. the reason of a refused move)."""

    key: str


def _render_value(value: Any, lang: str | None) -> str:
    """One parameter in ``lang``; ``lang=None`` is the log form (English text, raw codes)."""
    if isinstance(value, Label):
        return str(value.code) if lang is None else label(value.group, None if value.code is None
                                                           else str(value.code), lang)
    if isinstance(value, Labels):
        if not value.codes:
            return t(value.empty, lang or "en")
        sep = t("error.list_separator", lang or "en")
        return sep.join(_render_value(Label(value.group, c), lang) for c in value.codes)
    if isinstance(value, Message):
        return t(value.key, lang or "en")
    if isinstance(value, datetime) or hasattr(value, "to_pydatetime"):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, (list, tuple)):
        return t("error.list_separator", lang or "en").join(str(v) for v in value)
    return str(value)


def render(key: str, params: dict[str, Any], lang: str | None) -> str:
    """The text of message ``key`` with ``params``, in ``lang`` (``None``: the English log form)."""
    return t(key, "en" if lang is None else normalise_lang(lang),
             **{k: _render_value(v, lang) for k, v in params.items()})


class DomainError(Exception):
    """Base of every rule violation raised by services: ``DomainError(key, **params)``.

    ``key`` names a message of the string table; plain text is accepted too (then it is not translated).
    """

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key if key in table() else None
        self.params = params
        super().__init__(render(key, params, None) if self.key else key)


def describe(exc: BaseException, lang: str | None) -> str:
    """The message of ``exc`` for a user reading ``lang``, every code in it labelled in that language."""
    lang = normalise_lang(lang)
    if isinstance(exc, DomainError) and exc.key:
        return render(exc.key, exc.params, lang)
    return str(exc) if lang == "en" else t(UNKEYED, lang)


class IllegalTransition(DomainError):
    """An action that the appeal's current state does not allow; says what is allowed next.

    ``reason`` is a key of ``error.reason.*`` (e.g. ``already_responded``), or empty.
    """

    def __init__(self, action: str, status: str, allowed: Sequence[str], reason: str = "") -> None:
        self.action = action
        self.status = status
        self.allowed = list(allowed)
        self.reason = reason
        super().__init__("error.illegal_transition", action=Label("action", action), status=Label("status", status),
                         reason=Message(f"error.reason.{reason}") if reason else "",
                         allowed=Labels("action", self.allowed, empty="error.nothing_allowed"))


class AppealChanged(DomainError):
    """The appeal changed since the caller read it (another person acted first): nothing was written."""


class NotFound(DomainError, LookupError):
    """No appeal, order or department with that key."""


class ValidationError(DomainError, ValueError):
    """A parameter is missing or out of range (e.g. an unknown satisfaction value or department)."""
