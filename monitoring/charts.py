"""Chart data for the dashboards: PromQL over the metric store, as JSON for plotly.js.

A chart request (one panel, a module or the whole pipeline, a range of 1h/6h/24h/7d):
1. `window()` picks the resolution (`store.resolution_for`) and the step: the bucket width of
   the roll-ups, raw data thinned to ≤ RAW_POINTS steps, never more than MAX_POINTS per series.
2. `load()` reads every metric the panel's expressions name once, for the whole span plus the
   longest range and the lookback: roll-ups up to their watermark, raw samples after it (so the
   newest minutes are on the chart before they are rolled up). Three or four queries in all.
3. Each expression is evaluated at every step from memory (`IndexedSource`). Instant selectors
   only see samples younger than two poll intervals: a module that stopped answering leaves a
   gap, never a flat line that looks current.
4. The values become Plotly traces; threshold lines come from the Threshold rows
   (bands × display_scale) or, where the 001 dashboard gives numbers no row holds, from the
   panel; annotations overlapping the range ride along.

Panels are data (`PANELS`): 001 "Dashboard Configuration" lists them per dashboard.
"""

import bisect
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from .models import (
    Annotation,
    MetricStatus,
    Module,
    Rollup1h,
    Rollup1m,
    RollupWatermark,
    Sample,
    Series,
    Threshold,
)
from .promql import LOOKBACK, Evaluator, Labels, Points, PromQLError, Selector, Source, selectors
from .store import resolution_for

RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
DEFAULT_RANGE = "1h"
RAW_STEP = 5.0  # the default poll interval
RAW_POINTS = 720
MAX_POINTS = 2000  # per series sent to a browser (issue 4)
BUCKET = {"raw": 0.0, "1m": 60.0, "1h": 3600.0}
# Rate windows per resolution: at least two points must fall inside a window, and roll-up
# points are one bucket apart, so windows over roll-ups span three buckets.
RATE_WINDOW = {"raw": "1m", "1m": "3m", "1h": "3h"}
RATE_WINDOW_SECONDS = {"raw": 60, "1m": 180, "1h": 10800}
# Without a roll-up watermark (roll-ups never ran) raw samples fill at most this much.
RAW_TAIL_LIMIT = timedelta(hours=3)
BASELINE_WINDOW = timedelta(days=7)


# --- time window --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    key: str
    resolution: str
    step: float
    start: float  # unix seconds, first step
    end: float  # unix seconds, last step

    @property
    def span(self) -> float:
        return self.end - self.start

    def steps(self, since: float | None = None) -> list[float]:
        first = self.start
        if since is not None and since >= self.start:
            first = self.start + (math.floor((since - self.start) / self.step) + 1) * self.step
        count = int(round((self.end - first) / self.step)) + 1
        return [first + i * self.step for i in range(max(count, 0))]


def window(key: str, now: datetime | None = None) -> Window:
    span = RANGES[key]
    resolution = resolution_for(span)
    seconds = span.total_seconds()
    step = RAW_STEP if resolution == "raw" else BUCKET[resolution]
    if resolution == "raw":
        step = max(step, math.ceil(seconds / RAW_POINTS))
    step = max(step, math.ceil(seconds / MAX_POINTS))
    now_ts = (now or timezone.now()).timestamp()
    end = math.floor(now_ts / step) * step
    return Window(key, resolution, step, end - seconds + step, end)


# --- loading ------------------------------------------------------------------------------------


class IndexedSource(Source):
    """Preloaded series, indexed by name, with their times kept apart for bisecting.

    `fresh` (seconds, per module name) bounds what an instant selector sees: Prometheus looks
    back 5 minutes, but the console shows data older than two poll intervals as stale.
    """

    def __init__(self, fresh: dict[str, float] | None = None, default_fresh: float | None = None):
        self.by_name: dict[str, list[tuple[Labels, dict, list[float], list[float]]]] = defaultdict(
            list
        )
        self.fresh = fresh or {}
        self.default_fresh = default_fresh or LOOKBACK.total_seconds()
        self._matches: dict[tuple, list[tuple[Labels, dict, list[float], list[float]]]] = {}
        self._memo: dict[tuple, list[tuple[Labels, Points]]] = {}
        self._memo_end: float | None = None

    def add(self, labels: dict[str, str], points: Points) -> None:
        key = tuple(sorted(labels.items()))
        points = sorted(points)
        self.by_name[labels["__name__"]].append(
            (key, labels, [t for t, _ in points], [v for _, v in points])
        )

    def _matching(self, selector: Selector):
        key = (selector.name, selector.matchers)
        if key not in self._matches:
            self._matches[key] = [
                entry
                for entry in self.by_name.get(selector.name, ())
                if all(m.matches(entry[1]) for m in selector.matchers)
            ]
        return self._matches[key]

    def select(self, selector: Selector, start: float, end: float) -> list[tuple[Labels, Points]]:
        # Queries are evaluated step by step, all of a panel's at each step: P50/P95/P99 read
        # the same buckets, so one step's selections are kept until the next step.
        if end != self._memo_end:
            self._memo.clear()
            self._memo_end = end
        key = (selector, start)
        if key not in self._memo:
            self._memo[key] = self._select(selector, start, end)
        return self._memo[key]

    def _select(self, selector: Selector, start: float, end: float) -> list[tuple[Labels, Points]]:
        found = []
        instant = selector.range_seconds == 0
        for labels, as_dict, times, values in self._matching(selector):
            lo_time = start
            if instant:
                fresh = self.fresh.get(as_dict.get("module", ""), self.default_fresh)
                lo_time = max(start, end - fresh)
            lo, hi = bisect.bisect_left(times, lo_time), bisect.bisect_right(times, end)
            found.append((labels, list(zip(times[lo:hi], values[lo:hi], strict=True))))
        return found


def _tiers(resolution: str, lo: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """Which store serves which part of [lo, end]: roll-ups up to their watermarks (coarsest
    first), raw samples after."""
    if resolution == "raw":
        return [("raw", lo, end)]
    marks = dict(RollupWatermark.objects.values_list("resolution", "upto"))
    chain = ["1h", "1m"] if resolution == "1h" else ["1m"]
    tiers = []
    at = lo
    for name in chain:
        upto = marks.get(name)
        if upto is not None and upto > at:
            tiers.append((name, at, min(upto, end)))
            at = min(upto, end)
    if at < end:
        tiers.append(("raw", max(at, end - RAW_TAIL_LIMIT), end))
    return tiers


def load(
    exprs: list[str], modules: list[Module], win: Window, extra_back: float = 0.0
) -> IndexedSource:
    """Read every series the expressions name, for the window (plus ranges and lookback)."""
    names: set[str] = set()
    back = LOOKBACK.total_seconds()
    for expr in exprs:
        for sel in selectors(expr):
            names.add(sel.name)
            back = max(back, sel.range_seconds + sel.offset_seconds)
    width = BUCKET[win.resolution]
    fresh = {m.name: max(2.0 * m.poll_interval, 2.0 * width) for m in modules}
    source = IndexedSource(fresh=fresh)
    if not names or not modules:
        return source
    series = list(
        Series.objects.filter(name__in=names, module__in=[m.pk for m in modules]).values_list(
            "pk", "name", "labels"
        )
    )
    if not series:
        return source
    ids = [pk for pk, _, _ in series]
    lo = datetime.fromtimestamp(win.start - back - extra_back - width, tz=UTC)
    end = datetime.fromtimestamp(win.end, tz=UTC)
    points: dict[int, Points] = defaultdict(list)
    for tier, tier_lo, tier_hi in _tiers(win.resolution, lo, end):
        if tier == "raw":
            rows = Sample.objects.filter(series_id__in=ids, ts__gte=tier_lo, ts__lte=tier_hi)
            for sid, ts, value in rows.values_list("series_id", "ts", "value"):
                points[sid].append((ts.timestamp(), value))
            continue
        model = Rollup1m if tier == "1m" else Rollup1h
        bucket = timedelta(seconds=BUCKET[tier])
        # A bucket's last value is stamped at the bucket's end, as store.DbSource does, so that
        # rates over roll-ups stay rates.
        rows = model.objects.filter(
            series_id__in=ids, ts__gte=tier_lo - bucket, ts__lte=tier_hi - bucket
        )
        for sid, ts, value in rows.values_list("series_id", "ts", "last"):
            points[sid].append((ts.timestamp() + bucket.total_seconds(), value))
    for pk, name, labels in series:
        source.add({**labels, "__name__": name}, points.get(pk, []))
    return source


# --- panels -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One expression of a panel. `$w` becomes the rate window of the resolution, `$ws` its
    length in seconds and `$range` the panel's whole range (snapshot panels)."""

    expr: str
    name: str = ""  # legend; {label} placeholders are filled from each series' labels
    scale: float = 1.0
    axis: str = "y"  # "y" or "y2"
    style: str = "line"  # line | dash | area | stack | bar


@dataclass(frozen=True)
class Band:
    """Draw a Threshold row's bands on an axis (`complement`: the chart shows 1 - value)."""

    key: str
    axis: str = "y"
    complement: bool = False


@dataclass(frozen=True)
class Line:
    """A fixed line where the 001 dashboard gives a number that no Threshold row holds."""

    value: float
    level: str  # warning | critical
    label: str
    axis: str = "y"  # y, y2, or x (vertical, for distributions)


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    kind: str  # timeseries | bars | queues | histogram | heatmap | matrix
    queries: tuple[Query, ...]
    unit: str = ""
    unit2: str = ""
    description: str = ""
    bands: tuple[Band, ...] = ()
    lines: tuple[Line, ...] = ()
    baseline: bool = False  # draw the first query's 7-day average
    stack: bool = False  # bars stacked (bar panels)
    x_label: str = ""  # label name that names the bars / heatmap rows
    y_max: float | None = None  # fixed axis top (percentages)
    metrics: tuple[str, ...] = field(default=())

    def metric_names(self) -> set[str]:
        names = set(self.metrics)
        for query in self.queries:
            try:
                for sel in selectors(_expand(query.expr, "raw", "1h")):
                    names.add(re.sub(r"_(bucket|sum|count)$", "", sel.name))
            except PromQLError:
                continue
        return names


def _quantiles(metric: str, by: str = "", scale: float = 1000.0, rng: str = "$w", **kw):
    group = f"le, {by}" if by else "le"
    fn = "increase" if rng == "$range" else "rate"
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) ({fn}({metric}_bucket[{rng}])))",
            name=(f"P{int(q * 100)}" + (f" {{{by}}}" if by and rng != "$range" else "")),
            scale=scale,
            **kw,
        )
        for q in (0.5, 0.95, 0.99)
    )


STYLES = ("line", "dash", "area", "stack", "bar")


def _options(words: str, known: tuple[str, ...], what: str) -> list[str]:
    found = words.split()
    unknown = set(found) - set(known)
    if unknown:
        raise ValueError(f"{what}: unknown option(s) {', '.join(sorted(unknown))}")
    return found


def _query(spec) -> Query:
    """A query spec: an expression, or (expression, legend[, options]); options are words:
    `y2` (right axis), a style (STYLES) and `ms` (seconds shown as milliseconds)."""
    if isinstance(spec, Query):
        return spec
    if isinstance(spec, str):
        return Query(spec)
    expr, name, *more = spec
    options = _options(more[0] if more else "", ("y2", "ms", *STYLES), expr)
    styles = [o for o in options if o in STYLES]
    return Query(
        expr,
        name,
        scale=1000.0 if "ms" in options else 1.0,
        axis="y2" if "y2" in options else "y",
        style=styles[0] if styles else "line",
    )


def _band(spec: str) -> Band:
    """A band spec: a Threshold key, then `y2` and/or `complement`."""
    key, *words = spec.split()
    options = _options(" ".join(words), ("y2", "complement"), key)
    return Band(key, "y2" if "y2" in options else "y", "complement" in options)


def _panel(spec: dict) -> Panel:
    """A Panel from its spec: Panel's fields, with queries, bands and lines in short form."""
    spec = dict(spec)
    return Panel(
        queries=tuple(_query(q) for q in spec.pop("queries")),
        bands=tuple(_band(b) for b in spec.pop("bands", ())),
        lines=tuple(Line(*line) for line in spec.pop("lines", ())),
        **spec,
    )


# 001 "Dashboard Configuration": System Overview and one dashboard per module.
# fmt: off
PANEL_SPECS: list[dict] = [
    # --- System Overview
    {"key": "pipeline-throughput", "title": "End-to-end throughput", "kind": "timeseries",
     "unit": "rec/s", "baseline": True, "bands": ["system-overall-throughput"],
     "description": "Records per second through the whole pipeline (ingested → delivered).",
     "queries": [
         ("sum(rate(gamma_records_delivered_total[$w]))", "delivered"),
         ("sum(rate(alpha_records_ingested_total[$w]))", "ingested", "dash"),
     ]},
    {"key": "pipeline-latency", "title": "End-to-end latency", "kind": "timeseries",
     "unit": "ms", "bands": ["system-e2e-latency-p99"],
     "description": "Ingestion to acknowledged delivery, P50 / P95 / P99.",
     "queries": _quantiles("pipeline_end_to_end_latency_seconds")},
    {"key": "pipeline-errors", "title": "Error rate by module", "kind": "timeseries",
     "unit": "errors/min",
     # 001, System Overview Dashboard, "Error Rate Overview": warning 10/min, critical 100.
     "lines": [(10, "warning", "10/min"), (100, "critical", "100/min")],
     "description": "Parse and validation errors (Alpha), transform errors (Beta), "
                    "delivery failures (Gamma).",
     "queries": [
         ("(sum by (module) (rate(alpha_parse_errors_total[$w]))"
          " + sum by (module) (rate(alpha_validation_failures_total[$w]))) * 60",
          "{module}", "stack"),
         ("sum by (module) (rate(beta_transform_errors_total[$w])) * 60", "{module}", "stack"),
         ("sum by (module) (rate(gamma_delivery_failures_total[$w])) * 60", "{module}", "stack"),
     ]},
    {"key": "queue-depths", "title": "Queue depths", "kind": "queues",
     "unit": "% of capacity",
     # 001, System Overview Dashboard, "Queue Depths": warning 60 %, critical 80 %.
     "lines": [(60, "warning", "60%", "x"), (80, "critical", "80%", "x")],
     "description": "Current depth against capacity.",
     "queries": [
         ("sum by (module) (alpha_buffer_depth)", "{module} input buffer"),
         ("sum by (module) (alpha_buffer_capacity)", "{module} input buffer"),
         ("sum by (module) (beta_queue_depth)", "{module} transform queue"),
         ("sum by (module) (beta_queue_capacity)", "{module} transform queue"),
         ("sum by (module) (gamma_delivery_queue_depth)", "{module} delivery queue"),
         ("sum by (module) (gamma_delivery_queue_capacity)", "{module} delivery queue"),
         ("sum by (module) (gamma_dlq_size)", "{module} dead letter queue"),
         ("sum by (module) (gamma_dlq_capacity)", "{module} dead letter queue"),
     ]},
    # --- Module Alpha
    {"key": "alpha-ingestion", "title": "Ingestion rate by source", "kind": "timeseries",
     "unit": "rec/s", "bands": ["alpha-ingestion-rate"],
     "description": "Records per second per source adapter.",
     "queries": [
         ("sum by (source) (rate(alpha_records_ingested_total[$w]))", "{source}"),
         ("sum(rate(alpha_records_ingested_total[$w]))", "total", "dash"),
     ]},
    {"key": "alpha-parse", "title": "Parse metrics", "kind": "timeseries",
     "unit": "% parsed", "unit2": "ms",
     "bands": ["alpha-parse-error-rate complement", "alpha-parse-latency y2"],
     "description": "Parse success rate (left) and parse duration percentiles (right).",
     "queries": [
         ("(1 - sum(rate(alpha_parse_errors_total[$w]))"
          " / sum(rate(alpha_records_ingested_total[$w]))) * 100", "success rate"),
         *_quantiles("alpha_parse_duration_seconds", axis="y2"),
         ("sum(rate(alpha_parse_duration_seconds_sum[$w]))"
          " / sum(rate(alpha_parse_duration_seconds_count[$w]))", "average", "y2 dash ms"),
     ]},
    {"key": "alpha-validation", "title": "Validation metrics", "kind": "timeseries",
     "unit": "failures/min", "unit2": "% passed", "stack": True,
     "bands": ["alpha-validation-failure-rate y2 complement"],
     "description": "Failures by rule (stacked) and the validation pass rate.",
     "queries": [
         ("sum by (reason) (rate(alpha_validation_failures_total[$w])) * 60", "{reason}", "bar"),
         ("(1 - sum(rate(alpha_validation_failures_total[$w]))"
          " / sum(rate(alpha_records_ingested_total[$w]))) * 100", "pass rate", "y2"),
     ]},
    {"key": "alpha-buffer", "title": "Buffer status", "kind": "timeseries",
     "unit": "%", "unit2": "records/s", "y_max": 100, "bands": ["alpha-buffer-utilization"],
     "description": "Utilization, growth rate, and when backpressure throttled sources.",
     "queries": [
         ("max(alpha_buffer_utilization) * 100", "utilization", "area"),
         ("sum(delta(alpha_buffer_depth[$w])) / $ws", "growth", "y2 dash"),
         ("max(alpha_backpressure_active) * 100", "backpressure", "dash"),
     ]},
    {"key": "alpha-source-errors", "title": "Source error distribution", "kind": "matrix",
     "unit": "errors in range", "x_label": "source",
     "description": "Errors by source and type over the selected range.",
     "queries": [
         ("sum by (source) (increase(alpha_parse_errors_total[$range]))", "parse"),
         ("sum by (source) (increase(alpha_validation_failures_total[$range]))", "validation"),
         ("sum by (source) (increase(alpha_source_connection_failures_total[$range]))",
          "connection"),
         ("sum by (source) (increase(alpha_records_throttled_total[$range]))", "throttled"),
     ]},
    # --- Module Beta
    {"key": "beta-throughput", "title": "Transformation throughput", "kind": "timeseries",
     "unit": "rec/s", "baseline": True, "bands": ["beta-transform-rate"],
     "description": "Records transformed per second, against the 7-day average.",
     "queries": [("sum(rate(beta_records_transformed_total[$w]))", "transformed")]},
    {"key": "beta-quality", "title": "Quality score distribution", "kind": "histogram",
     "unit": "records", "lines": [(0.6, "critical", "0.6", "x"), (0.8, "warning", "0.8", "x")],
     "description": "Quality scores of the records transformed in the range.",
     "queries": ["sum by (le) (increase(beta_record_quality_score_bucket[$range]))"]},
    {"key": "beta-enrichment", "title": "Enrichment performance", "kind": "timeseries",
     "unit": "% hits", "unit2": "ms", "bands": ["beta-cache-hit-rate"],
     "description": "Cache hit rate (left) and lookup latency (right).",
     "queries": [
         ("avg(beta_enrichment_cache_hit_rate) * 100", "cache hit rate"),
         ("histogram_quantile(0.95, sum by (le) "
          "(rate(beta_enrichment_duration_seconds_bucket[$w])))", "lookup P95", "y2 ms"),
         ("sum(rate(beta_enrichment_duration_seconds_sum[$w]))"
          " / sum(rate(beta_enrichment_duration_seconds_count[$w]))",
          "lookup average", "y2 dash ms"),
     ]},
    {"key": "beta-rules", "title": "Transform rule performance", "kind": "heatmap",
     "unit": "errors/min",
     "description": "Failures per minute by transform rule (the modules time transforms "
                    "as a whole, not per rule).",
     "queries": [("sum by (rule) (rate(beta_transform_errors_total[$w])) * 60", "{rule}")]},
    {"key": "beta-schema", "title": "Schema mapping success", "kind": "timeseries",
     "unit": "rec/s", "unit2": "% mapped",
     "bands": ["beta-transform-error-rate y2 complement"],
     "description": "Records mapped and failed by rule (stacked); success rate (right). "
                    "The modules do not label records by schema.",
     "queries": [
         ("sum(rate(beta_records_transformed_total[$w]))", "mapped", "stack"),
         ("sum by (rule) (rate(beta_transform_errors_total[$w]))", "failed: {rule}", "stack"),
         ("(1 - sum(rate(beta_transform_errors_total[$w]))"
          " / (sum(rate(beta_records_transformed_total[$w]))"
          " + sum(rate(beta_transform_errors_total[$w])))) * 100",
          "success rate", "y2 dash"),
     ]},
    {"key": "beta-resources", "title": "Resource utilization", "kind": "timeseries",
     "unit": "%", "unit2": "threads", "y_max": 100,
     # 000 "Resource Utilization Review": memory above 80 % needs attention; the
     # modules report UNHEALTHY from 90 % (001, Runbook E.3).
     "lines": [(80, "warning", "80%"), (90, "critical", "90%")],
     "description": "Memory, worker pool and queue utilization; worker threads (right).",
     "queries": [
         ("max(beta_memory_utilization) * 100", "memory"),
         ("max(beta_thread_pool_utilization) * 100", "thread pool"),
         ("max(beta_queue_utilization) * 100", "queue", "dash"),
         ("max(beta_thread_pool_size)", "threads", "y2 dash"),
     ]},
    # --- Module Gamma
    {"key": "gamma-delivery", "title": "Delivery rate by destination", "kind": "timeseries",
     "unit": "rec/s", "bands": ["gamma-delivery-rate"],
     "description": "Deliveries per second per destination.",
     "queries": [
         ("sum by (destination) (rate(gamma_records_delivered_total[$w]))", "{destination}"),
         ("sum(rate(gamma_records_delivered_total[$w]))", "total", "dash"),
     ]},
    {"key": "gamma-ack", "title": "Acknowledgment metrics", "kind": "timeseries",
     "unit": "% acknowledged", "unit2": "% of attempts",
     "bands": ["gamma-delivery-success-rate", "gamma-ack-timeout-rate y2"],
     "description": "Acknowledged share of attempts (left); timeouts and retries (right).",
     "queries": [
         ("sum(rate(gamma_records_delivered_total[$w]))"
          " / sum(rate(gamma_delivery_attempts_total[$w])) * 100", "ack rate"),
         ("sum(rate(gamma_ack_timeouts_total[$w]))"
          " / sum(rate(gamma_delivery_attempts_total[$w])) * 100", "timeout rate", "y2"),
         ("sum(rate(gamma_delivery_retries_total[$w]))"
          " / sum(rate(gamma_delivery_attempts_total[$w])) * 100", "retry rate", "y2 dash"),
     ]},
    {"key": "gamma-dlq", "title": "DLQ status", "kind": "timeseries",
     "unit": "records", "unit2": "entries/hour",
     "bands": ["system-error-queue-size", "gamma-dlq-entry-rate y2"],
     "description": "Dead letter queue size (left) and entries per hour (right).",
     "queries": [
         ("sum(gamma_dlq_size)", "size", "area"),
         ("sum(rate(gamma_dlq_entries_total[$w])) * 3600", "growth", "y2 dash"),
     ]},
    {"key": "gamma-latency", "title": "Delivery latency by destination", "kind": "bars",
     "unit": "ms", "bands": ["gamma-delivery-latency-p99"], "x_label": "destination",
     "description": "P50 / P95 / P99 per destination over the selected range.",
     "queries": _quantiles("gamma_delivery_duration_seconds", by="destination", rng="$range")},
    {"key": "gamma-retries", "title": "Retry analysis", "kind": "timeseries",
     "unit": "retries/min", "stack": True,
     "description": "Retries per minute by destination (the modules count retries, not "
                    "attempts per record).",
     "queries": [
         ("sum by (destination) (rate(gamma_delivery_retries_total[$w])) * 60",
          "{destination}", "bar"),
     ]},
    # --- any other module: what every /metrics has
    {"key": "module-polls", "title": "Polls", "kind": "polls", "unit": "ms",
     "description": "How long each poll of /health and /metrics took; failed polls in red.",
     "queries": []},
]
# fmt: on
PANELS: dict[str, Panel] = {spec["key"]: _panel(spec) for spec in PANEL_SPECS}

OVERVIEW_PANELS = ("pipeline-throughput", "pipeline-latency", "pipeline-errors", "queue-depths")
MODULE_PANELS = {
    Module.Kind.ALPHA: (
        "alpha-ingestion",
        "sources",
        "alpha-parse",
        "alpha-validation",
        "alpha-buffer",
        "alpha-source-errors",
    ),
    Module.Kind.BETA: (
        "beta-throughput",
        "beta-quality",
        "beta-enrichment",
        "beta-rules",
        "beta-schema",
        "beta-resources",
    ),
    Module.Kind.GAMMA: (
        "gamma-delivery",
        "destinations",
        "gamma-ack",
        "gamma-dlq",
        "gamma-latency",
        "gamma-retries",
    ),
    Module.Kind.OTHER: ("module-polls",),
}
# Grids rendered server-side among a module's panels (001 lists them as "status grid").
GRID_PANELS = {
    "sources": "Source health status",
    "destinations": "Destination health",
}


def _expand(expr: str, resolution: str, range_key: str) -> str:
    return (
        expr.replace("$ws", str(RATE_WINDOW_SECONDS[resolution]))
        .replace("$w", RATE_WINDOW[resolution])
        .replace("$range", range_key)
    )


def _legend(template: str, labels: Labels, fallback: str) -> str:
    as_dict = dict(labels)
    if not template:
        shown = [f"{k}={v}" for k, v in labels if k not in ("__name__", "instance")]
        return ", ".join(shown) or fallback
    return re.sub(r"\{(\w+)\}", lambda m: as_dict.get(m.group(1), "?"), template)


def clean_number(value: float | None, scale: float = 1.0) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value * scale, 6)


def _iso(ts: float) -> str:
    """Plotly shows times as written: send them in the console's time zone, without offset."""
    local = timezone.localtime(datetime.fromtimestamp(ts, tz=UTC))
    return local.strftime("%Y-%m-%d %H:%M:%S")


def evaluate_at(
    query: Query, source: IndexedSource, scope: dict | None, at: float, win: Window
) -> dict[Labels, float]:
    expr = _expand(query.expr, win.resolution, win.key)
    try:
        value = Evaluator(expr, source, scope).at(datetime.fromtimestamp(at, tz=UTC))
    except PromQLError:
        return {}
    if isinstance(value, dict):
        return value
    return {(): value}


def series_over_time(
    queries: tuple[Query, ...],
    source: IndexedSource,
    scope: dict | None,
    win: Window,
    since: float | None = None,
) -> list[dict]:
    """Evaluate the queries at every step (all of them at one step, then the next: they share
    the source's per-step selections); one trace per (query, resulting series)."""
    steps = win.steps(since)
    evaluators: list[tuple[int, Query, Evaluator]] = []
    for index, query in enumerate(queries):
        try:
            evaluators.append(
                (
                    index,
                    query,
                    Evaluator(_expand(query.expr, win.resolution, win.key), source, scope),
                )
            )
        except PromQLError:
            continue
    columns: list[dict[Labels, list[float | None]]] = [{} for _ in queries]
    failed: set[int] = set()
    for i, at in enumerate(steps):
        when = datetime.fromtimestamp(at, tz=UTC)
        for index, query, evaluator in evaluators:
            if index in failed:
                continue
            try:
                value = evaluator.at(when)
            except PromQLError:
                failed.add(index)
                continue
            items = value.items() if isinstance(value, dict) else [((), value)]
            by_series = columns[index]
            for labels, number in items:
                column = by_series.setdefault(labels, [None] * len(steps))
                column[i] = clean_number(number, query.scale)
    x = [_iso(t) for t in steps]
    traces: list[dict] = []
    for index, query, _ in evaluators:
        for labels, values in sorted(columns[index].items()):
            traces.append(
                {
                    "name": _legend(query.name, labels, f"series {index + 1}"),
                    "query": index,
                    "axis": query.axis,
                    "style": query.style,
                    "x": x,
                    "y": values,
                }
            )
    return traces


# --- thresholds, baselines, annotations -----------------------------------------------------


def threshold_lines(panel: Panel, module: Module | None, baseline: float | None) -> list[dict]:
    lines = [
        {"value": line.value, "level": line.level, "label": line.label, "axis": line.axis}
        for line in panel.lines
    ]
    if not panel.bands:
        return lines
    rows = {t.key: t for t in Threshold.objects.filter(key__in=[b.key for b in panel.bands])}
    for band in panel.bands:
        row = rows.get(band.key)
        if row is None or not row.enabled:
            continue
        for level, below, above in (
            ("warning", row.warn_below, row.warn_above),
            ("critical", row.crit_below, row.crit_above),
        ):
            for value in (below, above):
                if value is None:
                    continue
                if row.relative_to_baseline:
                    if baseline is None:
                        continue
                    shown = value * baseline  # the chart plots the expression's own units
                    text = f"{level} {value * 100:g}% of baseline"
                else:
                    shown = (1 - value if band.complement else value) * row.display_scale
                    unit = "" if not row.unit else row.unit if row.unit == "%" else f" {row.unit}"
                    text = f"{level} {round(shown, 6):g}{unit}"
                lines.append(
                    {"value": round(shown, 6), "level": level, "label": text, "axis": band.axis}
                )
    return lines


def band_texts(panel: Panel) -> list[dict]:
    """The manual's wording of each band, shown under the chart (some lines fall off-axis)."""
    rows = Threshold.objects.filter(key__in=[b.key for b in panel.bands], enabled=True)
    return [
        {
            "name": row.name,
            "normal": row.normal_text,
            "warning": row.warning_text,
            "critical": row.critical_text,
            "source": row.source,
        }
        for row in rows
    ]


def baseline_value(
    panel: Panel, modules: list[Module], scope: dict | None, now: datetime | None = None
) -> float | None:
    """The first query's average over the previous 7 days, from hourly roll-ups (cached)."""
    key = f"monitoring:baseline:{panel.key}:{','.join(str(m.pk) for m in modules)}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    win = window("7d", now)
    query = panel.queries[0]
    source = load([_expand(query.expr, win.resolution, win.key)], modules, win)
    values = []
    for trace in series_over_time((query,), source, scope, win):
        values.extend(v for v in trace["y"] if v is not None)
    average = sum(values) / len(values) if values else None
    cache.set(key, average or 0.0, 600)
    return average


def annotations_for(
    panel: Panel | None, modules: list[Module], win: Window, overview: bool
) -> list[dict]:
    start = datetime.fromtimestamp(win.start, tz=UTC)
    end = datetime.fromtimestamp(win.end, tz=UTC)
    rows = Annotation.objects.filter(starts_at__lte=end).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gte=start)
    )
    if overview:
        rows = rows.filter(Q(module__isnull=True) | Q(module__in=modules))
    else:
        rows = rows.filter(module__in=modules)
    if panel is not None and not overview:
        rows = rows.filter(Q(metric="") | Q(metric__in=[panel.key, *panel.metric_names()]))
    found = []
    for note in rows.select_related("module", "author").order_by("starts_at")[:50]:
        label = note.text if not overview or not note.module else f"{note.module}: {note.text}"
        found.append(
            {
                "id": note.pk,
                "start": _iso(max(note.starts_at.timestamp(), win.start)),
                "end": _iso(min(note.ends_at.timestamp(), win.end) if note.ends_at else win.end),
                "open": note.ends_at is None,
                "text": label,
                "author": note.author.get_username(),
                "metric": note.metric,
            }
        )
    return found


# --- the chart JSON -----------------------------------------------------------------------------


def chart(
    panel: Panel,
    modules: list[Module],
    range_key: str,
    scoped: Module | None = None,
    since: float | None = None,
    now: datetime | None = None,
) -> dict:
    """Everything charts.js needs to draw (or, with `since`, extend) one panel."""
    win = window(range_key, now)
    scope = {"module": scoped.name} if scoped is not None else None
    result: dict = {
        "panel": panel.key,
        "title": panel.title,
        "kind": panel.kind,
        "range": range_key,
        "resolution": win.resolution,
        "step": win.step,
        "start": _iso(win.start),
        "end": _iso(win.end),
        "end_ts": win.end,
        "unit": panel.unit,
        "unit2": panel.unit2,
        "stack": panel.stack,
        "y_max": panel.y_max,
        "x_label": panel.x_label,
    }
    snapshot = panel.kind in ("bars", "queues", "histogram", "matrix")
    # A time series up to an aligned step is the same for everyone who asks within that step:
    # operators watching the same dashboard share one evaluation (annotations bump a version).
    key = None
    if not snapshot and panel.kind != "polls":
        key = ":".join(
            [
                "monitoring:chart",
                panel.key,
                range_key,
                f"{win.end:.0f}",
                f"{since:.0f}" if since is not None else "-",
                ",".join(str(m.pk) for m in modules),
                str(scoped.pk if scoped else "-"),
                str(cache.get(ANNOTATIONS_VERSION, 0)),
            ]
        )
        cached = cache.get(key)
        if cached is not None:
            return cached
    if since is not None and key is not None:
        result["append"] = True
        exprs = [_expand(q.expr, win.resolution, win.key) for q in panel.queries]
        source = load(exprs, modules, _since_window(win, since))
        result["traces"] = series_over_time(panel.queries, source, scope, win, since)
        cache.set(key, result, max(win.step, 10))
        return result
    if panel.kind == "polls":
        result["traces"] = poll_traces(modules, win)
    elif snapshot:
        # One moment: now, not the last aligned step, so a snapshot is never a step behind.
        # Current values (queues) come from raw samples whatever the range.
        now_ts = (now or timezone.now()).timestamp()
        resolution = "raw" if panel.kind == "queues" else win.resolution
        at = Window(win.key, resolution, win.step, now_ts, now_ts)
        exprs = [_expand(q.expr, resolution, win.key) for q in panel.queries]
        source = load(exprs, modules, at)
        result.update(snapshot_traces(panel, source, scope, at))
    else:
        exprs = [_expand(q.expr, win.resolution, win.key) for q in panel.queries]
        source = load(exprs, modules, win)
        result["traces"] = series_over_time(panel.queries, source, scope, win)
    baseline = baseline_value(panel, modules, scope, now) if panel.baseline else None
    result["baseline"] = clean_number(baseline, panel.queries[0].scale) if baseline else None
    result["thresholds"] = threshold_lines(
        panel, scoped, _alerting_baseline(panel, scoped, baseline)
    )
    result["bands"] = band_texts(panel) if panel.bands else []
    result["annotations"] = annotations_for(panel, modules, win, overview=scoped is None)
    result["points"] = max((len(t.get("x") or []) for t in result["traces"]), default=0)
    if key is not None:
        cache.set(key, result, max(win.step, 10))
    return result


ANNOTATIONS_VERSION = "monitoring:annotations:version"


def annotations_changed() -> None:
    """New or changed annotations: cached charts must be evaluated again."""
    cache.add(ANNOTATIONS_VERSION, 0, timeout=None)
    try:
        cache.incr(ANNOTATIONS_VERSION)
    except ValueError:
        cache.set(ANNOTATIONS_VERSION, 1, timeout=None)


def _alerting_baseline(panel: Panel, scoped: Module | None, fallback: float | None):
    """Relative bands are drawn against the baseline the threshold evaluation used (its
    MetricStatus row), so the lines match what alerts; the chart's own average otherwise."""
    keys = [b.key for b in panel.bands]
    if not keys:
        return fallback
    row = (
        MetricStatus.objects.filter(
            threshold__key__in=keys, threshold__relative_to_baseline=True, module=scoped
        )
        .exclude(baseline__isnull=True)
        .values_list("baseline", flat=True)
        .first()
    )
    return row if row else fallback


def _since_window(win: Window, since: float) -> Window:
    start = max(win.start, since)
    return Window(win.key, win.resolution, win.step, start, win.end)


def snapshot_traces(panel: Panel, source: IndexedSource, scope: dict | None, win: Window) -> dict:
    """Panels that show one moment (or the whole range folded into one number per bar)."""
    at = win.end
    if panel.kind == "queues":
        return {"traces": _queue_traces(panel, source, scope, win)}
    if panel.kind == "histogram":
        vector = evaluate_at(panel.queries[0], source, scope, at, win)
        bounds = sorted(
            (float(dict(labels)["le"]), count)
            for labels, count in vector.items()
            if dict(labels).get("le") not in (None, "+Inf", "Inf")
        )
        x, y, widths, previous_bound, previous_count = [], [], [], 0.0, 0.0
        for bound, count in bounds:
            x.append(round((previous_bound + bound) / 2, 6))
            widths.append(round(bound - previous_bound, 6))
            y.append(clean_number(max(count - previous_count, 0.0)))
            previous_bound, previous_count = bound, count
        return {"traces": [{"name": "records", "x": x, "y": y, "width": widths, "style": "bar"}]}
    if panel.kind == "bars":
        traces = []
        for query in panel.queries:
            vector = evaluate_at(query, source, scope, at, win)
            rows = sorted((dict(k).get(panel.x_label, "?"), v) for k, v in vector.items())
            traces.append(
                {
                    "name": query.name,
                    "x": [name for name, _ in rows],
                    "y": [clean_number(v, query.scale) for _, v in rows],
                    "style": "bar",
                }
            )
        return {"traces": traces}
    # matrix: rows = values of x_label, columns = queries
    columns = [q.name for q in panel.queries]
    cells: dict[str, dict[str, float | None]] = defaultdict(dict)
    for query in panel.queries:
        for labels, value in evaluate_at(query, source, scope, at, win).items():
            row = dict(labels).get(panel.x_label, "?")
            cells[row][query.name] = clean_number(value, query.scale)
    rows = sorted(cells)
    z = [[cells[row].get(col) for col in columns] for row in rows]
    return {"traces": [{"name": panel.title, "x": columns, "y": rows, "z": z, "style": "heatmap"}]}


def _queue_traces(panel: Panel, source: IndexedSource, scope, win: Window) -> list[dict]:
    queues: dict[str, dict[str, float]] = defaultdict(dict)
    for index, query in enumerate(panel.queries):
        role = "capacity" if index % 2 else "depth"
        for labels, value in evaluate_at(query, source, scope, win.end, win).items():
            queues[_legend(query.name, labels, query.name)][role] = value
    names, utilization, text, levels = [], [], [], []
    for name in sorted(queues, reverse=True):
        depth, capacity = queues[name].get("depth"), queues[name].get("capacity")
        if depth is None:
            continue
        share = depth / capacity * 100 if capacity else None
        names.append(name)
        utilization.append(clean_number(share))
        text.append(f"{depth:,.0f} / {capacity:,.0f}" if capacity else f"{depth:,.0f}")
        levels.append(
            "unknown"
            if share is None
            else "critical"
            if share > 80
            else "warning"
            if share > 60
            else "ok"
        )
    return [
        {
            "name": "utilization",
            "x": utilization,
            "y": names,
            "text": text,
            "levels": levels,
            "style": "hbar",
        }
    ]


def poll_traces(modules: list[Module], win: Window) -> list[dict]:
    from .models import Poll

    start = datetime.fromtimestamp(win.start, tz=UTC)
    rows = list(
        Poll.objects.filter(module__in=modules, started_at__gte=start)
        .order_by("started_at")
        .values_list("started_at", "duration_ms", "ok")
    )
    # Thin to the point budget: keep every failure, sample the successes evenly.
    keep = max(1, math.ceil(len(rows) / RAW_POINTS))
    rows = [r for i, r in enumerate(rows) if not r[2] or i % keep == 0]
    traces = []
    for ok, name in ((True, "ok"), (False, "failed")):
        chosen = [r for r in rows if r[2] is ok]
        traces.append(
            {
                "name": name,
                "x": [_iso(r[0].timestamp()) for r in chosen],
                "y": [round(r[1], 1) for r in chosen],
                "style": "line" if ok else "markers",
            }
        )
    return traces


# --- latest values for the status grids ---------------------------------------------------------


@dataclass
class Latest:
    module: Module
    name: str
    labels: dict
    value: float
    at: datetime
    stale: bool


def latest(names: list[str], modules: list[Module], now: datetime | None = None) -> list[Latest]:
    """The newest sample of every series with these names, within the lookback; each marked
    stale when older than two poll intervals of its module (never shown as current)."""
    rows = Sample.objects.filter(series__name__in=names, series__module__in=[m.pk for m in modules])
    return _newest(rows, modules, now or timezone.now())


def latest_all(module: Module, now: datetime | None = None, limit: int = 80) -> list[Latest]:
    """The newest value of a module's series (first `limit` by name): the page of a module
    whose metrics the console has no dashboard for."""
    ids = Series.objects.filter(module=module).order_by("name", "labels_key")[:limit]
    rows = Sample.objects.filter(series_id__in=list(ids.values_list("pk", flat=True)))
    return _newest(rows, [module], now or timezone.now())


def _newest(rows, modules: list[Module], now: datetime) -> list[Latest]:
    """One query: samples in the lookback joined to their series. The (series_id, ts) primary
    key serves it (a short range scan per series); PostgreSQL returns only each series' newest
    row (DISTINCT ON), elsewhere the newest is picked here."""
    by_id = {m.pk: m for m in modules}
    rows = rows.filter(ts__gte=now - LOOKBACK, ts__lte=now)
    if connection.vendor == "postgresql":
        rows = rows.order_by("series_id", "-ts").distinct("series_id")
    newest: dict[int, tuple] = {}
    for sid, module_id, name, labels, ts, value in rows.values_list(
        "series_id", "series__module_id", "series__name", "series__labels", "ts", "value"
    ):
        if sid not in newest or ts > newest[sid][3]:
            newest[sid] = (module_id, name, labels, ts, value)
    found = []
    for module_id, name, labels, ts, value in sorted(
        newest.values(), key=lambda r: (r[1], str(r[2]))
    ):
        module = by_id[module_id]
        stale = now - ts > timedelta(seconds=2 * module.poll_interval)
        found.append(Latest(module, name, labels, value, ts, stale))
    return found


def metric_statuses(modules: list[Module]) -> dict[int | None, list[MetricStatus]]:
    """Current threshold levels per module (None: system-wide), in the manual's order."""
    grouped: dict[int | None, list[MetricStatus]] = defaultdict(list)
    rows = (
        MetricStatus.objects.filter(Q(module__in=modules) | Q(module__isnull=True))
        .filter(threshold__enabled=True)
        .select_related("threshold")
        .order_by("threshold__position")
    )
    for row in rows:
        row.display = format_value(row.value, row.threshold, row.baseline)
        grouped[row.module_id].append(row)
    return grouped


def format_value(value: float | None, threshold: Threshold, baseline: float | None = None) -> str:
    """A threshold's value in the manual's units: `0.9934` with scale 100 and unit % → 99.3%."""
    if value is None or math.isnan(value) or math.isinf(value):
        return "—"
    shown = value * threshold.display_scale
    if threshold.relative_to_baseline:
        if not baseline:
            return f"{value:,.0f} (no baseline yet)"
        shown = value / baseline * threshold.display_scale
    if abs(shown) >= 100:
        text = f"{shown:,.0f}"
    elif abs(shown) >= 10:
        text = f"{shown:,.1f}"
    else:
        text = f"{shown:,.3g}"
    unit = threshold.unit
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"
