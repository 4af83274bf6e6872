"""Alert rules from their pages: check an expression, edit, disable/enable, and test a rule
against the last hour of data (what would have fired, and when).

Every change locks the rule row, is audited with before/after, and is pushed to the alert
pages (`alerts` topic) after commit.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from console import audit, live

from . import alert_incidents
from .alerting import alert_labels, fingerprint
from .models import Alert, AlertRule, AlertState
from .promql import LOOKBACK, Evaluator, MemorySource, PromQLError, Selector, Source, parse
from .promql import selectors as expr_selectors
from .store import DbSource

EDITABLE = ("severity", "expr", "for_seconds", "summary", "runbook")
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
# alerting.evaluate_alert_rules runs every 15 s (CELERY_BEAT_SCHEDULE): the test steps alike.
TEST_STEP = 15


def check_expr(expr: str) -> str:
    """The expression, stripped, if the evaluator parses and supports it; PromQLError (with the
    parser's reason) otherwise. Evaluating it once over no data finds unsupported functions and
    operators, which parsing alone would accept."""
    expr = expr.strip()
    if not expr:
        raise PromQLError("An expression is required.")
    try:
        Evaluator(expr, MemorySource()).at(timezone.now())
    except PromQLError:
        raise
    except (ArithmeticError, TypeError, ValueError, AttributeError) as exc:
        raise PromQLError(f"This expression cannot be evaluated: {exc}") from None
    return expr


def _describe(rule: AlertRule) -> dict:
    return {f: getattr(rule, f) for f in (*EDITABLE, "enabled")}


def update_rule(by, rule_pk: int, **changes) -> AlertRule:
    """Change a rule's severity, expression, duration, summary or runbook."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if "expr" in changes:
        changes["expr"] = check_expr(changes["expr"])
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule_pk)
        before = _describe(rule)
        moved = {k: v for k, v in changes.items() if getattr(rule, k) != v}
        if not moved:
            return rule
        for key, value in moved.items():
            setattr(rule, key, value)
        rule.full_clean()
        rule.save(update_fields=list(moved))
        audit.record(
            "alert_rule.update",
            actor=by,
            obj=rule,
            before={k: before[k] for k in moved},
            after={k: getattr(rule, k) for k in moved},
        )
        live.publish("alerts", "rules.changed", rule=rule.pk)
    return rule


def set_enabled(by, rule_pk: int, enabled: bool, now: datetime | None = None) -> AlertRule:
    """Disable or enable a rule. Disabling ends its alerts as Prometheus does when a rule goes
    away: firing ones are resolved (written on their incident's timeline), pending ones
    dropped. Setting the state it already has is a no-op."""
    now = now or timezone.now()
    resolved: list[Alert] = []
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule_pk)
        if rule.enabled == enabled:
            return rule
        rule.enabled = enabled
        rule.save(update_fields=["enabled"])
        audit.record(
            "alert_rule.enable" if enabled else "alert_rule.disable",
            actor=by,
            obj=rule,
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
        if not enabled:
            active = Alert.objects.select_for_update().filter(
                rule=rule, state__in=[AlertState.PENDING, AlertState.FIRING]
            )
            for alert in active:
                if alert.state == AlertState.PENDING:
                    alert.delete()
                    continue
                alert.state, alert.resolved_at, alert.last_evaluated_at = (
                    AlertState.RESOLVED,
                    now,
                    now,
                )
                alert.save(update_fields=["state", "resolved_at", "last_evaluated_at"])
                audit.record(
                    "alert.resolved",
                    actor=by,
                    obj=alert,
                    after={"labels": alert.labels, "reason": "rule disabled"},
                )
                resolved.append(alert)
        live.publish("alerts", "rules.changed", rule=rule.pk)
        live.publish("alerts", "alerts.changed")
    for alert in resolved:
        alert_incidents.on_resolved(alert)
    return rule


# --- "test against the last hour" ----------------------------------------------------------


@dataclass
class Episode:
    """What the rule would have done for one series: pending from, fired at, resolved at."""

    labels: dict
    pending_at: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    peak: float | None = None


@dataclass
class RuleTest:
    start: datetime
    end: datetime
    step: int
    times: list[datetime] = field(default_factory=list)
    # The expression's value side (the left of a top-level comparison), one series each.
    series: dict[str, list[float | None]] = field(default_factory=dict)
    threshold: float | None = None
    threshold_op: str = ""
    episodes: list[Episode] = field(default_factory=list)
    error: str = ""

    @property
    def fired(self) -> list[Episode]:
        return [e for e in self.episodes if e.fired_at]

    def chart(self) -> dict:
        """Plotly traces and shapes, as JSON for static/monitoring/alerts.js."""
        x = [t.isoformat() for t in self.times]
        traces = [
            {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": values}
            for name, values in sorted(self.series.items())
        ]
        shapes = []
        for episode in self.fired:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": episode.fired_at.isoformat(),
                    "x1": (episode.resolved_at or self.end).isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "rgba(192,57,43,0.12)",
                    "line": {"width": 0},
                }
            )
        if self.threshold is not None:
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": self.threshold,
                    "y1": self.threshold,
                    "line": {"color": "#c0392b", "dash": "dash", "width": 1},
                }
            )
        return {
            "traces": traces,
            "shapes": shapes,
            "threshold": self.threshold,
            "range": [self.start.isoformat(), self.end.isoformat()],
        }


def _value_side(expr: str) -> tuple[str, float | None, str]:
    """For `lhs <op> number` (or `number <op> rhs`), chart the vector side against the number;
    otherwise chart the expression itself."""
    ast = parse(expr)
    if type(ast).__name__ == "BinaryExpr" and str(ast.op) in COMPARISONS:
        modifier = ast.modifier
        if not (modifier and modifier.return_bool):
            lhs, rhs = ast.lhs, ast.rhs
            if type(rhs).__name__ == "NumberLiteral":
                return str(lhs), float(rhs.val), str(ast.op)
            if type(lhs).__name__ == "NumberLiteral":
                return str(rhs), float(lhs.val), str(ast.op)
            return str(lhs), None, str(ast.op)
    return expr, None, ""


def preload(exprs: list[str], start: datetime, end: datetime, source: Source) -> MemorySource:
    """Every series the expressions read over [start − their longest reach, end], fetched once,
    so that evaluating at each step reads memory instead of the database."""
    memory = MemorySource()
    seen = set()
    for expr in exprs:
        for sel in expr_selectors(expr):
            reach = sel.range_seconds + sel.offset_seconds + LOOKBACK.total_seconds()
            key = (sel, reach)
            if key in seen:
                continue
            seen.add(key)
            bare = Selector(sel.name, sel.matchers)
            for labels, points in source.select(bare, start.timestamp() - reach, end.timestamp()):
                existing = memory.series.get(labels)
                if existing is None:
                    memory.series[labels] = list(points)
                else:
                    memory.series[labels] = sorted(set(existing) | set(points))
    return memory


def _label_text(labels: tuple) -> str:
    shown = [f'{k}="{v}"' for k, v in labels if k != "__name__"]
    return "{" + ", ".join(shown) + "}"


def test_rule(
    rule: AlertRule,
    expr: str | None = None,
    for_seconds: int | None = None,
    end: datetime | None = None,
    hours: int = 1,
    source: Source | None = None,
) -> RuleTest:
    """Replays the rule (or a draft `expr`/`for_seconds`) every TEST_STEP seconds over the last
    `hours` with the evaluator's semantics: each returned series is pending, fires once it has
    held for the duration, resolves when it stops."""
    end = (end or timezone.now()).replace(microsecond=0)
    start = end - timedelta(hours=hours)
    result = RuleTest(start=start, end=end, step=TEST_STEP)
    expr = (expr if expr is not None else rule.expr).strip()
    hold = timedelta(seconds=rule.for_seconds if for_seconds is None else for_seconds)
    try:
        check_expr(expr)
        value_expr, result.threshold, result.threshold_op = _value_side(expr)
        memory = preload([expr, value_expr], start, end, source or DbSource())
        condition = Evaluator(expr, memory)
        value_side = Evaluator(value_expr, memory) if value_expr != expr else None
        open_episodes: dict[str, Episode] = {}
        when = start
        index = 0
        while when <= end:
            result.times.append(when)
            active = condition.at(when)
            if not isinstance(active, dict):
                active = {(): active} if active and not math.isnan(active) else {}
            shown = value_side.at(when) if value_side else active
            if not isinstance(shown, dict):
                shown = {(): shown}
            for labels, value in shown.items():
                name = _label_text(labels)
                column = result.series.setdefault(name, [None] * index)
                column.append(None if math.isnan(value) else value)
            for column in result.series.values():
                if len(column) < index + 1:
                    column.append(None)
            seen = set()
            for labels, value in active.items():
                full = alert_labels(rule, labels)
                key = fingerprint(full)
                seen.add(key)
                episode = open_episodes.get(key)
                if episode is None:
                    episode = open_episodes[key] = Episode(labels=full, pending_at=when)
                    result.episodes.append(episode)
                if episode.fired_at is None and when - episode.pending_at >= hold:
                    episode.fired_at = when
                if not math.isnan(value):
                    episode.peak = value if episode.peak is None else max(episode.peak, value)
            for key in list(open_episodes):
                if key not in seen:
                    episode = open_episodes.pop(key)
                    if episode.fired_at is None:  # pending that never fired: dropped
                        result.episodes.remove(episode)
                    else:
                        episode.resolved_at = when
            when += timedelta(seconds=TEST_STEP)
            index += 1
    except PromQLError as exc:
        result.error = str(exc)
    except (ArithmeticError, ValueError, TypeError) as exc:  # e.g. ln() of a negative value
        result.error = f"The expression failed on the stored data: {exc}"
    result.episodes.sort(key=lambda e: (e.fired_at is None, e.fired_at or e.pending_at))
    return result
