"""Appeals to an Open311 GeoReport v2 file: the JSON GET ``requests.json`` answers, for every matching
appeal (``python -m services.intake export --format open311 … --out FILE``).

Why here, beside the API: the file must be exactly what the API gives (the same
``mapping.requests``, the same masking of the description, no personal field), only without the
API's 90-day window and 1,000-request page. The appeals are read through the store's query method in
batches of ``BATCH`` (keyset on (reported_at, id), newest first as the API orders them), so memory
stays bounded at any size; the JSON array is written as it goes. Every export is in the audit log
(services.audit ``exported``). Round trip through intake: docs/open311.md "Export and round trip".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pandas as pd

from services import audit
from services.access import Principal
from services.errors import ValidationError
from services.open311api import mapping
from services.store.base import OPEN_STATUSES, Store

BATCH = 20_000  # appeals read and written per step
STATUSES = ("open", "closed")


@dataclass(frozen=True)
class ExportFilter:
    """What an export holds: appeals reported on local days ``since`` … ``until`` (both inclusive, either
    open-ended), in ``area`` (any area code: subdistrict, community or grid; the district's own code or
    None is all), ``status`` open or closed (None: both); texts in ``lang``."""

    since: date | None = None
    until: date | None = None
    area: str | None = None
    status: str | None = None
    lang: str = "zh"

    def window(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) in Asia/Shanghai: since's midnight, and the midnight after until."""
        start = datetime.combine(self.since, datetime.min.time(), mapping.TZ) if self.since else None
        end = (datetime.combine(self.until + timedelta(days=1), datetime.min.time(), mapping.TZ)
               if self.until else None)
        if start and end and end <= start:
            raise ValidationError("--until is before --since")
        return start, end

    def statuses(self) -> list[str] | None:
        if self.status is None:
            return None
        if self.status not in STATUSES:
            raise ValidationError(f"unknown status {self.status!r}; expected open or closed")
        return list(OPEN_STATUSES) if self.status == "open" else ["closed"]

    def area_filter(self) -> tuple[str, str] | None:
        """The store's ``area=`` (kind, code), or None for the whole district."""
        if not self.area:
            return None
        from services.analysis.service import area_kind

        kind = area_kind(self.area)  # ValidationError for an unknown code
        return None if kind == "district" else (kind, str(self.area))

    def as_detail(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "area": self.area, "status": self.status, "lang": self.lang}


def batches(store: Store, flt: ExportFilter, batch: int = BATCH) -> Any:
    """Request documents of every matching appeal, a list per batch, newest first (the API's order)."""
    start, end = flt.window()
    statuses, area = flt.statuses(), flt.area_filter()
    upper, last = end, None
    seen_at_upper: set[int] = set()  # ids already written that were reported exactly at ``last``
    while True:
        frame = store.query_appeals(statuses=statuses, since=start, until=upper, area=area, order="newest",
                                    limit=batch + len(seen_at_upper), include_personal=True,
                                    columns=list(mapping.READ_COLUMNS))
        if seen_at_upper:
            frame = frame[~frame["id"].isin(seen_at_upper)]
        if frame.empty:
            return
        frame = frame.reset_index(drop=True)
        yield mapping.requests(frame, flt.lang)
        if len(frame) < batch:
            return
        # Next batch: reported before or at the oldest time written, leaving out the ids written at it.
        oldest = pd.Timestamp(frame["reported_at"].iloc[-1])
        at_oldest = set(frame.loc[pd.to_datetime(frame["reported_at"]) == oldest, "id"].astype(int))
        seen_at_upper = at_oldest | (seen_at_upper if oldest == last else set())
        last, upper = oldest, oldest.to_pydatetime() + timedelta(microseconds=1)


def write(store: Store, out: IO[str], flt: ExportFilter, batch: int = BATCH) -> int:
    """Write the JSON array of request documents to ``out``; the number written."""
    n = 0
    out.write("[")
    for docs in batches(store, flt, batch):
        for doc in docs:
            out.write(",\n" if n else "\n")
            out.write(json.dumps(doc, ensure_ascii=False))
            n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def export_file(store: Store, path: str | os.PathLike[str], flt: ExportFilter, who: Principal, *,
                batch: int = BATCH) -> int:
    """Export the matching appeals to ``path`` (written whole to a temporary file, then renamed, so a
    failed export leaves no half file) and record the export (``open311.<name>``, filters, count)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            n = write(store, fh, flt, batch)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    audit.exported(store, who, f"open311.{path.name}", {**flt.as_detail(), "format": "open311", "rows": n})
    return n
