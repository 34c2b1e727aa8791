"""Local accounts (issue 12 §1, the embedded default): add, change, disable, set a password, sign in.

Passwords are hashed with argon2id (``argon2-cffi``, its RFC 9106 low-memory profile), never stored or
logged in clear; a hash made with older parameters is replaced at the next good sign-in. Sign-in is
throttled: ``[accounts] lock_after_failures`` failures in a row lock the account for ``lock_minutes``
(config/rules.toml). A failed sign-in says only "wrong name or password", whether the name exists, is
disabled, or the password is wrong (an unknown name costs the same hash check); a locked account says
when to try again (which tells that the name exists, after that many tries: the price of a lock that a
user can understand). Every event goes to the audit log (services/audit.py) with the account that did it.

Roles and areas are services/access.py's; a scoped role's area must be a code of the district
(services/district.py). CLI: ``python -m services.access add-user | set-password | disable | list``, and
the kiosk tokens' (services/kiosk.py: ``kiosk-url | revoke-kiosk | kiosks``) and identity map's
(services/identities.py: ``map-identity | unmap-identity | identities``) and the partners' Open311 API
keys' (services/api_keys.py: ``api-key | revoke-api-key | api-keys``) commands.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services import access, audit
from services.clocks import as_local
from services.config import rules
from services.errors import DomainError, NotFound, ValidationError
from services.store.base import Store
from services.store.common import now as _now

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FIRST_ADMIN = "admin"
FIRST_ADMIN_FILE = "first-admin-password.txt"
_hasher = PasswordHasher()


class SignInFailed(DomainError, PermissionError):
    """Sign-in refused: wrong name or password (which, not said), or locked until a time."""


@dataclass(frozen=True)
class Account:
    """A signed-in (or listed) account: what the services need to decide what it may see and do."""

    id: int
    name: str
    role: str
    area_code: str | None
    display_name: str | None
    disabled: bool

    @classmethod
    def of(cls, row: dict[str, Any]) -> Account:
        return cls(row["id"], row["name"], row["role"], row["area_code"], row["display_name"], row["disabled"])


def account_rules() -> dict[str, Any]:
    return rules()["accounts"]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A random password (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def known_areas(store: Store | None = None) -> dict[str, dict[str, str]]:
    """The codes an account's area may take, by kind (services.access.AREA_KINDS); with ``store``, the
    departments are the store's register (one added on /data is a department officer's area at once)."""
    from services import district

    return {kind: district.names(kind, "zh", store) for kind in set(access.AREA_KINDS.values())}


def check_name(name: str) -> str:
    name = str(name or "").strip()
    if not NAME.match(name):
        raise ValidationError("error.account_name_invalid", name=name)
    return name


def check_password(password: str) -> str:
    least = int(account_rules()["min_password_length"])
    if len(password or "") < least:
        raise ValidationError("error.password_too_short", min=least)
    return password


def _get(store: Store, name: str) -> dict[str, Any]:
    row = store.get_account(name)
    if row is None:
        raise NotFound("error.no_account", name=name)
    return row


def add_user(store: Store, name: str, role: str, *, area_code: str | None = None, display_name: str | None = None,
             password: str | None = None, actor: str = "system", address: str | None = None,
             at: datetime | None = None) -> tuple[Account, str | None]:
    """Add an account; returns it and the generated password (None when ``password`` was given)."""
    name = check_name(name)
    access.check_role(role)
    area = access.check_area(role, area_code, known_areas(store))
    generated = None if password is not None else new_password()
    row = store.insert_account(name, role, hash_password(check_password(password or generated)),
                               area_code=area, display_name=(display_name or "").strip() or None, at=at)
    audit.record(store, actor, "account_created", "account", name,
                 {"role": role, "area_code": area, "display_name": row["display_name"]}, address, at)
    return Account.of(row), generated


def change_account(store: Store, name: str, *, role: str | None = None, area_code: str | None = None,
                   display_name: str | None = None, actor: str, address: str | None = None,
                   at: datetime | None = None) -> Account:
    """Change an account's role and area (checked together) or display name."""
    row = _get(store, name)
    new_role = role or row["role"]
    changes: dict[str, Any] = {}
    if role is not None or area_code is not None:
        access.check_role(new_role)
        changes |= {"role": new_role, "area_code": access.check_area(new_role, area_code, known_areas(store))}
    if display_name is not None:
        changes["display_name"] = display_name.strip() or None
    if not changes:
        return Account.of(row)
    out = store.update_account(name, at=at, **changes)
    audit.record(store, actor, "account_changed", "account", name,
                 {k: {"from": row[k], "to": out[k]} for k in changes}, address, at)
    return Account.of(out)


def set_password(store: Store, name: str, password: str | None = None, *, actor: str, address: str | None = None,
                 at: datetime | None = None) -> str | None:
    """Give an account a new password (and lift a lock); returns the generated one when none was given."""
    _get(store, name)
    generated = None if password is not None else new_password()
    store.update_account(name, at=at, password_hash=hash_password(check_password(password or generated)),
                         failed_attempts=0, locked_until=None)
    audit.record(store, actor, "password_set", "account", name, None, address, at)
    return generated


def disable(store: Store, name: str, *, actor: str, address: str | None = None,
            at: datetime | None = None) -> Account:
    """Disable an account: it can no longer sign in (its history stays)."""
    _get(store, name)
    out = store.update_account(name, at=at, disabled=True)
    audit.record(store, actor, "account_disabled", "account", name, None, address, at)
    return Account.of(out)


# Failed sign-ins per address (the times, newest last), for ``[accounts] address_failures``.
_FAILED_FROM: dict[str, deque[datetime]] = {}
_FAILED_LOCK = threading.Lock()


def _address_refused_until(address: str | None, at: datetime) -> datetime | None:
    """When ``address`` may try again, if it has failed too often within the window; else None."""
    if not address:
        return None
    cfg = account_rules()
    window = timedelta(minutes=float(cfg["address_window_minutes"]))
    with _FAILED_LOCK:
        times = _FAILED_FROM.get(address)
        while times and times[0] <= at - window:
            times.popleft()
        if not times:
            _FAILED_FROM.pop(address, None)
            return None
        return times[0] + window if len(times) >= int(cfg["address_failures"]) else None


def _note_address_failure(address: str | None, at: datetime) -> None:
    if address:
        with _FAILED_LOCK:
            _FAILED_FROM.setdefault(address, deque()).append(at)


def authenticate(store: Store, name: str, password: str, address: str | None = None, *,
                 now: datetime | None = None) -> Account:
    """The account ``name`` when ``password`` is its password and it is neither disabled nor locked, and
    ``address`` has not failed too often lately; ``SignInFailed`` otherwise ("wrong name or password",
    or "try again at HH:MM"). Audited either way."""
    at = as_local(now) if now is not None else _now()
    typed = str(name or "").strip()
    shown = typed[:64] or "?"
    refused_until = _address_refused_until(address, at)
    if refused_until is not None:
        audit.record(store, "anonymous", "sign_in_refused", "account", shown, {"reason": "address_throttled"},
                     address, at)
        raise SignInFailed("error.address_throttled", until=f"{as_local(refused_until):%H:%M}")
    try:
        return _authenticate(store, typed, shown, password, address, at)
    except SignInFailed:
        _note_address_failure(address, at)
        raise


def _authenticate(store: Store, typed: str, shown: str, password: str, address: str | None,
                  at: datetime) -> Account:
    row = store.get_account(typed) if NAME.match(typed) else None
    if row is None:
        _verify(_dummy_hash(), password or "")  # the same cost as a real check: timing tells nothing
        audit.record(store, "anonymous", "sign_in_failed", "account", shown, {"reason": "unknown_name"}, address, at)
        raise SignInFailed("error.sign_in_failed")
    if row["locked_until"] is not None and row["locked_until"] > at:
        audit.record(store, "anonymous", "sign_in_refused", "account", shown, {"reason": "locked"}, address, at)
        raise SignInFailed("error.account_locked", until=f"{as_local(row['locked_until']):%H:%M}")
    ok = _verify(row["password_hash"], password or "")
    if not ok or row["disabled"]:
        cfg = account_rules()
        if not ok:
            store.note_failed_sign_in(typed, at, int(cfg["lock_after_failures"]),
                                      timedelta(minutes=float(cfg["lock_minutes"])))
        audit.record(store, "anonymous", "sign_in_failed", "account", shown,
                     {"reason": "wrong_password" if not ok else "disabled"}, address, at)
        raise SignInFailed("error.sign_in_failed")
    changes: dict[str, Any] = {}
    if _hasher.check_needs_rehash(row["password_hash"]):
        changes["password_hash"] = hash_password(password)
    if row["failed_attempts"] or row["locked_until"] is not None:
        changes |= {"failed_attempts": 0, "locked_until": None}
    if changes:
        row = store.update_account(typed, at=at, **changes)
    audit.record(store, typed, "sign_in", "account", typed, None, address, at)
    return Account.of(row)


def var_dir_for(url: str) -> Path:
    """Where the first admin's password file goes for the store ``url``: beside a SQLite file (so
    ``var/`` for the default store), else the checkout's ``var/``."""
    from services.store import REPO_ROOT, sqlite_path

    return sqlite_path(url).parent if url.startswith("sqlite:///") else REPO_ROOT / "var"


def ensure_admin(store: Store, var_dir: str | os.PathLike[str]) -> str | None:
    """On a store with no account, create ``admin`` with a random password, print it once and write it to
    ``var_dir/first-admin-password.txt`` (owner-only, 0600); returns it. None when accounts exist."""
    if store.account_count():
        return None
    password = new_password()
    try:
        add_user(store, FIRST_ADMIN, "admin", display_name="管理员", password=password, actor="system")
    except ValidationError:  # another process made it first
        return None
    path = Path(var_dir) / FIRST_ADMIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file was there already
        os.write(fd, f"{FIRST_ADMIN}\n{password}\n".encode())
    finally:
        os.close(fd)
    print(f"First sign-in: user {FIRST_ADMIN}, password {password} (also in {path}, readable by this user "
          "only; set a new one with: python -m services.access set-password admin)")
    return password


# -- CLI: python -m services.access ----------------------------------------------------------------------
def _read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    return sys.stdin.readline().rstrip("\r\n")


def _kiosk_and_identity_parsers(sub: Any) -> None:
    """The kiosk-token and identity-map subcommands of ``main``."""
    from services import identities, kiosk

    ku = sub.add_parser("kiosk-url", help="issue a wall screen's kiosk URL (printed once; replaces the screen's "
                                          "earlier token)")
    ku.add_argument("--screen", required=True, metavar="NAME")
    ku.add_argument("--base-url", default=kiosk.DEFAULT_BASE_URL, metavar="URL",
                    help=f"where the app is reached (default {kiosk.DEFAULT_BASE_URL})")
    sub.add_parser("revoke-kiosk", help="revoke a screen's kiosk token").add_argument("--screen", required=True,
                                                                                      metavar="NAME")
    sub.add_parser("kiosks", help="list kiosk tokens (never the tokens)")
    mi = sub.add_parser("map-identity", help="give an OIDC or trusted-header user or group a role")
    mi.add_argument("--provider", required=True, choices=identities.PROVIDERS)
    who = mi.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="V", help="an e-mail, subject or user name (case-insensitive)")
    who.add_argument("--group", metavar="V", help="a group name (exact)")
    mi.add_argument("--role", required=True, choices=access.ROLES)
    mi.add_argument("--area", metavar="CODE", help="subdistrict, community or department code (scoped roles)")
    sub.add_parser("unmap-identity", help="remove an identity mapping by id").add_argument("id", type=int)
    sub.add_parser("identities", help="list identity mappings")


def _kiosk_url(store: Store, args: argparse.Namespace, actor: str) -> None:
    from services import kiosk

    token = kiosk.issue(store, args.screen, actor=actor)
    print(f"kiosk URL of screen {args.screen.strip()} (shown once; any earlier URL of this screen no longer "
          f"works):\n{kiosk.url(args.base_url, token)}")


def _revoke_kiosk(store: Store, args: argparse.Namespace, actor: str) -> None:
    from services import kiosk

    kiosk.revoke(store, args.screen, actor=actor)
    print(f"kiosk token of screen {args.screen.strip()} revoked")


def _list_kiosks(store: Store, args: argparse.Namespace, actor: str) -> None:
    from services import kiosk

    def when(v: Any) -> str:
        return "" if v is None or pd.isna(v) else f"{v:%Y-%m-%d %H:%M}"

    for r in kiosk.screens(store).itertuples(index=False):
        print("\t".join([r.screen, "active" if r.active else "revoked", when(r.created_at), r.created_by,
                         when(r.last_seen_at), when(r.revoked_at), r.revoked_by or ""]))


def _map_identity(store: Store, args: argparse.Namespace, actor: str) -> None:
    from services import identities

    kind, value = ("user", args.user) if args.user is not None else ("group", args.group)
    row = identities.add_mapping(store, args.provider, kind, value, args.role, args.area, actor=actor)
    print(f"mapped {row['provider']} {row['kind']} {row['value']} to {row['role']}"
          f"{', ' + row['area_code'] if row['area_code'] else ''} (id {row['id']})")


def _unmap_identity(store: Store, args: argparse.Namespace, actor: str) -> None:
    from services import identities

    row = identities.remove_mapping(store, args.id, actor=actor)
    print(f"removed mapping {row['id']} ({row['provider']} {row['kind']} {row['value']})")


def _list_identities(store: Store, args: argparse.Namespace, actor: str) -> None:
    from services import identities

    for r in identities.mappings(store).itertuples(index=False):
        print("\t".join([str(r.id), r.provider, r.kind, r.value, r.role, r.area_code or ""]))


_MORE_COMMANDS = {"kiosk-url": _kiosk_url, "revoke-kiosk": _revoke_kiosk, "kiosks": _list_kiosks,
                  "map-identity": _map_identity, "unmap-identity": _unmap_identity, "identities": _list_identities}


def main(argv: Sequence[str] | None = None) -> int:
    from services import api_keys
    from services.store import create_store, database_url

    parser = argparse.ArgumentParser(prog="python -m services.access",
                                     description="Local accounts, kiosk tokens, the identity-to-role map and "
                                                 "partners' Open311 API keys.")
    parser.add_argument("--store", metavar="URL",
                        help="sqlite:///path or postgresql://... (default: DATABASE_URL, else sqlite:///var/gm.sqlite3)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="add an account (prints a generated password once unless "
                                          "--password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=access.ROLES)
    add.add_argument("--area", metavar="CODE", help="subdistrict, community or department code (scoped roles)")
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    sp = sub.add_parser("set-password", help="set a new password (generated and printed once unless "
                                             "--password-stdin); lifts a lock")
    sp.add_argument("name")
    sp.add_argument("--password-stdin", action="store_true")
    sub.add_parser("disable", help="disable an account").add_argument("name")
    sub.add_parser("list", help="list accounts (never their hashes)")
    _kiosk_and_identity_parsers(sub)
    api_keys.add_parsers(sub)
    args = parser.parse_args(argv)
    store = create_store(database_url(args.store))
    actor = audit.cli_actor()
    try:
        if args.command == "add-user":
            acc, generated = add_user(store, args.name, args.role, area_code=args.area,
                                      display_name=args.display_name,
                                      password=_read_password(args.password_stdin), actor=actor)
            print(f"added {acc.name} ({acc.role}{', ' + acc.area_code if acc.area_code else ''})")
            if generated:
                print(f"password (shown once): {generated}")
        elif args.command == "set-password":
            generated = set_password(store, args.name, _read_password(args.password_stdin), actor=actor)
            print(f"password of {args.name} set" + (f"; new password (shown once): {generated}" if generated else ""))
        elif args.command in _MORE_COMMANDS:
            _MORE_COMMANDS[args.command](store, args, actor)
        elif args.command in api_keys.COMMANDS:
            api_keys.COMMANDS[args.command](store, args, actor)
        elif args.command == "disable":
            disable(store, args.name, actor=actor)
            print(f"{args.name} disabled")
        else:
            for r in store.list_accounts().itertuples(index=False):
                print("\t".join([r.name, r.role, r.area_code or "", r.display_name or "",
                                 "disabled" if r.disabled else "active"]))
        return 0
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
