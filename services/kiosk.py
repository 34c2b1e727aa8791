"""Kiosk tokens for the unattended wall (issue 12 §1, "The unattended wall").

A wall screen that nobody signs in to gets a URL with a long random token (``url``), bound to the
screen's name and to the read-only ``wall`` role: whoever holds the URL sees what the wall shows and
nothing else. An admin issues one (``issue``: it replaces the screen's earlier token) and revokes it
(``revoke``); the page turns the token into a Principal with ``principal``. Only a SHA-256 of a token is
stored, so a copy of the database gives no working URL. Issuing and revoking are audited.

CLI: ``python -m services.access kiosk-url --screen NAME | revoke-kiosk --screen NAME | kiosks``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

import pandas as pd

from services import access, audit
from services.clocks import as_local
from services.errors import NotFound, ValidationError
from services.store.base import Store
from services.store.common import now as _now

# A screen's name: as an account's (services/accounts.NAME), so that it is safe in a URL, a log and an actor.
SCREEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Random bytes in a token (secrets.token_urlsafe: 43 URL-safe characters, 256 bits).
TOKEN_BYTES = 32
# What a token can look like: URL-safe base64 text of about that length. Anything else is refused before
# the store is asked (a malformed or oversized value costs no query).
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{40,128}$")
# The role of every kiosk principal, and the prefix of its name (the actor of what it reads).
ROLE = "wall"
ACTOR_PREFIX = "kiosk:"
# last_seen_at is written at most this often per token: a wall refreshes every few seconds, and a write
# per refresh would be a write load for a figure that only says "still in use".
SEEN_EVERY = timedelta(minutes=1)
DEFAULT_BASE_URL = "http://127.0.0.1:8501"


def check_screen(screen: str) -> str:
    """``screen`` stripped when it is a valid screen name; ValidationError otherwise."""
    name = str(screen or "").strip()
    if not SCREEN.match(name):
        raise ValidationError("error.kiosk_screen_invalid", screen=name[:80])
    return name


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token, as the store keeps it.

    A fast hash is right here, unlike for passwords (argon2 in services/accounts.py): a token is 256 bits
    from the system's CSPRNG, so there is no dictionary to try and a brute-force search is hopeless
    however fast the hash; a slow hash would only cost every wall refresh. The lookup is by the hash, so
    the time it takes tells nothing about the token."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue(store: Store, screen: str, *, actor: str, address: str | None = None,
          at: datetime | None = None) -> str:
    """A new token for ``screen`` (returned once, never stored in clear); the screen's earlier token
    stops working in the same transaction. Audited as ``kiosk_issued``."""
    name = check_screen(screen)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = store.insert_kiosk_token(name, token_hash(token), created_by=actor, at=at)
    audit.record(store, actor, "kiosk_issued", "kiosk", name, {"token_id": row["id"]}, address, at)
    return token


def principal(store: Store, token: str | None, *, now: datetime | None = None) -> access.Principal | None:
    """The ``wall`` principal ``kiosk:<screen>`` of an active token; None for a missing, malformed,
    unknown or revoked one. Notes the use (last_seen_at) at most once per ``SEEN_EVERY``."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    row = store.find_kiosk_token(token_hash(token))
    if row is None:
        return None
    at = as_local(now) if now is not None else _now()
    seen = row["last_seen_at"]
    if seen is None or at - seen >= SEEN_EVERY:
        store.mark_kiosk_seen(row["id"], at)
    return access.Principal(f"{ACTOR_PREFIX}{row['screen']}", ROLE)


def revoke(store: Store, screen: str, *, actor: str, address: str | None = None,
           at: datetime | None = None) -> None:
    """Revoke ``screen``'s active token (its URL stops working at once); NotFound when it has none.
    Audited as ``kiosk_revoked``."""
    name = check_screen(screen)
    row = store.revoke_kiosk_token(name, revoked_by=actor, at=at)
    if row is None:
        raise NotFound("error.no_kiosk", screen=name)
    audit.record(store, actor, "kiosk_revoked", "kiosk", name, {"token_id": row["id"]}, address, at)


def screens(store: Store) -> pd.DataFrame:
    """Every token issued, by screen (never the token or its hash), with ``active`` True for the one a
    screen may use now."""
    df = store.list_kiosk_tokens()
    df["active"] = df["revoked_at"].isna().astype(bool)
    return df


def url(base_url: str, token: str) -> str:
    """The wall's URL for a kiosk token: ``{base}/wall?mode=wall&kiosk={token}`` (the token is URL-safe)."""
    return f"{str(base_url).rstrip('/')}/wall?mode=wall&kiosk={token}"
