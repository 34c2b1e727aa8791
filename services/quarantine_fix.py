"""Settling a quarantined row from the data screen (/data, issue 13 §4): fix it, or dismiss it.

``form`` gives a row's raw text parsed back into intake's fields (a JSON record as intake flattens it; a
CSV line against its file's header when the file came in through an import job, whose saved copy keeps
the header), as the caller's role may read them (services.quarantine masking: free text through
``access.mask_text``, reporter name and phone masked). ``fix`` sends the edited fields through the SAME
checks as a file (``Intake.check`` on a one-row chunk of the row's source): refused again, it raises
``ValidationError`` with intake's reason and changes nothing; accepted, the appeal is stored with the
row's source and external id, its timeline notes the quarantine id, and the row is settled ``fixed``
with the appeal's id (``Store.resolve_quarantine(..., appeal_id=)``): the link reads both ways. A field
sent back exactly as it was shown masked keeps its stored value, so masking never overwrites data.
``dismiss`` needs a reason (kept as the row's ``resolution_note``). Both are audited with the actor,
quarantine id and appeal id, free text masked. The raw text is never changed: nothing is lost.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services import access, audit
from services.clocks import TZ
from services.errors import DomainError, Label, ValidationError
from services.intake.importer import Intake
from services.intake.json_records import _flatten
from services.intake.reading import Chunk, canonical, records_frame
from services.store.base import Store
from services.vocabulary import CHANNELS_NOTE

# The fields the fix form shows, in its order; other fields parsed from the row are sent back unchanged.
FORM_FIELDS = ("external_id", "channel", "service_type", "category", "description", "address", "lon", "lat",
               "source_crs", "building_code", "people_involved", "amount_involved", "urgency", "reported_at",
               "reporter_name", "reporter_phone")
PERSONAL_FIELDS = ("reporter_name", "reporter_phone")
FREE_TEXT_FIELDS = ("description", "address", "status_notes")


def _row(store: Store, who: access.Principal, quarantine_id: int) -> dict[str, Any]:
    access.check_principal(who)
    access.check_action(who.role, "fix_quarantine")
    return store.quarantine_row(int(quarantine_id))


def _header(store: Store, source: str, file_name: str) -> list[str] | None:
    """The header of the file a CSV row came from, when an import job kept a copy of it."""
    jobs = store.import_jobs()
    hit = jobs[(jobs["source"] == source) & (jobs["file_name"] == file_name)]
    for path in hit["path"]:
        try:
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
                for line in fh:
                    if line.strip():
                        delimiter = "\t" if line.count("\t") > line.count(",") else ","
                        return [h.strip() for h in next(csv.reader([line], delimiter=delimiter))]
        except OSError:
            continue
    return None


def parse_raw(raw: str, header: list[str] | None) -> dict[str, Any]:
    """A quarantined row's raw text as intake's fields (empty when it cannot be read back)."""
    text = (raw or "").strip()
    rec: dict[str, Any] | None = None
    if text.startswith("{"):
        try:
            rec, _, _ = _flatten(json.loads(text), "jsonl")
        except ValueError:
            rec = None
    elif header:
        delimiter = "\t" if text.count("\t") > text.count(",") else ","
        try:
            values = next(csv.reader(io.StringIO(text), delimiter=delimiter))
        except (csv.Error, StopIteration):
            values = []
        if len(values) == len(header):
            rec = dict(zip(header, values, strict=True))
    if not rec:
        return {}
    fields = canonical(records_frame([rec]))
    return {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v)
            for k, v in fields.iloc[0].to_dict().items()}


def _stored_fields(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    if row.get("line") is None:
        return {}
    return parse_raw(row["raw"], _header(store, row["source"], row["file"]))


def _shown(fields: Mapping[str, Any], role: str) -> dict[str, Any]:
    """Fields as ``role`` may read them."""
    if access.may_see_personal(role, wall_mode=False):
        return dict(fields)
    out = dict(fields)
    for k in FREE_TEXT_FIELDS:
        if isinstance(out.get(k), str):
            out[k] = access.mask_text(out[k])
    out["reporter_name"] = access.mask_name(out.get("reporter_name")) or None
    out["reporter_phone"] = access.mask_phone(out.get("reporter_phone")) or None
    return out


def form(store: Store, who: access.Principal, quarantine_id: int) -> dict[str, Any]:
    """What the fix form shows of a row: ``fields`` (parsed back, masked for the role), ``fixable`` (False
    for a whole-file refusal: nothing to fix, only dismiss), ``raw`` and ``reason`` (masked as
    services.quarantine masks them), ``source``, ``file``, ``line``, ``settled``."""
    row = _row(store, who, quarantine_id)
    masked = not access.may_see_personal(who.role, wall_mode=False)
    fields = _stored_fields(store, row)
    return {"id": int(row["id"]), "source": row["source"], "file": row["file"], "line": row["line"],
            "raw": access.mask_text(row["raw"]) if masked else row["raw"],
            "reason": access.mask_text(row["reason"]) if masked else row["reason"],
            "reason_code": row["reason_code"], "fixable": row.get("line") is not None,
            "settled": row.get("resolved_at") is not None, "fields": _shown(fields, who.role)}


def _merged(stored: dict[str, Any], shown: dict[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """The fields to send: the stored ones, changed where an edit differs from what was shown."""
    out = dict(stored)
    for k, v in edits.items():
        v = None if v is None or (isinstance(v, str) and not v.strip()) else v
        if k in shown and _same(v, shown.get(k)):
            continue  # left as shown (perhaps masked): keep the stored value
        out[k] = v
    return out


def _same(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and str(a).strip() == str(b).strip())


def _chunk(fields: dict[str, Any], line: int, raw: str) -> Chunk:
    frame = pd.DataFrame({k: pd.Series([None if v is None else str(v)], dtype=object) for k, v in fields.items()})
    return Chunk(frame, np.array([line], np.int64), [raw], np.array([None], object), np.array([None], object),
                 "csv")


def _events(appeals: pd.DataFrame, events: pd.DataFrame | None, actor: str, quarantine_id: int,
            now: datetime) -> pd.DataFrame:
    """The new appeal's events: intake's (or the report event the store would write) and a note naming
    the quarantine row it came from."""
    if events is None:
        events = pd.DataFrame({"appeal_id": appeals["id"].to_numpy(), "at": appeals["reported_at"].to_numpy(),
                               "actor": actor, "action": "report", "from_status": None, "to_status": "reported",
                               "note": [CHANNELS_NOTE.get(c, c) for c in appeals["channel"]]})
    status = str(appeals["status"].iloc[0]) if "status" in appeals else "reported"
    note = pd.DataFrame({"appeal_id": appeals["id"].to_numpy(), "at": [pd.Timestamp(now)] * len(appeals),
                         "actor": actor, "action": "note", "from_status": status, "to_status": status,
                         "note": f"由隔离区第 {quarantine_id} 条更正后入库（fixed from quarantine row #{quarantine_id}）"})
    out = pd.concat([events, note], ignore_index=True)
    out["at"] = pd.to_datetime(out["at"], utc=True).dt.tz_convert(TZ)
    return out


def fix(store: Store, who: access.Principal, quarantine_id: int, edits: Mapping[str, Any], *,
        crs: str = "wgs84", now: datetime | None = None) -> int:
    """Send a fixed row through intake's checks; returns the new appeal's id (see the module's doc)."""
    now = (now or datetime.now(TZ)).astimezone(TZ)
    request = {"quarantine_id": int(quarantine_id), "crs": crs, "fields": sorted(edits)}
    try:
        row = _row(store, who, quarantine_id)
        if row.get("resolved_at") is not None:
            raise ValidationError("error.quarantine_settled", id=quarantine_id)
        if row.get("line") is None:
            raise ValidationError("error.quarantine_whole_file", id=quarantine_id)
        stored = _stored_fields(store, row)
        fields = _merged(stored, _shown(stored, who.role), edits)
        intake = Intake(store, source=row["source"], crs=crs, now=now)
        appeals, refused, events = intake.check(_chunk(fields, int(row["line"]), row["raw"]))
        if len(refused):
            raise ValidationError("error.quarantine_fix_refused",
                                  reason=Label("intake.reason", str(refused["reason_code"].iloc[0])))
        result = store.insert_appeals(appeals, _events(appeals, events, who.name, int(quarantine_id), now),
                                      actor=who.name)
        if result.stored != 1:
            raise ValidationError("error.quarantine_fix_duplicate", source=row["source"],
                                  external_id=str(appeals["external_id"].iloc[0]))
        appeal_id = int(result.ids[0])
        store.resolve_quarantine([int(quarantine_id)], "fixed", who.name, now, appeal_id=appeal_id)
    except DomainError as exc:
        audit.record(store, getattr(who, "name", None) or "anonymous", "quarantine.fix.refused", "quarantine",
                     quarantine_id, detail={"request": request, "reason": exc.key or str(exc)},
                     address=getattr(who, "address", None))
        raise
    audit.record(store, who.name, "quarantine.fix", "quarantine", int(quarantine_id),
                 detail={**request, "appeal_id": appeal_id}, address=who.address)
    return appeal_id


def dismiss(store: Store, who: access.Principal, quarantine_id: int, reason: str, *,
            now: datetime | None = None) -> None:
    """Settle a row as ``dismissed`` with ``reason`` (required; kept with the row). Audited, the reason
    masked in the log."""
    text = str(reason or "").strip()
    request = {"quarantine_id": int(quarantine_id), "reason": access.mask_text(text)}

    def step() -> None:
        row = _row(store, who, quarantine_id)
        if not text:
            raise ValidationError("error.dismiss_needs_reason")
        if row.get("resolved_at") is not None:
            raise ValidationError("error.quarantine_settled", id=quarantine_id)
        store.resolve_quarantine([int(quarantine_id)], "dismissed", who.name, now, note=text)

    audit.audited(store, getattr(who, "name", None) or "anonymous", "quarantine.dismiss", "quarantine",
                  int(quarantine_id), request, step, getattr(who, "address", None))


def rows(store: Store, who: access.Principal, *, source: str | None = None, file: str | None = None,
         reason_code: str | None = None, settled: bool | None = False) -> pd.DataFrame:
    """Quarantine rows as ``who`` may read them (services.quarantine.quarantined), filtered by source,
    file, reason code and whether they are settled (None: all)."""
    from services.quarantine import quarantined

    access.check_principal(who)
    if not (access.may_do(who.role, "fix_quarantine") or access.may_do(who.role, "import_data")):
        access.check_action(who.role, "fix_quarantine")
    df = quarantined(store, who.role, source=source or None)
    if file:
        df = df[df["file"] == file]
    if reason_code:
        df = df[df["reason_code"] == reason_code]
    if settled is not None:
        df = df[df["resolved_at"].notna() == settled]
    return df.reset_index(drop=True)
