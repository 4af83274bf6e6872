"""Live evidence shown next to a checklist item (000 "Daily Operations Checklist"), read from
monitoring's models and helpers (never written): module statuses, circuit breakers, queue
depths and DLQ sizes against their thresholds, throughput against baseline, quality score,
batch job results and schedules.

Each function returns `{"level": ok|warning|critical|unknown, "lines": [{label, value, level}]}`;
the tick stores it, so the record says what the operator saw when they ticked.
"""

from datetime import timedelta

from django.utils import timezone

LEVEL_ORDER = {"ok": 0, "unknown": 1, "warning": 2, "critical": 3}
# MetricLevel / Status names from monitoring, mapped onto the four levels above.
_LEVELS = {
    "ok": "ok",
    "healthy": "ok",
    "warning": "warning",
    "degraded": "warning",
    "critical": "critical",
    "unhealthy": "critical",
}
BREAKER_STATES = {0: "CLOSED", 1: "OPEN", 2: "HALF_OPEN"}


def _level(name: str | None) -> str:
    return _LEVELS.get((name or "").lower(), "unknown")


def _result(lines: list[dict], empty: str = "No data yet") -> dict:
    if not lines:
        return {"level": "unknown", "lines": [{"label": empty, "value": "", "level": "unknown"}]}
    worst = max((line["level"] for line in lines), key=LEVEL_ORDER.__getitem__)
    return {"level": worst, "lines": lines}


def _modules(now):
    from monitoring.models import Module
    from monitoring.services import is_stale

    modules = list(Module.objects.filter(enabled=True).order_by("name"))
    for module in modules:
        module.stale = is_stale(module, now)
    return modules


def _thresholds(keys: list[str]) -> list[dict]:
    """The current level of these thresholds (`monitoring` evaluates them on every poll)."""
    from monitoring.charts import format_value
    from monitoring.models import MetricStatus

    rows = (
        MetricStatus.objects.filter(threshold__key__in=keys, threshold__enabled=True)
        .select_related("threshold", "module")
        .order_by("threshold__position")
    )
    lines = []
    for row in rows:
        t = row.threshold
        label = f"{row.module.name} {t.name}" if row.module else t.name
        bands = f"normal {t.normal_text}" if t.normal_text else ""
        lines.append(
            {
                "label": label,
                "value": f"{format_value(row.value, t, row.baseline)} ({bands})".replace(" ()", ""),
                "level": _level(row.level),
            }
        )
    return lines


def modules(now) -> dict:
    lines = []
    for module in _modules(now):
        status = "UNKNOWN (stale)" if module.stale else module.status
        lines.append(
            {
                "label": module.name,
                "value": status,
                "level": "unknown" if module.stale else _level(module.status),
            }
        )
    return _result(lines, "No modules registered")


def breakers(now) -> dict:
    from monitoring.charts import latest

    lines = []
    for item in latest(["gamma_circuit_breaker_state"], _modules(now), now):
        state = BREAKER_STATES.get(int(item.value), "UNKNOWN")
        level = "unknown" if item.stale else ("critical" if state == "OPEN" else "ok")
        if state == "HALF_OPEN" and not item.stale:
            level = "warning"
        lines.append(
            {
                "label": f"{item.module.name} → {item.labels.get('destination', '?')}",
                "value": state + (" (stale)" if item.stale else ""),
                "level": level,
            }
        )
    lines += _thresholds(["system-breakers-open"])
    return _result(lines, "No circuit breaker reported")


def queues(now) -> dict:
    # 000 "Queue Depth Assessment": Alpha buffer < 5000, Beta < 3000, Gamma < 2000 — as the
    # threshold rows hold them (buffer utilisation, Beta queue depth).
    from monitoring.charts import latest

    lines = _thresholds(["alpha-buffer-utilization", "beta-queue-depth"])
    for item in latest(["alpha_buffer_depth", "gamma_delivery_queue_depth"], _modules(now), now):
        limit = 5000 if item.name == "alpha_buffer_depth" else 2000
        level = "unknown" if item.stale else ("ok" if item.value < limit else "warning")
        lines.append(
            {
                "label": f"{item.module.name} {item.name}",
                "value": f"{item.value:,.0f} (threshold {limit:,})",
                "level": level,
            }
        )
    return _result(lines)


def dlq(now) -> dict:
    from monitoring.charts import latest

    lines = _thresholds(["system-error-queue-size", "gamma-dlq-entry-rate"])
    found = {
        (i.module.name, i.name): i
        for i in latest(["gamma_dlq_size", "gamma_dlq_capacity"], _modules(now), now)
    }
    for (module, name), item in found.items():
        if name != "gamma_dlq_size":
            continue
        capacity = found.get((module, "gamma_dlq_capacity"))
        # 000: "Any queue approaching 50% of its configured maximum capacity requires
        # immediate investigation".
        share = item.value / capacity.value if capacity and capacity.value else None
        level = "unknown" if item.stale else ("warning" if share and share >= 0.5 else "ok")
        value = f"{item.value:,.0f}" + (
            f" of {capacity.value:,.0f} ({share:.0%})" if share is not None else ""
        )
        lines.append({"label": f"{module} DLQ", "value": value, "level": level})
    return _result(lines)


def errors(now) -> dict:
    return _result(
        _thresholds(
            [
                "alpha-parse-error-rate",
                "alpha-validation-failure-rate",
                "beta-transform-error-rate",
                "gamma-ack-timeout-rate",
            ]
        )
    )


def alerts(now) -> dict:
    from monitoring.models import Alert, AlertState

    since = now - timedelta(hours=12)
    firing = list(Alert.objects.filter(state=AlertState.FIRING).order_by("-fired_at")[:20])
    lines = [
        {
            "label": alert.name,
            "value": f"firing ({alert.severity or '—'})",
            "level": "critical" if alert.severity in ("critical", "high") else "warning",
        }
        for alert in firing
    ]
    recent = Alert.objects.filter(fired_at__gte=since).count()
    lines.append({"label": "Alerts fired in the last 12 h", "value": str(recent), "level": "ok"})
    return _result(lines)


def throughput(now) -> dict:
    return _result(
        _thresholds(
            [
                "system-overall-throughput",
                "alpha-ingestion-rate",
                "beta-transform-rate",
                "gamma-delivery-rate",
            ]
        )
    )


def success(now) -> dict:
    return _result(
        _thresholds(
            ["beta-transform-error-rate", "gamma-delivery-success-rate", "beta-cache-hit-rate"]
        )
    )


def quality(now) -> dict:
    return _result(_thresholds(["beta-quality-score", "alpha-validation-failure-rate"]))


def incidents(now) -> dict:
    from incidents.models import ACTIVE_STATUSES, Incident

    lines = [
        {
            "label": incident.number,
            "value": f"{incident.severity} {incident.get_status_display()}: {incident.title[:80]}",
            "level": "critical" if incident.severity in ("P1", "P2") else "warning",
        }
        for incident in Incident.objects.filter(status__in=ACTIVE_STATUSES).order_by("severity")[
            :20
        ]
    ]
    return (
        {"level": "ok", "lines": [{"label": "No active incidents", "value": "", "level": "ok"}]}
        if not lines
        else _result(lines)
    )


def oncall(now) -> dict:
    from .oncall import on_call_now

    who = on_call_now(now)
    if not who.covered:
        return _result(
            [{"label": "Primary on call", "value": "nobody (rota gap)", "level": "critical"}]
        )
    lines = [{"label": "Primary on call", "value": who.primary.get_username(), "level": "ok"}]
    if who.secondary:
        lines.append({"label": "Secondary", "value": who.secondary.get_username(), "level": "ok"})
    return _result(lines)


def overnight_since(now):
    """Where "overnight" starts: the previous day's end-of-day check (000 "Morning Health
    Verification": "since the previous day's end-of-day verification"), at the start of the
    End of Day checklist's window as the checklist data holds it; 24 hours back without it."""
    from datetime import datetime

    from .models import ChecklistTemplate

    eod = ChecklistTemplate.objects.filter(key="end-of-day").first()
    if eod is None:
        return now - timedelta(hours=24)
    local = timezone.localtime(now)
    # Before today's end-of-day check the previous one was yesterday's (the morning's
    # "previous evening"); once today's has begun, it is the previous one.
    day = local.date() if local.time() >= eod.window_start else local.date() - timedelta(days=1)
    start = datetime.combine(day, eod.window_start)
    return timezone.make_aware(start, timezone.get_current_timezone())


def jobs(now) -> dict:
    """000 "Morning Health Verification": every overnight batch job ended with SUCCESS, within
    its duration window and on time; failed, late and overrunning runs, and jobs suspended now,
    are the ones to remediate. Runs come from monitoring's job history (JobRun)."""
    from monitoring.models import Job, JobRun

    since = overnight_since(now)
    runs = list(
        JobRun.objects.filter(scheduled_for__gte=since, scheduled_for__lte=now)
        .select_related("job")
        .order_by("scheduled_for", "pk")
    )
    lines = []
    counts = {status: 0 for status in JobRun.Status.values}
    for run in runs:
        counts[run.status] += 1
        job, at = run.job, f"{timezone.localtime(run.scheduled_for):%H:%M}"
        label = f"{job.name} ({job.module}) {at}"
        if run.status == JobRun.Status.FAILED:
            lines.append(
                {
                    "label": label,
                    "value": f"FAILED: {run.error or 'no reason given'}"[:200],
                    "level": "critical",
                }
            )
            continue
        delay = run.start_delay_seconds
        if run.late_alerted_at or (delay is not None and delay > job.start_grace_seconds):
            late = f" by {delay / 60:.0f} min" if delay is not None else ""
            lines.append({"label": label, "value": f"started late{late}", "level": "warning"})
        if run.overrun_alerted_at or run.versus_expected == "over":
            took = (
                f"{run.duration_seconds / 60:.0f} min" if run.duration_seconds else "still running"
            )
            lines.append(
                {
                    "label": label,
                    "value": f"overran: {took} (expected at most {job.expected_max_minutes:g} min)",
                    "level": "warning",
                }
            )
    for job in Job.objects.filter(status=Job.Status.SUSPENDED).order_by("name"):
        lines.append(
            {
                "label": f"{job.name} ({job.module})",
                "value": f"suspended: {job.status_reason or 'no reason given'}"[:200],
                "level": "warning",
            }
        )
    summary = (
        f"{len(runs)} runs: {counts['success']} succeeded, {counts['failed']} failed, "
        f"{counts['running'] + counts['pending']} in flight, {counts['skipped']} skipped"
    )
    lines.insert(
        0,
        {
            "label": f"Since {timezone.localtime(since):%a %H:%M}",
            "value": summary if runs else "no job ran",
            "level": "ok" if runs else "unknown",
        },
    )
    return _result(lines)


def job_schedule(now) -> dict:
    """000 "End of Day Procedures": every batch job scheduled for the night; a suspended job or
    an active one without a next run will not run."""
    from monitoring.models import Job

    lines = []
    for job in Job.objects.order_by("name"):
        if job.status == Job.Status.SUSPENDED:
            value, level = f"suspended: {job.status_reason or 'no reason given'}"[:200], "warning"
        elif job.next_run_at is None:
            value, level = "not scheduled", "warning"
        else:
            value, level = f"next {timezone.localtime(job.next_run_at):%a %H:%M}", "ok"
        lines.append({"label": f"{job.name} ({job.module})", "value": value, "level": level})
    return _result(lines, "No batch job defined")


FUNCTIONS = {
    "modules": modules,
    "breakers": breakers,
    "queues": queues,
    "dlq": dlq,
    "errors": errors,
    "alerts": alerts,
    "throughput": throughput,
    "success": success,
    "quality": quality,
    "incidents": incidents,
    "oncall": oncall,
    "jobs": jobs,
    "job_schedule": job_schedule,
}


def for_item(kind: str, now=None) -> dict | None:
    """The evidence for one checklist item, or None where the console does not know it."""
    function = FUNCTIONS.get(kind)
    return function(now or timezone.now()) if function else None
