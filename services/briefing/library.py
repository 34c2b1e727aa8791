"""The briefings a person may see, and making one now (the /briefing page's services, issue 15).

Who sees which area (``read_briefing``, services/access.py): the district-wide roles (admin, duty officer,
leader) every briefing; a subdistrict officer its subdistrict's and its communities'; a community
dispatcher its community's. Making one now is ``make_briefing`` (admin), audited like every request.
A file is only ever read through its (date, area, language) and the reader's rights, never by a path
the browser sends, and each download is an audited export.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from services import access, audit, district
from services.briefing import jobs
from services.errors import DomainError, NotFound
from services.store.base import Store

KINDS = ("pdf", "png")


class BriefingFailed(DomainError):
    """A briefing could not be made (a missing font, a full disk, …): its reason, as jobs.make logged it."""


def district_code() -> str:
    return next(iter(district.names("district", "zh")))


def _parents(kind: str) -> dict[str, str]:
    layer = district.layers()[kind]
    return dict(zip(layer.code.astype(str), layer.parent_code.astype(str), strict=True))


def areas_for(who: access.Principal) -> list[str]:
    """The area codes whose briefings ``who`` may read: the district, then its subdistricts, then its
    communities, in code order, narrowed to the reader's own area."""
    access.check_principal(who)
    access.check_action(who.role, access.READ_BRIEFING)
    subs = sorted(district.names("subdistrict", "zh"))
    coms = _parents("community")
    own = access.area_filter(who)
    if own is None:
        return [district_code(), *subs, *sorted(coms)]
    kind, code = own
    if kind == "subdistrict":
        return [code, *sorted(c for c, parent in coms.items() if parent == code)]
    if kind == "community":
        return [code]
    return []


def area_name(code: str, lang: str) -> str:
    """The name of a briefing's area (the district, a subdistrict or a community) in ``lang``."""
    for kind in ("district", "subdistrict", "community"):
        names = district.names(kind, lang)
        if code in names:
            return names[code]
    return code


def listing(who: access.Principal, out_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The briefings made that ``who`` may read (jobs.briefings' rows), newest day first, then by area in
    the order of ``areas_for``."""
    areas = areas_for(who)
    order = {code: i for i, code in enumerate(areas)}
    rows = [r for r in jobs.briefings(out_dir) if r["area"] in order]
    rows.sort(key=lambda r: (-r["date"].toordinal(), order[r["area"]], r["lang"]))
    return rows


def runs(who: access.Principal, out_dir: str | Path | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs (made or failed, newest first) of the areas ``who`` may read."""
    allowed = set(areas_for(who))
    return [r for r in jobs.runs(out_dir) if r.get("area") in allowed][:limit]


def failing(who: access.Principal, out_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The runs that failed and have not been followed by a good run of the same day, area and language:
    what the page warns about (a failure the next run mended is history, shown with the runs)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for r in runs(who, out_dir, limit=10_000):
        key = (r.get("date"), r.get("area"), r.get("lang"))
        if key in seen:
            continue
        seen.add(key)
        if not r.get("ok"):
            out.append(r)
    return out


def read(store: Store, who: access.Principal, report_date: date, area: str, lang: str, kind: str,
         out_dir: str | Path | None = None, *, download: bool = False) -> bytes:
    """The bytes of one briefing's PDF or PNG (``kind``), after the rights check; ``download`` records it
    in the audit log as an export. ``NotFound`` when that briefing was not made."""
    if kind not in KINDS:
        raise NotFound("error.briefing_not_found", date=report_date.isoformat(), area=area)
    if area not in areas_for(who):
        raise access.Forbidden("error.briefing_outside_area", role=access.Label("role", who.role), area=area)
    path = Path(out_dir or jobs.default_dir()) / f"{jobs.stem(area, report_date, lang)}.{kind}"
    if not path.is_file():
        raise NotFound("error.briefing_not_found", date=report_date.isoformat(), area=area)
    data = path.read_bytes()
    if download:
        audit.exported(store, who, f"briefing.{path.name}", {"bytes": len(data)})
    return data


def first_page(pdf: bytes, width: int = 900) -> bytes:
    """The first page of a PDF as a PNG about ``width`` pixels wide (the page's preview), drawn by PDFium."""
    import io

    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0]
        scale = width / page.get_width()
        image = page.render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()
    finally:
        doc.close()


def make_now(store: Store, who: access.Principal, report_date: date, area: str, lang: str, *,
             out_dir: str | Path | None = None, now: datetime | None = None) -> dict[str, Path]:
    """Make one briefing now (``make_briefing``: admin), audited as done or refused; returns its paths.
    A run that fails raises, after jobs.make has logged its reason, and leaves earlier files as they were."""
    access.check_principal(who)
    detail = {"date": report_date.isoformat(), "area": area, "lang": lang}

    def step() -> dict[str, Path]:
        access.check_action(who.role, access.MAKE_BRIEFING)
        if area not in areas_for(who):
            raise NotFound("error.briefing_unknown_area", area=area)
        try:
            return jobs.make(store, report_date, area=jobs.area_of(area), lang=lang, out_dir=out_dir, now=now)
        except DomainError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged by jobs.make; said to the person who asked
            raise BriefingFailed("error.briefing_failed", reason=f"{type(exc).__name__}: {exc}") from exc

    return audit.audited(store, who.name, "briefing_made", "briefing", f"{area}:{report_date.isoformat()}", detail,
                         step, who.address)
