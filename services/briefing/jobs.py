"""Making the daily briefing's files (issue 15): the job behind the CLI, the timer and the page's "make it
now".

``make`` builds the briefing (services/briefing/content.py), draws the map and the PDF, and writes
``DIR/briefing-<area>-<date>.pdf`` and ``.png`` (``-en`` before the suffix for English). Each file is
written to a temporary file in DIR and moved into place with ``os.replace``, and only once both are drawn,
so a run that fails leaves the previous briefing of that day untouched. Every run, made or failed, appends
one JSON line to ``DIR/briefing-runs.jsonl`` with the reason of a failure; the page reads it (``runs``)
with the list of briefings (``briefings``). An optional drop folder (``[briefing] drop_dir``, or
``GM_BRIEFING_DROP``) gets a copy of each new file, for the intranet's own delivery.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from services import config, district
from services.clocks import TZ
from services.config import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "var" / "briefings"
RUNS_FILE = "briefing-runs.jsonl"
DROP_ENV = "GM_BRIEFING_DROP"
DIR_ENV = "GM_BRIEFING_DIR"
NAME_RE = re.compile(r"^briefing-(?P<area>[0-9A-Za-z_]+)-(?P<date>\d{4}-\d{2}-\d{2})(?P<en>-en)?\.pdf$")


def default_dir() -> Path:
    """Where briefings go unless told, and where the page lists them: ``GM_BRIEFING_DIR`` when set, else
    ``[briefing] out_dir`` (default the checkout's ``var/briefings``, beside the other var/ files)."""
    raw = os.environ.get(DIR_ENV) or str(config.rules().get("briefing", {}).get("out_dir", "") or "")
    if not raw.strip():
        return DEFAULT_DIR
    path = Path(raw.strip())
    return path if path.is_absolute() else REPO_ROOT / path


def drop_dir() -> Path | None:
    """The drop folder, or None when delivery is off: ``GM_BRIEFING_DROP`` when set (empty: off), else
    ``[briefing] drop_dir`` of config/rules.toml; a relative path is from the checkout."""
    raw = os.environ[DROP_ENV] if DROP_ENV in os.environ else str(config.rules().get("briefing", {}).get("drop_dir", ""))
    raw = raw.strip()
    if not raw:
        return None
    path = Path(raw)
    return path if path.is_absolute() else REPO_ROOT / path


def area_of(code: str | None) -> tuple[str, str] | None:
    """The area a code names for ``--area``: None for the district (or no code), else (subdistrict|community,
    code). Raises ValueError for an unknown code."""
    if not code or code in district.names("district", "zh"):
        return None
    for kind in ("subdistrict", "community"):
        if code in district.names(kind, "zh"):
            return kind, code
    raise ValueError(f"unknown area {code!r}: not the district, a subdistrict or a community code")


def area_code(area: tuple[str, str] | None) -> str:
    """The code in file names: the area's, or the district's for None."""
    return area[1] if area else next(iter(district.names("district", "zh")))


def stem(code: str, report_date: date, lang: str) -> str:
    """``briefing-<code>-<date>`` plus ``-en`` for English."""
    return f"briefing-{code}-{report_date.isoformat()}" + ("-en" if lang == "en" else "")


def _write_atomic(path: Path, data: bytes) -> Path:
    """``data`` to a temporary file beside ``path`` (synced), returned; the caller moves it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _install(files: dict[Path, bytes]) -> None:
    """Write every file atomically: all temporary files first, then one ``os.replace`` each."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temps[path] = _write_atomic(path, data)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def _record(out: Path, entry: dict[str, Any]) -> None:
    with open(out / RUNS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


def make(store: Any, report_date: date, *, area: tuple[str, str] | None = None, lang: str = "zh",
         out_dir: str | os.PathLike[str] | None = None, now: datetime | None = None) -> dict[str, Path]:
    """Make the briefing of ``area`` (None: the district) for ``report_date`` in ``lang``: writes the PDF
    and the map PNG to ``out_dir`` (default ``var/briefings``), copies them to the drop folder if one is
    set, logs the run; returns ``{"pdf": path, "png": path}``. A failure is logged with its reason and
    raised, and leaves the files of earlier runs as they were."""
    out = Path(out_dir) if out_dir else default_dir()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    entry: dict[str, Any] = {"at": datetime.now(TZ).isoformat(timespec="seconds"),
                             "date": report_date.isoformat(), "area": area_code(area), "lang": lang}
    try:
        from services.briefing import content, render  # content lands from its own branch

        briefing = content.build(store, report_date, area=area, lang=lang, now=now)
        png = render.map_png(briefing)
        pdf = render.pdf(briefing, png)
        name = stem(briefing.area_code, report_date, lang)
        paths = {"pdf": out / f"{name}.pdf", "png": out / f"{name}.png"}
        _install({paths["pdf"]: pdf, paths["png"]: png})
    except Exception as exc:
        _record(out, {**entry, "ok": False, "reason": f"{type(exc).__name__}: {exc}",
                      "seconds": round(time.monotonic() - started, 3)})
        raise
    entry |= {"ok": True, "pdf": str(paths["pdf"]), "png": str(paths["png"]), "pdf_bytes": len(pdf),
              "png_bytes": len(png), "cut_off": briefing.cut_off.isoformat(timespec="seconds")}
    drop = drop_dir()
    if drop is not None:
        try:
            drop.mkdir(parents=True, exist_ok=True)
            _install({drop / p.name: p.read_bytes() for p in paths.values()})
            entry["dropped"] = str(drop)
        except OSError as exc:   # the briefing is made; the delivery's failure is said, not hidden
            entry["drop_error"] = f"{type(exc).__name__}: {exc}"
    entry["seconds"] = round(time.monotonic() - started, 3)
    _record(out, entry)
    return paths


def runs(out_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The runs logged in ``out_dir`` (default ``var/briefings``), newest first; unreadable lines skipped."""
    path = Path(out_dir or default_dir()) / RUNS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            out.append(row)
    return out[::-1]


def briefings(out_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The briefings made in ``out_dir`` (default ``var/briefings``), newest day first: date, area (code),
    lang, pdf and png (paths; png None if missing), pdf_bytes and png_bytes."""
    folder = Path(out_dir or default_dir())
    if not folder.is_dir():
        return []
    rows = []
    for pdf in folder.glob("briefing-*.pdf"):
        m = NAME_RE.match(pdf.name)
        if not m:
            continue
        png = pdf.with_suffix(".png")
        rows.append({"date": date.fromisoformat(m["date"]), "area": m["area"], "lang": "en" if m["en"] else "zh",
                     "pdf": pdf, "png": png if png.is_file() else None, "pdf_bytes": pdf.stat().st_size,
                     "png_bytes": png.stat().st_size if png.is_file() else None})
    rows.sort(key=lambda r: (-r["date"].toordinal(), r["area"], r["lang"]))
    return rows

