from datetime import UTC, datetime, timedelta

import pytest

from console.models import AuditEntry
from monitoring.alerting import evaluate_all, evaluate_rule, fingerprint, render
from monitoring.models import Alert, AlertRule
from monitoring.promql import MemorySource

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _rule(**fields):
    defaults = dict(
        name="gamma_destination_down",
        severity="high",
        expr="gamma_destination_status == 0",
        for_seconds=300,
        summary="Destination {{$labels.destination}} is unreachable",
        runbook="runbook-gamma-destination-down",
    )
    return AlertRule.objects.create(**{**defaults, **fields})


def _source(up: dict[str, bool], at: datetime) -> MemorySource:
    source = MemorySource()
    for destination, is_up in up.items():
        source.add(
            {"__name__": "gamma_destination_status", "destination": destination, "module": "gamma"},
            [(at.timestamp(), 1.0 if is_up else 0.0)],
        )
    return source


def test_an_alert_is_pending_until_its_duration_has_held_then_fires():
    rule = _rule()
    evaluate_rule(rule, T0, _source({"partner_feed": False, "archive": True}, T0))
    alert = Alert.objects.get()
    assert alert.state == "pending" and alert.active_since == T0
    assert alert.labels == {
        "destination": "partner_feed",
        "module": "gamma",
        "alertname": "gamma_destination_down",
        "severity": "high",
    }
    assert alert.annotations["summary"] == "Destination partner_feed is unreachable"
    at = T0 + timedelta(seconds=299)
    evaluate_rule(rule, at, _source({"partner_feed": False}, at))
    assert Alert.objects.get().state == "pending"
    at = T0 + timedelta(seconds=300)
    moves = evaluate_rule(rule, at, _source({"partner_feed": False}, at))
    alert = Alert.objects.get()
    assert (moves.fired, alert.state, alert.fired_at) == (1, "firing", at)
    assert AuditEntry.objects.filter(action="alert.fired").count() == 1


def test_a_pending_alert_whose_condition_stops_is_dropped_not_resolved():
    rule = _rule()
    evaluate_rule(rule, T0, _source({"partner_feed": False}, T0))
    at = T0 + timedelta(seconds=60)
    moves = evaluate_rule(rule, at, _source({"partner_feed": True}, at))
    assert moves.dropped == 1 and not Alert.objects.exists()


def test_a_firing_alert_resolves_and_a_new_episode_is_a_new_row():
    rule = _rule(for_seconds=0)
    evaluate_rule(rule, T0, _source({"partner_feed": False}, T0))
    assert Alert.objects.get().state == "firing"
    at = T0 + timedelta(minutes=1)
    evaluate_rule(rule, at, _source({"partner_feed": True}, at))
    resolved = Alert.objects.get()
    assert (resolved.state, resolved.resolved_at) == ("resolved", at)
    at = T0 + timedelta(minutes=2)
    evaluate_rule(rule, at, _source({"partner_feed": False}, at))
    assert list(Alert.objects.order_by("pk").values_list("state", flat=True)) == [
        "resolved",
        "firing",
    ]


def test_evaluating_twice_at_the_same_moment_changes_nothing():
    rule = _rule()
    source = _source({"partner_feed": False}, T0)
    evaluate_rule(rule, T0, source)
    moves = evaluate_rule(rule, T0, source)
    assert (moves.pending, moves.fired, Alert.objects.count()) == (0, 0, 1)


def test_a_missing_series_resolves_a_firing_alert():
    """A module that stops answering returns no series: its alerts resolve (Prometheus does
    the same); the module's own status says UNHEALTHY instead."""
    rule = _rule(for_seconds=0)
    evaluate_rule(rule, T0, _source({"partner_feed": False}, T0))
    evaluate_rule(rule, T0 + timedelta(minutes=10), MemorySource())
    assert Alert.objects.get().state == "resolved"


def test_a_broken_expression_is_reported_and_touches_nothing():
    rule = _rule(expr="rate(")
    moves = evaluate_rule(rule, T0, MemorySource())
    assert moves.error and not Alert.objects.exists()


def test_evaluate_all_runs_every_enabled_rule():
    _rule()
    _rule(name="disabled_rule", enabled=False)
    outcomes = evaluate_all(T0, _source({"partner_feed": False}, T0))
    assert set(outcomes) == {"gamma_destination_down"}


def test_summary_placeholders_and_fingerprints():
    assert render("{{ $labels.source }} at {{$value}}", {"source": "api"}, 0.5) == "api at 0.5"
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})


def test_every_seeded_rule_parses(roles):
    from django.core.management import call_command

    from monitoring.promql import parse

    call_command("load_policy", verbosity=0)
    rules = list(AlertRule.objects.all())
    assert len(rules) == 18
    for rule in rules:
        parse(rule.expr)
    outcomes = evaluate_all(T0, MemorySource())
    assert all(not o.error for o in outcomes.values()), outcomes
