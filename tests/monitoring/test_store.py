from datetime import UTC, datetime, timedelta

import pytest

from monitoring import rollups
from monitoring.models import Rollup1h, Rollup1m, Sample, Series
from monitoring.promql import Evaluator, single
from monitoring.store import DbSource, resolution_for, store_samples
from tests.monitoring.factories import ModuleFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _fill(module, minutes=3, per_second=10.0, gauge=lambda i: float(i % 7)):
    """A counter and a gauge sampled every 5 s for `minutes` minutes from T0."""
    for i in range(minutes * 12):
        ts = T0 + timedelta(seconds=5 * i)
        store_samples(
            module,
            [
                ("demo_total", {"source": "a"}, per_second * 5 * i, "counter"),
                ("demo_gauge", {}, gauge(i), "gauge"),
            ],
            ts,
        )


def test_store_creates_series_once_with_the_module_label():
    module = ModuleFactory(name="gamma")
    _fill(module, minutes=1)
    assert Series.objects.count() == 2
    series = Series.objects.get(name="demo_total")
    assert series.labels == {"source": "a", "module": "gamma"}
    assert Sample.objects.filter(series=series).count() == 12


def test_a_scraped_module_label_that_disagrees_is_kept_as_exported_module():
    module = ModuleFactory(name="gamma")
    store_samples(module, [("x", {"module": "other"}, 1.0, "gauge")], T0)
    assert Series.objects.get(name="x").labels == {"module": "gamma", "exported_module": "other"}


def test_db_source_answers_promql_from_raw_samples():
    module = ModuleFactory(name="gamma")
    _fill(module)
    at = T0 + timedelta(minutes=3) - timedelta(seconds=5)
    rate = Evaluator("sum(rate(demo_total[1m]))", DbSource(), {"module": "gamma"}).at(at)
    assert single(rate) == pytest.approx(10.0)
    other = Evaluator("sum(rate(demo_total[1m]))", DbSource(), {"module": "beta"}).at(at)
    assert other == {}


def test_one_minute_rollups_hold_min_max_sum_count_and_last():
    module = ModuleFactory(name="gamma")
    _fill(module, minutes=3)
    rollups.roll_up("1m", now=T0 + timedelta(minutes=3, seconds=1))
    gauge = Series.objects.get(name="demo_gauge")
    buckets = list(Rollup1m.objects.filter(series=gauge).order_by("ts"))
    assert [b.ts for b in buckets] == [T0 + timedelta(minutes=m) for m in range(3)]
    first = buckets[0]
    values = [float(i % 7) for i in range(12)]
    assert (first.min, first.max, first.sum, first.count, first.last) == (
        min(values),
        max(values),
        sum(values),
        12,
        values[-1],
    )


def test_rollups_are_idempotent_and_resume_from_the_watermark():
    module = ModuleFactory(name="gamma")
    _fill(module, minutes=2)
    rollups.roll_up("1m", now=T0 + timedelta(minutes=1, seconds=30))
    assert Rollup1m.objects.count() == 2  # minute 0 for both series
    rollups.roll_up("1m", now=T0 + timedelta(minutes=1, seconds=30))
    assert Rollup1m.objects.count() == 2
    rollups.roll_up("1m", now=T0 + timedelta(minutes=2, seconds=1))
    assert Rollup1m.objects.count() == 4


def test_hourly_rollups_aggregate_the_minutes_and_rates_survive():
    module = ModuleFactory(name="gamma")
    _fill(module, minutes=70)
    rollups.roll_up("1m", now=T0 + timedelta(minutes=70))
    rollups.roll_up("1h", now=T0 + timedelta(hours=1, minutes=5))
    counter = Series.objects.get(name="demo_total")
    hour = Rollup1h.objects.get(series=counter)
    assert hour.count == 720 and hour.last == 10.0 * 5 * 719
    minute_source = DbSource("1m")
    at = T0 + timedelta(minutes=60)
    rate = Evaluator("sum(rate(demo_total[10m]))", minute_source).at(at)
    assert single(rate) == pytest.approx(10.0)


def test_resolution_follows_the_span():
    assert resolution_for(timedelta(hours=1)) == "raw"
    assert resolution_for(timedelta(hours=24)) == "1m"
    assert resolution_for(timedelta(days=7)) == "1h"


def test_prune_deletes_what_is_past_retention():
    module = ModuleFactory(name="gamma")
    _fill(module, minutes=1)
    rollups.roll_up("1m", now=T0 + timedelta(minutes=2))
    deleted = rollups.prune(now=T0 + rollups.RAW_RETENTION + timedelta(minutes=5))
    assert deleted["raw"] == 24 and Sample.objects.count() == 0
    assert Rollup1m.objects.count() == 2  # kept longer
