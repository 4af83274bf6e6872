"""Capacity planning from the metric store (001 "Capacity Planning").

For each capacity plan (one per module kind):
1. Load the throughput counter of the kind's modules for the last HISTORY_SPAN from the store:
   hourly roll-ups up to their watermark, then 1-minute roll-ups, then raw samples
   (`charts.load`, the same tiers the dashboards read).
2. Turn consecutive points into per-hour rates (counter resets count as a restart from zero;
   gaps longer than MAX_GAP are skipped rather than smeared over one hour).
3. Per day: the average and the peak hourly rate. "Current peak" is the highest hourly rate
   of the last PEAK_WINDOW; headroom = 1 − peak / sustained max (001 "Capacity Metrics":
   Beta 4,000 of 6,000 rec/s → 33 %).
4. Monthly growth: a least-squares fit of ln(daily peak) over time, as compound growth per
   month, which is what 001 "Historical Growth Analysis" tabulates (3,500 → 5,000 rec/s in
   six months = 6 %/month), fitted over every day so that one odd week does not set it.
   With less than MIN_HISTORY of data there is no growth rate and no projection: the page
   says how much history there is instead.
5. Projections at 6 and 12 months: peak × (1 + growth)^months, the headroom left and the
   instances the scaling formula asks for.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from . import raised
from .charts import Window, load
from .models import CapacityPlan, CapacityThreshold, MetricLevel, Module
from .promql import Evaluator, Points, PromQLError
from .store import DbSource

HOUR = 3600.0
DAY = 86400.0
DAYS_PER_MONTH = 30.4375  # 365.25 / 12
HISTORY_SPAN = timedelta(days=183)  # six months, as 001 "Historical Growth Analysis"
# Issue 11: "where history is short, say so instead of extrapolating" — two months at least.
MIN_HISTORY = timedelta(days=56)
PEAK_WINDOW = timedelta(days=7)
MAX_GAP = 2 * HOUR
PROJECTION_MONTHS = (6, 12)


# --- the arithmetic ------------------------------------------------------------------------


def required_instances(
    throughput: float, growth_factor: float, target_utilization: float, per_instance: float
) -> tuple[float, int]:
    """001 "Scaling Calculations": Required Instances = Current Throughput × Growth Factor /
    (Target Utilization × Capacity per Instance), rounded up (8.6 → 9)."""
    if target_utilization <= 0 or per_instance <= 0:
        raise ValueError("target utilization and capacity per instance must be positive")
    exact = throughput * growth_factor / (target_utilization * per_instance)
    # Rounded to 9 places first: 0.7 × 1,000 is 699.999… in binary, which must not add one.
    return exact, math.ceil(round(exact, 9))


def headroom(peak: float, sustained_max: float) -> float:
    return 1.0 - peak / sustained_max


def compound_growth(then: float, now: float, months: float) -> float:
    """Monthly compound growth between two values `months` apart (001's table: 3,500 → 5,000
    over 6 months → 6.1 %)."""
    return (now / then) ** (1.0 / months) - 1.0


def fitted_growth(points: list[tuple[float, float]]) -> float | None:
    """Monthly compound growth of (unix seconds, value) points: least squares on ln(value)."""
    usable = [(t / (DAYS_PER_MONTH * DAY), math.log(v)) for t, v in points if v > 0]
    if len(usable) < 2:
        return None
    n = len(usable)
    mean_x = sum(x for x, _ in usable) / n
    mean_y = sum(y for _, y in usable) / n
    var = sum((x - mean_x) ** 2 for x, _ in usable)
    if var == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in usable) / var
    return math.exp(slope) - 1.0


def project(value: float, growth: float, months: float) -> float:
    return value * (1.0 + growth) ** months


def months_until(value: float, growth: float, limit: float) -> float | None:
    """Months until `value` growing at `growth` reaches `limit`; 0 if already there, None if
    it never does."""
    if value >= limit:
        return 0.0
    if growth <= 0 or value <= 0:
        return None
    return math.log(limit / value) / math.log(1.0 + growth)


def hourly_rates(series: list[Points]) -> dict[int, float]:
    """Hour start (unix seconds) → records/s summed over the series.

    A point stamped exactly on the hour closes the previous hour (roll-ups are stamped at
    their bucket's end), hence ceil − 1. Per series an hour's rate is its increase over the
    time its points cover, so a partly covered hour is not read as a slow one.
    """
    totals: dict[int, float] = defaultdict(float)
    for points in series:
        increase: dict[int, float] = defaultdict(float)
        covered: dict[int, float] = defaultdict(float)
        for (t0, v0), (t1, v1) in zip(points, points[1:], strict=False):
            dt = t1 - t0
            if dt <= 0 or dt > MAX_GAP:
                continue
            hour = int((math.ceil(t1 / HOUR) - 1) * HOUR)
            increase[hour] += v1 - v0 if v1 >= v0 else v1
            covered[hour] += dt
        for hour, inc in increase.items():
            totals[hour] += inc / covered[hour]
    return dict(totals)


# --- figures per plan ----------------------------------------------------------------------


@dataclass
class Projection:
    months: int
    peak: float
    headroom: float
    instances: int
    instances_exact: float


@dataclass
class Figures:
    plan: CapacityPlan
    modules: list[Module]
    now: datetime
    days: list[float] = field(default_factory=list)  # day starts, unix seconds
    day_average: list[float] = field(default_factory=list)
    day_peak: list[float] = field(default_factory=list)
    current: float | None = None  # last complete hour
    peak: float | None = None  # highest hour of the last PEAK_WINDOW
    history: timedelta = timedelta(0)
    growth: float | None = None
    short_history: bool = True
    projections: list[Projection] = field(default_factory=list)
    months_to_warning: float | None = None
    months_to_critical: float | None = None
    threshold: CapacityThreshold | None = None

    @property
    def headroom(self) -> float | None:
        return None if self.peak is None else headroom(self.peak, self.plan.sustained_max)

    @property
    def utilization(self) -> float | None:
        return None if self.peak is None else self.peak / self.plan.sustained_max

    @property
    def level(self) -> str:
        if self.threshold is None:
            return MetricLevel.UNKNOWN
        return self.threshold.level(self.headroom)

    @property
    def history_days(self) -> int:
        return int(self.history.total_seconds() // DAY)

    @property
    def min_history_days(self) -> int:
        return MIN_HISTORY.days

    @property
    def instances_now(self) -> tuple[float, int] | None:
        if self.peak is None:
            return None
        return required_instances(
            self.peak, 1.0, self.plan.target_utilization, self.plan.capacity_per_instance
        )


def headroom_threshold() -> CapacityThreshold | None:
    return CapacityThreshold.objects.filter(
        measure=CapacityThreshold.Measure.HEADROOM, enabled=True
    ).first()


def figures(
    plan: CapacityPlan,
    now: datetime | None = None,
    span: timedelta = HISTORY_SPAN,
    threshold: CapacityThreshold | None = None,
) -> Figures:
    now = now or timezone.now()
    modules = list(Module.objects.filter(kind=plan.kind))
    result = Figures(plan=plan, modules=modules, now=now, threshold=threshold)
    end = math.floor(now.timestamp() / HOUR) * HOUR  # the last complete hour ends here
    win = Window("capacity", "1h", HOUR, end - span.total_seconds(), end)
    source = load([plan.throughput_metric], modules, win)
    series = [
        [(t, v) for t, v in zip(times, values, strict=True) if t <= end]
        for _, _, times, values in source.by_name.get(plan.throughput_metric, [])
    ]
    rates = {h: r for h, r in hourly_rates(series).items() if h + HOUR <= end}
    if not rates:
        return result
    by_day: dict[int, list[float]] = defaultdict(list)
    for hour, rate in rates.items():
        by_day[int(hour // DAY * DAY)].append(rate)
    result.days = sorted(by_day)
    result.day_average = [sum(by_day[d]) / len(by_day[d]) for d in result.days]
    result.day_peak = [max(by_day[d]) for d in result.days]
    last_hour = max(rates)
    result.current = rates[last_hour] if last_hour + HOUR == end else None
    recent = [r for h, r in rates.items() if h >= end - PEAK_WINDOW.total_seconds()]
    result.peak = max(recent) if recent else None
    result.history = timedelta(seconds=end - min(rates))
    result.short_history = result.history < MIN_HISTORY
    if result.short_history or result.peak is None:
        return result
    # Today is partial: the fit uses complete days only.
    complete = [(d, p) for d, p in zip(result.days, result.day_peak, strict=True) if d + DAY <= end]
    result.growth = fitted_growth(complete)
    if result.growth is None:
        return result
    for months in PROJECTION_MONTHS:
        peak = project(result.peak, result.growth, months)
        exact, whole = required_instances(
            result.peak,
            (1.0 + result.growth) ** months,
            plan.target_utilization,
            plan.capacity_per_instance,
        )
        result.projections.append(
            Projection(months, peak, headroom(peak, plan.sustained_max), whole, exact)
        )
    if threshold is not None and threshold.direction == CapacityThreshold.Direction.BELOW:
        limit = plan.sustained_max
        result.months_to_warning = months_until(
            result.peak, result.growth, limit * (1 - threshold.warning)
        )
        result.months_to_critical = months_until(
            result.peak, result.growth, limit * (1 - threshold.critical)
        )
    return result


def all_figures(now: datetime | None = None) -> list[Figures]:
    threshold = headroom_threshold()
    return [figures(plan, now, threshold=threshold) for plan in CapacityPlan.objects.all()]


def _iso(ts: float) -> str:
    return timezone.localtime(datetime.fromtimestamp(ts, tz=UTC)).strftime("%Y-%m-%d %H:%M")


def chart(fig: Figures) -> dict:
    """Plotly traces (history, projection) and threshold lines for one plan."""
    plan = fig.plan
    traces = [
        {"name": "Daily peak", "x": [_iso(d) for d in fig.days], "y": fig.day_peak},
        {"name": "Daily average", "x": [_iso(d) for d in fig.days], "y": fig.day_average},
    ]
    if fig.growth is not None and fig.peak is not None:
        start = fig.now.timestamp()
        steps = range(0, 13)
        traces.append(
            {
                "name": f"Projection ({fig.growth:+.1%}/month)",
                "style": "dash",
                "x": [_iso(start + m * DAYS_PER_MONTH * DAY) for m in steps],
                "y": [round(project(fig.peak, fig.growth, m), 3) for m in steps],
            }
        )
    lines = [{"value": plan.sustained_max, "label": "Sustained max", "level": "max"}]
    if fig.threshold is not None and fig.threshold.direction == "below":
        for level, value in (
            ("warning", fig.threshold.warning),
            ("critical", fig.threshold.critical),
        ):
            lines.append(
                {
                    "value": round(plan.sustained_max * (1 - value), 3),
                    "label": f"{level.title()}: headroom < {value:.0%}",
                    "level": level,
                }
            )
    return {
        "title": plan.get_kind_display(),
        "unit": "rec/s",
        "traces": traces,
        "lines": lines,
        "short_history": fig.short_history,
        "history_days": fig.history_days,
    }


# --- thresholds as alerts ------------------------------------------------------------------


def alert_name(threshold: CapacityThreshold) -> str:
    return "capacity_" + threshold.key.replace("-", "_")


def _values(threshold: CapacityThreshold, now: datetime) -> dict[str, float]:
    """subject (module kind or module name) → value, for one threshold."""
    if threshold.measure == CapacityThreshold.Measure.HEADROOM:
        found = {}
        for plan in CapacityPlan.objects.all():
            fig = figures(plan, now, span=PEAK_WINDOW)
            if fig.headroom is not None:
                found[plan.kind] = fig.headroom
        return found
    try:
        result = Evaluator(threshold.expr, DbSource()).at(now)
    except PromQLError:
        return {}
    if not isinstance(result, dict):
        return {} if math.isnan(result) else {"system": result}
    return {
        dict(labels).get("module", "system"): value
        for labels, value in result.items()
        if not math.isnan(value)
    }


def evaluate_thresholds(now: datetime | None = None) -> dict[str, int]:
    """Raise or resolve one alert per (threshold, subject) at its level; rows another worker
    is evaluating right now are skipped (and their alerts left alone)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            CapacityThreshold.objects.select_for_update(skip_locked=True).filter(enabled=True)
        )
        firing = []
        for threshold in rows:
            for subject, value in _values(threshold, now).items():
                level = threshold.level(value)
                if level not in (MetricLevel.WARNING, MetricLevel.CRITICAL):
                    continue
                critical = level == MetricLevel.CRITICAL
                shown = value * threshold.display_scale
                limit = (threshold.critical if critical else threshold.warning) * (
                    threshold.display_scale
                )
                action = threshold.critical_action if critical else threshold.warning_action
                firing.append(
                    raised.alert(
                        alert_name(threshold),
                        threshold.critical_severity if critical else threshold.warning_severity,
                        f"{threshold.resource} of {subject} is {shown:.1f}{threshold.unit} "
                        f"({threshold.direction} {limit:g}{threshold.unit}): {action}",
                        module=subject,
                        capacity_level=level.lower(),
                    )
                )
        names = {alert_name(t) for t in rows}
        return raised.sync(names, firing)
