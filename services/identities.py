"""Which role an identity from outside gets (issue 12 §1, "Mapping identities to roles").

With OIDC sign-in or a reverse proxy's trusted header, the app learns who someone is (an e-mail, a
subject or a user name, and perhaps groups) but not what they may do: an admin maps identities to a
role (and an area, for a scoped role) here, and ``resolve`` turns a signed-in identity into a
``Principal``. A mapping names one ``user`` or a ``group`` of one ``provider`` (``oidc``, ``header``).
Users and e-mails are compared case-insensitively (stored lowercased), groups exactly. Adding and
removing a mapping is audited.

CLI: ``python -m services.access map-identity | unmap-identity | identities``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from services import access, audit
from services.errors import NotFound, ValidationError
from services.store.base import Store
from services.store.common import IDENTITY_KINDS, IDENTITY_PROVIDERS

PROVIDERS = IDENTITY_PROVIDERS
KINDS = IDENTITY_KINDS
# The longest user or group value kept (an e-mail is at most 254 characters; an LDAP DN may be long).
MAX_VALUE = 512
# When several of a user's groups map to different roles, the first of these wins: access.ROLES, whose
# order runs from the widest rights to the narrowest (admin, duty officer, leader, … wall). Someone put
# in a powerful group on purpose should not lose that right because they are also in a broad one; the
# order is fixed, so the same groups always give the same role whatever order the provider sends them
# in. Between mappings of the same role (two communities), the smaller area code, then the older
# mapping, wins: still deterministic.
ROLE_PRECEDENCE: tuple[str, ...] = access.ROLES


def check_provider(provider: str) -> str:
    """``provider`` when it is one of ``PROVIDERS``; ValidationError otherwise."""
    if provider not in PROVIDERS:
        raise ValidationError("error.identity_provider_invalid", provider=provider, providers=", ".join(PROVIDERS))
    return provider


def normal_value(kind: str, value: str) -> str:
    """A mapping's value as stored and compared: stripped, and lowercased for a user; ValidationError when
    empty or longer than ``MAX_VALUE``."""
    if kind not in KINDS:
        raise ValidationError("error.identity_kind_invalid", kind=kind)
    text = str(value or "").strip()
    if not text or len(text) > MAX_VALUE:
        raise ValidationError("error.identity_value_invalid", max=MAX_VALUE)
    return text.lower() if kind == "user" else text


def add_mapping(store: Store, provider: str, kind: str, value: str, role: str, area_code: str | None = None, *,
                actor: str, address: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    """Map a ``user`` or ``group`` of ``provider`` to ``role`` (and ``area_code``, which a scoped role
    needs and a district-wide one refuses); returns the mapping. ValidationError when it is mapped
    already. Audited as ``identity_mapped``."""
    from services.accounts import known_areas

    check_provider(provider)
    text = normal_value(kind, value)
    access.check_role(role)
    area = access.check_area(role, area_code, known_areas(store))
    row = store.insert_identity_role(provider, kind, text, role, area, created_by=actor, at=at)
    audit.record(store, actor, "identity_mapped", "identity_role", row["id"],
                 {"provider": provider, "kind": kind, "value": text, "role": role, "area_code": area}, address, at)
    return row


def remove_mapping(store: Store, mapping_id: int, *, actor: str, address: str | None = None,
                   at: datetime | None = None) -> dict[str, Any]:
    """Remove a mapping by id; returns it as it was. NotFound when there is none. Audited as
    ``identity_unmapped``."""
    row = store.delete_identity_role(int(mapping_id))
    if row is None:
        raise NotFound("error.no_identity_mapping", id=mapping_id)
    audit.record(store, actor, "identity_unmapped", "identity_role", row["id"],
                 {k: row[k] for k in ("provider", "kind", "value", "role", "area_code")}, address, at)
    return row


def mappings(store: Store) -> pd.DataFrame:
    """Every mapping by provider, kind and value."""
    return store.list_identity_roles()


def _rank(row: dict[str, Any]) -> tuple[int, str, int]:
    """The sort key of a group mapping: ROLE_PRECEDENCE, then area code, then id (oldest first)."""
    return ROLE_PRECEDENCE.index(row["role"]), row["area_code"] or "", int(row["id"])


def resolve(store: Store, provider: str, user: str | None, groups: Iterable[str] = ()) -> access.Principal | None:
    """The principal of a signed-in identity: the mapping of ``user`` (case-insensitive) if there is one,
    else the first by ``ROLE_PRECEDENCE`` of the mappings of ``groups`` (exact names); None when nothing
    maps (or no user is given). The principal's name is ``user`` as given (stripped)."""
    check_provider(provider)
    name = str(user or "").strip()
    if not name:
        return None
    rows = [r for r in store.list_identity_roles(provider).to_dict("records") if r["role"] in ROLE_PRECEDENCE]
    key = name.lower()
    mine = [r for r in rows if r["kind"] == "user" and r["value"] == key]
    if not mine:
        wanted = {str(g) for g in groups if g is not None}
        mine = sorted((r for r in rows if r["kind"] == "group" and r["value"] in wanted), key=_rank)
    if not mine:
        return None
    return access.Principal(name, mine[0]["role"], mine[0]["area_code"] or None)


