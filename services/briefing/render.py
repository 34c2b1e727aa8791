"""The daily briefing drawn (issue 15): the map as a PNG (geo/print_map.py) and the A4 PDF (WeasyPrint),
on the server, without a browser.

The PDF is HTML from ``templates/briefing.html`` (Jinja2, autoescaped) with ``templates/briefing.css``,
laid out by WeasyPrint in Noto Sans CJK SC (Debian's fonts-noto-cjk, embedded as a subset). Every text is
from config/strings/briefing.toml (and the analysis page's measure names), in the briefing's language.

Deterministic and offline: WeasyPrint fetches nothing but ``data:`` URLs (the map is embedded as one), the
PDF's creation and modification dates are the briefing's cut-off, and its file identifier is derived from
the area, day, language and cut-off, so the same Briefing gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from geo.print_map import MapTexts, render_map
from services import district
from services.briefing.model import Briefing, Note
from services.i18n import label, normalise_lang, t

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MISSING = "—"
NOTE_ITEM = {"categories_rising": "category_item", "reopened_communities": "reopened_item",
             "unofficial_calendar": "calendar_item"}


class OfflineOnly(ValueError):
    """The briefing asked WeasyPrint for something other than a ``data:`` URL (it must fetch nothing)."""


# ------------------------------------------------------------------------------------------ formatting
def day_text(d: date, lang: str) -> str:
    """``2025年6月1日`` or ``1 Jun 2025`` (month names fixed, not from the locale)."""
    return t("analysis.day_text", lang, y=d.year, m=d.month, d=d.day, month=MONTHS[d.month - 1])


def time_text(at: datetime | None, report_date: date | None = None) -> str:
    """``YYYY-MM-DD HH:MM``; the midnight that ends ``report_date`` reads ``<report_date> 24:00``."""
    if at is None or pd.isna(at):
        return MISSING
    at = pd.Timestamp(at).to_pydatetime()
    if report_date is not None and at.time() == datetime.min.time() and at.date() == report_date + timedelta(days=1):
        return f"{report_date.isoformat()} 24:00"
    return at.strftime("%Y-%m-%d %H:%M")


def figure_text(v: float | None, is_rate: bool, *, mean: bool = False) -> str:
    """A headline value: a rate as ``87.5%``, a count as an integer (a mean of counts with one decimal),
    None or NaN as ``—``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    if is_rate:
        return f"{100 * float(v):.1f}%"
    if mean and float(v) != int(v):
        return f"{float(v):.1f}"
    return f"{int(round(float(v)))}"


def number_text(v: Any) -> str:
    """An integer as is, a float with one decimal."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.1f}"
    return str(int(v))


def change_text(v: Any) -> str:
    """A signed change: ``+3``, ``+1.5``, ``-2``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    text = number_text(v)
    return text if text.startswith("-") else f"+{text}"


# ------------------------------------------------------------------------------------------ the map
def area_layers(area: tuple[str, str] | None) -> dict[str, Any]:
    """The district's boundary layers cut to ``area`` (None: the whole district): its subdistrict(s),
    communities and grids; the district outline only for the whole district."""
    L = district.layers()
    if area is None:
        return {k: L[k] for k in ("district", "subdistrict", "community", "grid") if k in L}
    kind, code = area
    communities = district.communities_in(area)
    community = L["community"][L["community"].code.isin(communities)]
    subdistricts = {code} if kind == "subdistrict" else set(community.parent_code)
    return {"subdistrict": L["subdistrict"][L["subdistrict"].code.isin(subdistricts)] if kind == "subdistrict"
            else L["subdistrict"].iloc[0:0],
            "community": community,
            "grid": L["grid"][L["grid"].parent_code.isin(communities)]}


def map_texts(briefing: Briefing) -> MapTexts:
    """The map's texts in the briefing's language (config/strings/briefing_map.toml)."""
    lang = normalise_lang(briefing.lang)

    def k(key: str, **fmt: str) -> str:
        return t(f"briefing.map.{key}", lang, **fmt)

    return MapTexts(
        title=k("title", area=briefing.area_name),
        subtitle=k("subtitle", date=day_text(briefing.report_date, lang),
                   cut_off=time_text(briefing.cut_off, briefing.report_date)),
        level_red=k("level_red"), level_yellow=k("level_yellow"), level_blue=k("level_blue"),
        level_none=k("level_none"), red_appeal=k("red_appeal"), overdue_appeal=k("overdue_appeal"),
        cluster=k("cluster"), subdistrict_boundary=k("subdistrict_boundary"),
        community_boundary=k("community_boundary"), north=k("north"), unit_km=k("unit_km"), unit_m=k("unit_m"),
        label_column="name" if lang == "zh" else "name_en")


def map_png(briefing: Briefing) -> bytes:
    """The briefing's map as PNG bytes (the same Briefing gives the same bytes)."""
    return render_map(area_layers(briefing.area), briefing.map, texts=map_texts(briefing))


# ------------------------------------------------------------------------------------------ the PDF
def _rows(frame: pd.DataFrame | None) -> list[dict]:
    return [] if frame is None or not len(frame) else frame.to_dict("records")


def _note(note: Note, lang: str) -> dict:
    items = []
    for item in note.items:
        if note.kind == "categories_rising":
            fields = {"name": item.get("name", ""), "day": number_text(item.get("day")),
                      "average": number_text(item.get("average")), "change": change_text(item.get("change"))}
        elif note.kind == "unofficial_calendar":
            fields = {"year": item.get("year", ""), "basis": label("calendar.basis", item.get("basis"), lang)}
        else:
            fields = {"name": item.get("name", ""), "reopened": number_text(item.get("reopened"))}
        items.append(t(f"briefing.pdf.notes.{NOTE_ITEM[note.kind]}", lang, **fields))
    return {"kind": note.kind, "title": t(f"briefing.pdf.notes.{note.kind}", lang),
            "none": t(f"briefing.pdf.notes.{note.kind}_none", lang), "items": items}


def context(briefing: Briefing, map_png_bytes: bytes | None) -> dict[str, Any]:
    """What the template fills in: every text already in the briefing's language, every number formatted."""
    lang = normalise_lang(briefing.lang)
    day = briefing.report_date
    at = time_text(briefing.cut_off, day)
    made = time_text(briefing.made_at or briefing.cut_off, day)

    def s(key: str, **fmt: Any) -> str:
        return t(f"briefing.pdf.{key}", lang, **fmt)

    headline = [{"name": t(f"analysis.measure.{f.code}", lang), "value": figure_text(f.value, f.is_rate),
                 "day_before": figure_text(f.day_before, f.is_rate),
                 "week_average": figure_text(f.week_average, f.is_rate, mean=True)} for f in briefing.headline]
    clearance = _rows(briefing.clearance)
    open_rows = [{**r, "open_overnight": number_text(r["open_overnight"]),
                  "oldest_id": number_text(r.get("oldest_id")),
                  "oldest_reported_at": time_text(r.get("oldest_reported_at")),
                  "oldest_category": r.get("oldest_category") or MISSING}
                 for r in clearance if int(r["open_overnight"] or 0) > 0]
    cleared = [r["name"] for r in clearance if not int(r["open_overnight"] or 0)]
    sep = "、" if lang == "zh" else ", "
    red = [{**r, "id": number_text(r["id"]), "reported_at": time_text(r.get("reported_at"))}
           for r in _rows(briefing.red_warnings)]
    gatherings = [{**r, "gathering_id": number_text(r["gathering_id"]), "size": number_text(r["size"]),
                   "tier": label("tier", r.get("tier"), lang), "open": number_text(r.get("open")),
                   "first_reported_at": time_text(r.get("first_reported_at"))}
                  for r in _rows(briefing.gatherings)]
    order_keys = ("issued", "checked_in_on_time", "checked_in_late", "not_checked_in", "still_open")
    return {
        "lang": "zh-CN" if lang == "zh" else "en",
        "s": s,
        "title": s("title", area=briefing.area_name),
        "report_day": day_text(day, lang),
        "made_at": s("made_at", at=made),
        "cut_off": s("cut_off", at=at),
        "cut_off_text": at,
        "cut_off_w3c": briefing.cut_off.isoformat(timespec="seconds"),
        "made_w3c": (briefing.made_at or briefing.cut_off).isoformat(timespec="seconds"),
        "page_content": page_content(lang),
        "footer_content": css_string(f"{s('made_at', at=made)}    {s('cut_off', at=at)}"),
        "empty": briefing.empty,
        "empty_text": s("empty_day", date=day_text(day, lang), at=at),
        "headline": headline,
        "map_src": ("data:image/png;base64," + base64.b64encode(map_png_bytes).decode("ascii"))
        if map_png_bytes else None,
        "clearance": open_rows,
        "cleared": s("clearance.cleared", n=len(cleared), names=sep.join(cleared)) if cleared and open_rows else "",
        "all_clear": bool(clearance) and not open_rows,
        "red_warnings": red,
        "gatherings": gatherings,
        "orders": [(s(f"orders.{k}"), number_text(briefing.orders.get(k, 0))) for k in order_keys],
        "late_departments": [{**r, "late": number_text(r["late"])} for r in _rows(briefing.late_departments)],
        "notes": [_note(n, lang) for n in briefing.notes],
    }


def css_string(text: str) -> str:
    """``text`` as a CSS string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def page_content(lang: str) -> str:
    """The CSS ``content`` of the page number: the text of ``briefing.pdf.page`` with counters in it."""
    text = t("briefing.pdf.page", lang, page="\x00", pages="\x01")
    before, rest = text.split("\x00")
    between, after = rest.split("\x01")
    parts = [css_string(before), "counter(page)", css_string(between), "counter(pages)", css_string(after)]
    return " ".join(p for p in parts if p != '""')


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def html(briefing: Briefing, map_png_bytes: bytes | None) -> str:
    """The briefing as an HTML page (its stylesheet inlined)."""
    css = (TEMPLATES / "briefing.css").read_text(encoding="utf-8")
    return _environment().get_template("briefing.html").render(css=css, **context(briefing, map_png_bytes))


def identifier(briefing: Briefing) -> bytes:
    """The PDF's file identifier: from what the briefing is of (area, day, language, cut-off), not random."""
    key = f"{briefing.area_code}|{briefing.report_date.isoformat()}|{briefing.lang}|{briefing.cut_off.isoformat()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32].encode("ascii")


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class DataOnly(URLFetcher):
        """Fetches ``data:`` URLs only: a briefing makes no outbound call, not even a file read."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise OfflineOnly(f"the briefing fetches only data: URLs, not {url[:80]!r}")
            return super().fetch(url, headers)

    return DataOnly(allowed_protocols=("data",), fail_on_errors=True)


def pdf(briefing: Briefing, map_png_bytes: bytes | None) -> bytes:
    """The briefing as A4 PDF bytes, with the map ``map_png_bytes`` (None: without a map)."""
    from weasyprint import HTML

    doc = HTML(string=html(briefing, map_png_bytes), base_url="data:,", url_fetcher=_fetcher())
    return doc.write_pdf(pdf_identifier=identifier(briefing), uncompressed_pdf=False)

