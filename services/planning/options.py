"""What a planner may choose, the limits the page offers, and the errors a planner can correct.

Why a module of its own: every other planning module checks a service or a radius the same way and
raises :class:`PlanningError`, whose message the page shows in the planner's language.
"""

from __future__ import annotations

from geo.coverage import SERVICES
from services.config import rules
from services.i18n import label, t

SERVICE_OPTIONS = ("appeal", "legal", "psychological", "any")
"""Services a planner can look at; ``any`` counts every station, whatever it offers."""
_COVERAGE = rules()["coverage"]
DEFAULT_RADIUS_M = int(_COVERAGE["radius_m"])
"""The service radius in metres (config/rules.toml [coverage]): what the page opens with and every function
here defaults to; geo.coverage takes it as a parameter."""
RADIUS_MIN_M, RADIUS_MAX_M, RADIUS_STEP_M = (int(_COVERAGE[k]) for k in ("radius_min_m", "radius_max_m",
                                                                       "radius_step_m"))
if not RADIUS_MIN_M <= DEFAULT_RADIUS_M <= RADIUS_MAX_M:
    raise ValueError(f"config/rules.toml [coverage]: radius_m {DEFAULT_RADIUS_M} is outside "
                     f"{RADIUS_MIN_M}..{RADIUS_MAX_M}")
GAP_CELL_M = 250.0
"""Uncovered buildings are aggregated in squares of this side (EPSG:4547) before they are drawn."""
CIRCLE_QUAD_SEGS = 8
"""Segments per quarter circle when drawing service circles (drawing only; coverage is a distance test)."""
TABLE_LEVELS = ("district", "subdistrict", "community")
MODELS = ("mclp", "lscp")
CANDIDATE_SOURCES = ("buildings", "grids", "points", "upload")
DEFAULT_BUILDING_CANDIDATES = 3000
DEFAULT_K = 5
K_MAX = 100
TIME_LIMIT_DEFAULT_S = 10.0
TIME_LIMIT_MAX_S = 300.0
BOUNDS_MARGIN_DEG = 0.01
"""Points farther than this outside the district's bounding box are refused (about 1 km)."""


class PlanningError(ValueError):
    """A request the planner can correct; ``key`` and ``fmt`` name its message in config/strings."""

    def __init__(self, key: str, **fmt: object) -> None:
        self.key = key
        self.fmt = fmt
        super().__init__(f"{key} {fmt}" if fmt else key)

    def message(self, lang: str) -> str:
        """The message in ``lang``."""
        return t(self.key, lang, **self.fmt)


def service_key(service: str | None) -> str | None:
    """``geo.coverage``'s service argument: ``None`` for ``any`` (every station counts)."""
    if service in (None, "any"):
        return None
    if service not in SERVICES:
        raise PlanningError("planning.err_service", service=service)
    return service


def service_label(service: str | None, lang: str) -> str:
    """Name of a service option, ``any`` included."""
    return t("planning.service_any", lang) if service in (None, "any") else label("service", service, lang)


def check_radius(radius_m: float) -> float:
    """The radius as a float, refused outside the range the page offers."""
    r = float(radius_m)
    if not (RADIUS_MIN_M <= r <= RADIUS_MAX_M):
        raise PlanningError("planning.err_radius", lo=RADIUS_MIN_M, hi=RADIUS_MAX_M)
    return r
