"""Foreign service codes mapped to ours: what another system's Open311 ``service_code`` / ``service_name``
means as our service type and category, per sending system (intake's ``--source``).

Why a file of its own (config/open311_services.toml): every city system numbers its services its own way
("001", "Graffiti", "GM-LEGAL-01"); without a mapping every such row would be quarantined as an unknown
service type. The mapping is configuration, checked on load: a target that is not one of our service
types or categories is refused with the file and the entry named, before any row is read.

Format (one table per source, with a ``service_code`` and/or a ``service_name`` sub-table)::

    [hotline12345.service_code]
    "001" = { service_type = "complaint", category = "noise" }
    "002" = { category = "wage_arrears" }          # the category implies the service type (dispute)

    [hotline12345.service_name]
    "Graffiti" = { service_type = "complaint", category = "public_facility" }

Codes match exactly (after trimming); names match case-insensitively. Targets may be our codes or their
Chinese names (services.vocabulary).
"""

from __future__ import annotations

import stat
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from services.config import REPO_ROOT
from services.vocabulary import CATEGORIES, CATEGORY_LOOKUP, CATEGORY_SERVICE, SERVICE_TYPE_LOOKUP

DEFAULT_SERVICE_MAP = REPO_ROOT / "config" / "open311_services.toml"
FIELDS = ("service_code", "service_name")
TARGET_KEYS = ("service_type", "category")
_CACHE: dict[tuple[str, int, int], ServiceMap] = {}
_CACHE_LOCK = threading.Lock()


class ServiceMapError(ValueError):
    """The mapping file is unreadable or names something that is not ours (file and entry in the text)."""


@dataclass(frozen=True)
class SourceMap:
    """One source's mapping: foreign code -> (service type, category or None); names keyed lower-case."""

    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    names: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceMap:
    """Every source's mapping, and the file it came from (named in quarantine messages)."""

    path: Path
    sources: dict[str, SourceMap] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The file as a clerk finds it: relative to the repository when inside it."""
        try:
            return str(self.path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return str(self.path)

    def apply(self, source: str, codes: pd.Series, names: pd.Series) -> tuple[pd.Series, pd.Series]:
        """(service type, category) for each row of ``codes``/``names`` (``clean_text`` columns) of
        ``source``: by service code first, then by service name; NaN where the source maps neither."""
        svc = pd.Series(np.nan, index=codes.index, dtype=object)
        cat = pd.Series(np.nan, index=codes.index, dtype=object)
        m = self.sources.get(source)
        if m is None:
            return svc, cat
        for values, table, lower in ((codes, m.codes, False), (names, m.names, True)):
            if not table:
                continue
            key = values.astype("string").str.strip()
            if lower:
                key = key.str.lower()
            hit = key.map(table)
            take = svc.isna() & hit.notna()
            if take.any():
                svc[take] = [t[0] for t in hit[take]]
                cat[take] = [t[1] if t[1] is not None else np.nan for t in hit[take]]
        return svc, cat


def _target(path: Path, where: str, entry: object) -> tuple[str, str | None]:
    if not isinstance(entry, dict):
        raise ServiceMapError(f"{path}：{where} 应为 {{ service_type = …, category = … }}"
                              f"（{path}: {where} must be a table with service_type and/or category）")
    extra = sorted(set(entry) - set(TARGET_KEYS))
    if extra or not entry:
        raise ServiceMapError(f"{path}：{where} 只能有service_type和category（{path}: {where} may only have "
                              f"service_type and category{'; got ' + ', '.join(extra) if extra else ''}）")
    svc = cat = None
    if "service_type" in entry:
        svc = SERVICE_TYPE_LOOKUP.get(str(entry["service_type"]).strip().lower())
        if svc is None:
            raise ServiceMapError(f"{path}：{where} 的服务类型{entry['service_type']!r}不存在（{path}: {where}: "
                                  f"unknown service type {entry['service_type']!r}; use one of "
                                  f"{', '.join(CATEGORIES)}）")
    if "category" in entry:
        cat = CATEGORY_LOOKUP.get(str(entry["category"]).strip().lower())
        if cat is None:
            raise ServiceMapError(f"{path}：{where} 的诉求类别{entry['category']!r}不存在（{path}: {where}: "
                                  f"unknown category {entry['category']!r}; see services.vocabulary.CATEGORIES）")
        if svc is not None and CATEGORY_SERVICE[cat] != svc:
            raise ServiceMapError(f"{path}：{where} 的类别{cat}属于{CATEGORY_SERVICE[cat]}，不属于{svc}（{path}: "
                                  f"{where}: category {cat} belongs to {CATEGORY_SERVICE[cat]}, not {svc}）")
        svc = svc or CATEGORY_SERVICE[cat]
    assert svc is not None
    return svc, cat


def parse_service_map(path: Path, data: dict) -> ServiceMap:
    """Validate a parsed mapping file (see the module docstring); raises ServiceMapError naming the entry."""
    original = path
    sources: dict[str, SourceMap] = {}
    path = Path(ServiceMap(path).display)  # named in messages as a clerk finds it
    for source, tables in data.items():
        if not isinstance(tables, dict):
            raise ServiceMapError(f"{path}：[{source}] 应为表（{path}: [{source}] must be a table）")
        unknown = sorted(set(tables) - set(FIELDS))
        if unknown:
            raise ServiceMapError(f"{path}：[{source}] 只能有service_code和service_name子表，不认识 "
                                  f"{', '.join(unknown)}（{path}: [{source}] may only have service_code and "
                                  f"service_name tables, not {', '.join(unknown)}）")
        codes: dict[str, tuple[str, str | None]] = {}
        names: dict[str, tuple[str, str | None]] = {}
        for fld, out in (("service_code", codes), ("service_name", names)):
            entries = tables.get(fld, {})
            if not isinstance(entries, dict):
                raise ServiceMapError(f"{path}：[{source}.{fld}] 应为表（{path}: [{source}.{fld}] must be a table）")
            for key, entry in entries.items():
                target = _target(path, f"[{source}.{fld}] {key!r}", entry)
                k = str(key).strip()
                out[k.lower() if fld == "service_name" else k] = target
        sources[str(source)] = SourceMap(codes, names)
    return ServiceMap(Path(original), sources)


def load_service_map(path: str | Path | None = None) -> ServiceMap:
    """The mapping in ``path`` (default config/open311_services.toml; a missing default file is an empty
    mapping, a missing file named explicitly is an error). A file read before is not parsed again while
    its modification time and size stay the same (every Open311 POST batch makes an Intake)."""
    chosen = Path(path) if path is not None else DEFAULT_SERVICE_MAP
    try:
        st = chosen.stat()
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        if path is None:
            return ServiceMap(chosen)
        raise ServiceMapError(f"找不到服务映射文件 no such service mapping file: {chosen}")
    key = (str(chosen), st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        with open(chosen, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ServiceMapError(f"{chosen}：无法读取服务映射（{chosen}: cannot read the service mapping: {exc}）") \
            from None
    parsed = parse_service_map(chosen, data)
    with _CACHE_LOCK:
        _CACHE.clear()  # one file at a time in practice: keep only the newest reading
        _CACHE[key] = parsed
    return parsed
