import math
from datetime import UTC, datetime

import pytest

from monitoring.promql import Evaluator, MemorySource, PromQLError, selectors, single

T0 = 1_800_000_000.0
NOW = datetime.fromtimestamp(T0 + 300, tz=UTC)


def _counter(source, name, per_second, labels=None, start=0.0, reset_at=None):
    """Samples every 5 s over 5 minutes ending at NOW."""
    points, value = [], start
    for i in range(61):
        t = T0 + 5 * i
        if reset_at is not None and i == reset_at:
            value = 0.0
        points.append((t, value))
        value += per_second * 5
    source.add({"__name__": name, **(labels or {})}, points)


def _gauge(source, name, value, labels=None, at=None):
    source.add({"__name__": name, **(labels or {})}, [(at or T0 + 300, value)])


def ev(expr, source, scope=None):
    return Evaluator(expr, source, scope).at(NOW)


def test_rate_of_a_steady_counter():
    source = MemorySource()
    _counter(source, "alpha_records_ingested_total", 2000, {"module": "alpha"})
    assert single(ev("rate(alpha_records_ingested_total[5m])", source)) == pytest.approx(2000)


def test_rate_across_a_counter_reset_counts_from_zero():
    source = MemorySource()
    _counter(source, "c_total", 10, start=1_000_000, reset_at=30)
    # 29 steps before the reset, the reset step itself (0 counted as +0), 30 after:
    # increase = 29*50 + 0 + 30*50 over 295 s (the range is left-open, first point excluded)
    value = single(ev("increase(c_total[5m])", source))
    assert value == pytest.approx(59 * 50 - 50)
    assert single(ev("rate(c_total[5m])", source)) > 0


def test_rate_equal_zero_condition_for_a_stopped_counter():
    source = MemorySource()
    _counter(source, "alpha_records_ingested_total", 0, start=500)
    assert ev("rate(alpha_records_ingested_total[5m]) == 0", source) == {(): 0.0}


def test_ratio_of_two_rates():
    source = MemorySource()
    _counter(source, "alpha_parse_errors_total", 150)
    _counter(source, "alpha_records_ingested_total", 2000)
    expr = "rate(alpha_parse_errors_total[5m]) / rate(alpha_records_ingested_total[5m]) > 0.05"
    assert single(ev(expr, source)) == pytest.approx(0.075)


def test_gauge_threshold_filters_series_with_labels():
    source = MemorySource()
    _gauge(source, "alpha_source_connection_status", 0, {"source": "api_source_1"})
    _gauge(source, "alpha_source_connection_status", 1, {"source": "file_source_1"})
    result = ev("alpha_source_connection_status == 0", source)
    assert [dict(k)["source"] for k in result] == ["api_source_1"]


def test_rate_compared_with_the_same_rate_an_hour_earlier():
    source = MemorySource()
    hour = 3600
    earlier = [(T0 - hour * 2 + 5 * i, 1.0 * 5 * i) for i in range(1441)]
    now = [(T0 + 5 * i, earlier[-1][1] + 5 * 5 * i) for i in range(61)]
    source.add({"__name__": "v_total"}, earlier + now)
    expr = "rate(v_total[5m]) > rate(v_total[1h] offset 1h) * 2"
    assert single(ev(expr, source)) == pytest.approx(5.0)


def test_histogram_quantile_interpolates_within_the_bucket():
    source = MemorySource()
    # 100 observations: 50 below 0.01, 40 in (0.01, 0.05], 10 in (0.05, 0.1]
    for le, count in (("0.01", 50), ("0.05", 90), ("0.1", 100), ("+Inf", 100)):
        _counter(source, "beta_transform_duration_seconds_bucket", count / 300, {"le": le})
    p50 = single(
        ev("histogram_quantile(0.5, rate(beta_transform_duration_seconds_bucket[5m]))", source)
    )
    p99 = single(
        ev(
            "histogram_quantile(0.99, "
            "sum by (le) (rate(beta_transform_duration_seconds_bucket[5m])))",
            source,
        )
    )
    assert p50 == pytest.approx(0.01)
    assert p99 == pytest.approx(0.05 + 0.05 * 0.9)


def test_count_of_series_matching_and_aggregations_by_label():
    source = MemorySource()
    for dest, state in (("a", 2), ("b", 2), ("c", 0)):
        _gauge(source, "gamma_circuit_breaker_state", state, {"destination": dest, "module": "g"})
    assert single(ev("count(gamma_circuit_breaker_state == 2)", source)) == 2
    assert ev("count(gamma_circuit_breaker_state == 2) > 2", source) == {}
    by = ev("sum by (destination) (gamma_circuit_breaker_state)", source)
    assert by[(("destination", "a"),)] == 2


def test_delta_over_a_window():
    source = MemorySource()
    source.add({"__name__": "gamma_dlq_size"}, [(T0 + 5 * i, 10.0 + i) for i in range(61)])
    assert single(ev("delta(gamma_dlq_size[5m])", source)) == pytest.approx(59)


def test_scope_restricts_every_selector_to_one_module():
    source = MemorySource()
    _gauge(source, "beta_queue_depth", 10, {"module": "beta"})
    _gauge(source, "beta_queue_depth", 99, {"module": "beta-2"})
    assert single(ev("sum(beta_queue_depth)", source, scope={"module": "beta"})) == 10


def test_instant_selector_ignores_samples_older_than_the_lookback():
    source = MemorySource()
    _gauge(source, "old_gauge", 5, at=T0 - 10)
    assert ev("old_gauge", source) == {}
    assert single(ev("absent(old_gauge)", source)) == 1


def test_scalar_arithmetic_and_division_by_zero():
    source = MemorySource()
    assert ev("2 * (3 + 4)", source) == 14
    _gauge(source, "zero", 0)
    assert math.isnan(next(iter(ev("zero / 0", source).values())))


@pytest.mark.parametrize("bad", ["rate(", "rate(x)", "foo(x[5m])", "x @ 100", "topk(3, x)"])
def test_unsupported_or_broken_expressions_raise_a_clear_error(bad):
    with pytest.raises(PromQLError):
        ev(bad, MemorySource())


def test_selectors_lists_what_an_expression_reads():
    found = selectors('rate(a_total[5m]) / rate(b_total{x="1"}[1h] offset 1h)')
    assert [(s.name, s.range_seconds, s.offset_seconds) for s in found] == [
        ("a_total", 300, 0),
        ("b_total", 3600, 3600),
    ]
