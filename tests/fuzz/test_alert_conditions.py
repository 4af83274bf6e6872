"""Properties of the alert conditions: threshold bands (monitoring.models.Threshold.level,
000 "Operational Metrics and Thresholds") and alert-rule evaluation (monitoring.alerting,
Prometheus's pending → firing → resolved), the latter checked against a small model of
Prometheus's rules over any sequence of values at any evaluation times."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from monitoring.alerting import evaluate_rule
from monitoring.models import Alert, AlertRule, AlertState, MetricLevel, Threshold
from monitoring.promql import MemorySource

from .conftest import DB_FUZZ_SETTINGS, FUZZ_SETTINGS

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
bounds = st.none() | st.floats(-1e6, 1e6)
values = st.floats(-1e7, 1e7)


@FUZZ_SETTINGS
@given(bounds, bounds, bounds, bounds, st.none() | values)
def test_threshold_level_is_the_band_the_value_falls_in(
    warn_below, warn_above, crit_below, crit_above, value
):
    threshold = Threshold(
        warn_below=warn_below, warn_above=warn_above, crit_below=crit_below, crit_above=crit_above
    )
    level = threshold.level(value)
    if value is None:
        assert level == MetricLevel.UNKNOWN
        return

    def beyond(below, above):
        return (below is not None and value < below) or (above is not None and value > above)

    if beyond(crit_below, crit_above):
        assert level == MetricLevel.CRITICAL
    elif beyond(warn_below, warn_above):
        assert level == MetricLevel.WARNING
    else:
        assert level == MetricLevel.OK


@FUZZ_SETTINGS
@given(bounds, bounds, values, st.none() | st.floats(-1e4, 1e4))
def test_threshold_relative_to_a_baseline_compares_the_ratio(below, above, value, baseline):
    relative = Threshold(warn_below=below, warn_above=above, relative_to_baseline=True)
    level = relative.level(value, baseline)
    if not baseline:
        assert level == MetricLevel.UNKNOWN
        return
    absolute = Threshold(warn_below=below, warn_above=above)
    assert level == absolute.level(value / baseline)


@FUZZ_SETTINGS
@given(st.floats(-1e6, 1e6), st.floats(0, 1e6), values)
def test_threshold_a_wider_critical_band_never_lowers_the_level(crit_above, widen, value):
    order = [MetricLevel.OK, MetricLevel.WARNING, MetricLevel.CRITICAL]
    narrow = Threshold(crit_above=crit_above + widen).level(value)
    wide = Threshold(crit_above=crit_above).level(value)
    assert order.index(wide) >= order.index(narrow)


# --- alert rules -------------------------------------------------------------------------
SERIES = ("alpha", "beta")
evaluations = st.lists(
    st.tuples(
        st.integers(1, 600),  # seconds since the previous evaluation
        st.fixed_dictionaries({name: st.none() | st.floats(0, 100) for name in SERIES}),
    ),
    min_size=1,
    max_size=10,
)


def _model(for_seconds: int, limit: float, steps) -> tuple[dict, int]:
    """Prometheus's rule semantics: state per series, and how many episodes resolved."""
    state: dict[str, tuple[str, datetime]] = {}
    resolved, now = 0, T0
    for gap, sample in steps:
        now += timedelta(seconds=gap)
        for name in SERIES:
            value = sample[name]
            if value is not None and value > limit:
                kind, since = state.get(name, ("pending", now))
                if kind == "pending" and now - since >= timedelta(seconds=for_seconds):
                    kind = "firing"
                state[name] = (kind, since)
            elif name in state:
                resolved += state.pop(name)[0] == "firing"
    return {name: kind for name, (kind, _) in state.items()}, resolved


@pytest.mark.django_db
@DB_FUZZ_SETTINGS
@given(st.integers(0, 900), st.floats(0, 100), evaluations)
def test_alert_rule_moves_as_prometheus_does(for_seconds, limit, steps):
    assume(all(v is None or abs(v - limit) > 1e-9 for _, s in steps for v in s.values()))
    AlertRule.objects.all().delete()
    Alert.objects.all().delete()
    rule = AlertRule.objects.create(
        name="queue_high",
        severity="high",
        expr=f"queue_depth > {limit!r}",
        for_seconds=for_seconds,
        summary="Queue on {{$labels.module}} at {{$value}}",
    )
    now = T0
    for gap, sample in steps:
        now += timedelta(seconds=gap)
        source = MemorySource()
        for name, value in sample.items():
            if value is not None:
                source.add({"__name__": "queue_depth", "module": name}, [(now.timestamp(), value)])
        moves = evaluate_rule(rule, now, source)
        assert not moves.error
    expected, resolved = _model(for_seconds, limit, steps)
    active = {
        alert.labels["module"]: alert.state
        for alert in Alert.objects.filter(state__in=[AlertState.PENDING, AlertState.FIRING])
    }
    assert active == expected
    assert Alert.objects.filter(state=AlertState.RESOLVED).count() == resolved
