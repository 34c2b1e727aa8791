"""The checks a row must pass, each a small function over a chunk with its reason code(s).

Why a sequence: the checks run in the order a clerk must act on them (``CHECKS``; the first failing one
is the row's ``reason_code``, the message lists every failing one): the row cannot be read; where the
point is (a point outside the district means the row is not ours, whatever else is wrong with it); then
the vocabularies, numbers, times, status and repeated ids. Each check also leaves the values it
derived (converted coordinates, codes, numbers, times) on ``Rows`` for building the appeals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from geo.coords import SOURCE_SYSTEMS, to_wgs84
from services import facts
from services.clocks import TZ
from services.i18n import label, t
from services.intake.appeals import backlog_age, inside_district
from services.intake.parsing import (
    SMALL_CHUNK,
    clean_text,
    normalise_crs,
    parse_numbers,
    parse_timestamps,
    show,
)
from services.intake.reading import Chunk
from services.intake.schema import (
    CONTROL,
    FIELD_ZH,
    FIELDS,
    REASONS,
    STATUS_LOOKUP,
    earliest,
    limit,
    message,
    pair,
)
from services.service_map import ServiceMap
from services.vocabulary import (
    CATEGORIES,
    CATEGORY_LOOKUP,
    CATEGORY_SERVICE,
    CHANNEL_LOOKUP,
    SERVICE_TYPE_LOOKUP,
    SERVICE_TYPES,
    URGENCY_LOOKUP,
    normalise,
)


class Checks:
    """Failed checks per row: the first reason code, and every message joined by '；'."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, None, object)
        self.message = np.full(n, "", object)
        self.failed = np.zeros(n, bool)

    def add(self, code: str, mask: np.ndarray, messages: list[str] | str) -> None:
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        msgs = [messages] * len(idx) if isinstance(messages, str) else list(messages)
        first = ~self.failed[idx]
        self.code[idx[first]] = code
        for i, msg in zip(idx, msgs, strict=True):
            self.message[i] = msg if not self.message[i] else f"{self.message[i]}；{msg}"
        self.failed[idx] = True


class Rows:
    """One chunk on its way through the checks: its cleaned fields (``rec``), the failed checks so far,
    what the import says about rows (source, default CRS and channel, service map, now), and the values
    the checks derive, set by the check that computes them."""

    def __init__(self, chunk: Chunk, *, source: str, crs: str, default_channel: str | None,
                 service_map: ServiceMap, now: pd.Timestamp, future_tolerance: timedelta,
                 seen: dict[str, int], date_order: str | None = None) -> None:
        records = chunk.records.reset_index(drop=True)
        self.n = n = len(chunk.line)
        na = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="string")
        self.chunk = chunk
        self.rec = pd.DataFrame({f: clean_text(records[f]) if f in records else na for f in FIELDS})
        self.checks = Checks(n)
        self.read_failed = chunk.error != None  # noqa: E711 - elementwise on an object array
        self.live = ~self.read_failed
        self.source, self.default_crs, self.default_channel = source, crs, default_channel
        self.service_map, self.now, self.future_tolerance, self.seen = service_map, now, future_tolerance, seen
        self.date_order = date_order  # "dmy", "mdy" or None (then a year-last date must be unambiguous)
        # Derived by the checks below (see each).
        self.lon = self.lat = self.wlon = self.wlat = np.full(n, np.nan)
        self.crs: pd.Series = pd.Series(dtype=object)
        self.status: pd.Series = pd.Series(dtype=object)
        self.svc = self.cat = self.chan = self.chan_text = self.named = pd.Series(dtype=object)
        self.people = self.amount = self.urgency = np.ones(n)
        self.reported: pd.Series = pd.Series(dtype="datetime64[ns, UTC]")
        self.closed_at: pd.Series = pd.Series(dtype="datetime64[ns, UTC]")
        self.t_missing = self.closed = self.backlog = np.zeros(n, bool)
        self.odd: dict[str, np.ndarray] | None = None  # rows of each field with an odd character (_ODD)

    def add(self, code: str, mask: np.ndarray, messages: list[str] | str) -> None:
        self.checks.add(code, mask, messages)

    def missing(self, present: dict[str, pd.Series]) -> None:
        """``missing_field`` for the rows that lack any of the given required fields (one message each)."""
        miss = np.zeros(self.n, bool)
        names = pd.Series("", index=pd.RangeIndex(self.n), dtype=object)
        for f, ok in present.items():
            m = self.live & ~ok.to_numpy(bool)
            miss |= m
            names[m] = names[m] + f"、{FIELD_ZH[f]}({f})"
        self.add("missing_field", miss, [message("missing_field", fields_zh=s[1:], fields=", ".join(
            re.findall(r"[(]([a-z_]+)[)]", s))) for s in names[miss]])

    def numbers(self, name: str, raw: pd.Series, bad_num: np.ndarray, bad_inf: np.ndarray) -> None:
        """``not_a_number`` and ``not_finite`` for one numeric field."""
        m = self.live & bad_num
        self.add("not_a_number", m, [message("not_a_number", field_zh=FIELD_ZH[name], field=name, value=show(v))
                                     for v in raw[m]])
        m = self.live & bad_inf
        self.add("not_finite", m, [message("not_finite", field_zh=FIELD_ZH[name], field=name, value=show(v))
                                   for v in raw[m]])


def check_read_errors(r: Rows) -> None:
    """malformed_row, invalid_json, not_an_object, bad_geometry: what the reader could not read."""
    err = r.chunk.error
    for code in ("malformed_row", "invalid_json", "not_an_object", "bad_geometry"):
        m = err == code
        if m.any():
            det = pd.Series(r.chunk.detail[m], dtype=object).astype(str).to_numpy()
            if code in ("invalid_json", "not_an_object"):  # the reader wrote what it expected and found
                r.add(code, m, list(det))
            else:
                r.add(code, m, [f"{REASONS[code][0]}（{REASONS[code][1]}）：{d}" for d in det])


# Either kind of odd character the next two checks look for: one pass over each column finds the few
# rows that hold any, and only those are looked at again.
_ODD = CONTROL[:-1] + "\ufffd]"


def _fields_matching(r: Rows, pattern: str) -> tuple[np.ndarray, pd.Series]:
    """Live rows where any field matches ``pattern`` (one of the characters of ``_ODD``), and for each
    row the fields that do."""
    if r.odd is None:  # once per chunk: the rows of each field that hold an odd character
        r.odd = {}
        small = r.n < SMALL_CHUNK  # value by value (see parsing.SMALL_CHUNK)
        odd = re.compile(_ODD)
        for f in FIELDS:
            col = r.rec[f]
            if col.isna().all():
                continue
            if small:
                found = np.array([isinstance(v, str) and odd.search(v) is not None for v in col], bool)
            else:
                found = col.str.contains(_ODD, regex=True).fillna(False).to_numpy(bool)
            m = r.live & found
            if m.any():
                r.odd[f] = np.flatnonzero(m)
    hit = np.zeros(r.n, bool)
    names = pd.Series("", index=pd.RangeIndex(r.n), dtype=object)
    for f, rows in r.odd.items():
        m = np.zeros(r.n, bool)
        m[rows] = r.rec[f].iloc[rows].str.contains(pattern, regex=True).fillna(False).to_numpy(bool)
        if m.any():
            hit |= m
            names[m] = names[m] + "," + f
    return hit, names.str[1:]


def check_encoding(r: Rows) -> None:
    """bad_encoding: characters that did not decode (the reader replaced them with U+FFFD), or a lone
    surrogate (a JSON escape such as ``\\ud800`` that is half a character: no store can hold it, and
    the JSON readers replace it with U+FFFD too)."""
    enc_bad = np.array(["\ufffd" in raw for raw in r.chunk.raw], bool) & ~r.read_failed
    r.add("bad_encoding", enc_bad, message("bad_encoding"))
    replaced, _ = _fields_matching(r, "\ufffd")  # the JSON readers put U+FFFD for each lone surrogate
    r.add("bad_encoding", replaced & ~enc_bad, message("lone_surrogate"))


def check_control_characters(r: Rows) -> None:
    """control_character: NUL and the other C0 controls (but tab and line breaks) and DEL, in any field.
    They are invisible on screen, PostgreSQL cannot store NUL, and a file full of them is not text."""
    bad, fields = _fields_matching(r, CONTROL)
    if not bad.any():
        return
    msgs = []
    for i in np.flatnonzero(bad):
        names = fields[i].split(",")
        chars = code_points(CONTROL, "".join(r.rec[f].iloc[i] for f in names))
        msgs.append(message("control_character", fields_zh="、".join(FIELD_ZH[f] for f in names),
                            fields=", ".join(names), chars=chars))
    r.add("control_character", bad, msgs)


# Invisible characters an id may not hold: every control character, tab and line breaks included.
_ID_INVISIBLE = r"[\x00-\x1f\x7f\x85\u2028\u2029]"


def code_points(pattern: str, text: str) -> str:
    """The distinct characters of ``text`` that match ``pattern``, as U+XXXX (they are invisible)."""
    return "、".join(sorted({f"U+{ord(c):04X}" for c in re.findall(pattern, text)}))


def check_external_id(r: Rows) -> None:
    """bad_external_id: an id (the key of idempotent intake) must be a string or a whole number (JSON
    ``true`` or ``{"x":1}`` is not), hold no invisible characters, and be at most [intake]
    external_id_max characters (PostgreSQL's unique index cannot hold a very long key)."""
    ext = r.rec["external_id"]
    given = r.chunk.records["external_id"] if "external_id" in r.chunk.records else pd.Series(
        [None] * r.n, dtype=object)
    given = given.reset_index(drop=True)
    wrong_type = r.live & ext.notna().to_numpy() & np.array(
        [not (isinstance(v, str) or (isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)))
         for v in given], bool)
    r.add("bad_external_id", wrong_type, [message("external_id_type", found=json_type(v), value=show(v))
                                          for v in given[wrong_type]])
    invisible = r.live & ~wrong_type & ext.str.contains(_ID_INVISIBLE).fillna(False).to_numpy(bool)
    r.add("bad_external_id", invisible, [message("external_id_control", chars=code_points(_ID_INVISIBLE, v))
                                         for v in ext[invisible]])
    cap = int(limit("external_id_max", 100))
    length = ext.str.len().fillna(0).to_numpy(int)
    long = r.live & ~wrong_type & (length > cap)
    r.add("bad_external_id", long, [message("external_id_too_long", length=f"{n:,}", max=cap) for n in length[long]])


def json_type(v: Any) -> str:
    """The JSON name of a value's type (what a sender would call it)."""
    if isinstance(v, bool | np.bool_):
        return "true/false"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, float | np.floating):
        return "number with a fraction"
    return type(v).__name__


def check_coordinates(r: Rows) -> None:
    """missing_field, not_a_number, not_finite for lon and lat; sets ``lon``/``lat`` (as given)."""
    rec = r.rec
    r.missing({"lon": rec["lon"].notna(), "lat": rec["lat"].notna()})
    r.lon, _, lon_nan, lon_inf = parse_numbers(rec["lon"])
    r.lat, _, lat_nan, lat_inf = parse_numbers(rec["lat"])
    r.numbers("lon", rec["lon"], lon_nan, lon_inf)
    r.numbers("lat", rec["lat"], lat_nan, lat_inf)


def check_crs(r: Rows) -> None:
    """unknown_crs: a per-row source_crs we do not know; sets ``crs`` (the row's, else the import's)."""
    crs_text = r.rec["source_crs"]
    crs = normalise_crs(crs_text)
    bad_crs = r.live & crs_text.notna().to_numpy() & crs.isna().to_numpy()
    r.add("unknown_crs", bad_crs, [message("unknown_crs", value=show(v)) for v in crs_text[bad_crs]])
    r.crs = crs.where(crs.notna(), r.default_crs)


def check_location(r: Rows) -> None:
    """lonlat_swapped, outside_district: converted to WGS84 per source system, the point must lie in the
    district; sets ``wlon``/``wlat``."""
    n, lon, lat, crs = r.n, r.lon, r.lat, r.crs
    numeric = r.live & np.isfinite(lon) & np.isfinite(lat) & (crs.notna().to_numpy())
    # Numbers that cannot be degrees either way round (projected metres, 1e308) are outside without
    # converting or testing them, which would overflow.
    with np.errstate(invalid="ignore"):
        degrees = numeric & (np.abs(lon) <= 180) & (np.abs(lat) <= 180)
    wlon, wlat, slon, slat = (np.full(n, np.nan) for _ in range(4))
    for system in SOURCE_SYSTEMS:
        m = degrees & (crs == system).to_numpy()
        if m.any():
            wlon[m], wlat[m] = to_wgs84(lon[m], lat[m], system)
            slon[m], slat[m] = to_wgs84(lat[m], lon[m], system)
    inside = np.zeros(n, bool)
    if degrees.any():
        inside[degrees] = inside_district(wlon[degrees], wlat[degrees])
    outside = numeric & ~inside
    swapped = np.zeros(n, bool)
    if (outside & degrees).any():
        swapped[outside & degrees] = inside_district(slon[outside & degrees], slat[outside & degrees])
    r.add("lonlat_swapped", swapped, [message("lonlat_swapped", lon=fmt_degrees(a), lat=fmt_degrees(b))
                                      for a, b in zip(lon[swapped], lat[swapped], strict=True)])
    far = outside & ~swapped
    r.add("outside_district", far, [message("outside_district", lon=fmt_degrees(a), lat=fmt_degrees(b), crs=c,
                                            hint=projected_hint(a, b))
                                    for a, b, c in zip(lon[far], lat[far], crs[far], strict=True)])
    r.wlon, r.wlat = wlon, wlat


def check_required(r: Rows) -> None:
    """missing_field: external_id, a service type (or a category standing in for it) and a channel.
    First resolves the vocabularies (sets ``svc``, ``cat``, ``chan``): a source's own service codes
    (config/open311_services.toml) first, then ours; a category stands in for a missing service type."""
    rec = r.rec
    svc_text, name_text = rec["service_type"], rec["service_name"]
    mapped_svc, mapped_cat = r.service_map.apply(r.source, svc_text, name_text)
    svc = mapped_svc.where(mapped_svc.notna(), normalise(svc_text, SERVICE_TYPE_LOOKUP))
    svc = svc.where(svc.notna(), normalise(name_text, SERVICE_TYPE_LOOKUP))
    cat_text = rec["category"]
    cat = normalise(cat_text, CATEGORY_LOOKUP)
    r.cat = cat.where(cat.notna() | cat_text.notna(), mapped_cat)
    r.named = svc_text.notna() | name_text.notna()
    r.svc = svc.where(svc.notna() | r.named, r.cat.map(CATEGORY_SERVICE))
    chan_text = rec["channel"]
    if r.default_channel:
        chan_text = chan_text.where(chan_text.notna(), r.default_channel)
    r.chan_text = chan_text
    r.chan = normalise(chan_text, CHANNEL_LOOKUP)
    r.missing({"external_id": rec["external_id"].notna(), "service_type": r.named | r.svc.notna(),
               "channel": chan_text.notna()})


def check_service_type(r: Rows) -> None:
    """unknown_service_type: named, but neither ours nor mapped for the source."""
    bad = r.live & r.named.to_numpy() & r.svc.isna().to_numpy()
    r.add("unknown_service_type", bad, [unknown_service(r, c, nm) for c, nm in
                                        zip(r.rec["service_type"][bad], r.rec["service_name"][bad], strict=True)])


def check_channel(r: Rows) -> None:
    """unknown_channel."""
    bad = r.live & r.chan_text.notna().to_numpy() & r.chan.isna().to_numpy()
    r.add("unknown_channel", bad, [message("unknown_channel", value=show(v)) for v in r.chan_text[bad]])


def check_category(r: Rows) -> None:
    """unknown_category."""
    cat_text = r.rec["category"]
    bad = r.live & cat_text.notna().to_numpy() & r.cat.isna().to_numpy()
    r.add("unknown_category", bad, [category_message(v, svc) for v, svc in zip(cat_text[bad], r.svc[bad], strict=True)])


def category_message(value: Any, service_type: Any) -> str:
    """unknown_category's message: the categories a clerk may use (of the row's service type when it
    is known), named in each language."""
    cats = list(CATEGORIES.get(service_type, CATEGORY_SERVICE)) if isinstance(service_type, str) else list(
        CATEGORY_SERVICE)
    zh = t("intake.msg.unknown_category", "zh", value=show(value), allowed="、".join(label("category", c, "zh")
                                                                                   for c in cats))
    en = t("intake.msg.unknown_category", "en", value=show(value), allowed=", ".join(
        f"{c} ({label('category', c, 'en')})" for c in cats))
    return f"{zh}（{en}）"


def check_numbers(r: Rows) -> None:
    """not_a_number, not_finite for people_involved, amount_involved, urgency; sets them, with their
    defaults where missing (1 person, 0 yuan, urgency 1)."""
    rec = r.rec
    people, p_missing, p_nan, p_inf = parse_numbers(rec["people_involved"])
    amount, a_missing, a_nan, a_inf = parse_numbers(rec["amount_involved"], money=True)
    urg_text = rec["urgency"]
    urg_named = urg_text.str.lower().map(URGENCY_LOOKUP)
    urgency, u_missing, u_nan, u_inf = parse_numbers(
        urg_text.where(urg_named.isna(), urg_named.astype("string")).astype("string"))
    r.numbers("people_involved", rec["people_involved"], p_nan, p_inf)
    r.numbers("amount_involved", rec["amount_involved"], a_nan, a_inf)
    r.numbers("urgency", rec["urgency"], u_nan, u_inf)
    r.people = np.where(p_missing, 1.0, people)
    r.amount = np.where(a_missing, 0.0, amount)
    r.urgency = np.where(u_missing, 1.0, urgency)


def check_ranges(r: Rows) -> None:
    """out_of_range: people, amount and urgency within their limits (services.facts, config/rules.toml
    [facts]): the same rule ``update_facts`` keeps to."""
    rec, lim = r.rec, facts.limits()
    bad_people, bad_amount, bad_urg = (r.live & facts.out_of_range(f, v, lim) for f, v in (
        ("people_involved", r.people), ("amount_involved", r.amount), ("urgency", r.urgency)))
    r.add("out_of_range", bad_people, [message("people_out_of_range", max=lim.people_max, value=show(v))
                                       for v in rec["people_involved"][bad_people]])
    r.add("out_of_range", bad_amount, [message("amount_out_of_range", max=lim.amount_en, max_yi=lim.amount_yi,
                                               value=show(v)) for v in rec["amount_involved"][bad_amount]])
    r.add("out_of_range", bad_urg, [message("urgency_out_of_range", value=show(v)) for v in rec["urgency"][bad_urg]])


def check_reported_at(r: Rows) -> None:
    """bad_timestamp, bad_timezone, future_timestamp for reported_at (also before [intake] earliest_year); sets
    ``reported`` and ``t_missing``."""
    live, now = r.live, r.now
    reported, r.t_missing, t_code, t_detail = parse_timestamps(r.rec["reported_at"], r.date_order)
    timestamp_messages(r, live, t_code, t_detail, "time_reported")
    future = live & (reported > now + pd.Timedelta(r.future_tolerance)).fillna(False).to_numpy(bool)
    first_year = earliest()
    old = live & (reported < first_year).fillna(False).to_numpy(bool)
    r.add("future_timestamp", future, [message("future_reported", at=f"{v.tz_convert(TZ):%Y-%m-%d %H:%M:%S%z}",
                                               iso=v.isoformat()) for v in reported[future]])
    r.add("bad_timestamp", old, [message("too_early", at=f"{v.tz_convert(TZ):%Y-%m-%d}", year=first_year.year)
                                 for v in reported[old]])
    r.reported = reported


def timestamp_messages(r: Rows, rows: np.ndarray, code: np.ndarray, detail: pd.Series, what: str) -> None:
    """bad_timestamp, ambiguous_date, bad_timezone of one timestamp field (``what``: its name's key),
    for the given rows, from what ``parse_timestamps`` found."""
    name = pair(f"intake.msg.{what}")
    for c in ("bad_timestamp", "ambiguous_date", "bad_timezone"):
        m = rows & (code == c)
        r.add(c, m, [message(c, what=name, value=show(v)) for v in detail[m]])


def check_status(r: Rows) -> None:
    """unknown_status; sets ``closed``. A closed request (Open311 ``status`` closed) is stored closed at
    its closing time; an open one stays open."""
    st_text = r.rec["status"]
    r.status = status = st_text.str.lower().map(STATUS_LOOKUP)
    bad_st = r.live & st_text.notna().to_numpy() & status.isna().to_numpy()
    r.add("unknown_status", bad_st, [message("unknown_status", value=show(v)) for v in st_text[bad_st]])
    r.closed = (status == "closed").fillna(False).to_numpy(bool)


def check_closed_at(r: Rows) -> None:
    """bad_timestamp, bad_timezone, future_timestamp for the closing time of a closed request
    (``updated_datetime``, else its requested time; not before it was reported); sets ``closed_at``, fills
    ``reported`` where missing, and marks ``backlog``."""
    live, closed, now, reported, t_missing = r.live, r.closed, r.now, r.reported, r.t_missing
    updated, _, u_code, u_detail = parse_timestamps(r.rec["updated_at"].where(pd.Series(closed)), r.date_order)
    timestamp_messages(r, live & closed, u_code, u_detail, "time_closed")
    # No requested time: a closed request was reported no later than it closed.
    reported = reported.where(~pd.Series(t_missing) | updated.isna(), updated)
    reported = reported.where(reported.notna() | ~pd.Series(t_missing), now)
    closed_at = updated.where(updated.notna(), reported)
    u_future = live & closed & (closed_at > now + pd.Timedelta(r.future_tolerance)).fillna(False).to_numpy(bool)
    r.add("future_timestamp", u_future, [message("future_closed", at=f"{v.tz_convert(TZ):%Y-%m-%d %H:%M:%S%z}",
                                                 iso=v.isoformat()) for v in closed_at[u_future]])
    early = live & closed & (closed_at < reported).fillna(False).to_numpy(bool)
    r.add("bad_timestamp", early, [message("closed_before_reported", closed=f"{c.tz_convert(TZ):%Y-%m-%d %H:%M}",
                                           reported=f"{p.tz_convert(TZ):%Y-%m-%d %H:%M}", closed_iso=c.isoformat(),
                                           reported_iso=p.isoformat())
                                   for c, p in zip(closed_at[early], reported[early], strict=True)])
    # A request the sender says is open, reported long before it reaches us, is imported backlog: its
    # clocks start now. A row without a status is a report like any other (a clerk's list, a history
    # backfill) and keeps its report time as the start of its clocks.
    r.backlog = ((r.status == "open").fillna(False).to_numpy(bool) & ~t_missing
                 & (reported < now - backlog_age()).fillna(False).to_numpy(bool))
    r.reported, r.closed_at = reported, closed_at


def check_duplicates(r: Rows) -> None:
    """duplicate_in_file: an external id repeated in this file (an earlier chunk or an earlier row of
    this one), among rows that passed every other check; remembers the ids in ``seen``."""
    ext, chunk, n = r.rec["external_id"], r.chunk, r.n
    ok_so_far = ~r.checks.failed
    dup = np.zeros(n, bool)
    first_line = np.zeros(n, np.int64)
    if ok_so_far.any():
        ids = ext.to_numpy(object)
        seen = r.seen
        idx = np.flatnonzero(ok_so_far)
        prior = pd.Series(ids[idx]).map(seen)
        within = pd.Series(ids[idx]).duplicated(keep="first").to_numpy()
        d = prior.notna().to_numpy() | within
        dup[idx] = d
        if d.any():  # the line each repeat first came on (a groupby: only when there is a repeat)
            first_in_chunk = pd.Series(chunk.line[idx]).groupby(pd.Series(ids[idx])).transform("first").to_numpy()
            first_line[idx] = np.where(prior.notna(), prior.fillna(0).to_numpy(), first_in_chunk)
        for i in idx[~d]:
            seen[ids[i]] = int(chunk.line[i])
    r.add("duplicate_in_file", dup,
          [message("duplicate_in_file", id=show(e), line=fl) for e, fl in zip(ext[dup], first_line[dup], strict=True)])


# The order the checks run in (REASONS lists the codes in this order).
CHECKS: tuple[Callable[[Rows], None], ...] = (
    check_read_errors, check_encoding, check_control_characters, check_coordinates, check_crs, check_location,
    check_required, check_external_id, check_service_type, check_channel, check_category, check_numbers, check_ranges, check_reported_at,
    check_status, check_closed_at, check_duplicates,
)


def run_checks(r: Rows) -> Rows:
    """Every check of ``CHECKS`` in order, over one chunk."""
    for check in CHECKS:
        check(r)
    return r


def unknown_service(r: Rows, code: Any, name: Any) -> str:
    """The quarantine message of a service code/name that is neither ours nor mapped for the source."""
    what = " / ".join(show(v) for v in (code, name) if not pd.isna(v))
    where = r.service_map.display
    ours = ("、".join(label("service_type", c, "zh") for c in SERVICE_TYPES), ", ".join(SERVICE_TYPES))
    return message("unknown_service_type", what=what, ours=ours, where=where, source=r.source)


def fmt_degrees(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def projected_hint(lon: float, lat: float) -> tuple[str, str]:
    """A hint for numbers that cannot be degrees: they look like projected metres."""
    if abs(lon) > 180 or abs(lat) > 90:
        return pair("intake.msg.projected_hint")
    return "", ""
