from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from console.models import AuditEntry
from monitoring import services
from monitoring.models import MetricLevel, MetricStatus, Module, PipelineState, Poll, StatusChange
from monitoring.poller import PollResult
from tests.monitoring.factories import ModuleFactory, ThresholdFactory

pytestmark = pytest.mark.django_db

NOW = "2026-11-21 12:00:00Z"


def _result(module, ok=True, health="HEALTHY", samples=None, error=""):
    return PollResult(
        module_id=module.pk,
        started_at=timezone.now(),
        duration_ms=3.0,
        ok=ok,
        health_status=health if ok else "",
        error=error,
        samples=samples if samples is not None else [("demo_gauge", {}, 0.5, "gauge")],
    )


@time_machine.travel(NOW, tick=False)
def test_a_good_poll_stores_samples_and_makes_the_module_healthy():
    module = ModuleFactory()
    services.record_poll(module, _result(module))
    module.refresh_from_db()
    assert module.status == "HEALTHY" and module.consecutive_failures == 0
    poll = Poll.objects.get(module=module)
    assert poll.ok and poll.samples == 1
    change = StatusChange.objects.get(module=module)
    assert (change.from_status, change.to_status) == ("UNKNOWN", "HEALTHY")
    assert AuditEntry.objects.filter(action="module.status_changed").exists()


def test_a_module_is_unhealthy_only_after_n_failed_polls_in_a_row():
    module = ModuleFactory()
    services.record_poll(module, _result(module))
    for attempt in range(1, services.FAILURES_BEFORE_UNHEALTHY + 1):
        services.record_poll(module, _result(module, ok=False, error="cannot connect"))
        module.refresh_from_db()
        expected = "UNHEALTHY" if attempt >= services.FAILURES_BEFORE_UNHEALTHY else "HEALTHY"
        assert module.status == expected, attempt
    assert "cannot connect" in StatusChange.objects.filter(module=module).first().reason
    assert not Poll.objects.filter(ok=False, samples__gt=0).exists()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("health, expected", [("DEGRADED", "DEGRADED"), ("UNHEALTHY", "UNHEALTHY")])
def test_the_health_endpoint_verdict_counts(health, expected):
    module = ModuleFactory()
    services.record_poll(module, _result(module, health=health))
    module.refresh_from_db()
    assert module.status == expected


@time_machine.travel(NOW, tick=False)
def test_a_metric_outside_its_band_degrades_the_module_and_is_recorded():
    module = ModuleFactory()
    threshold = ThresholdFactory(expr="sum(demo_gauge)", warn_above=0.4, crit_above=0.9)
    services.record_poll(module, _result(module))
    module.refresh_from_db()
    status = MetricStatus.objects.get(threshold=threshold, module=module)
    assert (status.level, status.value) == (MetricLevel.WARNING, 0.5)
    assert module.status == "DEGRADED"
    with time_machine.travel("2026-11-21 12:00:05Z", tick=False):
        services.record_poll(module, _result(module, samples=[("demo_gauge", {}, 0.1, "gauge")]))
    status.refresh_from_db()
    assert status.level == MetricLevel.OK
    assert StatusChange.objects.filter(threshold=threshold, to_status="OK").exists()


def test_staleness_is_two_poll_intervals():
    module = ModuleFactory(poll_interval=5)
    now = timezone.now()
    assert services.is_stale(module, now)
    module.last_success_at = now - timedelta(seconds=10)
    assert not services.is_stale(module, now)
    module.last_success_at = now - timedelta(seconds=10.1)
    assert services.is_stale(module, now)


def test_pipeline_status_aggregates_modules():
    now = timezone.now()
    fresh = dict(last_success_at=now, poll_interval=5)
    healthy = Module(name="a", status="HEALTHY", **fresh)
    degraded = Module(name="b", status="DEGRADED", **fresh)
    unhealthy = Module(name="c", status="UNHEALTHY", **fresh)
    stale = Module(name="d", status="HEALTHY", last_success_at=now - timedelta(minutes=5))
    assert services.pipeline_status([healthy], now) == "HEALTHY"
    assert services.pipeline_status([healthy, degraded], now) == "DEGRADED"
    assert services.pipeline_status([healthy, stale], now) == "DEGRADED"
    assert services.pipeline_status([degraded, unhealthy], now) == "UNHEALTHY"
    assert services.pipeline_status([], now) == "UNKNOWN"


def test_pipeline_status_changes_are_recorded_once():
    module = ModuleFactory()
    with time_machine.travel(NOW, tick=False) as traveller:
        services.record_poll(module, _result(module))
        traveller.shift(5)
        services.record_poll(module, _result(module))
    assert PipelineState.objects.get().status == "HEALTHY"
    assert StatusChange.objects.filter(subject="pipeline").count() == 1


def test_claim_due_modules_takes_each_due_module_once_per_interval():
    with time_machine.travel(NOW, tick=False):
        due = ModuleFactory(name="due")
        ModuleFactory(name="off", enabled=False)
        ModuleFactory(name="later", next_poll_at=timezone.now() + timedelta(seconds=3))
        assert [m.name for m in services.claim_due_modules()] == ["due"]
        assert services.claim_due_modules() == []
        due.refresh_from_db()
        assert due.next_poll_at == timezone.now() + timedelta(seconds=5)
    with time_machine.travel("2026-11-21 12:00:05Z", tick=False):
        assert {m.name for m in services.claim_due_modules()} == {"due", "later"}


def test_register_module_is_idempotent():
    first = services.register_module("alpha", "alpha", "http://127.0.0.1:8081")
    again = services.register_module("alpha", "alpha", "http://127.0.0.1:8081")
    assert first.pk == again.pk
    assert AuditEntry.objects.filter(action="module.create").count() == 1


@time_machine.travel(NOW, tick=False)
def test_console_metrics_expose_poll_outcomes(client):
    module = ModuleFactory(name="gamma")
    services.record_poll(module, _result(module))
    text = client.get("/metrics").content.decode()
    assert 'monitoring_module_status{module="gamma"} 0.0' in text
    assert 'monitoring_polls_recent{module="gamma",outcome="ok"} 1.0' in text
