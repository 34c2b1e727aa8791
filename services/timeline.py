"""An appeal's timeline (办理过程) as a screen shows it: newest first, every code in the reader's language.

Events are stored append-only with a note that starts with what the lifecycle wrote (the dispatch
target, the ordered departments, the levels of an escalation) and may end with what the person typed.
This module takes the lifecycle's part apart again, so that the target is shown by name and the
person's words stay as typed. Report events carry the channel's note, which the facts show already.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from services import district
from services.i18n import label, t
from services.vocabulary import JUDICIAL_RESULTS, SETTLEMENTS

# What the lifecycle writes at the start of a note (services.lifecycle.transition), per action.
_DISPATCH = re.compile(r"^→ (?P<target>[^;；]+)")
_ORDER = re.compile(r"^发令#(?P<order>\d*) → (?P<departments>[^;；]+)(?:；[^;]*)?")
_ESCALATE = re.compile(r"^(?P<before>community|subdistrict|district)→(?P<after>community|subdistrict|district)")
_GATHERING = re.compile(r"^聚集#(?P<gid>\d+) (?P<tier>red|yellow|blue)")
_SATISFACTION = re.compile(r"^(?P<sat>satisfied|basically_satisfied|not_satisfied)")
# A resolve's settlement (services.lifecycle._settlement), a judicial confirmation's amount and answer.
_SETTLEMENT = re.compile(rf"^settlement=(?P<settlement>{'|'.join(SETTLEMENTS)})(?: amount=(?P<amount>\d+))?"
                         r"(?: mediator=(?P<mediator>[^;；]+))?")
_JUDICIAL_AMOUNT = re.compile(r"^amount=(?P<amount>\d+)")
_JUDICIAL_RESULT = re.compile(rf"^(?P<result>{'|'.join(JUDICIAL_RESULTS)})")
COLUMNS = ("at", "action", "status", "actor", "target", "note")


def _settled(m: re.Match[str], lang: str) -> str:
    """人民调解（调解员 李四，协议金额 120,000 元） / People's mediation (mediator 李四, agreed amount …)."""
    parts = []
    if m["mediator"]:
        parts.append(t("timeline.mediator", lang, name=m["mediator"].strip()))
    if m["amount"]:
        parts.append(t("timeline.agreed", lang, amount=f"{int(m['amount']):,}"))
    text = label("settlement", m["settlement"], lang)
    return text + (t("timeline.details", lang, list=t("timeline.separator", lang).join(parts)) if parts else "")


def target_name(code: str, lang: str) -> str:
    """A department or community shown by its name in ``lang`` (the code itself when unknown)."""
    code = code.strip()
    for kind in ("department", "community", "subdistrict"):
        name = district.names(kind, lang).get(code)
        if name:
            return name
    return code


def split_note(action: str, note: str | None, lang: str) -> tuple[str, str]:
    """(target, remaining note) of one event's note."""
    text = (note or "").strip()
    if action == "report":
        return "", ""
    target = ""
    for pattern, render in (
        (_DISPATCH if action == "dispatch" else None, lambda m: target_name(m["target"], lang)),
        (_ORDER if action == "order" else None,
         lambda m: "、".join(target_name(c, lang) for c in m["departments"].split(","))),
        (_ESCALATE if action == "escalate" else None,
         lambda m: f"{label('handling_level', m['before'], lang)} → {label('handling_level', m['after'], lang)}"),
        (_GATHERING if action == "gathering" else None, lambda m: label("tier", m["tier"], lang)),
        (_SATISFACTION if action == "return_visit" else None, lambda m: label("satisfaction", m["sat"], lang)),
        (_SETTLEMENT if action == "resolve" else None, lambda m: _settled(m, lang)),
        (_JUDICIAL_AMOUNT if action == "request_judicial_confirmation" else None,
         lambda m: t("timeline.judicial_amount", lang, amount=f"{int(m['amount']):,}")),
        (_JUDICIAL_RESULT if action == "record_judicial_confirmation" else None,
         lambda m: label("judicial_result", m["result"], lang)),
    ):
        if pattern is None:
            continue
        m = pattern.match(text)
        if m:
            target = render(m)
            text = text[m.end():]
            break
    # What follows the lifecycle's part: a facts diff (codes) or the person's own words.
    text = text.lstrip(";； ").strip()
    return target, text


def timeline(events: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Events newest first (ties: the later-stored first), with action, status change, actor and target
    in ``lang``; columns COLUMNS (``at`` stays a timestamp)."""
    if events.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    ev = events.sort_values(["at", "id"], ascending=False, kind="stable")
    rows: list[dict[str, Any]] = []
    for e in ev.itertuples(index=False):
        target, note = split_note(e.action, e.note, lang)
        before = "" if pd.isna(e.from_status) else label("status", e.from_status, lang)
        after = label("status", e.to_status, lang)
        rows.append({"at": e.at, "action": label("action", e.action, lang),
                     "status": after if not before or before == after else f"{before} → {after}",
                     "actor": district.actor_name(e.actor, lang), "target": target, "note": note})
    return pd.DataFrame(rows, columns=list(COLUMNS))
