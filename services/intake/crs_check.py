"""A whole file in the wrong coordinate system, found before any row of it is stored.

Why: 314 of 332 GCJ-02 rows labelled WGS84 were once stored without a word, a median 601 m off, most
in the wrong grid. Rows that name their building (QR scans) show it: the file's points, read in the
declared system, sit about 600 m (GCJ-02) or 1.2 km (BD-09) from the buildings they name, and read in
that other system they sit on them. Such a file is refused as a whole (``wrong_crs``), naming the system
it is probably in, so it can be imported again with the right ``--crs``. Thresholds: config/rules.toml
``[intake]`` crs_check_*.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from geo.crs_guess import Guess, guess_system
from services.i18n import t
from services.intake.parsing import clean_text, normalise_crs, parse_numbers
from services.intake.reading import Chunk
from services.intake.schema import limit
from services.intake.sniffing import FileRefused, file_message


def _settings() -> tuple[int, float, int, int]:
    return (int(limit("crs_check_min_rows", 5)), limit("crs_check_max_miss_m", 150),
            int(limit("crs_check_max_rows", 500)), int(limit("crs_check_scan_rows", 50_000)))


def named_building_points(chunks: Iterable[Chunk], buildings: pd.DataFrame, declared: str, max_rows: int,
                          max_scan: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``max_rows`` rows in the declared system (no per-row source_crs) naming a known building,
    among the first chunks of about ``max_scan`` rows: their lon/lat as given, and the building's."""
    where = buildings.set_index(pd.Index(buildings["code"].astype(str).to_numpy(object)))[["lon", "lat"]]
    where = where[~where.index.duplicated()]
    parts: list[pd.DataFrame] = []
    found = scanned = 0
    for chunk in chunks:
        scanned += len(chunk.line)
        rec = chunk.records
        if "building_code" not in rec or "lon" not in rec or "lat" not in rec:
            return (np.zeros(0),) * 4  # type: ignore[return-value]
        code = clean_text(rec["building_code"]).reset_index(drop=True)
        lon, *_ = parse_numbers(clean_text(rec["lon"]).reset_index(drop=True))
        lat, *_ = parse_numbers(clean_text(rec["lat"]).reset_index(drop=True))
        row_crs = normalise_crs(clean_text(rec["source_crs"])) if "source_crs" in rec else None
        own = np.ones(len(code), bool) if row_crs is None else (
            row_crs.isna() | (row_crs == declared)).to_numpy(bool)
        at = where.index.get_indexer(code.to_numpy(object, na_value=None))  # a hash lookup, not Arrow's isin
        known = (at >= 0) & np.isfinite(lon) & np.isfinite(lat) & own
        if known.any():
            b = where.iloc[at[known]]
            parts.append(pd.DataFrame({"lon": lon[known], "lat": lat[known], "blon": b["lon"].to_numpy(),
                                       "blat": b["lat"].to_numpy()}))
            found += int(known.sum())
        if found >= max_rows or scanned >= max_scan:
            break
    if not parts:
        return (np.zeros(0),) * 4  # type: ignore[return-value]
    f = pd.concat(parts, ignore_index=True).head(max_rows)
    return f["lon"].to_numpy(), f["lat"].to_numpy(), f["blon"].to_numpy(), f["blat"].to_numpy()


def check_file_system(chunks: Iterable[Chunk], buildings: pd.DataFrame, declared: str) -> Guess | None:
    """Raises FileRefused (``wrong_crs``) when the file's points fit their buildings in another system
    and miss them in the declared one; returns the guess (None when too few rows name a building)."""
    min_rows, max_miss, max_rows, max_scan = _settings()
    if buildings is None or buildings.empty:
        return None
    lon, lat, blon, blat = named_building_points(chunks, buildings, declared, max_rows, max_scan)
    if len(lon) < min_rows:
        return None
    guess = guess_system(lon, lat, blon, blat)
    if guess.doubts(declared, max_miss_m=max_miss, min_points=min_rows):
        raise FileRefused("wrong_crs", file_message(
            "wrong_crs", n=f"{guess.points:,}", declared=system_name(declared, "zh"),
            declared_en=system_name(declared, "en"), miss=f"{guess.medians[_same(declared)]:,.0f}",
            best=system_name(guess.best, "zh"), best_en=system_name(guess.best, "en"),
            fit=f"{guess.medians[guess.best]:,.0f}", crs=guess.best))
    return guess


def _same(system: str) -> str:
    return "wgs84" if system == "cgcs2000" else system


def system_name(system: str, lang: str) -> str:
    """A coordinate system's name as staff know it (WGS84 / GPS, GCJ-02 / 高德、腾讯, BD-09 / 百度)."""
    return t(f"intake.crs.{system}", lang)
