"""Reading the metric store for reports: one PromQL value at one instant, over the same
tiers the dashboards read (hourly roll-ups, then 1-minute roll-ups, then raw samples)."""

import math
from datetime import datetime, timedelta

from monitoring.charts import Window, load
from monitoring.models import Module
from monitoring.promql import Evaluator, PromQLError, selectors


def value_at(expr: str, at: datetime, modules: list[Module] | None = None) -> float | None:
    """The expression's single value at `at` (a vector must reduce to one series); None when
    there is no data."""
    modules = list(Module.objects.all()) if modules is None else modules
    back = max((s.range_seconds + s.offset_seconds for s in selectors(expr)), default=0.0)
    end = at.timestamp()
    win = Window("report", "1h", 3600.0, end - back, end)
    source = load([expr], modules, win, extra_back=3600.0)
    try:
        result = Evaluator(expr, source).at(at)
    except PromQLError:
        return None
    if isinstance(result, dict):
        if len(result) != 1:
            return None
        result = next(iter(result.values()))
    return None if result is None or math.isnan(result) or math.isinf(result) else result


def fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "no data" if value is None else f"{value:{spec}}{suffix}"


def pct(value: float | None, places: int = 1) -> str:
    return "no data" if value is None else f"{value * 100:.{places}f} %"


WEEK = timedelta(days=7)
