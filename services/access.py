"""Who may see and do what (design.md: "Who may see and do what: services/access.py").

Personal data (reporter name and phone) is shown only to roles that handle the case, and never on the
wall display, which strangers can read from across the room. Pages ask here; they never decide.

Every service call that shows an appeal or acts on one carries the caller as a ``Principal`` (name, role,
area); the services check it here (``check_act``: the role's right, then ``check_in_area``) before they
read or write, record ``Principal.name`` as the actor, and read a scoped role's screens through
``area_filter``. Pages take the principal of the signed-in session (services/sign_in.py) from
``pages.ui.role()``; which screens a role may open is ``ROLE_PAGES``. A role that may not do
something, or an appeal outside its area, gets ``Forbidden`` (a DomainError, in the user's language) and
nothing changes.

The roles are issue 12's; three are scoped to an area (``AREA_KINDS``: a subdistrict, a community or a
department), checked with ``check_area`` when an account is made and ``in_area`` against an appeal. Local
accounts that carry a role and area are services/accounts.py's, and so is this module's command line:
``python -m services.access add-user | set-password | disable | list`` and the kiosk, identity and API-key
commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.errors import DomainError, Label, Labels, ValidationError
from services.store.base import PERSONAL_COLUMNS

# What each role may do (lifecycle actions, ``order``, the issue of an order, ``order_check_in`` and
# ``order_outcome`` of a department, the admin's ``manage_accounts`` and ``read_audit``; issue 12), and
# ``register``: registering a walk-in or hotline appeal (来访登记, issue 13 §3, services/registration.py);
# data management (数据管理, /data, issue 13 §4): ``import_data`` (a file imported from the browser,
# services/import_jobs.py), ``fix_quarantine`` (a refused row fixed and sent again through intake's checks,
# or dismissed, services/quarantine_fix.py) and ``manage_reference`` (keeping departments, stations and
# boundary layers, services/reference_data.py and services/layer_import.py).
# ``read_assessment`` reads the department assessment and the community view (考核, services/assessment.py,
# issue 14 §2): the district's roles read the whole district; a subdistrict or community reads the
# departments' work on its own area's orders (its communities' rows); a department's officer reads the
# whole ranking, because the weekly meeting's ranking (每周一例会) is published to the departments so
# that each sees where it stands among the others, and it holds no personal data. The planner (aggregates
# of coverage only), the wall and the admin (who grants rights does not use them) do not read it.
DATA_RIGHTS = frozenset({"import_data", "fix_quarantine", "manage_reference"})
# Reading the analysis (分析研判, services/analysis: figures per area and period, for the political-legal
# committee and subdistrict leaders, issue 14): a read right, acting on nothing; a subdistrict officer
# reads only inside its subdistrict (services.analysis checks it with the area checks below).
READ_ANALYSIS = "read_analysis"
# The daily briefing (每日简报, services/briefing, issue 15): ``read_briefing`` reads the briefings made
# for the areas one may see (the district's roles every area; a subdistrict officer its subdistrict and
# its communities; a community dispatcher its community), ``make_briefing`` makes one now (the admin,
# who keeps the morning job running). A briefing holds figures, states and codes, no personal data.
READ_BRIEFING, MAKE_BRIEFING = "read_briefing", "make_briefing"
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    # Keeps the accounts and reads the audit log; acts on no appeal (who grants rights does not use them).
    # Data upkeep is the admin's too: the issue gives /data to "admin and duty officers", and loading a
    # system's export, settling its refused rows or keeping the register handles no appeal (what becomes
    # one enters the queues).
    "admin": frozenset({"manage_accounts", "read_audit", READ_BRIEFING, MAKE_BRIEFING, *DATA_RIGHTS}),
    # The command centre's duty officer (district): takes the call, accepts, dispatches, orders, escalates,
    # and manages the data (imports, quarantine, departments, stations and boundary layers).
    "duty_officer": frozenset({"respond", "accept", "dispatch", "order", "escalate", "note", "register",
                               "read_assessment", READ_ANALYSIS, READ_BRIEFING, *DATA_RIGHTS}),
    # A district leader: reads everything (personal data masked), the analysis and the assessment, never acts.
    "leader": frozenset({"read_assessment", READ_ANALYSIS, READ_BRIEFING}),
    # A subdistrict's officer (its special team): handles what is escalated to the subdistrict, in its area.
    # Who resolves settles the dispute and sends its agreement for judicial confirmation (司法确认).
    "subdistrict_officer": frozenset({"respond", "accept", "dispatch", "order", "escalate", "resolve",
                                      "request_judicial_confirmation", "record_judicial_confirmation",
                                      "update_facts", "return_to_sender", "note", "register",
                                      "read_assessment", READ_ANALYSIS, READ_BRIEFING}),
    # A community's dispatcher handles the case to the end and calls the reporter back, in its community.
    "community_dispatcher": frozenset({"respond", "accept", "dispatch", "order", "escalate", "resolve", "confirm",
                                       "request_judicial_confirmation", "record_judicial_confirmation",
                                       "feedback", "return_visit", "update_facts", "return_to_sender", "note",
                                       "register", "read_assessment", READ_BRIEFING}),
    # A department's officer: sees the orders to the department, checks in and reports the outcome.
    "department_officer": frozenset({"order_check_in", "order_outcome", "read_assessment"}),
    # Coverage and siting: aggregates only, never one appeal's description or reporter.
    "planner": frozenset(),
    # The unattended wall (kiosk): read-only, no personal data and no free text, whatever the screen.
    "wall": frozenset(),
}
ROLES = tuple(ROLE_ACTIONS)
# The screens each role may open, its default screen first (app.py builds the navigation from this, and
# each page checks it with ``check_page``): the admin keeps accounts and the log, the planner coverage,
# the kiosk the wall only; the department officer its orders (issue 13 §2); the case handlers open on
# their workbench (issue 13 §1), and the duty officer has it after the wall; whoever may ``register``
# has the registration form (来访登记, issue 13 §3) right after the workbench; data management (数据管理,
# issue 13 §4) is the admin's and the duty officer's.
PAGES = ("wall", "map", "planning", "admin", "orders", "workbench", "register", "data", "analysis", "briefing")
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "admin": ("admin", "data", "briefing", "map"),
    "duty_officer": ("wall", "workbench", "register", "orders", "data", "map", "planning", "analysis", "briefing"),
    "leader": ("wall", "analysis", "briefing", "orders", "map", "planning"),
    "subdistrict_officer": ("workbench", "register", "wall", "orders", "map", "analysis", "briefing"),
    "community_dispatcher": ("workbench", "register", "wall", "orders", "map", "briefing"),
    "department_officer": ("orders", "map"),
    "planner": ("planning", "map"),
    "wall": ("wall",),
}
# Roles that may see a reporter's contact details on a personal screen (to call them back).
PERSONAL_DATA_ROLES = frozenset({"community_dispatcher"})
# Roles that never receive free text or personal fields, not even masked: the wall (strangers read it
# from across the room) and the planner (aggregates only).
NO_TEXT_ROLES = frozenset({"wall", "planner"})
# Roles scoped to an area, and the kind of code their account's ``area_code`` holds: a subdistrict or
# community of the district's layers, or a department (services.district.names("department", …)). The
# other roles see the whole district and carry no area.
AREA_KINDS: dict[str, str] = {"subdistrict_officer": "subdistrict", "community_dispatcher": "community",
                              "department_officer": "department"}
# Free-text fields a reporter or clerk types (the address is folded into the description on intake, the
# clerk's note into an event): they can carry a phone number, an ID or a name, so they are masked with
# ``mask_text`` for roles without the right, and never sent to the wall display at all.
# The mediator's name (resolve's ``mediator``) is typed too: it names staff or volunteers, not the
# reporter, so it is readable to every case-handling role, but it is free text all the same (a clerk may
# add a phone number), so it is masked like the others and never sent to the wall.
TEXT_FIELDS = ("description", "address", "note", "mediator")
# The parameters of an action that are free text a clerk types (masked in the audit log's record of it).
FREE_TEXT_PARAMS = frozenset({"note", "reason", "mediator"})


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


def pages_for(role: str) -> tuple[str, ...]:
    """The screens ``role`` may open, its default first (none for an unknown role)."""
    return ROLE_PAGES.get(role, ())


def check_page(who: Principal, page: str) -> None:
    """Raises ``Forbidden`` unless ``who``'s role may open the screen ``page``."""
    check_principal(who)
    if page not in pages_for(who.role):
        raise Forbidden("error.page_not_allowed", role=Label("role", who.role), page=Label("page", page))


def area_kind(role: str) -> str | None:
    """The kind of area a ``role`` is scoped to (``subdistrict``, ``community``, ``department``), or None
    for a district-wide role."""
    return AREA_KINDS.get(role)


def check_area(role: str, area_code: str | None, known: dict[str, dict[str, str]] | None = None) -> str | None:
    """The area code an account of ``role`` carries: required (and one of ``known[kind]`` when given) for a
    scoped role, refused for a district-wide one. Raises ``Forbidden`` (unknown role) or ``ValidationError``."""
    check_role(role)
    code = (area_code or "").strip() or None
    kind = area_kind(role)
    if kind is None:
        if code is not None:
            raise ValidationError("error.role_has_no_area", role=Label("role", role), area=code)
        return None
    if code is None:
        raise ValidationError("error.role_needs_area", role=Label("role", role), kind=Label("area_kind", kind))
    if known is not None and code not in known.get(kind, {}):
        raise ValidationError("error.unknown_area", area=code, kind=Label("area_kind", kind))
    return code


def in_area(role: str, area_code: str | None, appeal: dict[str, Any]) -> bool:
    """True when an account of ``role`` scoped to ``area_code`` may see ``appeal``: a district-wide role
    always; a subdistrict or community role when the appeal lies there; a department when it is one of the
    units the appeal was dispatched or ordered to (``dispatched_to`` holds them comma-separated)."""
    kind = area_kind(role)
    if kind is None:
        return True
    if area_code is None:
        return False
    if kind == "department":
        return area_code in str(appeal.get("dispatched_to") or "").split(",")
    column = {"subdistrict": "subdistrict_code", "community": "community_code"}[kind]
    return appeal.get(column) == area_code


# -- who is acting ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    """Who is acting: the signed-in account's ``name`` (recorded as the actor of what it does, never free
    text), its ``role`` and, for a scoped role, its ``area_code`` (a subdistrict, community or
    department code, as ``AREA_KINDS`` says). Every service that shows or changes an appeal or an order
    takes one."""

    name: str
    role: str
    area_code: str | None = None
    # Where the request came from (the browser's address, as the server saw it) and which sign-in session
    # it belongs to: recorded with what it does in the audit log; neither changes what it may do.
    address: str | None = field(default=None, compare=False)
    session: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, account: Any) -> Principal:
        """The principal of a services.accounts.Account (or anything with name, role and area_code)."""
        return cls(account.name, account.role, account.area_code)


def check_principal(who: Principal) -> Principal:
    """``who`` when its role is known and a scoped role carries an area; ``Forbidden`` otherwise (an
    account of a scoped role without an area sees nothing rather than everything)."""
    if not isinstance(who, Principal):
        raise TypeError(f"expected an access.Principal, got {type(who).__name__}")
    check_role(who.role)
    if area_kind(who.role) is not None and not who.area_code:
        raise Forbidden("error.principal_without_area", role=Label("role", who.role),
                        kind=Label("area_kind", area_kind(who.role)))
    if not str(who.name or "").strip():
        raise Forbidden("error.principal_without_name", role=Label("role", who.role))
    return who


def area_filter(who: Principal) -> tuple[str, str] | None:
    """The store's ``area=`` for what ``who`` may read: None for a district-wide role, else (kind, code)
    (``("community", "…")``, ``("subdistrict", "…")``, ``("department", "…")``)."""
    check_principal(who)
    kind = area_kind(who.role)
    return None if kind is None else (kind, str(who.area_code))


def check_in_area(who: Principal, appeal: dict[str, Any]) -> None:
    """Raises ``Forbidden`` (saying whose area the appeal is in) unless ``appeal`` is in ``who``'s area."""
    check_principal(who)
    if not in_area(who.role, who.area_code, appeal):
        kind = area_kind(who.role)
        raise Forbidden("error.outside_area", id=appeal.get("id"), role=Label("role", who.role),
                        kind=Label("area_kind", kind), area=who.area_code)


def check_act(who: Principal, action: str, appeal: dict[str, Any]) -> None:
    """Raises ``Forbidden`` unless ``who``'s role may do ``action`` and ``appeal`` is in its area: the role
    first (what it may never do), then the area. Call it before anything is written."""
    check_principal(who)
    check_action(who.role, action)
    check_in_area(who, appeal)


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


# -- personal data in free text ----------------------------------------------------------------------
# Each pattern stands alone between non-digits (a phone number inside a longer digit run is not one).
# Mobile: 11 digits 1[3-9]…, optionally +86/0086/86 before, optionally grouped 3-4-4 by spaces or dashes.
_MOBILE = re.compile(r"(?<!\d)((?:\+|00)?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d{4}){2})(?!\d)")
# Landline: an area code (0 + 2-3 digits) in brackets or followed by a space/dash, then 7-8 digits, and
# an optional extension (-123). A bare 7-8 digit run is not masked: it is as often a date (20251009) or
# an order number, and 12345 (the government hotline) and other short service numbers stay readable.
_LANDLINE = re.compile(r"(?<!\d)(\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}[\s-])\s?(\d{7,8})(?:-\d{1,5})?(?!\d)")
# Resident ID (GB 11643): 17 digits and a check character (0-9 or X). A valid check makes it an ID; so
# does a word for an ID just before it (身份证440300199001011234): a mistyped ID is still 17 digits of
# somebody's region, birthday and sequence. Any other 18-digit run (an order number) stays readable.
_ID_WORD = re.compile(r"(身份证|证件|ID|id)[号码]*[:：\s]*$")
_ID18 = re.compile(r"(?<![\dA-Za-z])(\d{17}[\dXx])(?![\dA-Za-z])")
# Old 15-digit ID (issued until 2004, void since 2013, still typed from old papers): no check digit,
# so it counts as an ID when its region starts 1-8 and digits 7-12 are a real date 19YYMMDD.
_ID15 = re.compile(r"(?<!\d)([1-8]\d{14})(?!\d)")
# Bank card: 16-19 digits, contiguous or in groups of four, passing the Luhn check.
_CARD = re.compile(r"(?<!\d)(\d{4}(?:[\s-]?\d{4}){3}(?:[\s-]?\d{1,3})?)(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident ID: sum of digit x weight
    (7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2) mod 11, mapped 0->1, 1->0, 2->X, 3->9, … 10->2."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_resident_id(text: str) -> bool:
    """True for an 18-character resident ID whose check character is right."""
    return len(text) == 18 and text[:17].isdigit() and id_check_char(text[:17]) == text[17].upper()


def _is_old_id(text: str) -> bool:
    try:
        date(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12]))
    except ValueError:
        return False
    return True


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a card number (every second digit from the right doubled)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _keep_ends(digits: str, head: int, tail: int) -> str:
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[-tail:]


def _mask_id(m: re.Match[str]) -> str:
    named = _ID_WORD.search(m.string, max(0, m.start() - 12), m.start()) is not None
    return _keep_ends(m.group(1), 3, 4) if named or is_resident_id(m.group(1)) else m.group(0)


def _mask_old_id(m: re.Match[str]) -> str:
    return _keep_ends(m.group(1), 3, 3) if _is_old_id(m.group(1)) else m.group(0)


def _mask_card(m: re.Match[str]) -> str:
    digits = re.sub(r"[\s-]", "", m.group(1))
    return "*" * (len(digits) - 4) + digits[-4:] if 16 <= len(digits) <= 19 and luhn_ok(digits) else m.group(0)


def _mask_mobile(m: re.Match[str]) -> str:
    return (m.group(1) or "") + mask_phone(re.sub(r"[\s-]", "", m.group(2)))


def _mask_landline(m: re.Match[str]) -> str:
    return m.group(1) + "*" * (len(m.group(2)) - 4) + m.group(2)[-4:]


def mask_text(text: str | None, reporter_name: str | None = None) -> str:
    """Free text with the personal data in it masked: resident IDs (18 characters with a valid GB 11643
    check, and old 15-digit ones with a real birth date), bank cards (16-19 digits passing Luhn), mobile
    numbers (138****5678, with or without +86 and separators), landlines with an area code
    (0755-****5678), and ``reporter_name`` wherever it occurs (as ``mask_name``). Dates, amounts, order
    numbers that fail the checks and short service numbers (12345) stay as typed. None gives ""."""
    if not text:
        return ""
    out = _ID18.sub(_mask_id, str(text))
    out = _CARD.sub(_mask_card, out)
    out = _ID15.sub(_mask_old_id, out)
    out = _MOBILE.sub(_mask_mobile, out)
    out = _LANDLINE.sub(_mask_landline, out)
    name = (reporter_name or "").strip()
    return out.replace(name, mask_name(name)) if len(name) >= 2 else out


def redact(appeal: dict[str, Any], role: str, *, wall_mode: bool) -> dict[str, Any]:
    """The appeal with personal fields and free text removed (wall mode, whatever the role, and the
    ``NO_TEXT_ROLES`` anywhere) or masked
    (roles without the right: name and phone, and ``mask_text`` over the free text, the appeal's own
    reporter name included); an unknown role gets ``Forbidden``."""
    check_role(role)
    out = dict(appeal)
    if wall_mode or role in NO_TEXT_ROLES:
        for col in (*PERSONAL_COLUMNS, *TEXT_FIELDS):
            out.pop(col, None)
    elif not may_see_personal(role, wall_mode=wall_mode):
        name = appeal.get("reporter_name")
        for col in TEXT_FIELDS:
            if col in out and out[col] is not None:
                out[col] = mask_text(out[col], name)
        out["reporter_name"] = mask_name(out.get("reporter_name"))
        out["reporter_phone"] = mask_phone(out.get("reporter_phone"))
    return out


def redact_notes(events: Any, role: str, *, reporter_name: str | None = None) -> Any:
    """An events frame with its ``note`` masked by ``mask_text`` unless ``role`` may see personal data
    (emptied for the ``NO_TEXT_ROLES``)."""
    check_role(role)
    if may_see_personal(role, wall_mode=False) or "note" not in events:
        return events
    out = events.copy()
    if role in NO_TEXT_ROLES:
        out["note"] = ["" for _ in out["note"]]
        return out
    out["note"] = [mask_text(v, reporter_name) if isinstance(v, str) else v for v in out["note"]]
    return out


if __name__ == "__main__":  # python -m services.access add-user | … | kiosk-url | … | map-identity | …
    import sys

    from services.accounts import main

    sys.exit(main())
