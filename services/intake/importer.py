"""The Intake class: imports a file chunk by chunk into one store for one source, and its Summary."""

from __future__ import annotations

import codecs
import io
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.coords import SOURCE_SYSTEMS
from services import reference
from services.clocks import TZ
from services.intake.appeals import (
    assign,
    build_appeals,
    description_with_address,
    district_layers,
    imported_state,
    object_frame,
)
from services.intake.checks import Rows, run_checks
from services.intake.crs_check import check_file_system
from services.intake.csv_reader import csv_chunks
from services.intake.document_reader import document_chunks
from services.intake.jsonl_reader import jsonl_chunks
from services.intake.parsing import DATE_ORDERS
from services.intake.quarantine import escape, file_record, storable
from services.intake.reading import (
    Chunk,
    detect_format,
    estimate_rows,
    sniff_encoding,
)
from services.intake.schema import (
    DEFAULT_CHUNK,
    FORMATS,
    REASONS,
    IntakeError,
    bilingual,
    pair,
)
from services.intake.schema import (
    future_tolerance as default_future_tolerance,
)
from services.intake.sniffing import FileRefused, refuse_non_text
from services.intake.xlsx_reader import xlsx_chunks
from services.service_map import ServiceMap, ServiceMapError, load_service_map
from services.store.base import BulkLoad, InsertResult, Store


@dataclass
class Summary:
    """What one import did. ``rows == stored + duplicates + quarantined`` always holds."""

    path: str
    source: str
    fmt: str = ""
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    already_quarantined: int = 0
    by_reason: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)  # lines that are not rows: blank, delimiters only
    file_reason_code: str | None = None  # the whole file was quarantined (services/intake/sniffing.py)
    file_reason: str = ""
    file_already_quarantined: bool = False

    @property
    def accounted(self) -> bool:
        return self.rows == self.stored + self.duplicates + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "source": self.source, "format": self.fmt, "rows": self.rows,
                "stored": self.stored, "duplicates": self.duplicates, "quarantined": self.quarantined,
                "already_quarantined": self.already_quarantined, "by_reason": dict(self.by_reason),
                "skipped": dict(self.skipped), "file_quarantined": self.file_reason_code,
                "seconds": round(self.seconds, 3)}

    def text(self) -> str:
        """The summary a clerk reads after an import: each label in Chinese, then English."""
        if self.file_reason_code:
            zh, en = REASONS[self.file_reason_code]
            again = _label("again") if self.file_already_quarantined else ""
            return "\n".join([f"{self.path}（{_label('source')}={self.source}）：{_label('file_refused')}{again}",
                              f"  {zh} {en} [{self.file_reason_code}]: {self.file_reason}",
                              f"  {bilingual('intake.summary.nothing_read')}"])
        lines = [f"{self.path}（{self.fmt}，{_label('source')}={self.source}）：{_label('rows')} {self.rows}",
                 f"  {_label('stored')}: {self.stored}",
                 f"  {_label('duplicates')}: {self.duplicates}",
                 f"  {_label('quarantined')}: {self.quarantined}"
                 + (f"（{bilingual('intake.summary.already', n=self.already_quarantined)}）"
                    if self.already_quarantined else "")]
        for code, n in self.by_reason.most_common():
            zh, en = REASONS.get(code, (code, code))
            lines.append(f"    {zh} {en} [{code}]: {n}")
        for kind, n in self.skipped.items():
            lines.append(f"  {_label(kind)}: {n}")
        lines += [f"  {_label('note')}: {n}" for n in self.notes]
        if not self.stored:
            lines.append(f"  {bilingual('intake.summary.nothing_new')}")
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        lines.append(f"  {_label('seconds')} {self.seconds:.2f} s（{rate:,.0f} rows/s）")
        return "\n".join(lines)


def _label(key: str) -> str:
    """A label of the printed summary, Chinese then English (``已入库 stored``)."""
    zh, en = pair(f"intake.summary.{key}")
    return f"{zh} {en}"


PRESCAN_CHUNK = 1000  # rows per chunk of the coordinate-system check's first reading


class Intake:
    """Imports files into one store for one source; holds what must persist across chunks."""

    def __init__(self, store: Store, *, source: str, crs: str = "wgs84", now: datetime | None = None,
                 default_channel: str | None = None, chunk_size: int = DEFAULT_CHUNK,
                 future_tolerance: timedelta | None = None,
                 service_map: str | os.PathLike[str] | ServiceMap | None = None,
                 date_order: str | None = None, keep_reported: bool = False) -> None:
        """``service_map``: the foreign service codes of each source (a file, default
        config/open311_services.toml); an invalid file raises IntakeError naming the entry.
        ``date_order``: how the file writes dates with the year last, "dmy" (03/04/2024 is 3 April) or
        "mdy"; without it such a date is quarantined as ambiguous unless a day above 12 settles it.
        ``keep_reported``: an old open request keeps its requested time instead of being imported
        backlog (clocks from now): for moving or restoring our own appeals (an Open311 export, see
        docs/open311.md "Export and round trip"), not for another system's backlog."""
        if crs.lower() not in SOURCE_SYSTEMS:
            raise ValueError(f"unknown --crs {crs!r}; choose one of {', '.join(SOURCE_SYSTEMS)}")
        if date_order is not None and date_order not in DATE_ORDERS:
            raise ValueError(f"unknown --date-format {date_order!r}; choose one of {', '.join(DATE_ORDERS)}")
        self.date_order = date_order
        self.keep_reported = keep_reported
        if isinstance(service_map, ServiceMap):
            self.service_map = service_map
        else:
            try:
                self.service_map = load_service_map(service_map)
            except ServiceMapError as exc:
                raise IntakeError(str(exc)) from None
        self.store = store
        self.source = source
        self.crs = crs.lower()
        self.now = now
        self.default_channel = default_channel
        self.chunk_size = max(1, int(chunk_size))
        self.future_tolerance = default_future_tolerance() if future_tolerance is None else future_tolerance
        self._seen: dict[str, int] = {}
        self._quarantined: set[tuple[str, int, str]] | None = None
        self._load: BulkLoad | None = None  # the store's bulk load of the file being imported
        self._building_points: pd.DataFrame | None = None

    # -- files -------------------------------------------------------------------------------------
    def import_file(self, path: str | os.PathLike[str], fmt: str = "auto", encoding: str | None = None,
                    progress: bool = False, sheet: str | None = None) -> Summary:
        """Import one file (``sheet``: the worksheet of a workbook, default the first). A file that is
        not what it claims to be (services/intake/sniffing.py) gets one quarantine record and no row of
        it is read; IntakeError only when the file cannot be opened or the arguments are wrong."""
        t0 = time.perf_counter()
        path = Path(path)
        if not path.is_file():
            raise IntakeError(bilingual("intake.summary.no_such_file", path=path))
        if fmt != "auto" and fmt not in FORMATS:
            raise IntakeError(bilingual("intake.summary.unknown_format", fmt=fmt, formats=", ".join(FORMATS)))
        self._seen = {}
        try:
            raw_fh = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise IntakeError(bilingual("intake.summary.unreadable", error=exc)) from None
        with raw_fh:
            head = raw_fh.read(1 << 16)
            raw_fh.seek(0)
            summary = Summary(str(path), self.source, fmt)
            try:
                self._check_system(path, head, fmt, encoding, sheet)
                fmt, chunks = self._chunks(path, raw_fh, head, fmt, encoding, sheet, summary)
                summary.fmt = fmt
                self._import_chunks(chunks, fmt, path, head, summary, progress)
            except FileRefused as refused:
                self._refuse_file(summary, path.name, refused)
        summary.seconds = time.perf_counter() - t0
        return summary

    def _chunks(self, path: Path, raw_fh: Any, head: bytes, fmt: str, encoding: str | None, sheet: str | None,
                summary: Summary, chunk_size: int | None = None) -> tuple[str, Iterator[Chunk]]:
        """The file's format and its chunks (of ``chunk_size`` rows, default the import's), lazily; raises
        FileRefused for a file that is not text."""
        size = chunk_size or self.chunk_size
        fmt = refuse_non_text(path, head, fmt)
        if fmt == "xlsx":
            return fmt, xlsx_chunks(path, size, summary.notes, summary.skipped, sheet)
        enc = encoding or sniff_encoding(head)
        try:
            codecs.lookup(enc)
        except LookupError:
            raise IntakeError(bilingual("intake.summary.unknown_encoding", encoding=enc)) from None
        if fmt == "auto":
            fmt = detect_format(path, head.decode(enc, errors="replace"))
        if fmt in ("csv", "jsonl"):
            fh = io.TextIOWrapper(raw_fh, encoding=enc, errors="replace", newline="")
            return fmt, (csv_chunks(fh, raw_fh, size, summary.notes, summary.skipped) if fmt == "csv"
                         else jsonl_chunks(fh, raw_fh, size, summary.skipped))
        # Undecodable bytes become U+FFFD: their records are quarantined as bad_encoding, one by one.
        return fmt, document_chunks(raw_fh.read().decode(enc, errors="replace"), fmt, size)

    def _check_system(self, path: Path, head: bytes, fmt: str, encoding: str | None, sheet: str | None) -> None:
        """Refuse the file (FileRefused ``wrong_crs``) when its rows that name a building sit where that
        building would be in another coordinate system (services/intake/crs_check.py). A first reading
        of the file, on its own handle, before anything is stored."""
        buildings = self._buildings()
        if buildings.empty:
            return
        with open(path, "rb") as fh:  # in small chunks: it stops as soon as it has enough
            _, chunks = self._chunks(path, fh, head, fmt, encoding, sheet, Summary(str(path), self.source),
                                     chunk_size=PRESCAN_CHUNK)
            check_file_system(chunks, buildings, self.crs)

    def _buildings(self) -> pd.DataFrame:
        """The district's buildings (code, lon, lat): the store's, else the layer files' (a store that
        was never seeded)."""
        if self._building_points is None:
            layer = reference.points(self.store, "building")  # cached per store (services/reference.py)
            if layer.empty:
                layer = district_layers(("building",)).get("building")
            self._building_points = pd.DataFrame() if layer is None or layer.empty else pd.DataFrame(
                {"code": layer["code"].astype(str).to_numpy(), "lon": layer.geometry.x.to_numpy(),
                 "lat": layer.geometry.y.to_numpy()})
        return self._building_points

    def _import_chunks(self, chunks: Iterator[Chunk], fmt: str, path: Path, head: bytes, summary: Summary,
                       progress: bool) -> None:
        """Check and store every chunk in one bulk load (rolled back if the file is refused midway)."""
        size = path.stat().st_size
        by_bytes = fmt in ("csv", "jsonl")
        bar = self.progress_bar(size if by_bytes else None, progress, path.name)
        done = 0
        try:
            with self.store.bulk_load(estimate_rows(fmt, size, head)) as load:
                self._load = load
                for chunk in chunks:
                    appeals, quarantine, events = self.check(chunk)
                    summary.rows += len(chunk.line)
                    self._store(appeals, quarantine, path.name, summary, events)
                    if bar is not None:
                        bar.update(chunk.progress - done if by_bytes else len(chunk.line))
                        done = chunk.progress
                    summary.fmt = chunk.fmt
        finally:
            self._load = None
            if bar is not None:
                bar.close()

    def progress_bar(self, total: int | None, enabled: bool, name: str) -> Any:
        """What follows the import's progress: None, or an object with ``update(n)`` (bytes of a CSV or
        JSON Lines file, else rows) and ``close()``; a tqdm bar on stderr for the CLI. A job that runs in
        the server (services/import_jobs.py) overrides it to keep the progress in the store."""
        return _progress_bar(total, enabled, name)

    def _refuse_file(self, summary: Summary, file: str, refused: FileRefused) -> None:
        """One quarantine record for the whole file (unless the same file was refused before)."""
        summary.rows = summary.stored = summary.duplicates = summary.quarantined = 0
        summary.by_reason.clear()
        summary.file_reason_code, summary.file_reason = refused.code, refused.reason
        record = file_record(refused.code, refused.reason, refused.sample)
        record.insert(0, "file", escape(file))
        record.insert(0, "source", escape(self.source))
        new = self._new_quarantine(record)
        summary.file_already_quarantined = not len(new)
        if len(new):
            self.store.quarantine(new.reset_index(drop=True))

    # -- one chunk -----------------------------------------------------------------------------------
    def write_checked(self, appeals: pd.DataFrame, quarantine: pd.DataFrame, file: str,
                      events: pd.DataFrame | None = None) -> tuple[Summary, InsertResult]:
        """Write what ``check`` returned for rows that did not come from a file (an Open311 POST, see
        services/open311api): the appeals (a duplicate (source, external_id) counted, not stored) and the
        quarantine rows under ``file``. Returns the summary and the store's InsertResult (new ids)."""
        summary = Summary(file, self.source, "open311")
        summary.rows = len(appeals) + len(quarantine)
        result = self._store(appeals, quarantine, file, summary, events)
        return summary, result

    def _store(self, appeals: pd.DataFrame, quarantine: pd.DataFrame, file: str, summary: Summary,
               events: pd.DataFrame | None = None) -> InsertResult:
        """Write one checked chunk: new appeals with their events (None: the store's report events;
        duplicates counted by the store) and new quarantine rows."""
        result = InsertResult()
        if len(appeals):
            actor = f"intake:{self.source}"
            result = (self._load.add(appeals, events, actor=actor) if self._load is not None
                      else self.store.insert_appeals(appeals, events, actor=actor))
            summary.stored += result.stored
            summary.duplicates += result.duplicates
        if len(quarantine):
            quarantine.insert(0, "file", escape(file))
            quarantine.insert(0, "source", escape(self.source))
            summary.quarantined += len(quarantine)
            summary.by_reason.update(quarantine["reason_code"].tolist())
            new = self._new_quarantine(quarantine)
            summary.already_quarantined += len(quarantine) - len(new)
            if len(new):
                (self._load or self.store).quarantine(new.reset_index(drop=True))
        return result

    def _new_quarantine(self, q: pd.DataFrame) -> pd.DataFrame:
        """Rows not already quarantined for this source (same file name, line and verbatim text)."""
        if self._quarantined is None:
            old = self.store.quarantined(source=self.source)
            self._quarantined = set()
            if len(old):
                self._quarantined = {(str(f), -1 if pd.isna(li) else int(li), str(r)) for f, li, r in
                                     zip(old["file"], old["line"], old["raw"], strict=True)}
        keys = list(zip(q["file"], q["line"].fillna(-1).astype(int), q["raw"], strict=True))
        fresh = np.array([k not in self._quarantined for k in keys], bool)
        self._quarantined.update(keys)
        return q[fresh]

    def check(self, chunk: Chunk) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """Split a chunk into store-ready appeals, quarantine rows (line, raw, reason, reason_code), and
        the appeals' events when some are imported closed or as backlog (else None: the store writes one
        ``report`` event per appeal, the fast path). The checks are services.intake.checks.CHECKS."""
        now = pd.Timestamp(self.now or datetime.now(TZ)).tz_convert("UTC")
        r = run_checks(Rows(chunk, source=self.source, crs=self.crs, default_channel=self.default_channel,
                            service_map=self.service_map, now=now, future_tolerance=self.future_tolerance,
                            seen=self._seen, date_order=self.date_order))
        if self.keep_reported:
            r.backlog = np.zeros(r.n, bool)
        rec, checks = r.rec, r.checks
        good = ~checks.failed
        valid = object_frame({
            "external_id": rec["external_id"][good].to_numpy(object), "channel": r.chan[good].to_numpy(object),
            "service_type": r.svc[good].to_numpy(object), "category": r.cat[good].to_numpy(object),
            "description": description_with_address(rec)[good].to_numpy(object),
            "lon": r.wlon[good], "lat": r.wlat[good], "source_crs": r.crs[good].to_numpy(object),
            "people_involved": r.people[good].astype(np.int64), "amount_involved": r.amount[good],
            "urgency": r.urgency[good].astype(np.int64),
            "reported_at": r.reported.where(~pd.Series(r.backlog), now)[good].reset_index(drop=True),
            "reporter_name": rec["reporter_name"][good].to_numpy(object),
            "reporter_phone": rec["reporter_phone"][good].to_numpy(object),
            "building_code": rec["building_code"][good].to_numpy(object),
        })
        events = None
        if len(valid):
            appeals = build_appeals(valid, self.source)
            events = imported_state(appeals, f"intake:{self.source}", self.source, now,
                                    closed=r.closed[good], closed_at=r.closed_at[good].reset_index(drop=True),
                                    backlog=r.backlog[good], requested_at=r.reported[good].reset_index(drop=True),
                                    status_notes=rec["status_notes"][good].reset_index(drop=True))
        else:
            appeals = valid
        bad = np.flatnonzero(checks.failed)
        raw, reason = storable([chunk.raw[i] for i in bad], checks.message[bad])  # before any text column
        quarantine = pd.DataFrame({
            "line": chunk.line[bad].astype(np.int64),
            "raw": pd.Series(raw, dtype=object),
            "reason": pd.Series(reason, dtype=object),
            "reason_code": checks.code[bad],
        })
        return appeals, quarantine, events


def _progress_bar(total: int | None, enabled: bool, name: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    if total is not None:
        return tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr, leave=False)
    return tqdm(unit="rows", desc=name, file=sys.stderr, leave=False)


def warm_up() -> None:
    """Load the layers and build the assignment indexes now (e.g. before timing a benchmark)."""
    assign(np.array([113.93]), np.array([22.77]))
