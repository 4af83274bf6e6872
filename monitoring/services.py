"""Monitoring workflows: claiming due polls, recording their outcome, deciding statuses."""

import threading
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from console import audit, live

from .models import (
    MetricLevel,
    MetricStatus,
    Module,
    PipelineState,
    Poll,
    Status,
    StatusChange,
    Threshold,
)
from .poller import PollResult
from .promql import Evaluator, PromQLError, single
from .store import DbSource, forget_series_cache, resolution_for, store_many

# How many polls in a row may fail before a module is UNHEALTHY (issue 4: configurable).
FAILURES_BEFORE_UNHEALTHY = settings.MONITORING_FAILURES_BEFORE_UNHEALTHY
BASELINE_WINDOW = timedelta(days=7)
# Thresholds are evaluated after every poll (5 s); a 7-day average of hourly values barely
# moves in minutes, and computing it is 28 queries. Kept per process, like the series ids:
# {(threshold pk, expr, module pk): (computed at, value)}.
BASELINE_REFRESH = timedelta(minutes=5)
_baselines: dict[tuple, tuple[float, float | None]] = {}
_baseline_lock = threading.Lock()


def register_module(name: str, kind: str, base_url: str, actor=None, **fields) -> Module:
    """Create or update a module by name (idempotent: the demo data calls it on every start)."""
    with transaction.atomic():
        module, created = Module.objects.get_or_create(
            name=name, defaults={"kind": kind, "base_url": base_url, **fields}
        )
        if created:
            audit.record(
                "module.create",
                actor=actor,
                obj=module,
                after={
                    "kind": kind,
                    "base_url": base_url,
                    **{k: v for k, v in fields.items() if k != "token"},
                },
            )
    return module


def claim_due_modules(limit: int = 500) -> list[Module]:
    """Claim enabled modules whose poll is due and move their next poll on. Two scans running at
    once claim disjoint sets (skip_locked), so a module is polled once per interval.

    Module rows are locked FOR NO KEY UPDATE here and in `_record_polls`/`update_module`: none
    changes a key, and a plain FOR UPDATE would block every insert that references the module
    (an incident's or change's affected modules, a job run), which deadlocked a declaration
    against a poll under load."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Module.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(enabled=True)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
            .order_by("next_poll_at")[:limit]
        )
        for module in due:
            module.next_poll_at = now + timedelta(seconds=module.poll_interval)
        Module.objects.bulk_update(due, ["next_poll_at"])
    return due


def record_poll(module: Module, result: PollResult) -> Module:
    """Store one poll's samples and outcome, then re-decide the module's status."""
    return record_polls([result])[0]


def record_polls(results: list[PollResult]) -> list[Module]:
    """Store a scan's polls in one transaction: samples in one insert, poll rows and module
    fields in bulk; then each module's metrics and status, and the pipeline's, once."""
    try:
        return _record_polls(results)
    except IntegrityError:
        # SQLite checks foreign keys at commit: a cached series id that no longer exists
        # surfaces here. Forget the cache so that the next poll starts clean.
        forget_series_cache()
        raise


def _record_polls(results: list[PollResult]) -> list[Module]:
    now = timezone.now()
    with transaction.atomic():
        modules = Module.objects.select_for_update(no_key=True).in_bulk(
            [r.module_id for r in results]
        )
        results = [r for r in results if r.module_id in modules]  # deleted meanwhile: drop
        store_many([(modules[r.module_id], r.samples, r.started_at) for r in results if r.ok])
        polls = []
        for result in results:
            module = modules[result.module_id]
            polls.append(
                Poll(
                    module=module,
                    started_at=result.started_at,
                    duration_ms=result.duration_ms,
                    ok=result.ok,
                    health_status=result.health_status,
                    http_status=result.http_status,
                    samples=len(result.samples) if result.ok else 0,
                    error=result.error[:500],
                )
            )
            module.last_polled_at = now
            if result.ok:
                module.last_success_at = result.started_at
                module.consecutive_failures = 0
            else:
                module.consecutive_failures += 1
        Poll.objects.bulk_create(polls)
        Module.objects.bulk_update(
            list(modules.values()), ["last_polled_at", "last_success_at", "consecutive_failures"]
        )
        thresholds: dict[str, list[Threshold]] = {}
        for threshold in Threshold.objects.filter(
            enabled=True, scope__in={m.kind for m in modules.values()}
        ):
            thresholds.setdefault(threshold.scope, []).append(threshold)
        changed = False
        for result in results:
            module = modules[result.module_id]
            levels = (
                evaluate_module_thresholds(module, now, thresholds.get(module.kind, []))
                if result.ok
                else []
            )
            status, reason = decide_status(module, result, levels)
            changed |= set_module_status(module, status, reason, now)
            live.publish(f"module.{module.name}", "module.polled", module=module.pk)
        if changed:
            update_pipeline_status(now)
    return [modules[r.module_id] for r in results]


def decide_status(module: Module, result: PollResult, levels: list[str]) -> tuple[str, str]:
    """UNHEALTHY when it stops answering (N polls in a row) or says so itself; DEGRADED when
    its health says so or any metric is out of its normal band; else HEALTHY."""
    if not result.ok:
        if module.consecutive_failures >= FAILURES_BEFORE_UNHEALTHY:
            return Status.UNHEALTHY, f"{module.consecutive_failures} failed polls: {result.error}"
        return module.status, ""  # one failure is not yet a verdict
    if result.health_status == Status.UNHEALTHY:
        return Status.UNHEALTHY, "its health endpoint reports UNHEALTHY"
    if result.health_status == Status.DEGRADED:
        return Status.DEGRADED, "its health endpoint reports DEGRADED"
    bad = [level for level in levels if level in (MetricLevel.WARNING, MetricLevel.CRITICAL)]
    if bad:
        return Status.DEGRADED, f"{len(bad)} metric(s) outside their normal range"
    return Status.HEALTHY, ""


def set_module_status(module: Module, status: str, reason: str, now) -> bool:
    """Move the module to `status` (recorded, audited, pushed); False if it was already there.
    The caller re-decides the pipeline's status once after a batch."""
    if module.status == status:
        return False
    before = module.status
    module.status, module.status_changed_at = status, now
    module.save(update_fields=["status", "status_changed_at"])
    StatusChange.objects.create(
        subject=StatusChange.Subject.MODULE,
        module=module,
        from_status=before,
        to_status=status,
        at=now,
        reason=reason[:300],
    )
    audit.record(
        "module.status_changed",
        obj=module,
        before={"status": before},
        after={"status": status, "reason": reason},
    )
    live.publish(f"module.{module.name}", "module.status_changed", module=module.pk)
    live.publish("overview", "module.status_changed", module=module.pk)
    return True


def pipeline_status(modules: list[Module], now) -> str:
    """001 "Pipeline Status Indicator": an aggregation of every module's health."""
    if not modules:
        return Status.UNKNOWN
    statuses = [Status.UNKNOWN if is_stale(m, now) else m.status for m in modules]
    if Status.UNHEALTHY in statuses:
        return Status.UNHEALTHY
    if Status.DEGRADED in statuses or Status.UNKNOWN in statuses:
        return Status.DEGRADED
    return Status.HEALTHY


def update_pipeline_status(now) -> str:
    status = pipeline_status(list(Module.objects.filter(enabled=True)), now)
    state, _ = PipelineState.objects.select_for_update().get_or_create(pk=1)
    if state.status != status:
        StatusChange.objects.create(
            subject=StatusChange.Subject.PIPELINE,
            from_status=state.status,
            to_status=status,
            at=now,
        )
        audit.record(
            "pipeline.status_changed",
            object_type="monitoring.pipeline",
            object_repr="pipeline",
            before={"status": state.status},
            after={"status": status},
        )
        state.status, state.changed_at = status, now
        state.save()
        live.publish("overview", "pipeline.status_changed")
    return status


def is_stale(module: Module, now) -> bool:
    """Data older than two poll intervals is stale: shown as such, never as current."""
    if module.last_success_at is None:
        return True
    return now - module.last_success_at > timedelta(seconds=2 * module.poll_interval)


def fresh_until(module: Module):
    if module.last_success_at is None:
        return None
    return module.last_success_at + timedelta(seconds=2 * module.poll_interval)


# --- thresholds ------------------------------------------------------------------------------


def threshold_value(threshold: Threshold, now, module: Module | None, source=None):
    scope = {"module": module.name} if module is not None else None
    evaluator = Evaluator(threshold.expr, source or DbSource(), scope)
    return single(evaluator.at(now))


def baseline_for(threshold: Threshold, now, module: Module | None) -> float | None:
    """Fixed baseline if set; else the average of the expression's hourly values over the
    previous 7 days (None until there is history), computed at most every BASELINE_REFRESH."""
    if threshold.baseline:
        return threshold.baseline
    key = (threshold.pk, threshold.expr, module.pk if module is not None else None)
    at = now.timestamp()
    with _baseline_lock:
        cached = _baselines.get(key)
    # Reused only when computed in the last BASELINE_REFRESH (never from the future: tests
    # move the clock both ways).
    if cached is not None and 0 <= at - cached[0] < BASELINE_REFRESH.total_seconds():
        return cached[1]
    value = _compute_baseline(threshold, now, module)
    with _baseline_lock:
        _baselines[key] = (at, value)
    return value


def forget_baselines() -> None:
    with _baseline_lock:
        _baselines.clear()


def _compute_baseline(threshold: Threshold, now, module: Module | None) -> float | None:
    source = DbSource(resolution_for(BASELINE_WINDOW))
    values = []
    for hours in range(1, int(BASELINE_WINDOW.total_seconds() // 3600) + 1, 6):
        try:
            value = threshold_value(threshold, now - timedelta(hours=hours), module, source)
        except PromQLError:
            return None
        if value is not None:
            values.append(value)
    return sum(values) / len(values) if values else None


def _record_level(threshold, module, value, baseline, now) -> str:
    level = threshold.level(value, baseline)
    status, created = MetricStatus.objects.get_or_create(
        threshold=threshold,
        module=module,
        defaults={
            "level": level,
            "value": value,
            "baseline": baseline,
            "evaluated_at": now,
            "changed_at": now,
        },
    )
    if not created:
        changed = status.level != level
        before = status.level
        status.value, status.baseline, status.evaluated_at = value, baseline, now
        if changed:
            status.level, status.changed_at = level, now
            StatusChange.objects.create(
                subject=StatusChange.Subject.METRIC,
                module=module,
                threshold=threshold,
                from_status=before,
                to_status=level,
                at=now,
                reason=f"value {value!r}" if value is not None else "no data",
            )
            audit.record(
                "metric.status_changed",
                object_type="monitoring.threshold",
                object_id=str(threshold.pk),
                object_repr=f"{threshold.name} ({module.name if module else 'system'})",
                before={"level": before},
                after={"level": level, "value": value},
            )
        status.save()
    return level


def _evaluate(thresholds, module: Module | None, now, source) -> list[str]:
    """Value, baseline (where relative) and band of each threshold, recorded."""
    levels = []
    for threshold in thresholds:
        try:
            value = threshold_value(threshold, now, module, source)
        except PromQLError:
            value = None
        baseline = baseline_for(threshold, now, module) if threshold.relative_to_baseline else None
        levels.append(_record_level(threshold, module, value, baseline, now))
    return levels


def evaluate_module_thresholds(module: Module, now, thresholds=None) -> list[str]:
    if thresholds is None:
        thresholds = Threshold.objects.filter(scope=module.kind, enabled=True)
    return _evaluate(thresholds, module, now, DbSource(module_ids=[module.pk]))


def evaluate_system_thresholds(now=None) -> list[str]:
    now = now or timezone.now()
    with transaction.atomic():
        thresholds = Threshold.objects.filter(scope=Threshold.SYSTEM, enabled=True)
        levels = _evaluate(thresholds, None, now, DbSource())
    live.publish("overview", "system.thresholds_evaluated")
    return levels


# --- modules and annotations from the console's pages (issue 4) -------------------------------


def _module_summary(module: Module) -> dict:
    """What the audit trail keeps of a module's settings: everything but the token's value."""
    return {
        "kind": module.kind,
        "base_url": module.base_url,
        "poll_interval": module.poll_interval,
        "enabled": module.enabled,
        "labels": module.labels,
        "token": "set" if module.token else "none",
    }


def create_module(actor, name: str, kind: str, base_url: str, **fields) -> Module:
    """Add a module from the console; it is due for its first poll at once."""
    with transaction.atomic():
        module = Module(name=name, kind=kind, base_url=base_url, **fields)
        module.full_clean()
        module.save()
        audit.record("module.create", actor=actor, obj=module, after=_module_summary(module))
        live.publish("overview", "module.changed", module=module.pk)
    return module


# Changing where or how often a module is polled makes it due at once, on the new settings.
_REPOLL_FIELDS = {"base_url", "token", "poll_interval", "enabled"}


def update_module(module: Module, actor, **changes) -> Module:
    """Change a module's settings. `token=None` keeps the stored token, `token=""` clears it.
    The name is its identity in the metric store (the `module` label), so it never changes."""
    changes.pop("name", None)
    if changes.get("token") is None:
        changes.pop("token", None)
    now = timezone.now()
    with transaction.atomic():
        module = Module.objects.select_for_update(no_key=True).get(pk=module.pk)
        before = _module_summary(module)
        changed = [f for f, value in changes.items() if getattr(module, f) != value]
        if not changed:
            return module
        for field in changed:
            setattr(module, field, changes[field])
        module.full_clean()
        fields = list(changed)
        if _REPOLL_FIELDS & set(changed):
            module.next_poll_at = None
            fields.append("next_poll_at")
        module.save(update_fields=fields)
        after = _module_summary(module)
        if "token" in changed and module.token and before["token"] == "set":
            after["token"] = "changed"
        audit.record("module.update", actor=actor, obj=module, before=before, after=after)
        if "enabled" in changed:
            update_pipeline_status(now)
        live.publish(f"module.{module.name}", "module.changed", module=module.pk)
        live.publish("overview", "module.changed", module=module.pk)
    return module


def create_annotation(
    author, text: str, starts_at, ends_at=None, module: Module | None = None, metric: str = ""
):
    """An operator's note on a module (or the whole pipeline) for a time span."""
    from .models import Annotation

    with transaction.atomic():
        annotation = Annotation(
            author=author,
            text=text,
            starts_at=starts_at,
            ends_at=ends_at,
            module=module,
            metric=metric,
        )
        annotation.full_clean()
        annotation.save()
        audit.record(
            "annotation.create",
            actor=author,
            obj=annotation,
            after={
                "module": module.name if module else None,
                "metric": metric,
                "text": text,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat() if ends_at else None,
            },
        )
        from .charts import annotations_changed

        transaction.on_commit(annotations_changed)
        if module is not None:
            live.publish(f"module.{module.name}", "annotation.created", annotation=annotation.pk)
        live.publish("overview", "annotation.created", annotation=annotation.pk)
    return annotation


def end_annotation(annotation, actor, at=None):
    """Close an ongoing annotation's span (now by default); one already ended stays as is."""
    from .charts import annotations_changed
    from .models import Annotation

    at = at or timezone.now()
    with transaction.atomic():
        annotation = Annotation.objects.select_for_update().get(pk=annotation.pk)
        if annotation.ends_at is not None:
            return annotation
        annotation.ends_at = max(at, annotation.starts_at)
        annotation.save(update_fields=["ends_at"])
        audit.record(
            "annotation.end",
            actor=actor,
            obj=annotation,
            before={"ends_at": None},
            after={"ends_at": annotation.ends_at.isoformat()},
        )
        transaction.on_commit(annotations_changed)
        if annotation.module_id is not None:
            live.publish(
                f"module.{annotation.module.name}", "annotation.updated", annotation=annotation.pk
            )
        live.publish("overview", "annotation.updated", annotation=annotation.pk)
    return annotation
