"""The admin page's requests (issue 12): accounts, the identity-to-role map, kiosk tokens, partners' Open311
API keys (issue 16) and the audit log.

Every function takes the store and the acting ``access.Principal`` first and checks the rule here, not on
the page: ``manage_accounts`` for accounts, identities, kiosks and API keys, ``read_audit`` for the log (a role
without it gets ``access.Forbidden`` and nothing changes or is read). The work itself is
services/accounts.py's, services/identities.py's, services/kiosk.py's and services/api_keys.py's, called with the admin's name
as the actor and the browser's address, so every change is in the audit log. Two requests are refused
whatever the role: an admin disabling their own account, or taking the admin role away from it (there
must always be a way back in; another admin, or the CLI, can still do it).

The log is read newest first, at most ``[admin] audit_page_rows`` rows (config/rules.toml), and
exported as CSV (UTF-8 with a BOM, so that Excel reads the Chinese) or Excel; the export writes its own
``export`` audit row with the filters and the row count.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from services import access, api_keys, audit, identities, kiosk
from services import accounts as _accounts
from services.clocks import TZ, as_local
from services.config import rules
from services.errors import DomainError, ValidationError
from services.i18n import label, t, table
from services.store.base import Store

EXPORT_FORMATS = ("csv", "xlsx")
# The log's columns as shown and exported, in order (admin.col_* strings).
AUDIT_VIEW = ("id", "at", "actor", "address", "action", "object", "detail")
ACCOUNT_VIEW = ("name", "display_name", "role", "area", "state", "created_at", "updated_at", "locked_until")


class SelfLockout(DomainError, PermissionError):
    """An admin's request that would lock themselves out (disable their own account, drop their role)."""


def _may(who: access.Principal, action: str) -> None:
    access.check_principal(who)
    access.check_action(who.role, action)


def page_rows() -> int:
    """How many audit rows the page shows at most (config/rules.toml ``[admin] audit_page_rows``)."""
    return int(rules()["admin"]["audit_page_rows"])


def export_rows() -> int:
    """How many audit rows an export of the page holds at most (``[admin] audit_export_rows``)."""
    return int(rules()["admin"]["audit_export_rows"])


# -- accounts -------------------------------------------------------------------------------------------
def accounts(store: Store, who: access.Principal) -> pd.DataFrame:
    """Every local account by name (never a password hash)."""
    _may(who, "manage_accounts")
    return store.list_accounts()


def area_choices(role: str, lang: str, store: Store | None = None) -> dict[str, str]:
    """``{code: name}`` an account of ``role`` may take as its area (subdistricts, communities or
    departments, by name in ``lang``; with ``store``, its register of departments); empty for a
    district-wide role."""
    from services import district

    kind = access.area_kind(access.check_role(role))
    return {} if kind is None else district.names(kind, lang, store)


def add_account(store: Store, who: access.Principal, name: str, role: str, area_code: str | None = None,
                display_name: str | None = None) -> tuple[_accounts.Account, str]:
    """Add an account with a generated password; returns it and the password (shown once, never kept)."""
    _may(who, "manage_accounts")
    account, generated = _accounts.add_user(store, name, role, area_code=area_code, display_name=display_name,
                                           actor=who.name, address=who.address)
    return account, str(generated)


def change_account(store: Store, who: access.Principal, name: str, *, role: str | None = None,
                   area_code: str | None = None, display_name: str | None = None) -> _accounts.Account:
    """Change an account's role and area (checked together) or display name; an admin may not take the
    admin role from their own account."""
    _may(who, "manage_accounts")
    if str(name).strip() == who.name and role is not None and role != "admin":
        raise SelfLockout("error.admin_self_demote", name=who.name)
    return _accounts.change_account(store, str(name).strip(), role=role, area_code=area_code,
                                   display_name=display_name, actor=who.name, address=who.address)


def reset_password(store: Store, who: access.Principal, name: str) -> str:
    """A new generated password for ``name`` (and its lock lifted); returned once, never kept."""
    _may(who, "manage_accounts")
    return str(_accounts.set_password(store, str(name).strip(), actor=who.name, address=who.address))


def disable_account(store: Store, who: access.Principal, name: str) -> _accounts.Account:
    """Disable ``name`` (it can no longer sign in); an admin may not disable their own account."""
    _may(who, "manage_accounts")
    if str(name).strip() == who.name:
        raise SelfLockout("error.admin_self_disable", name=who.name)
    return _accounts.disable(store, str(name).strip(), actor=who.name, address=who.address)


# -- identity map ---------------------------------------------------------------------------------------
def identity_mappings(store: Store, who: access.Principal) -> pd.DataFrame:
    """Every OIDC / trusted-header identity mapped to a role."""
    _may(who, "manage_accounts")
    return identities.mappings(store)


def map_identity(store: Store, who: access.Principal, provider: str, kind: str, value: str, role: str,
                 area_code: str | None = None) -> dict[str, Any]:
    """Map a ``user`` or ``group`` of ``provider`` to ``role`` (and area); returns the mapping."""
    _may(who, "manage_accounts")
    return identities.add_mapping(store, provider, kind, value, role, area_code, actor=who.name,
                                  address=who.address)


def unmap_identity(store: Store, who: access.Principal, mapping_id: int) -> dict[str, Any]:
    """Remove a mapping by id; returns it as it was."""
    _may(who, "manage_accounts")
    return identities.remove_mapping(store, int(mapping_id), actor=who.name, address=who.address)


# -- kiosk tokens ---------------------------------------------------------------------------------------
def kiosk_screens(store: Store, who: access.Principal) -> pd.DataFrame:
    """Every kiosk token issued, by screen, with ``active`` (never a token or its hash)."""
    _may(who, "manage_accounts")
    return kiosk.screens(store)


def issue_kiosk(store: Store, who: access.Principal, screen: str, base_url: str) -> str:
    """A new kiosk URL for ``screen`` at ``base_url`` (shown once; the screen's earlier URL stops working)."""
    _may(who, "manage_accounts")
    base = str(base_url or "").strip()
    if not base.startswith(("http://", "https://")):
        raise ValidationError("error.kiosk_base_url_invalid", url=base[:200])
    return kiosk.url(base, kiosk.issue(store, screen, actor=who.name, address=who.address))


def revoke_kiosk(store: Store, who: access.Principal, screen: str) -> None:
    """Revoke ``screen``'s kiosk token: its URL stops working at the wall's next refresh."""
    _may(who, "manage_accounts")
    kiosk.revoke(store, screen, actor=who.name, address=who.address)


# -- partners' Open311 API keys -------------------------------------------------------------------------
def api_key_rows(store: Store, who: access.Principal) -> pd.DataFrame:
    """Every API key issued, by partner, with ``active`` (never a key or its hash)."""
    _may(who, "manage_accounts")
    return api_keys.keys(store)


def api_key_choices(lang: str) -> tuple[dict[str, str], dict[str, str]]:
    """What a key may be limited to, by name in ``lang``: ``({service code: category name},
    {area code: subdistrict or community name})``."""
    from services import district

    services = {c: label("category", c, lang) for c in api_keys.SERVICE_CODES}
    areas = {c: n for kind in api_keys.AREA_KINDS for c, n in district.names(kind, lang).items()}
    return services, areas


def issue_api_key(store: Store, who: access.Principal, partner: str, services: list[str] | tuple[str, ...] = (),
                  area_code: str | None = None) -> str:
    """A new API key for ``partner`` (shown once; the partner's earlier key stops working)."""
    _may(who, "manage_accounts")
    return api_keys.issue(store, partner, services=tuple(services), area=area_code, actor=who.name,
                          address=who.address)


def revoke_api_key(store: Store, who: access.Principal, partner: str) -> dict[str, Any]:
    """Revoke ``partner``'s API key: it stops working at once."""
    _may(who, "manage_accounts")
    return api_keys.revoke(store, partner, actor=who.name, address=who.address)


# -- audit log ------------------------------------------------------------------------------------------
def _moment(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A period bound: a datetime as given (Asia/Shanghai when naive); a date its day's start, or for
    ``end`` the next day's start (the ``until`` day is included)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_local(value if value.tzinfo else value.replace(tzinfo=TZ))
    return datetime.combine(value + timedelta(days=1) if end else value, time(0), tzinfo=TZ)


def _blank(value: Any) -> Any:
    text = str(value).strip() if value is not None else ""
    return text or None


def audit_log(store: Store, who: access.Principal, *, actor: str | None = None, object_kind: str | None = None,
              object_id: Any = None, since: date | datetime | None = None, until: date | datetime | None = None,
              limit: int | None = None) -> pd.DataFrame:
    """Audit rows by person, object and period (``since`` and ``until`` dates are whole days, Asia/Shanghai),
    newest first, at most ``limit`` (default ``page_rows()``). ``attrs["filters"]`` holds the filters (for
    the export's audit row) and ``attrs["truncated"]`` whether older rows were left out."""
    _may(who, "read_audit")
    cap = int(limit or page_rows())
    start, end = _moment(since, end=False), _moment(until, end=True)
    filters = {"actor": _blank(actor), "object_kind": _blank(object_kind), "object_id": _blank(object_id)}
    head = store.audit_head()
    last = int(head["last_id"]) if head else 0
    span = cap
    while True:  # read back from the newest row in widening windows until ``cap`` rows match (or none are left)
        after = max(0, last - span)
        frame = store.audit_rows(**filters, since=start, until=end, after_id=after or None)
        if len(frame) > cap or after == 0:
            break
        span *= 4
    truncated = len(frame) > cap
    out = frame.drop(columns=["prev_hash", "hash"]).tail(cap).iloc[::-1].reset_index(drop=True)
    out.attrs["filters"] = {**filters, "since": start.isoformat() if start else None,
                            "until": end.isoformat() if end else None}
    out.attrs["truncated"] = truncated
    # What an export of this view reads again: every row of the same filters up to the newest one read now.
    out.attrs["query"] = {**filters, "since": since, "until": until}
    out.attrs["upto_id"] = last
    return out


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def action_label(code: str, lang: str) -> str:
    """An audit row's action in ``lang``: its ``audit_action`` label, an appeal's lifecycle action
    (``appeal.accept``) by the ``action`` vocabulary, ``….refused`` as refused; else the code as is."""
    refused = code.endswith(".refused")
    base = code.removesuffix(".refused")
    if f"audit_action.{base}" in table():
        text = label("audit_action", base, lang)
    elif base.startswith("appeal.") and f"action.{base[7:]}" in table():
        text = label("action", base[7:], lang)
    else:
        text = base
    return t("admin.action_refused", lang, action=text) if refused else text


def object_kinds() -> list[str]:
    """The kinds of object the audit log names (the ``audit_object`` labels, one list), for a filter."""
    from services.i18n import table

    return sorted({k.split(".", 1)[1] for k in table() if k.startswith("audit_object.")})


def object_label(kind: Any, oid: Any, lang: str) -> str:
    """An audit row's object as ``kind:id``, the kind by its ``audit_object`` label."""
    k, i = _text(kind), _text(oid)
    return ":".join(p for p in (label("audit_object", k, lang) if k else "", i) if p)


def audit_view(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The log as shown and exported: id, time (Asia/Shanghai), person, address, action, object
    (``kind:id``), detail (JSON), under headers in ``lang``."""
    rows = {
        "id": [int(v) for v in frame["id"]],
        "at": [f"{as_local(v):%Y-%m-%d %H:%M:%S}" if not pd.isna(v) else "" for v in frame["at"]],
        "actor": [_text(v) for v in frame["actor"]],
        "address": [_text(v) for v in frame["address"]],
        "action": [action_label(_text(v), lang) for v in frame["action"]],
        "object": [object_label(k, i, lang) for k, i in zip(frame["object_kind"], frame["object_id"], strict=True)],
        "detail": [_text(v) for v in frame["detail"]],
    }
    return pd.DataFrame({t(f"admin.col_{c}", lang): rows[c] for c in AUDIT_VIEW})


def audit_export(store: Store, who: access.Principal, frame: pd.DataFrame, fmt: str, lang: str = "zh") -> bytes:
    """The log rows of ``frame`` (from ``audit_log``; when the page showed only the newest of them, every row of
    its filters up to the newest shown, at most ``export_rows()``) as ``csv`` (UTF-8 with a BOM) or ``xlsx`` bytes,
    headers in ``lang``, through the one export path (services/exports.py, ``heading=False``: the file
    starts with its header row); writes the ``export`` audit row (``audit.csv`` / ``audit.xlsx``, with the
    filters and the row count). The view's columns are its translated headers, none of them a personal
    column: the log is read by ``read_audit`` alone, and the actor and detail are shown as recorded."""
    _may(who, "read_audit")
    from services import exports

    if frame.attrs.get("truncated") and "query" in frame.attrs:  # the page shows the newest rows only
        attrs = dict(frame.attrs)
        whole = audit_log(store, who, **attrs["query"], limit=export_rows())
        frame = whole[whole["id"] <= attrs["upto_id"]].reset_index(drop=True)
        frame.attrs.update(attrs, truncated=False)
    view = audit_view(frame, lang)
    filters = frame.attrs.get("filters", {})
    period = " – ".join(str(filters[k]) for k in ("since", "until") if filters.get(k)) or None
    return exports.export(store, who, view, what="audit", title=t("admin.tab_audit", lang), period=period,
                          area=None, lang=lang, fmt=fmt, headers={}, heading=False,
                          detail={"filters": filters}).data


def audit_status(store: Store, who: access.Principal) -> audit.Verdict:
    """The chain check of the whole log (services.audit.check)."""
    _may(who, "read_audit")
    return audit.check(store)


def account_view(frame: pd.DataFrame, lang: str, store: Store | None = None) -> pd.DataFrame:
    """The accounts as shown: name, display name, role and area by name (departments from ``store``'s
    register when given), active or disabled, times."""
    from services import district

    def when(v: Any) -> str:
        return "" if v is None or pd.isna(v) else f"{as_local(v):%Y-%m-%d %H:%M}"

    def area(role: str, code: Any) -> str:
        kind = access.area_kind(role)
        return "" if kind is None or not code else district.names(kind, lang, store).get(code, str(code))

    rows = {
        "name": list(frame["name"]),
        "display_name": [_text(v) for v in frame["display_name"]],
        "role": [label("role", r, lang) for r in frame["role"]],
        "area": [area(r, c) for r, c in zip(frame["role"], frame["area_code"], strict=True)],
        "state": [t("admin.disabled" if d else "admin.active", lang) for d in frame["disabled"]],
        "created_at": [when(v) for v in frame["created_at"]],
        "updated_at": [when(v) for v in frame["updated_at"]],
        "locked_until": [when(v) for v in frame["locked_until"]],
    }
    return pd.DataFrame({t(f"admin.acc_{c}", lang): rows[c] for c in ACCOUNT_VIEW})
