"""Every table's export (issue 14 §3): xlsx (openpyxl, pinned) or CSV (UTF-8 with a BOM, so that Excel
reads the Chinese), one path for all of them.

``export`` takes a frame whose columns are codes, its title, period and area (already in the viewer's
language), ``lang`` and the viewer: personal columns are masked as the viewer's role may see them
(``access.may_see_personal``; the name and phone by ``mask_name`` / ``mask_phone``, free text by
``mask_text``, and for the roles that get no text at all those columns are left out), the headers are
translated (``headers``, a code → text map; by default ``assessment.col_<code>``), the period and the area
go into the file name and the first rows (title, period, area, a blank row, then the table), and the
export writes its ``export`` audit row (``services.audit.exported``) with what it held. The audit log's
own export (services/admin.py) takes this path too, with ``heading=False``: its file starts with the
header row, as tests/test_admin.py and the tools reading it back expect, and its filters (period,
person, object) are recorded in the audit row instead.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from services import access, audit
from services.errors import ValidationError
from services.i18n import label, t, table
from services.store.base import Store

FORMATS = ("csv", "xlsx")
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# Characters a file name may not hold on Windows, macOS or Linux (and spaces, replaced for shells).
_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


@dataclass(frozen=True)
class Export:
    """An export's file name, bytes and MIME type (what ``st.download_button`` takes)."""

    file_name: str
    data: bytes
    mime: str


def header(code: str, lang: str) -> str:
    """The header of column ``code`` in ``lang``: ``assessment.col_<code>``, an ``outcome_<x>`` column by
    the outcome's label, else the code itself."""
    if f"assessment.col_{code}" in table():
        return t(f"assessment.col_{code}", lang)
    if code.startswith("outcome_") and f"outcome.{code[8:]}" in table():
        return t("assessment.col_outcome", lang, outcome=label("outcome", code[8:], lang))
    return code


def masked(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """``frame`` with its personal columns as ``role`` may see them: unchanged for a role that may see
    personal data; dropped (with the free-text columns) for the roles that get no text; else the name
    and phone masked and free text passed through ``mask_text`` (with the row's reporter name)."""
    access.check_role(role)
    if access.may_see_personal(role, wall_mode=False):
        return frame
    out = frame.copy()
    if role in access.NO_TEXT_ROLES:
        return out.drop(columns=[c for c in (*access.PERSONAL_COLUMNS, *access.TEXT_FIELDS) if c in out])
    names = out["reporter_name"] if "reporter_name" in out else pd.Series([None] * len(out), index=out.index)
    for col in access.TEXT_FIELDS:
        if col in out:
            out[col] = [access.mask_text(v, n) if isinstance(v, str) else v for v, n in zip(out[col], names,
                                                                                             strict=True)]
    if "reporter_name" in out:
        out["reporter_name"] = [access.mask_name(v) if isinstance(v, str) else v for v in out["reporter_name"]]
    if "reporter_phone" in out:
        out["reporter_phone"] = [access.mask_phone(str(v)) if isinstance(v, str | int) else v
                                 for v in out["reporter_phone"]]
    return out


def file_name(title: str, period: str | None, area: str | None, fmt: str) -> str:
    """``<title>_<area>_<period>.<fmt>``, with the characters no file name may hold replaced by ``_``."""
    parts = [p for p in (title, area, period) if p]
    return "_".join(_UNSAFE.sub("_", p).strip("_") for p in parts) + f".{fmt}"


def _bytes(view: pd.DataFrame, heading: list[tuple[str, str]], fmt: str, sheet: str) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        if heading:
            pd.DataFrame(heading).to_csv(buf, index=False, header=False)
            buf.write("\n")
        view.to_csv(buf, index=False)
        return buf.getvalue().encode("utf-8-sig")
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as xl:
        start = len(heading) + 1 if heading else 0
        view.to_excel(xl, index=False, sheet_name=sheet, startrow=start)
        ws = xl.sheets[sheet]
        for i, (key, value) in enumerate(heading, start=1):
            ws.cell(i, 1, key)
            ws.cell(i, 2, value)
    return out.getvalue()


def export(store: Store, who: access.Principal, frame: pd.DataFrame, *, what: str, title: str,
           period: str | None, area: str | None, lang: str, fmt: str,
           headers: Mapping[str, str] | None = None, heading: bool = True,
           detail: Mapping[str, Any] | None = None) -> Export:
    """``frame`` as an ``fmt`` file for ``who`` (module docstring): masked by role, headers in ``lang``
    (``headers`` when given, else ``header``), title, period and area in the name and the first rows
    (unless ``heading`` is False); writes the ``export`` audit row (object ``<what>.<fmt>``, with the
    title, period, area, row count and ``detail``). An unknown ``fmt`` is a ValidationError and nothing
    is written."""
    access.check_principal(who)
    if fmt not in FORMATS:
        raise ValidationError("error.export_format_invalid", fmt=fmt, formats=", ".join(FORMATS))
    view = masked(frame, who.role)
    names = {c: (headers or {}).get(c, header(str(c), lang) if headers is None else str(c)) for c in view.columns}
    view = view.rename(columns=names)
    rows = [(t("export.title", lang), title), (t("export.period", lang), period or ""),
            (t("export.area", lang), area or "")] if heading else []
    data = _bytes(view, rows, fmt, _UNSAFE.sub("_", what)[:31] or "export")
    name = file_name(title, period, area, fmt)
    audit.exported(store, who, f"{what}.{fmt}", {"title": title, "period": period, "area": area,
                                                 "rows": len(view), "file": name, **(detail or {})})
    return Export(name, data, MIME[fmt])
