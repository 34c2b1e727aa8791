"""Who a browser session is (issue 12 §1): the ways in, and when a session ends.

The pages keep a ``Session`` in Streamlit's session state and ask here at every run; this module decides,
and writes every sign-in, refusal, expiry and sign-out to the audit log. The ways in, in the order
app.py tries them:

1. **kiosk**: a wall URL with a token (services/kiosk.py), bound to one screen and the read-only wall
   role. It never expires when idle; its token is checked at every refresh instead.
2. **trusted header** (``[sign_in] trusted_header``): a reverse proxy that authenticated the user names
   them in a header. Only the proxies' addresses are believed (anyone else could set the header).
3. **OpenID Connect** (``st.login``): the ID token's claims, mapped to a role by services/identities.py.
4. **a local account**: name and password (services/accounts.py, throttled).

A session of the last three ends after ``[sign_in] idle_minutes`` without activity, or at the next run
after its account is disabled or its identity mapping removed; a changed role or area applies at the
next run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services import access, accounts, audit
from services.access import Forbidden, Principal
from services.clocks import as_local
from services.config import rules
from services.store.base import Store
from services.store.common import now as _now

METHODS = ("local", "oidc", "header", "kiosk")


@dataclass(frozen=True)
class Session:
    """A signed-in browser session: who (``principal``, with the session's id and address), how they
    signed in (``method``, one of ``METHODS``), the identity the method named (account name, OIDC user,
    header user, or kiosk screen) and its groups, and when it started and was last active."""

    principal: Principal
    method: str
    identity: str
    started_at: datetime
    last_active_at: datetime
    groups: tuple[str, ...] = ()
    kiosk_token: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return str(self.principal.session)


def settings() -> dict[str, Any]:
    """The ``[sign_in]`` rules (config/rules.toml)."""
    return rules()["sign_in"]


def idle_limit() -> timedelta:
    return timedelta(minutes=float(settings()["idle_minutes"]))


def new_session_id() -> str:
    """A random id for one sign-in session (the audit log names it with personal-data views)."""
    return secrets.token_hex(8)


def _at(now: datetime | None) -> datetime:
    return as_local(now) if now is not None else _now()


def _session(who: Principal, method: str, identity: str, address: str | None, at: datetime,
             groups: Iterable[str] = (), kiosk_token: str | None = None) -> Session:
    sid = new_session_id()
    principal = Principal(who.name, who.role, who.area_code, address=address, session=sid)
    return Session(principal, method, identity, at, at, tuple(groups), kiosk_token)


def _signed_in(store: Store, s: Session) -> Session:
    audit.record(store, s.principal.name, "sign_in", "session", s.id,
                 {"method": s.method, "role": s.principal.role, "area_code": s.principal.area_code},
                 s.principal.address, s.started_at)
    return s


def local(store: Store, name: str, password: str, address: str | None = None, *,
          now: datetime | None = None) -> Session:
    """Sign in with a local account; ``accounts.SignInFailed`` when refused (both audited there)."""
    at = _at(now)
    _proxy_only(store, address, "local", at)
    account = accounts.authenticate(store, name, password, address, now=at)
    return _session(Principal.of(account), "local", account.name, address, at)


def kiosk(store: Store, token: str, address: str | None = None, *, now: datetime | None = None) -> Session | None:
    """The session of a wall screen's kiosk token, or None (audited as a refused sign-in) when the token is
    unknown, malformed or revoked."""
    from services import kiosk as kiosks

    at = _at(now)
    _proxy_only(store, address, "kiosk", at)
    who = kiosks.principal(store, token)
    if who is None:
        audit.record(store, "anonymous", "sign_in_refused", "kiosk", None, {"method": "kiosk",
                     "reason": "unknown_or_revoked_token"}, address, at)
        return None
    return _signed_in(store, _session(who, "kiosk", who.name, address, at, kiosk_token=token))


def header_mode() -> bool:
    """True when the trusted-header mode is configured (``[sign_in] trusted_header``)."""
    return bool(str(settings().get("trusted_header") or "").strip())


def _proxy_only(store: Store, address: str | None, method: str, at: datetime) -> None:
    """In the trusted-header mode the app answers its proxy only: a sign-in of any kind (header, local
    account, kiosk token) from another address is refused with ``Forbidden`` (audited), since whoever
    reaches the port directly could also set the header themselves."""
    if header_mode() and address not in set(settings().get("trusted_proxies") or ()):
        audit.record(store, "anonymous", "sign_in_refused", "session", None,
                     {"method": method, "reason": "untrusted_address"}, address, at)
        raise Forbidden("error.untrusted_proxy", address=address or "?")


def _split_groups(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(sorted({str(g).strip() for g in items if str(g).strip()}))


def _resolve(store: Store, provider: str, user: str, groups: tuple[str, ...]) -> Principal | None:
    from services import identities

    return identities.resolve(store, provider, user, groups)


def from_header(store: Store, headers: Mapping[str, str], address: str | None, *,
                now: datetime | None = None) -> Session:
    """The session the trusted proxy's header names. ``Forbidden`` (audited) when the request did not come
    from a trusted proxy, carries no user, or the user maps to no role: the identity mapping's ``header``
    entries first, else an enabled local account of that name (the proxy has checked the password)."""
    cfg = settings()
    at = _at(now)
    lower = {str(k).lower(): v for k, v in headers.items()}
    _proxy_only(store, address, "header", at)
    user = str(lower.get(str(cfg["trusted_header"]).lower()) or "").strip()
    if not user:
        audit.record(store, "anonymous", "sign_in_refused", "session", None,
                     {"method": "header", "reason": "no_user_header"}, address, at)
        raise Forbidden("error.no_user_header", header=cfg["trusted_header"])
    group_header = str(cfg.get("trusted_groups_header") or "").lower()
    groups = _split_groups(lower.get(group_header)) if group_header else ()
    who = _header_principal(store, user, groups)
    if who is None:
        audit.record(store, "anonymous", "sign_in_refused", "identity", user,
                     {"method": "header", "reason": "unmapped", "groups": list(groups)}, address, at)
        raise Forbidden("error.identity_unmapped", user=user)
    return _signed_in(store, _session(who, "header", user, address, at, groups))


def _header_principal(store: Store, user: str, groups: tuple[str, ...]) -> Principal | None:
    who = _resolve(store, "header", user, groups)
    if who is not None:
        return who
    row = store.get_account(user) if accounts.NAME.match(user) else None
    if row is None or row["disabled"]:
        return None
    return Principal(row["name"], row["role"], row["area_code"])


def oidc_identity(claims: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """The user (the first of ``[sign_in] oidc_user_claims`` present) and groups an ID token names."""
    cfg = settings()
    user = next((str(claims[c]).strip() for c in cfg["oidc_user_claims"] if str(claims.get(c) or "").strip()),
                None)
    return user, _split_groups(claims.get(cfg["oidc_groups_claim"]))


def from_oidc(store: Store, claims: Mapping[str, Any], address: str | None, *,
              now: datetime | None = None) -> Session:
    """The session of an OIDC sign-in (``st.user``'s claims); ``Forbidden`` (audited) when the identity
    maps to no role (an admin maps users or groups on the admin page)."""
    at = _at(now)
    user, groups = oidc_identity(claims)
    who = _resolve(store, "oidc", user, groups) if user else None
    if who is None:
        audit.record(store, "anonymous", "sign_in_refused", "identity", user,
                     {"method": "oidc", "reason": "unmapped", "groups": list(groups)}, address, at)
        raise Forbidden("error.identity_unmapped", user=user or "?")
    return _signed_in(store, _session(who, "oidc", str(user), address, at, groups))


def _current(store: Store, s: Session) -> Principal | None:
    """Who ``s`` is now (role and area as stored now), or None when it may no longer act at all."""
    if s.method == "kiosk":
        from services import kiosk as kiosks

        return kiosks.principal(store, s.kiosk_token or "")
    if s.method == "local":
        row = store.get_account(s.identity)
        return None if row is None or row["disabled"] else Principal(row["name"], row["role"], row["area_code"])
    if s.method == "header":
        return _header_principal(store, s.identity, s.groups)
    return _resolve(store, "oidc", s.identity, s.groups)


def check(store: Store, s: Session, *, active: bool, now: datetime | None = None) -> Session | None:
    """``s`` as it stands at this run, or None (audited) when it has ended: idle for longer than
    ``[sign_in] idle_minutes`` (never a kiosk), its kiosk token revoked, its account disabled or removed,
    or its identity no longer mapped. ``active`` (a click or key press, not a timed refresh) moves its
    last activity to now. A role or area changed since the last run applies from this run on."""
    at = _at(now)
    reason = None
    if s.method != "kiosk" and at - s.last_active_at > idle_limit():
        reason = "idle"
    current = None if reason else _current(store, s)
    if reason is None and current is None:
        reason = "revoked" if s.method == "kiosk" else "account_or_mapping_removed"
    if reason is not None:
        audit.record(store, s.principal.name, "session_ended", "session", s.id, {"reason": reason},
                     s.principal.address, at)
        return None
    p = s.principal
    if (current.name, current.role, current.area_code) != (p.name, p.role, p.area_code):
        p = Principal(current.name, current.role, current.area_code, address=p.address, session=p.session)
    return replace(s, principal=p, last_active_at=at if active else s.last_active_at)


def sign_out(store: Store, s: Session, *, now: datetime | None = None) -> None:
    """End ``s`` at the user's request (audited)."""
    audit.record(store, s.principal.name, "sign_out", "session", s.id, {"method": s.method},
                 s.principal.address, _at(now))


def may_sign_out(s: Session) -> bool:
    """A kiosk screen and a proxy's user cannot sign out here (the token, or the proxy, decides)."""
    return s.method in ("local", "oidc")


def pages_for(s: Session | None) -> tuple[str, ...]:
    """The screens the session may open (none when signed out), its default first."""
    return () if s is None else access.pages_for(s.principal.role)
