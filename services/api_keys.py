"""Partner systems' API keys for the Open311 GeoReport v2 API (issue 16, services/open311api).

A partner system (the 12345 hotline, a department's platform) posts appeals with an ``api_key`` that an
admin issues for it (``issue``): a long random key with the prefix ``gm311_``, shown once, of which only a
SHA-256 is stored (as services/kiosk.py does for wall tokens: a copy of the database gives no working
key). A partner has one active key: issuing again revokes the earlier one in the same transaction. A key
has a scope: the Open311 service codes it may post (``SERVICE_CODES``: each Open311 service is one of our
appeal categories, services/vocabulary.py; none named = every service) and the subdistrict or community
it may post into (none = the whole district). The API turns a key into a ``Partner`` with ``check`` (a
missing key, or an unknown or revoked one, is ``access.Forbidden``, the two last with one message so
that a caller learns nothing about which; every refusal is audited) and tests a request against its
scope with ``allows`` / ``check_scope``. Issuing and revoking are audited (object kind ``api_key``).

Limits per key (requests a minute, body size, page size) are config/rules.toml ``[open311]``: ``limits``.

CLI: ``python -m services.access api-key --partner NAME [--service CODE ...] [--area CODE] |
revoke-api-key --partner NAME | api-keys``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from services import audit
from services.access import Forbidden
from services.clocks import as_local
from services.config import rules
from services.errors import NotFound, ValidationError
from services.store.base import Store
from services.store.common import now as _now
from services.vocabulary import CATEGORY_SERVICE

# Open311 service codes: our appeal categories (each category is one Open311 service; its service type
# is the service's group), in the vocabulary's order.
SERVICE_CODES: tuple[str, ...] = tuple(CATEGORY_SERVICE)
# A partner's name: as a kiosk screen's or an account's, safe in a URL, a log and an actor.
PARTNER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The start of every key, so that a key found in a log or a repository is recognised for what it is (and
# secret scanners can be taught the pattern).
PREFIX = "gm311_"
# Random bytes in a key (secrets.token_urlsafe: 43 URL-safe characters, 256 bits).
KEY_BYTES = 32
# What a key can look like; anything else is refused before the store is asked (a malformed or oversized
# value costs no query).
_KEY = re.compile(rf"^{PREFIX}[A-Za-z0-9_-]{{40,128}}$")
# The actor of what a partner does through the API (``Partner.actor``).
ACTOR_PREFIX = "api:"
# last_used_at is written at most this often per key: a partner may post hundreds of requests a second,
# and a write per request would double the API's writes for a figure that only says "still in use".
USED_EVERY = timedelta(minutes=1)
AREA_KINDS = ("subdistrict", "community")


@dataclass(frozen=True)
class Partner:
    """A partner system as its active key allows it: the key's id, the partner's name, the Open311 service
    codes it may post (``()``: all) and the subdistrict or community code it may post into (None: the
    whole district)."""

    id: int
    name: str
    services: tuple[str, ...]  # allowed Open311 service codes, () = all
    area_code: str | None      # a subdistrict or community code the partner may post into, None = district

    @property
    def actor(self) -> str:
        """The audit actor of the partner's requests: ``api:<name>``."""
        return f"{ACTOR_PREFIX}{self.name}"


def limits() -> dict[str, Any]:
    """config/rules.toml ``[open311]``: ``rate_per_minute``, ``max_body_bytes``, ``max_page_size`` (ints)
    and ``get_requires_key`` (bool)."""
    cfg = rules()["open311"]
    return {"rate_per_minute": int(cfg["rate_per_minute"]), "max_body_bytes": int(cfg["max_body_bytes"]),
            "max_page_size": int(cfg["max_page_size"]), "get_requires_key": bool(cfg["get_requires_key"])}


def check_partner(partner: str) -> str:
    """``partner`` stripped when it is a valid partner name; ValidationError otherwise."""
    name = str(partner or "").strip()
    if not PARTNER.match(name):
        raise ValidationError("error.api_key_partner_invalid", partner=name[:80])
    return name


def check_services(services: Sequence[str] | None) -> tuple[str, ...]:
    """The service codes, stripped, without repeats, in SERVICE_CODES' order; ValidationError naming the
    first unknown one. One code given as a string is read as that code (not as its letters)."""
    given = [services] if isinstance(services, str) else list(services or ())
    codes = {str(c).strip() for c in given if str(c).strip()}
    for code in sorted(codes):
        if code not in SERVICE_CODES:
            raise ValidationError("error.api_key_service_unknown", service=code[:80])
    return tuple(c for c in SERVICE_CODES if c in codes)


def area_codes() -> dict[str, str]:
    """``{code: kind}`` of every area a key may be limited to (the district's subdistricts and
    communities, services/district.py)."""
    from services import district

    return {code: kind for kind in AREA_KINDS for code in district.names(kind, "zh")}


def check_area(area: str | None) -> str | None:
    """``area`` stripped when it is a subdistrict or community code, None for none; ValidationError
    otherwise."""
    code = str(area).strip() if area is not None else ""
    if not code:
        return None
    if code not in area_codes():
        raise ValidationError("error.api_key_area_unknown", area=code[:80])
    return code


def key_hash(key: str) -> str:
    """The SHA-256 (hex) of a key, as the store keeps it. A fast hash is right here (see
    services/kiosk.token_hash): a key is 256 bits from the system's CSPRNG, so there is nothing to guess."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def issue(store: Store, partner: str, *, services: Sequence[str] = (), area: str | None = None, actor: str,
          address: str | None = None, at: datetime | None = None) -> str:
    """A new key for ``partner`` limited to ``services`` (Open311 service codes; none: all) and ``area``
    (a subdistrict or community code; None: the district), returned once and never stored in clear; the
    partner's earlier key stops working in the same transaction. Audited as ``api_key_issued``."""
    name = check_partner(partner)
    codes = check_services(services)
    area_code = check_area(area)
    key = PREFIX + secrets.token_urlsafe(KEY_BYTES)
    row = store.insert_api_key(name, key_hash(key), services=codes, area_code=area_code, created_by=actor, at=at)
    audit.record(store, actor, "api_key_issued", "api_key", name,
                 {"key_id": row["id"], "services": list(codes), "area_code": area_code,
                  "replaced": row["replaced"]}, address, at)
    return key


def _refuse(store: Store, reason: str, key_name: str, address: str | None, partner: str | None = None,
            key_id: int | None = None) -> Forbidden:
    detail = {"reason": reason} | ({"key_id": key_id} if key_id is not None else {})
    audit.record(store, "anonymous", "api_key_refused", "api_key", partner, detail, address)
    return Forbidden(key_name)


def check(store: Store, key: str | None, *, address: str | None = None, now: datetime | None = None) -> Partner:
    """The Partner of an active key. A missing key raises ``access.Forbidden`` ``error.api_key_missing``;
    a malformed, unknown or revoked one ``error.api_key_invalid`` (the same for each: the caller learns
    nothing about which). Each refusal is audited (``api_key_refused``, with the reason, and the partner
    when the key was revoked; never the key). Notes the use (last_used_at) at most once per ``USED_EVERY``."""
    if key is None or (isinstance(key, str) and not key.strip()):
        raise _refuse(store, "missing", "error.api_key_missing", address)
    if not isinstance(key, str) or not _KEY.match(key):
        raise _refuse(store, "malformed", "error.api_key_invalid", address)
    row = store.find_api_key(key_hash(key))
    if row is None:
        raise _refuse(store, "unknown", "error.api_key_invalid", address)
    if row["revoked_at"] is not None:
        raise _refuse(store, "revoked", "error.api_key_invalid", address, row["partner"], row["id"])
    at = as_local(now) if now is not None else _now()
    used = row["last_used_at"]
    if used is None or at - used >= USED_EVERY:
        store.mark_api_key_used(row["id"], at)
    return Partner(int(row["id"]), row["partner"], tuple(row["services"]), row["area_code"])


def allows(partner: Partner, service_code: str, appeal: Mapping[str, Any]) -> bool:
    """True when ``partner`` may post ``service_code`` for an appeal placed as ``appeal`` says
    (``subdistrict_code`` / ``community_code``, as services/district.py assigns them): the code is one of
    its services (or it has all), and the place is in its area (or it has the district). A place outside
    every community is outside every area."""
    if partner.services and service_code not in partner.services:
        return False
    if partner.area_code is None:
        return True
    return partner.area_code in (appeal.get("subdistrict_code"), appeal.get("community_code"))


def check_scope(partner: Partner, service_code: str, appeal: Mapping[str, Any]) -> None:
    """``allows``, or ``access.Forbidden`` ``error.api_key_scope``."""
    if not allows(partner, service_code, appeal):
        raise Forbidden("error.api_key_scope", partner=partner.name, service=str(service_code)[:80])


def revoke(store: Store, partner: str, *, actor: str, address: str | None = None,
           at: datetime | None = None) -> dict[str, Any]:
    """Revoke ``partner``'s active key (it stops working at once); returns the key's row as revoked (never
    the hash). NotFound ``error.api_key_unknown_partner`` when the partner has none. Audited as
    ``api_key_revoked``."""
    name = check_partner(partner)
    row = store.revoke_api_key(name, revoked_by=actor, at=at)
    if row is None:
        raise NotFound("error.api_key_unknown_partner", partner=name)
    audit.record(store, actor, "api_key_revoked", "api_key", name, {"key_id": row["id"]}, address, at)
    return row


def keys(store: Store) -> pd.DataFrame:
    """Every key issued, by partner and id: id, partner, services (a tuple; empty: all), area_code,
    created_at, created_by, revoked_at, revoked_by, last_used_at, and ``active`` (True for the one the
    partner may use now). Never a key or its hash."""
    df = store.list_api_keys()
    df["active"] = df["revoked_at"].isna().astype(bool)
    return df


# -- CLI (python -m services.access, through services/accounts.py) ---------------------------------------
def add_parsers(sub: Any) -> None:
    """The ``api-key``, ``revoke-api-key`` and ``api-keys`` subcommands."""
    ak = sub.add_parser("api-key", help="issue a partner system's Open311 API key (printed once; replaces the "
                                        "partner's earlier key)")
    ak.add_argument("--partner", required=True, metavar="NAME")
    ak.add_argument("--service", action="append", default=[], metavar="CODE",
                    help="an Open311 service code (an appeal category) the key may post; repeat for more "
                         "(default: every service)")
    ak.add_argument("--area", metavar="CODE", help="a subdistrict or community code (default: the district)")
    sub.add_parser("revoke-api-key", help="revoke a partner's API key").add_argument("--partner", required=True,
                                                                                     metavar="NAME")
    sub.add_parser("api-keys", help="list API keys (never the keys)")


def _cli_issue(store: Store, args: Any, actor: str) -> None:
    key = issue(store, args.partner, services=args.service, area=args.area, actor=actor)
    print(f"API key of partner {args.partner.strip()} (shown once; any earlier key of this partner no longer "
          f"works):\n{key}")


def _cli_revoke(store: Store, args: Any, actor: str) -> None:
    revoke(store, args.partner, actor=actor)
    print(f"API key of partner {args.partner.strip()} revoked")


def _cli_list(store: Store, args: Any, actor: str) -> None:
    def when(v: Any) -> str:
        return "" if v is None or pd.isna(v) else f"{v:%Y-%m-%d %H:%M}"

    for r in keys(store).itertuples(index=False):
        print("\t".join([str(r.id), r.partner, "active" if r.active else "revoked", ",".join(r.services) or "*",
                         r.area_code or "*", when(r.created_at), r.created_by, when(r.last_used_at),
                         when(r.revoked_at), r.revoked_by or ""]))


COMMANDS: dict[str, Callable[[Store, Any, str], None]] = {
    "api-key": _cli_issue, "revoke-api-key": _cli_revoke, "api-keys": _cli_list}
