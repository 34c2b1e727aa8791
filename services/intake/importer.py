"""The Intake class: imports a file chunk by chunk into one store for one source, and its Summary."""

from __future__ import annotations

import codecs
import io
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.coords import SOURCE_SYSTEMS, to_wgs84
from services.intake.appeals import (
    assign,
    backlog_age,
    build_appeals,
    description_with_address,
    imported_state,
    inside_district,
    object_frame,
)
from services.intake.checks import Checks, fmt_degrees, projected_hint
from services.intake.csv_reader import csv_chunks
from services.intake.document_reader import document_chunks
from services.intake.jsonl_reader import jsonl_chunks
from services.intake.parsing import clean_text, normalise_crs, parse_numbers, parse_timestamps, show
from services.intake.reading import (
    Chunk,
    detect_format,
    estimate_rows,
    sniff_encoding,
)
from services.intake.schema import (
    DEFAULT_CHUNK,
    EARLIEST,
    FIELD_ZH,
    FIELDS,
    FORMATS,
    FUTURE_TOLERANCE,
    REASONS,
    STATUS_LOOKUP,
    TZ,
    IntakeError,
)
from services.service_map import ServiceMap, ServiceMapError, load_service_map
from services.store.base import BulkLoad, Store
from services.vocabulary import (
    CATEGORY_LOOKUP,
    CATEGORY_SERVICE,
    CHANNEL_LOOKUP,
    SERVICE_TYPE_LOOKUP,
    URGENCY_LOOKUP,
    normalise,
)


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

    @property
    def accounted(self) -> bool:
        return self.rows == self.stored + self.duplicates + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "source": self.source, "format": self.fmt, "rows": self.rows,
                "stored": self.stored, "duplicates": self.duplicates, "quarantined": self.quarantined,
                "already_quarantined": self.already_quarantined, "by_reason": dict(self.by_reason),
                "seconds": round(self.seconds, 3)}

    def text(self) -> str:
        lines = [f"{self.path}（{self.fmt}，来源 source={self.source}）：共 {self.rows} 行 rows",
                 f"  新入库 stored: {self.stored}",
                 f"  重复（已入库）duplicates: {self.duplicates}",
                 f"  隔离 quarantined: {self.quarantined}"
                 + (f"（其中 {self.already_quarantined} 行此前已隔离 already in quarantine）"
                    if self.already_quarantined else "")]
        for code, n in self.by_reason.most_common():
            zh, en = REASONS.get(code, (code, code))
            lines.append(f"    {zh} {en} [{code}]: {n}")
        lines += [f"  注意 note: {n}" for n in self.notes]
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        lines.append(f"  用时 {self.seconds:.2f} s（{rate:,.0f} rows/s）")
        return "\n".join(lines)


class Intake:
    """Imports files into one store for one source; holds what must persist across chunks."""

    def __init__(self, store: Store, *, source: str, crs: str = "wgs84", now: datetime | None = None,
                 default_channel: str | None = None, chunk_size: int = DEFAULT_CHUNK,
                 future_tolerance: timedelta = FUTURE_TOLERANCE,
                 service_map: str | os.PathLike[str] | ServiceMap | None = None) -> None:
        """``service_map``: the foreign service codes of each source (a file, default
        config/open311_services.toml); an invalid file raises IntakeError naming the entry."""
        if crs.lower() not in SOURCE_SYSTEMS:
            raise ValueError(f"unknown --crs {crs!r}; choose one of {', '.join(SOURCE_SYSTEMS)}")
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
        self.future_tolerance = future_tolerance
        self._seen: dict[str, int] = {}
        self._quarantined: set[tuple[str, int, str]] | None = None
        self._load: BulkLoad | None = None  # the store's bulk load of the file being imported

    # -- files -------------------------------------------------------------------------------------
    def import_file(self, path: str | os.PathLike[str], fmt: str = "auto", encoding: str | None = None,
                    progress: bool = False) -> Summary:
        """Import one file; raises IntakeError when it cannot be read at all."""
        t0 = time.perf_counter()
        path = Path(path)
        if not path.is_file():
            raise IntakeError(f"找不到文件或不是文件：{path}（no such file）")
        self._seen = {}
        try:
            raw_fh = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise IntakeError(f"无法读取文件：{exc}（cannot read the file）") from None
        with raw_fh:
            head = raw_fh.read(1 << 16)
            raw_fh.seek(0)
            enc = encoding or sniff_encoding(head)
            try:
                codecs.lookup(enc)
            except LookupError:
                raise IntakeError(f"未知编码 unknown encoding: {enc}") from None
            if fmt == "auto":
                fmt = detect_format(path, head.decode(enc, errors="replace"))
            if fmt not in FORMATS:
                raise IntakeError(f"未知格式 unknown format: {fmt}; choose one of {', '.join(FORMATS)}")
            summary = Summary(str(path), self.source, fmt)
            size = path.stat().st_size
            bar = _progress_bar(size if fmt in ("csv", "jsonl") else None, progress, path.name)
            done = 0
            if fmt in ("csv", "jsonl"):
                fh = io.TextIOWrapper(raw_fh, encoding=enc, errors="replace", newline="")
                chunks = (csv_chunks(fh, raw_fh, self.chunk_size, summary.notes) if fmt == "csv"
                          else jsonl_chunks(fh, raw_fh, self.chunk_size))
            else:
                try:
                    text = raw_fh.read().decode(enc)
                except UnicodeDecodeError as exc:
                    raise IntakeError(f"文件编码不是{enc}：{exc}（use --encoding）") from None
                chunks = document_chunks(text, fmt, self.chunk_size)
            try:
                with self.store.bulk_load(estimate_rows(fmt, size, head)) as load:
                    self._load = load
                    for chunk in chunks:
                        appeals, quarantine, events = self.check(chunk)
                        summary.rows += len(chunk.line)
                        self._store(appeals, quarantine, path.name, summary, events)
                        if bar is not None:
                            if fmt in ("csv", "jsonl"):
                                bar.update(chunk.progress - done)
                                done = chunk.progress
                            else:
                                if bar.total is None:
                                    bar.reset(total=None)
                                bar.update(len(chunk.line))
                        summary.fmt = chunk.fmt
            finally:
                self._load = None
                if bar is not None:
                    bar.close()
        summary.seconds = time.perf_counter() - t0
        return summary

    # -- one chunk -----------------------------------------------------------------------------------
    def _store(self, appeals: pd.DataFrame, quarantine: pd.DataFrame, file: str, summary: Summary,
               events: pd.DataFrame | None = None) -> None:
        """Write one checked chunk: new appeals with their events (None: the store's report events;
        duplicates counted by the store) and new quarantine rows."""
        if len(appeals):
            actor = f"intake:{self.source}"
            result = (self._load.add(appeals, events, actor=actor) if self._load is not None
                      else self.store.insert_appeals(appeals, events, actor=actor))
            summary.stored += result.stored
            summary.duplicates += result.duplicates
        if len(quarantine):
            quarantine.insert(0, "file", file)
            quarantine.insert(0, "source", self.source)
            summary.quarantined += len(quarantine)
            summary.by_reason.update(quarantine["reason_code"].tolist())
            new = self._new_quarantine(quarantine)
            summary.already_quarantined += len(quarantine) - len(new)
            if len(new):
                (self._load or self.store).quarantine(new.reset_index(drop=True))

    def _new_quarantine(self, q: pd.DataFrame) -> pd.DataFrame:
        """Rows not already quarantined for this source (same file name, line and verbatim text)."""
        if self._quarantined is None:
            old = self.store.quarantined(source=self.source)
            self._quarantined = set()
            if len(old):
                self._quarantined = {(str(f), int(li), str(r)) for f, li, r in
                                     zip(old["file"], old["line"], old["raw"], strict=True)}
        keys = list(zip(q["file"], q["line"].astype(int), q["raw"], strict=True))
        fresh = np.array([k not in self._quarantined for k in keys], bool)
        self._quarantined.update(keys)
        return q[fresh]

    def check(self, chunk: Chunk) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """Split a chunk into store-ready appeals, quarantine rows (line, raw, reason, reason_code), and
        the appeals' events when some are imported closed or as backlog (else None: the store writes one
        ``report`` event per appeal, the fast path)."""
        records = chunk.records.reset_index(drop=True)
        n = len(chunk.line)
        na = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="string")
        rec = pd.DataFrame({f: clean_text(records[f]) if f in records else na for f in FIELDS})
        checks = Checks(n)
        err = chunk.error
        for code in ("malformed_row", "invalid_json", "not_an_object", "bad_geometry"):
            m = err == code
            if m.any():
                det = pd.Series(chunk.detail[m], dtype=object).astype(str).to_numpy()
                checks.add(code, m, [f"{REASONS[code][0]}（{REASONS[code][1]}）：{d}" for d in det])
        failed_read = err != None  # noqa: E711
        enc_bad = np.array(["\ufffd" in r for r in chunk.raw], bool) & ~failed_read
        checks.add("bad_encoding", enc_bad, "含无法解码的字符，请以UTF-8或GB18030保存或用--encoding指明编码"
                                            "（undecodable characters: save as UTF-8/GB18030 or pass --encoding）")
        live = ~failed_read

        # The checks run in the order a clerk must act on them (the first failing one is the row's
        # reason_code): where the point is comes first, since a point outside the district means the row
        # is not ours at all, whatever else is wrong with it; then the vocabularies, numbers and times.
        ext = rec["external_id"]
        self._missing_checks(checks, live, {"lon": rec["lon"].notna(), "lat": rec["lat"].notna()})
        lon, lon_missing, lon_nan, lon_inf = parse_numbers(rec["lon"])
        lat, lat_missing, lat_nan, lat_inf = parse_numbers(rec["lat"])
        for name, raw_col, bad_num, bad_inf in (("lon", rec["lon"], lon_nan, lon_inf),
                                                 ("lat", rec["lat"], lat_nan, lat_inf)):
            self._number_checks(checks, live, name, raw_col, bad_num, bad_inf)

        crs_text = rec["source_crs"]
        crs = normalise_crs(crs_text)
        bad_crs = live & crs_text.notna().to_numpy() & crs.isna().to_numpy()
        checks.add("unknown_crs", bad_crs, [f"未知坐标系{show(v)}，可用wgs84/cgcs2000/gcj02/bd09"
                                            f"（unknown coordinate system {show(v)}）" for v in crs_text[bad_crs]])
        crs = crs.where(crs.notna(), self.crs)

        # Coordinates: convert per source system, then inside/swapped/outside.
        numeric = live & np.isfinite(lon) & np.isfinite(lat) & (crs.notna().to_numpy())
        wlon = np.full(n, np.nan)
        wlat = np.full(n, np.nan)
        slon = np.full(n, np.nan)
        slat = np.full(n, np.nan)
        for system in SOURCE_SYSTEMS:
            m = numeric & (crs == system).to_numpy()
            if m.any():
                wlon[m], wlat[m] = to_wgs84(lon[m], lat[m], system)
                slon[m], slat[m] = to_wgs84(lat[m], lon[m], system)
        inside = np.zeros(n, bool)
        if numeric.any():
            inside[numeric] = inside_district(wlon[numeric], wlat[numeric])
        outside = numeric & ~inside
        swapped = np.zeros(n, bool)
        if outside.any():
            swapped[outside] = inside_district(slon[outside], slat[outside])
        checks.add("lonlat_swapped", swapped,
                   [f"经纬度颠倒：经度{fmt_degrees(a)}、纬度{fmt_degrees(b)}交换后位于光明区内，请交换经度与纬度两列"
                    f"（longitude and latitude are swapped: lon={fmt_degrees(a)}, lat={fmt_degrees(b)} swapped falls inside "
                    f"the district; swap the two columns）" for a, b in zip(lon[swapped], lat[swapped], strict=True)])
        far = outside & ~swapped
        checks.add("outside_district", far,
                   [f"坐标({fmt_degrees(a)}, {fmt_degrees(b)}，{c})不在光明区内，请核对坐标与坐标系{projected_hint(a, b)}（point ({fmt_degrees(a)}, "
                    f"{fmt_degrees(b)}, {c}) is outside Guangming district; check the coordinates and --crs）"
                    for a, b, c in zip(lon[far], lat[far], crs[far], strict=True)])

        # Vocabularies: a source's own service codes (config/open311_services.toml) first, then ours; a
        # category stands in for a missing service type.
        svc_text = rec["service_type"]
        name_text = rec["service_name"]
        mapped_svc, mapped_cat = self.service_map.apply(self.source, svc_text, name_text)
        svc = mapped_svc.where(mapped_svc.notna(), normalise(svc_text, SERVICE_TYPE_LOOKUP))
        svc = svc.where(svc.notna(), normalise(name_text, SERVICE_TYPE_LOOKUP))
        cat_text = rec["category"]
        cat = normalise(cat_text, CATEGORY_LOOKUP)
        cat = cat.where(cat.notna() | cat_text.notna(), mapped_cat)
        named = svc_text.notna() | name_text.notna()
        svc = svc.where(svc.notna() | named, cat.map(CATEGORY_SERVICE))
        chan_text = rec["channel"]
        if self.default_channel:
            chan_text = chan_text.where(chan_text.notna(), self.default_channel)
        chan = normalise(chan_text, CHANNEL_LOOKUP)
        self._missing_checks(checks, live, {"external_id": ext.notna(), "service_type": named | svc.notna(),
                                                 "channel": chan_text.notna()})

        bad_svc = live & named.to_numpy() & svc.isna().to_numpy()
        checks.add("unknown_service_type", bad_svc, [self._unknown_service(c, nm) for c, nm in
                                                     zip(svc_text[bad_svc], name_text[bad_svc], strict=True)])
        bad_chan = live & chan_text.notna().to_numpy() & chan.isna().to_numpy()
        checks.add("unknown_channel", bad_chan,
                   [f"未知渠道{show(v)}，可用：扫码、热线、书记在线、来访、主动发现（unknown channel {show(v)}; "
                    f"use qr_scan, hotline, secretary_online, walk_in, active_discovery）" for v in chan_text[bad_chan]])
        bad_cat = live & cat_text.notna().to_numpy() & cat.isna().to_numpy()
        checks.add("unknown_category", bad_cat, [f"未知诉求类别{show(v)}（unknown category {show(v)}; see "
                                                 f"services.vocabulary.CATEGORIES）" for v in cat_text[bad_cat]])

        people, p_missing, p_nan, p_inf = parse_numbers(rec["people_involved"])
        amount, a_missing, a_nan, a_inf = parse_numbers(rec["amount_involved"], money=True)
        urg_text = rec["urgency"]
        urg_named = urg_text.str.lower().map(URGENCY_LOOKUP)
        urgency, u_missing, u_nan, u_inf = parse_numbers(
            urg_text.where(urg_named.isna(), urg_named.astype("string")).astype("string"))
        for name, col, bad_num, bad_inf in (("people_involved", rec["people_involved"], p_nan, p_inf),
                                            ("amount_involved", rec["amount_involved"], a_nan, a_inf),
                                            ("urgency", rec["urgency"], u_nan, u_inf)):
            self._number_checks(checks, live, name, col, bad_num, bad_inf)
        people = np.where(p_missing, 1.0, people)
        amount = np.where(a_missing, 0.0, amount)
        urgency = np.where(u_missing, 1.0, urgency)
        with np.errstate(invalid="ignore"):
            bad_people = live & np.isfinite(people) & ((people < 1) | (people > 100_000) | (people != np.round(people)))
            bad_amount = live & np.isfinite(amount) & ((amount < 0) | (amount > 1e11))
            bad_urg = live & np.isfinite(urgency) & ~np.isin(urgency, (1.0, 2.0, 3.0))
        checks.add("out_of_range", bad_people, [f"涉及人数应为1至100000的整数，实为{show(v)}（people_involved must be "
                                                f"a whole number 1-100000, got {show(v)}）"
                                                for v in rec["people_involved"][bad_people]])
        checks.add("out_of_range", bad_amount, [f"涉案金额应为0至1000亿元，实为{show(v)}（amount_involved must be "
                                                f"0-1e11 yuan, got {show(v)}）" for v in rec["amount_involved"][bad_amount]])
        checks.add("out_of_range", bad_urg, [f"紧急程度应为1一般、2紧急、3特急，实为{show(v)}（urgency must be 1, 2 or 3,"
                                             f" got {show(v)}）" for v in rec["urgency"][bad_urg]])

        reported, t_missing, t_code, t_detail = parse_timestamps(rec["reported_at"])
        now = pd.Timestamp(self.now or datetime.now(TZ)).tz_convert("UTC")
        for code, zh, en in (("bad_timestamp", "时间无法识别或日期不存在", "unparseable or impossible timestamp"),
                             ("bad_timezone", "时区无效或有歧义（如CST），请写+08:00或Asia/Shanghai",
                              "unknown, impossible or ambiguous time zone (e.g. CST); write +08:00 or Asia/Shanghai")):
            m = live & (t_code == code)
            checks.add(code, m, [f"{zh}：{show(v)}（{en}: {show(v)}）" for v in t_detail[m]])
        future = live & (reported > now + pd.Timedelta(self.future_tolerance)).fillna(False).to_numpy(bool)
        old = live & (reported < EARLIEST).fillna(False).to_numpy(bool)
        checks.add("future_timestamp", future,
                   [f"上报时间{v.tz_convert(TZ):%Y-%m-%d %H:%M:%S%z}晚于当前时间，请核对时区（reported_at "
                    f"{v.isoformat()} is in the future; check the time zone）" for v in reported[future]])
        checks.add("bad_timestamp", old, [f"上报时间{v.tz_convert(TZ):%Y-%m-%d}早于2000年（reported_at before 2000）"
                                          for v in reported[old]])

        # Status: a closed request (Open311 ``status`` closed) is stored closed at its closing time
        # (``updated_datetime``, else its requested time); an open one stays open.
        st_text = rec["status"]
        status = st_text.str.lower().map(STATUS_LOOKUP)
        bad_st = live & st_text.notna().to_numpy() & status.isna().to_numpy()
        checks.add("unknown_status", bad_st, [f"未知办理状态{show(v)}，应为open（办理中）或closed（已办结）"
                                              f"（unknown status {show(v)}; use open or closed）"
                                              for v in st_text[bad_st]])
        closed = (status == "closed").fillna(False).to_numpy(bool)
        updated, u_missing, u_code, u_detail = parse_timestamps(rec["updated_at"].where(pd.Series(closed)))
        for code, zh, en in (("bad_timestamp", "办结时间无法识别或日期不存在", "unparseable or impossible updated_datetime"),
                             ("bad_timezone", "办结时间的时区无效或有歧义（如CST）",
                              "updated_datetime has an unknown, impossible or ambiguous time zone")):
            m = live & closed & (u_code == code)
            checks.add(code, m, [f"{zh}：{show(v)}（{en}: {show(v)}）" for v in u_detail[m]])
        # No requested time: a closed request was reported no later than it closed.
        reported = reported.where(~pd.Series(t_missing) | updated.isna(), updated)
        reported = reported.where(reported.notna() | ~pd.Series(t_missing), now)
        closed_at = updated.where(updated.notna(), reported)
        u_future = live & closed & (closed_at > now + pd.Timedelta(self.future_tolerance)).fillna(False).to_numpy(bool)
        checks.add("future_timestamp", u_future,
                   [f"办结时间{v.tz_convert(TZ):%Y-%m-%d %H:%M:%S%z}晚于当前时间，请核对时区（updated_datetime "
                    f"{v.isoformat()} is in the future; check the time zone）" for v in closed_at[u_future]])
        early = live & closed & (closed_at < reported).fillna(False).to_numpy(bool)
        checks.add("bad_timestamp", early,
                   [f"办结时间{c.tz_convert(TZ):%Y-%m-%d %H:%M}早于上报时间{r.tz_convert(TZ):%Y-%m-%d %H:%M}"
                    f"（updated_datetime {c.isoformat()} is before requested_datetime {r.isoformat()}）"
                    for c, r in zip(closed_at[early], reported[early], strict=True)])
        # A request the sender says is open, reported long before it reaches us, is imported backlog: its
        # clocks start now. A row without a status is a report like any other (a clerk's list, a history
        # backfill) and keeps its report time as the start of its clocks.
        backlog = ((status == "open").fillna(False).to_numpy(bool) & ~t_missing
                   & (reported < now - backlog_age()).fillna(False).to_numpy(bool))

        # Repeated external id in this file (earlier chunk or earlier row of this one).
        ok_so_far = ~checks.failed
        dup = np.zeros(n, bool)
        first_line = np.zeros(n, np.int64)
        if ok_so_far.any():
            ids = ext.to_numpy(object)
            seen = self._seen
            idx = np.flatnonzero(ok_so_far)
            prior = pd.Series(ids[idx]).map(seen)
            within = pd.Series(ids[idx]).duplicated(keep="first").to_numpy()
            first_in_chunk = pd.Series(chunk.line[idx]).groupby(pd.Series(ids[idx])).transform("first").to_numpy()
            d = prior.notna().to_numpy() | within
            dup[idx] = d
            first_line[idx] = np.where(prior.notna(), prior.fillna(0).to_numpy(), first_in_chunk)
            for i in idx[~d]:
                seen[ids[i]] = int(chunk.line[i])
        checks.add("duplicate_in_file", dup,
                   [f"编号{show(e)}在本文件第{fl}行已出现，请核对是否同一诉求（external id {show(e)} already appears on "
                    f"line {fl} of this file）" for e, fl in zip(ext[dup], first_line[dup], strict=True)])

        good = ~checks.failed
        valid = object_frame({
            "external_id": ext[good].to_numpy(object), "channel": chan[good].to_numpy(object),
            "service_type": svc[good].to_numpy(object), "category": cat[good].to_numpy(object),
            "description": description_with_address(rec)[good].to_numpy(object),
            "lon": wlon[good], "lat": wlat[good], "source_crs": crs[good].to_numpy(object),
            "people_involved": people[good].astype(np.int64), "amount_involved": amount[good],
            "urgency": urgency[good].astype(np.int64),
            "reported_at": reported.where(~pd.Series(backlog), now)[good].reset_index(drop=True),
            "reporter_name": rec["reporter_name"][good].to_numpy(object),
            "reporter_phone": rec["reporter_phone"][good].to_numpy(object),
            "building_code": rec["building_code"][good].to_numpy(object),
        })
        events = None
        if len(valid):
            appeals = build_appeals(valid, self.source)
            events = imported_state(appeals, f"intake:{self.source}", self.source, now,
                                    closed=closed[good], closed_at=closed_at[good].reset_index(drop=True),
                                    backlog=backlog[good], requested_at=reported[good].reset_index(drop=True),
                                    status_notes=rec["status_notes"][good].reset_index(drop=True))
        else:
            appeals = valid
        bad = np.flatnonzero(checks.failed)
        quarantine = pd.DataFrame({
            "line": chunk.line[bad].astype(np.int64),
            "raw": [chunk.raw[i] for i in bad],
            "reason": checks.message[bad],
            "reason_code": checks.code[bad],
        })
        return appeals, quarantine, events

    def _unknown_service(self, code: Any, name: Any) -> str:
        """The quarantine message of a service code/name that is neither ours nor mapped for the source."""
        what = " / ".join(show(v) for v in (code, name) if not pd.isna(v))
        where = self.service_map.display
        return (f"未知服务类型{what}：不是本系统的服务类型（纠纷调处、投诉建议、帮扶救助、法律服务、心理服务），"
                f"{where}中来源[{self.source}]也没有它的映射，请改用本系统服务类型或在{where}中加入映射"
                f"（unknown service type {what}: not one of ours (dispute, complaint, assistance, legal, "
                f"psychological) and not mapped for source {self.source!r} in {where}; add it there）")

    @staticmethod
    def _missing_checks(checks: Checks, live: np.ndarray, present: dict[str, pd.Series]) -> None:
        """``missing_field`` for the rows that lack any of the given required fields (one message each)."""
        miss = np.zeros(len(live), bool)
        names = pd.Series("", index=pd.RangeIndex(len(live)), dtype=object)
        for f, ok in present.items():
            m = live & ~ok.to_numpy(bool)
            miss |= m
            names[m] = names[m] + f"、{FIELD_ZH[f]}({f})"
        checks.add("missing_field", miss, [f"缺少必填字段：{s[1:]}（missing required field: "
                                           f"{', '.join(re.findall(r'[(]([a-z_]+)[)]', s))}）" for s in names[miss]])

    @staticmethod
    def _number_checks(checks: Checks, live: np.ndarray, name: str, raw: pd.Series, bad_num: np.ndarray,
                       bad_inf: np.ndarray) -> None:
        m = live & bad_num
        checks.add("not_a_number", m, [f"{FIELD_ZH[name]}不是数字：{show(v)}（{name} is not a number: {show(v)}）"
                                       for v in raw[m]])
        m = live & bad_inf
        checks.add("not_finite", m, [f"{FIELD_ZH[name]}为NaN或无穷大：{show(v)}（{name} is NaN or infinite）"
                                     for v in raw[m]])


def _progress_bar(total: int | None, enabled: bool, name: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    if total is not None:
        return tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr, leave=False)
    return tqdm(unit="rows", desc=name, file=sys.stderr, leave=False)


def import_path(store: Store, path: str | os.PathLike[str], *, source: str | None = None, crs: str = "wgs84",
                fmt: str = "auto", now: datetime | None = None, **kw: Any) -> Summary:
    """Convenience: one file with a fresh ``Intake`` (source defaults to the file name's stem)."""
    return Intake(store, source=source or Path(path).stem, crs=crs, now=now, **kw).import_file(path, fmt=fmt)


def warm_up() -> None:
    """Load the layers and build the assignment indexes now (e.g. before timing a benchmark)."""
    assign(np.array([113.93]), np.array([22.77]))
