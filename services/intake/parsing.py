"""Parsing values: text cleaning, numbers (with separators and units), timestamps, coordinate systems.

Vectorised over a column: the checks read these forms, converted once per column.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from services.clocks import TZ

# Below this many rows a column is cleaned value by value: pandas' string operations cost ~0.3 ms each
# however short the column, and a chunk of a few POSTs has a dozen columns (tests/test_intake_small.py
# checks that both ways give the same).
SMALL_CHUNK = 64


def clean_text(s: pd.Series) -> pd.Series:
    """Values as trimmed strings (pandas string dtype), NA where missing or blank: every check reads
    this form, converted once per column."""
    if len(s) < SMALL_CHUNK:
        return pd.Series([_clean_one(v) for v in s], index=s.index, dtype="string")
    return _clean_column(s)


def _clean_column(s: pd.Series) -> pd.Series:
    """``clean_text`` with pandas' string operations (the long-chunk way)."""
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def _clean_one(v: Any) -> str | None:
    """One value as ``clean_text`` makes it (what pandas' ``astype("string")`` then ``str.strip`` give)."""
    if isinstance(v, str):
        return v.strip() or None
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    text = pd.Series([v], dtype=object).astype("string").iloc[0]  # numbers, booleans, nested JSON: as pandas
    return None if text is pd.NA else (text.strip() or None)


def show(v: Any, width: int = 40) -> str:
    text = str(v)
    return repr(text if len(text) <= width else text[:width] + "…")


_NAN_WORDS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "null"}


def parse_numbers(s: pd.Series, *, money: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Float values and masks (missing, not a number, not finite) of a ``clean_text`` column, vectorised.

    Thousands separators are ignored; for money a trailing 元 is dropped and 万 multiplies by 10,000.
    """
    missing = s.isna().to_numpy()
    text = s
    odd = text.str.contains(r"[^0-9.eE+\-]").fillna(False).to_numpy(bool)
    scale = np.ones(len(s))
    if odd.any():  # the few values with separators or units (regex replace is slow: only on those)
        t = text[odd].str.replace(r"[,，\s]", "", regex=True)
        if money:
            t = t.str.replace(r"元$", "", regex=True)
            wan = t.str.endswith("万").fillna(False).to_numpy(bool)
            scale[np.flatnonzero(odd)[wan]] = 1e4
            t = t.str.replace(r"万$", "", regex=True)
        text = text.copy()
        text[odd] = t
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan) * scale
    bad = ~missing & ~np.isfinite(values)
    nan_word = text.str.lower().isin(_NAN_WORDS).fillna(False).to_numpy(bool)
    not_finite = bad & (nan_word | np.isinf(values))
    not_number = bad & ~not_finite
    return values, missing, not_number, not_finite


_DT_RE = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?:T|\s+)(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>.*)$")
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?\s*(?P<sign>[+-])(?P<hh>\d{1,2})(?::?(?P<mm>\d{2}))?(?:\[[^\]]*\])?$",
                        re.IGNORECASE)
_ZONE_RE = re.compile(r"^\[?(?P<zone>[A-Za-z][A-Za-z_]*(?:/[A-Za-z0-9_+\-]+)+|UTC|GMT|UCT)\]?$")
# What a zone's name looks like when it is not one we know (CST, EST; Area/City is _ZONE_RE): refused as a
# bad time zone. Any other text after the time is junk, refused as a bad timestamp.
_ABBREVIATION_RE = re.compile(r"^[A-Z]{2,5}$")
_UTC_WORDS = {"z", "utc", "gmt", "ut", "uct"}
_BEIJING_WORDS = {"北京时间", "beijing", "cct", "china standard time"}
_EPOCH_RE = re.compile(r"^\d{9,10}(?:\.\d+)?$|^\d{12,13}$")


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# Years a timestamp may have before it is refused outright: well inside pandas' nanosecond range
# (1677-2262), so that no conversion below can overflow; [intake] earliest_year and the future check
# narrow it to what the district can have.
YEAR_MIN, YEAR_MAX = 1900, 2200
_EPOCH_MAX_S = (pd.Timestamp(year=YEAR_MAX, month=1, day=1, tz="UTC") - pd.Timestamp(0, tz="UTC")).total_seconds()

_ISO_RE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_ZONED_RE = r"[T ].*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


DATE_ORDERS = ("dmy", "mdy")
_DAY_MONTH_RE = re.compile(r"^(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?P<y>\d{4})(?P<rest>(?:[T\s].*)?)$")


def parse_timestamps(s: pd.Series, date_order: str | None = None
                     ) -> tuple[pd.Series, np.ndarray, np.ndarray, pd.Series]:
    """Parse a ``clean_text`` column of timestamps to UTC, vectorised.

    Returns (UTC datetimes, missing mask, reason code per row or None, the offending text per row). Naive
    times are Asia/Shanghai; zones may be Z/UTC/GMT, +hh[:mm], UTC+h, an IANA name (bare or in
    brackets), or 北京时间. Unix epoch seconds or milliseconds are UTC. A date with the year last
    (03/04/2024, 12.05.2024) is read in ``date_order`` ("dmy" or "mdy"); without one it is
    ``ambiguous_date`` unless a day above 12 or two equal numbers settle it. Strict ISO 8601 goes through
    pandas' C parser; everything else (and every ISO string it refuses) through ``_parse_loose``.
    """
    idx = s.index
    missing = s.isna().to_numpy()
    out = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns, UTC]")
    code = np.full(len(s), None, object)
    detail = pd.Series(None, index=idx, dtype=object)
    text = s
    iso = (~missing) & text.str.fullmatch(_ISO_RE).fillna(False).to_numpy(bool)
    if iso.any():  # a year outside YEAR_MIN..YEAR_MAX goes to the loose parser, which refuses it
        year = pd.to_numeric(text.str[:4].where(pd.Series(iso, index=idx)), errors="coerce").to_numpy(float)
        iso &= (year >= YEAR_MIN) & (year <= YEAR_MAX)
    zoned = iso & text.str.contains(_ZONED_RE).fillna(False).to_numpy(bool)
    if zoned.any():
        out[zoned] = pd.to_datetime(text[zoned], format="ISO8601", utc=True, errors="coerce")
    naive = iso & ~zoned
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = local.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    rest = (~missing) & out.isna().to_numpy()
    if rest.any():
        parsed, rcode = _parse_loose(text[rest], date_order)
        out[rest] = parsed
        code[rest] = rcode
        bad = rest & (code != None)  # noqa: E711 - elementwise on an object array
        detail[bad] = text[bad].astype(object)
    return out, missing, code, detail


def _year_last(text: pd.Series, date_order: str | None) -> tuple[pd.Series, np.ndarray]:
    """Dates written day-month-year or month-day-year, rewritten year first; and the rows that are
    ambiguous (no declared order, both numbers 12 or less and different)."""
    parts = text.str.extract(_DAY_MONTH_RE)
    has = parts["y"].notna().to_numpy()
    ambiguous = np.zeros(len(text), bool)
    if not has.any():
        return text, ambiguous
    a = pd.to_numeric(parts["a"], errors="coerce").to_numpy(float)
    b = pd.to_numeric(parts["b"], errors="coerce").to_numpy(float)
    if date_order == "dmy":
        day_first = np.ones(len(text), bool)
    elif date_order == "mdy":
        day_first = np.zeros(len(text), bool)
    else:
        day_first = a > 12
        ambiguous = has & (a <= 12) & (b <= 12) & (a != b)
    day = np.where(day_first, parts["a"], parts["b"])
    month = np.where(day_first, parts["b"], parts["a"])
    rewritten = parts["y"] + "-" + pd.Series(month, index=text.index) + "-" + pd.Series(day, index=text.index) \
        + parts["rest"].fillna("")
    return text.where(~pd.Series(has & ~ambiguous, index=text.index), rewritten), ambiguous


def _parse_loose(text: pd.Series, date_order: str | None = None) -> tuple[pd.Series, np.ndarray]:
    """The irregular spellings: Chinese dates, unpadded fields, year last, named zones, epochs (see above)."""
    n = len(text)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    code = np.full(n, None, object)
    text, ambiguous = _year_last(text, date_order)
    code[ambiguous] = "ambiguous_date"
    norm = (text.str.replace(r"(\d)\s*年\s*(\d)", r"\1-\2", regex=True)
            .str.replace(r"(\d)\s*月\s*(\d)", r"\1-\2", regex=True)
            .str.replace(r"(\d)\s*日", r"\1 ", regex=True)
            .str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", regex=True)
            .str.replace(r"(\d)\s*[时点]\s*(\d)", r"\1:\2", regex=True)
            .str.replace(r"(\d)\s*分\s*(\d)", r"\1:\2", regex=True)
            .str.replace(r"(\d)\s*[分秒]", r"\1", regex=True))

    epoch = norm.str.fullmatch(_EPOCH_RE.pattern).fillna(False).to_numpy(bool) & ~ambiguous
    if epoch.any():
        e = norm[epoch].astype(float).to_numpy()
        secs = np.where(norm[epoch].str.len().to_numpy() >= 12, e / 1000.0, e)
        ok = secs < _EPOCH_MAX_S
        code[np.flatnonzero(epoch)[~ok]] = "bad_timestamp"
        epoch_ok = epoch.copy()
        epoch_ok[epoch] = ok
        if ok.any():
            out[epoch_ok] = pd.to_datetime(secs[ok], unit="s", utc=True)

    parts = norm.str.extract(_DT_RE)
    matched = (~epoch) & ~ambiguous & parts["y"].notna().to_numpy()
    if matched.any():
        p = parts[matched]
        nums = {k: pd.to_numeric(p[k], errors="coerce").fillna(0).astype("int64")
                for k in ("y", "mo", "d", "h", "mi", "s")}
        frac = p["f"].fillna("").str.ljust(9, "0").str[:9].replace("", "0")
        bad_year = (nums["y"] < YEAR_MIN) | (nums["y"] > YEAR_MAX)
        nums["y"] = nums["y"].where(~bad_year, 2000)  # a placeholder, refused below: nothing can overflow
        naive = pd.to_datetime(pd.DataFrame({"year": nums["y"], "month": nums["mo"], "day": nums["d"],
                                             "hour": nums["h"], "minute": nums["mi"], "second": nums["s"]}),
                               errors="coerce")
        naive = naive + pd.to_timedelta(pd.to_numeric(frac, errors="coerce").fillna(0), unit="ns")
        bad_fields = bad_year | (nums["h"] > 23) | (nums["mi"] > 59) | (nums["s"] > 59)
        naive[bad_fields] = pd.NaT
        tz = p["tz"].fillna("").str.strip()
        tz_low = tz.str.lower()
        result = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns, UTC]")
        rcode = pd.Series(None, index=p.index, dtype=object)
        local = (tz == "") | tz_low.isin(_BEIJING_WORDS)  # naive, or Beijing time: Asia/Shanghai
        if local.any():
            result[local] = naive[local].dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        utc = tz_low.isin(_UTC_WORDS)
        if utc.any():
            result[utc] = naive[utc].dt.tz_localize("UTC")
        off = tz.str.extract(_OFFSET_RE)
        has_off = ~local & ~utc & off["sign"].notna()
        if has_off.any():
            hh = pd.to_numeric(off.loc[has_off, "hh"]).astype(int)
            mm = pd.to_numeric(off.loc[has_off, "mm"].fillna("0")).astype(int)
            sign = np.where(off.loc[has_off, "sign"] == "-", -1, 1)
            ok = ((hh * 60 + mm) <= 14 * 60) & (mm < 60)  # real offsets run from -12:00 to +14:00
            good = has_off.copy()
            good[has_off] = ok.to_numpy()
            bad = has_off.copy()
            bad[has_off] = ~ok.to_numpy()
            delta = pd.to_timedelta(sign * (hh * 60 + mm), unit="m")
            result[good] = (naive[good] - delta[ok]).dt.tz_localize("UTC")
            rcode[bad] = "bad_timezone"
        rest = ~local & ~utc & ~has_off
        for name in tz[rest].unique():
            m = rest & (tz == name)
            zm = _ZONE_RE.match(name)
            zone = _zone(zm.group("zone")) if zm else None
            if zone is None:
                rcode[m] = "bad_timezone" if zm or _ABBREVIATION_RE.match(name) else "bad_timestamp"
            else:
                result[m] = naive[m].dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        rcode[result.isna() & rcode.isna() & naive.isna()] = "bad_timestamp"
        rcode[result.isna() & rcode.isna()] = "bad_timezone"  # a local time that does not exist in its zone
        out[matched] = result
        rc = rcode.to_numpy(object).copy()
        rc[pd.isna(rc)] = None
        code[matched] = rc
    for i in np.flatnonzero(~epoch & ~matched & ~ambiguous):  # anything else: few, parsed one by one
        try:
            ts = pd.Timestamp(str(text.iloc[i]))
        except (ValueError, TypeError, OverflowError):
            code[i] = "bad_timestamp"
            continue
        if pd.isna(ts) or not YEAR_MIN <= ts.year <= YEAR_MAX:
            code[i] = "bad_timestamp"
            continue
        out.iloc[i] = (ts.tz_localize(TZ) if ts.tzinfo is None else ts).tz_convert("UTC").as_unit("ns")
    return out, code


_CRS_LOOKUP = {
    "wgs84": "wgs84", "wgs 84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "crs84": "wgs84", "gps": "wgs84",
    "cgcs2000": "cgcs2000", "epsg:4490": "cgcs2000", "4490": "cgcs2000", "国家2000": "cgcs2000",
    "gcj02": "gcj02", "gcj": "gcj02", "火星坐标": "gcj02", "高德": "gcj02", "腾讯": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd09ll": "bd09", "百度": "bd09", "百度坐标": "bd09", "baidu": "bd09",
}


def normalise_crs(values: pd.Series) -> pd.Series:
    """Coordinate-system names (WGS-84, EPSG:4490, GCJ-02, 百度…) to SOURCE_SYSTEMS codes; NaN if unknown."""
    key = values.astype("string").str.strip().str.lower()
    exact = key.map(_CRS_LOOKUP)
    loose = key.str.replace(r"[\s_\-]", "", regex=True).map(_CRS_LOOKUP)
    return exact.where(exact.notna(), loose).astype(object)
