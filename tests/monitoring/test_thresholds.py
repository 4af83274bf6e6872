from datetime import UTC, datetime, timedelta

import pytest

from monitoring import services
from monitoring.models import MetricLevel, Rollup1h, Threshold
from monitoring.store import store_samples
from tests.monitoring.factories import ModuleFactory

OK, WARN, CRIT, UNKNOWN = (
    MetricLevel.OK,
    MetricLevel.WARNING,
    MetricLevel.CRITICAL,
    MetricLevel.UNKNOWN,
)

# 000, Module Alpha Metrics: ingestion rate normal 1000-5000, warning <500 or >7500,
# critical <100 or >10000.
TWO_SIDED = Threshold(warn_below=500, warn_above=7500, crit_below=100, crit_above=10000)
# 000, System-Wide Metrics: overall throughput >90% baseline, warning 70-90%, critical <70%.
RELATIVE = Threshold(warn_below=0.9, crit_below=0.7, relative_to_baseline=True)


@pytest.mark.parametrize(
    "value, level",
    [
        (3000, OK),
        (800, OK),
        (7000, OK),  # 500-1000 is not "normal" but not yet a warning
        (499, WARN),
        (7501, WARN),
        (100, WARN),
        (10000, WARN),
        (99, CRIT),
        (10001, CRIT),
        (0, CRIT),
        (None, UNKNOWN),
    ],
)
def test_two_sided_bands(value, level):
    assert TWO_SIDED.level(value) == level


@pytest.mark.parametrize(
    "value, baseline, level",
    [
        (950, 1000, OK),
        (900, 1000, OK),
        (899, 1000, WARN),
        (700, 1000, WARN),
        (699, 1000, CRIT),
        (500, None, UNKNOWN),
        (500, 0, UNKNOWN),
    ],
)
def test_bands_relative_to_a_baseline(value, baseline, level):
    assert RELATIVE.level(value, baseline) == level


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _throughput(value_at_hours_ago):
    """A week of hourly roll-ups of `demo_rate` (value by hours before NOW), and a
    threshold relative to its baseline."""
    from monitoring.models import Series

    module = ModuleFactory(name="gamma")
    store_samples(module, [("demo_rate", {}, 1.0, "gauge")], NOW - timedelta(days=8))
    series = Series.objects.get(name="demo_rate")
    Rollup1h.objects.bulk_create(
        Rollup1h(series=series, ts=NOW - timedelta(hours=h), min=v, max=v, sum=v, count=1, last=v)
        for h in range(1, 170)
        for v in [value_at_hours_ago(h)]
    )
    threshold = Threshold.objects.create(
        key="tp", scope="system", name="Throughput", expr="sum(demo_rate)",
        warn_below=0.9, crit_below=0.7, relative_to_baseline=True,
    )  # fmt: skip
    return series, threshold


@pytest.mark.django_db
def test_the_baseline_is_the_seven_day_average_when_not_fixed():
    _, threshold = _throughput(lambda h: 2000.0 if h < 84 else 1000.0)
    baseline = services.baseline_for(threshold, NOW, None)
    assert 1000 < baseline < 2000
    threshold.baseline = 1234.0
    assert services.baseline_for(threshold, NOW, None) == 1234.0


@pytest.mark.django_db
def test_the_baseline_is_reused_for_five_minutes_then_recomputed(django_assert_num_queries):
    series, threshold = _throughput(lambda h: 2000.0)
    assert services.baseline_for(threshold, NOW, None) == 2000.0
    # New history, read only once the refresh is due: within it the stored value stands.
    Rollup1h.objects.filter(series=series).update(sum=1000.0, last=1000.0, min=1000.0, max=1000.0)
    with django_assert_num_queries(0):
        assert services.baseline_for(threshold, NOW + timedelta(minutes=4), None) == 2000.0
    assert services.baseline_for(threshold, NOW + timedelta(minutes=5), None) == 1000.0
    # Another expression (an admin edit) is its own baseline, computed afresh.
    threshold.expr = "sum(demo_rate) * 2"
    assert services.baseline_for(threshold, NOW + timedelta(minutes=5), None) == 2000.0
