"""Analysis (分析研判, issue 14): periods (periods.py), the measures defined once (measures.py), their
figures per area, trend and rising categories (service.py, over the SQL of services/store/analysis.py),
and the operators' CLI (``python -m services.analysis``, __main__.py)."""

from services.analysis.periods import Period, custom, period
from services.analysis.service import Figures, area_figures, breakdown, categories_rising, figures, trend

__all__ = ["Figures", "Period", "area_figures", "breakdown", "categories_rising", "custom", "figures", "period",
           "trend"]
