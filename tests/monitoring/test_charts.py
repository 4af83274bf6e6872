"""Chart data: windows and point budgets, loading (roll-ups + raw tail), staleness, threshold
lines, snapshot panels, and every dashboard panel over simulator-shaped data."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from monitoring import charts, rollups
from monitoring.models import Annotation, MetricStatus, Module, Threshold
from monitoring.policy import load as load_thresholds
from monitoring.store import forget_series_cache, store_samples

NOW = datetime(2026, 11, 20, 12, 0, 2, tzinfo=UTC)

# --- simulator-shaped data ------------------------------------------------------------------


def _hist(name, labels, total, fractions):
    out = []
    for le, frac in fractions:
        out.append((f"{name}_bucket", {**labels, "le": le}, total * frac, "histogram"))
    out.append((f"{name}_count", labels, total, "histogram"))
    out.append((f"{name}_sum", labels, total * 0.05, "histogram"))
    return out


LATENCY = [("0.01", 0.2), ("0.05", 0.6), ("0.1", 0.9), ("0.5", 0.98), ("1.0", 0.995), ("+Inf", 1)]
QUALITY = [("0.3", 0.01), ("0.5", 0.05), ("0.6", 0.1), ("0.7", 0.2), ("0.8", 0.4), ("0.9", 0.8)]
QUALITY += [("1.0", 1.0), ("+Inf", 1.0)]


def samples_for(kind: str, i: int, breaker: float = 0.0) -> list:
    """One poll's samples at step `i` (5 s apart): counters grow ~1,000/s."""
    n = 5000.0 * i
    if kind == "alpha":
        out = []
        for source in ("api", "files", "stream"):
            out += [
                ("alpha_records_ingested_total", {"source": source}, n, "counter"),
                ("alpha_parse_errors_total", {"source": source}, n * 0.0005, "counter"),
                ("alpha_records_throttled_total", {"source": source}, 0.0, "counter"),
                ("alpha_source_connection_attempts_total", {"source": source}, i, "counter"),
                ("alpha_source_connection_failures_total", {"source": source}, 0.0, "counter"),
                ("alpha_source_connection_status", {"source": source}, 1.0, "gauge"),
                ("alpha_source_enabled", {"source": source}, 1.0, "gauge"),
            ]
        out += [
            (
                "alpha_validation_failures_total",
                {"source": "api", "reason": "schema"},
                n * 0.002,
                "counter",
            ),
            ("alpha_buffer_utilization", {}, 0.3, "gauge"),
            ("alpha_buffer_depth", {}, 3000.0, "gauge"),
            ("alpha_buffer_capacity", {}, 10000.0, "gauge"),
            ("alpha_backpressure_active", {}, 0.0, "gauge"),
        ]
        out += _hist("alpha_parse_duration_seconds", {}, n, LATENCY)
        return out
    if kind == "beta":
        out = [
            ("beta_records_transformed_total", {}, n, "counter"),
            ("beta_transform_errors_total", {"rule": "currency"}, n * 0.001, "counter"),
            ("beta_enrichment_cache_hit_rate", {}, 0.9, "gauge"),
            ("beta_quality_score", {}, 0.85, "gauge"),
            ("beta_queue_depth", {}, 7000.0, "gauge"),
            ("beta_queue_capacity", {}, 10000.0, "gauge"),
            ("beta_queue_utilization", {}, 0.7, "gauge"),
            ("beta_memory_utilization", {}, 0.5, "gauge"),
            ("beta_thread_pool_utilization", {}, 0.2, "gauge"),
            ("beta_thread_pool_size", {}, 16.0, "gauge"),
        ]
        out += _hist("beta_record_quality_score", {}, n, QUALITY)
        out += _hist("beta_enrichment_duration_seconds", {}, n, LATENCY)
        return out
    out = []
    for destination in ("warehouse", "partner"):
        labels = {"destination": destination}
        down = destination == "warehouse" and breaker == 1.0
        out += [
            ("gamma_records_delivered_total", labels, n / 2, "counter"),
            ("gamma_delivery_attempts_total", labels, n / 2 * 1.01, "counter"),
            ("gamma_delivery_retries_total", labels, n * 0.001, "counter"),
            ("gamma_ack_timeouts_total", labels, n * 0.0001, "counter"),
            ("gamma_destination_status", labels, 0.0 if down else 1.0, "gauge"),
            (
                "gamma_circuit_breaker_state",
                labels,
                breaker if destination == "warehouse" else 0.0,
                "gauge",
            ),
            ("gamma_delivery_success_rate", labels, 0.99, "gauge"),
            ("gamma_destination_queue_depth", labels, 12.0, "gauge"),
            (
                "gamma_delivery_failures_total",
                {**labels, "reason": "timeout"},
                n * 0.0002,
                "counter",
            ),
        ]
        out += _hist("gamma_delivery_duration_seconds", labels, n / 2, LATENCY)
    out += [
        ("gamma_dlq_size", {}, 40.0, "gauge"),
        ("gamma_dlq_capacity", {}, 100000.0, "gauge"),
        ("gamma_delivery_queue_depth", {}, 100.0, "gauge"),
        ("gamma_delivery_queue_capacity", {}, 10000.0, "gauge"),
        ("gamma_dlq_entries_total", {"reason": "rejected"}, i * 0.5, "counter"),
    ]
    out += _hist("pipeline_end_to_end_latency_seconds", {}, n, LATENCY)
    return out


def feed(module: Module, end: datetime, minutes: float = 10, every: float = 5.0, **kw) -> None:
    """Polls of `module` every `every` seconds for `minutes` up to `end`."""
    steps = int(minutes * 60 / every)
    for k in range(steps + 1):
        ts = end - timedelta(seconds=every * (steps - k))
        store_samples(module, samples_for(module.kind, k, **kw), ts)
    module.last_success_at = end
    module.status = "HEALTHY"
    module.save(update_fields=["last_success_at", "status"])


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Charts are cached per aligned step; each test starts without any."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def thresholds(db):
    load_thresholds()


@pytest.fixture
def pipeline(db):
    forget_series_cache()
    load_thresholds()
    modules = {
        name: Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1{i}")
        for i, name in enumerate(("alpha", "beta", "gamma"))
    }
    for module in modules.values():
        feed(module, NOW, minutes=6)
    yield modules
    forget_series_cache()


# --- windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "resolution", "step", "count"),
    [
        ("1h", "raw", 5, 720),
        ("6h", "1m", 60, 360),
        ("24h", "1m", 60, 1440),
        ("7d", "1h", 3600, 168),
    ],
)
def test_window_picks_resolution_and_stays_under_the_point_budget(key, resolution, step, count):
    win = charts.window(key, NOW)
    assert (win.resolution, win.step, len(win.steps())) == (resolution, step, count)
    assert len(win.steps()) <= charts.MAX_POINTS
    assert win.end % step == 0 and win.end <= NOW.timestamp()


def test_window_steps_since_returns_only_newer_steps():
    win = charts.window("1h", NOW)
    assert win.steps(win.end - 12) == [win.end - 10, win.end - 5, win.end]
    assert win.steps(win.end) == []
    assert len(win.steps(win.start - 3600)) == 720  # older than the window: everything


# --- loading and evaluation ------------------------------------------------------------------


def test_chart_rates_from_raw_samples(pipeline):
    data = charts.chart(
        charts.PANELS["gamma-delivery"], [pipeline["gamma"]], "1h", pipeline["gamma"], now=NOW
    )
    names = [t["name"] for t in data["traces"]]
    assert names == ["partner", "warehouse", "total"]
    total = data["traces"][-1]["y"]
    assert total[-1] == pytest.approx(1000.0)
    assert all(len(t["x"]) == 720 for t in data["traces"])
    # Six minutes of data in a one-hour window: the rest is gaps, not zeros.
    assert total[0] is None


def test_chart_reads_rollups_up_to_the_watermark_and_raw_after(pipeline):
    gamma = pipeline["gamma"]
    # Two more hours of older data, rolled up, then the raw tail after the watermark.
    forget_series_cache()
    with time_machine.travel(NOW, tick=False):
        rollups.roll_up("1m", NOW - timedelta(minutes=5))
    data = charts.chart(charts.PANELS["gamma-delivery"], [gamma], "6h", gamma, now=NOW)
    assert data["resolution"] == "1m"
    total = [v for v in data["traces"][-1]["y"] if v is not None]
    assert total and total[-1] == pytest.approx(1000.0, rel=0.01)


def test_instant_values_of_a_stale_module_leave_a_gap(pipeline):
    gamma = pipeline["gamma"]
    later = NOW + timedelta(seconds=60)  # 60 s without a poll: older than 2 × 5 s
    data = charts.chart(charts.PANELS["gamma-dlq"], [gamma], "1h", gamma, now=later)
    size = data["traces"][0]["y"]
    assert size[-1] is None  # not the last value carried forward as if current
    assert size[-14] == pytest.approx(40.0)


def test_incremental_request_returns_only_new_points(pipeline):
    gamma = pipeline["gamma"]
    first = charts.chart(charts.PANELS["gamma-delivery"], [gamma], "1h", gamma, now=NOW)
    for k in (1, 2):
        store_samples(gamma, samples_for("gamma", 72 + k), NOW + timedelta(seconds=5 * k))
    more = charts.chart(
        charts.PANELS["gamma-delivery"],
        [gamma],
        "1h",
        gamma,
        since=first["end_ts"],
        now=NOW + timedelta(seconds=10),
    )
    assert more["append"] is True
    assert all(len(t["x"]) == 2 for t in more["traces"])
    assert more["end_ts"] == first["end_ts"] + 10


# --- thresholds, baselines, annotations ------------------------------------------------------


def test_threshold_lines_use_bands_times_display_scale(thresholds):
    lines = charts.threshold_lines(charts.PANELS["pipeline-latency"], None, None)
    assert {(line["level"], line["value"]) for line in lines} == {
        ("warning", 500.0),
        ("critical", 2000.0),
    }
    parse = charts.threshold_lines(charts.PANELS["alpha-parse"], None, None)
    # The chart shows the success rate: 1 - 0.1 % error → 99.9 %; latency on the right axis.
    assert {"value": 99.9, "level": "warning", "label": "warning 99.9%", "axis": "y"} in parse
    assert any(line["axis"] == "y2" and line["value"] == 10.0 for line in parse)


def test_threshold_lines_relative_to_baseline_need_one(thresholds):
    panel = charts.PANELS["pipeline-throughput"]
    assert charts.threshold_lines(panel, None, None) == []
    lines = charts.threshold_lines(panel, None, 2000.0)
    assert {line["value"] for line in lines} == {1800.0, 1400.0}


def test_fixed_lines_from_the_dashboard_section_when_no_row_exists(thresholds):
    lines = charts.threshold_lines(charts.PANELS["pipeline-errors"], None, None)
    assert [(line["value"], line["level"]) for line in lines] == [
        (10, "warning"),
        (100, "critical"),
    ]


def test_disabled_threshold_draws_no_line(thresholds):
    Threshold.objects.filter(key="system-e2e-latency-p99").update(enabled=False)
    assert charts.threshold_lines(charts.PANELS["pipeline-latency"], None, None) == []


def test_annotations_overlapping_the_range_ride_along(pipeline, operator):
    gamma = pipeline["gamma"]
    Annotation.objects.create(
        module=gamma,
        text="threshold raised during backfill",
        author=operator,
        starts_at=NOW - timedelta(minutes=20),
        ends_at=None,
    )
    Annotation.objects.create(
        module=gamma,
        text="long ago",
        author=operator,
        starts_at=NOW - timedelta(days=3),
        ends_at=NOW - timedelta(days=2),
    )
    Annotation.objects.create(
        module=gamma,
        metric="beta_queue_depth",
        text="other metric",
        author=operator,
        starts_at=NOW - timedelta(minutes=5),
    )
    data = charts.chart(charts.PANELS["gamma-delivery"], [gamma], "1h", gamma, now=NOW)
    assert [a["text"] for a in data["annotations"]] == ["threshold raised during backfill"]
    assert data["annotations"][0]["open"] is True
    overview = charts.chart(
        charts.PANELS["pipeline-errors"], list(pipeline.values()), "7d", now=NOW
    )
    assert {a["text"] for a in overview["annotations"]} == {
        "gamma: threshold raised during backfill",
        "gamma: long ago",
        "gamma: other metric",
    }


# --- snapshot panels -------------------------------------------------------------------------


def test_queue_depths_as_share_of_capacity_with_levels(pipeline):
    data = charts.chart(charts.PANELS["queue-depths"], list(pipeline.values()), "1h", now=NOW)
    bars = data["traces"][0]
    found = dict(
        zip(bars["y"], zip(bars["x"], bars["levels"], bars["text"], strict=True), strict=True)
    )
    assert found["beta transform queue"] == (70.0, "warning", "7,000 / 10,000")
    assert found["alpha input buffer"][1] == "ok"
    assert found["gamma dead letter queue"][0] == pytest.approx(0.04)


def test_quality_histogram_is_de_cumulated(pipeline):
    beta = pipeline["beta"]
    data = charts.chart(charts.PANELS["beta-quality"], [beta], "1h", beta, now=NOW)
    bars = data["traces"][0]
    assert bars["x"][0] == pytest.approx(0.15) and bars["width"][0] == pytest.approx(0.3)
    shares = [y / sum(bars["y"]) for y in bars["y"]]
    assert shares == pytest.approx([0.01, 0.04, 0.05, 0.1, 0.2, 0.4, 0.2])
    assert {line["value"] for line in data["thresholds"]} == {0.6, 0.8}


def test_latency_bars_per_destination(pipeline):
    gamma = pipeline["gamma"]
    data = charts.chart(charts.PANELS["gamma-latency"], [gamma], "1h", gamma, now=NOW)
    assert [t["name"] for t in data["traces"]] == ["P50", "P95", "P99"]
    assert data["traces"][0]["x"] == ["partner", "warehouse"]
    assert 10 < data["traces"][0]["y"][0] < 50  # ms


def test_source_error_matrix(pipeline):
    alpha = pipeline["alpha"]
    data = charts.chart(charts.PANELS["alpha-source-errors"], [alpha], "1h", alpha, now=NOW)
    matrix = data["traces"][0]
    assert matrix["x"] == ["parse", "validation", "connection", "throttled"]
    assert matrix["y"] == ["api", "files", "stream"]
    assert matrix["z"][0][1] > 0 and matrix["z"][1][1] is None


def test_every_panel_renders_within_the_point_budget(pipeline):
    modules = list(pipeline.values())
    for key, panel in charts.PANELS.items():
        scoped = next((m for m in modules if key.startswith(m.kind)), None)
        chosen = [scoped] if scoped else modules
        for range_key in charts.RANGES:
            data = charts.chart(panel, chosen, range_key, scoped=scoped, now=NOW)
            assert data["panel"] == key
            for trace in data["traces"]:
                assert len(trace.get("x") or []) <= charts.MAX_POINTS
        if panel.kind == "timeseries":
            data = charts.chart(panel, chosen, "1h", scoped=scoped, now=NOW)
            assert any(v is not None for t in data["traces"] for v in t["y"]), key


# --- status grids ----------------------------------------------------------------------------


def test_latest_marks_values_older_than_two_poll_intervals_stale(pipeline):
    gamma = pipeline["gamma"]
    fresh = charts.latest(["gamma_circuit_breaker_state"], [gamma], NOW + timedelta(seconds=5))
    assert [(x.labels["destination"], x.stale) for x in fresh] == [
        ("warehouse", False),
        ("partner", False),
    ] or sorted((x.labels["destination"], x.stale) for x in fresh) == [
        ("partner", False),
        ("warehouse", False),
    ]
    stale = charts.latest(["gamma_circuit_breaker_state"], [gamma], NOW + timedelta(seconds=11))
    assert all(x.stale for x in stale)
    gone = charts.latest(["gamma_circuit_breaker_state"], [gamma], NOW + timedelta(minutes=6))
    assert gone == []


def test_metric_values_formatted_in_the_manuals_units(pipeline):
    row = Threshold.objects.get(key="gamma-delivery-success-rate")
    assert charts.format_value(0.99345, row) == "99.3%"
    assert charts.format_value(None, row) == "—"
    latency = Threshold.objects.get(key="beta-transform-latency-p99")
    assert charts.format_value(0.0421, latency) == "42.1 ms"
    relative = Threshold.objects.get(key="system-overall-throughput")
    assert charts.format_value(900.0, relative, 1000.0) == "90.0 % of baseline"
    MetricStatus.objects.create(
        threshold=row,
        module=pipeline["gamma"],
        value=0.97,
        level="CRITICAL",
        evaluated_at=timezone.now(),
        changed_at=timezone.now(),
    )
    grouped = charts.metric_statuses([pipeline["gamma"]])
    assert grouped[pipeline["gamma"].pk][0].display == "97.0%"


def test_charts_are_shared_within_a_step_until_an_annotation_changes(pipeline, operator):
    from monitoring import services

    gamma = pipeline["gamma"]
    panel = charts.PANELS["gamma-delivery"]
    first = charts.chart(panel, [gamma], "1h", gamma, now=NOW)
    # Same aligned step: the cached evaluation, even though a sample arrived meanwhile.
    store_samples(gamma, samples_for("gamma", 999), NOW - timedelta(seconds=1))
    assert charts.chart(panel, [gamma], "1h", gamma, now=NOW + timedelta(seconds=2)) == first
    with time_machine.travel(NOW, tick=False):
        services.create_annotation(operator, "backfill", NOW - timedelta(minutes=1), module=gamma)
    charts.annotations_changed()  # what the commit runs (tests run inside one transaction)
    again = charts.chart(panel, [gamma], "1h", gamma, now=NOW)
    assert [a["text"] for a in again["annotations"]] == ["backfill"]


def test_relative_bands_use_the_baseline_the_evaluation_used(pipeline):
    row = Threshold.objects.get(key="system-overall-throughput")
    MetricStatus.objects.create(
        threshold=row,
        module=None,
        value=2000.0,
        baseline=3000.0,
        level="WARNING",
        evaluated_at=timezone.now(),
        changed_at=timezone.now(),
    )
    data = charts.chart(
        charts.PANELS["pipeline-throughput"], list(pipeline.values()), "1h", now=NOW
    )
    assert {line["value"] for line in data["thresholds"]} == {2700.0, 2100.0}
    assert data["baseline"] is not None  # the chart's own 7-day average, drawn dotted


def test_panel_specs_expand_short_forms_and_refuse_unknown_options():
    query = charts._query(("sum(x)", "x", "y2 dash ms"))
    assert (query.axis, query.style, query.scale) == ("y2", "dash", 1000.0)
    assert charts._band("k y2 complement") == charts.Band("k", "y2", True)
    with pytest.raises(ValueError, match="dahs"):
        charts._query(("sum(x)", "x", "dahs"))
    with pytest.raises(ValueError, match="y3"):
        charts._band("k y3")
