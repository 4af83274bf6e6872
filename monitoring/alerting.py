"""Alert rule evaluation with Prometheus's semantics.

Every series an enabled rule's expression returns is an alert, keyed by a fingerprint of its
labels. A new one is *pending*; once the condition has held for the rule's duration it is
*firing*; when the series stops being returned it is *resolved* (a pending alert that never
fired is simply dropped, as Prometheus does). Each evaluation locks the rule row
(skip_locked), so two workers never evaluate the same rule at once.
"""

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from console import audit, live

from .models import Alert, AlertRule, AlertState, InhibitRule, Silence
from .promql import Evaluator, PromQLError, Source
from .store import DbSource

_PLACEHOLDER = re.compile(r"\{\{\s*\$(labels\.([A-Za-z_][A-Za-z0-9_]*)|value)\s*\}\}")


def fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def render(template: str, labels: dict[str, str], value: float | None) -> str:
    """The manual's `{{$labels.destination}}` / `{{$value}}` placeholders."""

    def replace(match: re.Match) -> str:
        if match.group(1) == "value":
            return "" if value is None else f"{value:g}"
        return labels.get(match.group(2), "")

    return _PLACEHOLDER.sub(replace, template)


def alert_labels(rule: AlertRule, series: tuple[tuple[str, str], ...]) -> dict[str, str]:
    labels = {k: v for k, v in series if k != "__name__"}
    labels.update(rule.labels or {})
    labels.update({"alertname": rule.name, "severity": rule.severity})
    return labels


def active_series(rule: AlertRule, now: datetime, source: Source) -> dict[str, tuple[dict, float]]:
    """fingerprint -> (labels, value) for every series the rule's condition returns now."""
    result = Evaluator(rule.expr, source).at(now)
    if not isinstance(result, dict):  # a scalar condition: true when non-zero
        result = {(): result} if result and not math.isnan(result) else {}
    active = {}
    for series, value in result.items():
        labels = alert_labels(rule, series)
        active[fingerprint(labels)] = (labels, value)
    return active


@dataclass
class Transitions:
    pending: int = 0
    fired: int = 0
    resolved: int = 0
    dropped: int = 0
    error: str = ""


def evaluate_rule(rule: AlertRule, now: datetime, source: Source | None = None) -> Transitions:
    """One evaluation of one rule; the caller holds the rule's lock."""
    from . import alert_incidents, routing

    moves = Transitions()
    try:
        active = active_series(rule, now, source or DbSource())
    except PromQLError as exc:
        moves.error = str(exc)
        return moves
    current = {
        a.fingerprint: a
        for a in Alert.objects.filter(rule=rule, state__in=[AlertState.PENDING, AlertState.FIRING])
    }
    hold = timedelta(seconds=rule.for_seconds)
    for key, (labels, value) in active.items():
        alert = current.get(key)
        annotations = {"summary": render(rule.summary, labels, value), "runbook": rule.runbook}
        if alert is None:
            alert = Alert.objects.create(
                fingerprint=key,
                rule=rule,
                name=rule.name,
                severity=rule.severity,
                labels=labels,
                annotations=annotations,
                state=AlertState.PENDING,
                value=value,
                active_since=now,
                last_evaluated_at=now,
            )
            moves.pending += 1
        else:
            alert.value, alert.annotations, alert.last_evaluated_at = value, annotations, now
        fired = alert.state == AlertState.PENDING and now - alert.active_since >= hold
        if fired:
            alert.state, alert.fired_at = AlertState.FIRING, now
            moves.fired += 1
            audit.record("alert.fired", obj=alert, after={"labels": labels, "value": value})
        alert.save()
        if fired:
            alert_incidents.on_fired(alert)
            routing.on_fired(alert, now)
    for key, alert in current.items():
        if key in active:
            continue
        if alert.state == AlertState.PENDING:
            alert.delete()
            moves.dropped += 1
        else:
            alert.state, alert.resolved_at, alert.last_evaluated_at = (
                AlertState.RESOLVED,
                now,
                now,
            )
            alert.save(update_fields=["state", "resolved_at", "last_evaluated_at"])
            moves.resolved += 1
            audit.record("alert.resolved", obj=alert, after={"labels": alert.labels})
            alert_incidents.on_resolved(alert)
            routing.on_resolved(alert, now)
    if moves.fired or moves.resolved or moves.pending or moves.dropped:
        live.publish("alerts", "alerts.changed")
    return moves


def evaluate_all(
    now: datetime | None = None, source: Source | None = None
) -> dict[str, Transitions]:
    """Evaluate every enabled rule not being evaluated elsewhere right now."""
    now = now or timezone.now()
    source = source or DbSource()
    outcomes = {}
    for pk in AlertRule.objects.filter(enabled=True).values_list("pk", flat=True):
        with transaction.atomic():
            rule = AlertRule.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if rule is None:
                continue
            outcomes[rule.name] = evaluate_rule(rule, now, source)
    return outcomes


EVALUATION_CLOCK = "monitoring:alert-evaluation-clock"


def evaluation_time(now: datetime, interval: float) -> datetime:
    """The time to evaluate at: on the fixed cadence of the previous evaluations when `now` is
    within a third of an interval of it, else `now` (and the cadence restarts from there).

    Prometheus evaluates a rule group at exact multiples of its interval, so "held for 5 min"
    is always counted in whole evaluations. This task starts whenever a worker takes it from
    the queue, a few seconds late at times; counted from those times, an alert whose pending
    evaluation started late and whose firing one started on time would wait one interval more.
    The cadence never runs ahead of the clock: a task earlier than it restarts it at `now`.
    """
    last = cache.get(EVALUATION_CLOCK)
    at = now
    if last is not None:
        steps = round((now - last).total_seconds() / interval)
        nominal = last + timedelta(seconds=steps * interval)
        if steps >= 1 and timedelta(0) <= now - nominal <= timedelta(seconds=interval / 3):
            at = nominal
    cache.set(EVALUATION_CLOCK, at, timeout=int(interval * 10))
    return at


def test_rule(
    expr: str, end: datetime, hours: int = 1, step: int = 60
) -> list[tuple[datetime, int]]:
    """How many series the condition returned at each step over the last hours (the "test this
    rule against the last hour" button)."""
    from .store import resolution_for

    source = DbSource(resolution_for(timedelta(hours=hours)))
    evaluator = Evaluator(expr, source)
    points = []
    when = end - timedelta(hours=hours)
    while when <= end:
        result = evaluator.at(when)
        count = len(result) if isinstance(result, dict) else int(bool(result))
        points.append((when, count))
        when += timedelta(seconds=step)
    return points


# --- silences and inhibition -----------------------------------------------------------------


def active_silences(now: datetime) -> list[Silence]:
    return list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))


def annotate(alerts: list[Alert], now: datetime | None = None) -> list[Alert]:
    """Set `silenced_by` (ids of active silences matching) and `inhibited` on each alert.

    Derived when read, never stored: a silence made or expired takes effect at once.
    """
    now = now or timezone.now()
    silences = active_silences(now)
    rules = list(InhibitRule.objects.filter(enabled=True))
    firing = list(Alert.objects.filter(state=AlertState.FIRING)) if rules else []
    for alert in alerts:
        alert.silenced_by = [s.pk for s in silences if s.matches(alert.labels)]
        alert.inhibited = alert.state != AlertState.RESOLVED and any(
            _inhibits(rule, source, alert) for rule in rules for source in firing
        )
    return alerts


def _matches(required: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in required.items())


def _inhibits(rule: InhibitRule, source: Alert, target: Alert) -> bool:
    return (
        source.fingerprint != target.fingerprint
        and _matches(rule.source_match, source.labels)
        and _matches(rule.target_match, target.labels)
        and all(source.labels.get(name) == target.labels.get(name) for name in rule.equal)
    )
