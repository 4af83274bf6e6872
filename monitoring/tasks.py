from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import alerting, rollups, routing, services, silences
from .models import Module
from .poller import poll


@shared_task(ignore_result=True)
def scan_module_polls() -> int:
    """Poll every module whose poll is due, concurrently, and record each outcome."""
    due = services.claim_due_modules()
    if not due:
        return 0
    results = poll([(m.pk, m.base_url, m.token) for m in due])
    services.record_polls(results)
    return len(results)


@shared_task(ignore_result=True)
def evaluate_system_thresholds() -> None:
    services.evaluate_system_thresholds(timezone.now())


@shared_task(ignore_result=True)
def roll_up_samples() -> None:
    rollups.roll_up("1m")
    rollups.roll_up("1h")


@shared_task(ignore_result=True)
def prune_samples() -> None:
    rollups.prune()


@shared_task(ignore_result=True)
def poll_module(pk: int) -> None:
    """Poll one module now (the "poll now" button), whatever its schedule."""
    module = Module.objects.filter(pk=pk, enabled=True).first()
    if module is not None:
        services.record_poll(module, poll([(module.pk, module.base_url, module.token)])[0])


@shared_task(ignore_result=True)
def evaluate_alert_rules() -> None:
    interval = settings.CELERY_BEAT_SCHEDULE["evaluate-alert-rules"]["schedule"]
    alerting.evaluate_all(alerting.evaluation_time(timezone.now(), interval))


@shared_task(ignore_result=True)
def scan_capacity_thresholds() -> None:
    """001 "Capacity Thresholds" as alerts (monitoring/capacity.py)."""
    from . import capacity

    capacity.evaluate_thresholds(timezone.now())


@shared_task(ignore_result=True)
def scan_backups() -> None:
    """Overdue backups, and the time since the last DR drill (monitoring/backups.py)."""
    from . import backups

    now = timezone.now()
    backups.scan_backups(now)
    backups.scan_dr_drills(now)


@shared_task(ignore_result=True)
def scan_jobs() -> None:
    """Batch jobs: trigger the due ones, follow the running ones (monitoring/jobs.py)."""
    from . import actions, jobs

    jobs.scan()
    actions.expire_stale_runs()


@shared_task(acks_late=True, ignore_result=True)
def scan_alert_groups() -> int:
    """Every 5 s (beat): flush the alert groups that are due, then hand their deliveries to
    the incidents' delivery task at once rather than at its next scan."""
    from django.db import transaction

    from incidents import notify
    from incidents.tasks import deliver_notification

    flushed = routing.scan_due(timezone.now())
    if flushed:
        for pk, attempt in notify.claim_due():
            transaction.on_commit(
                lambda pk=pk, attempt=attempt: deliver_notification.delay(pk, attempt)
            )
    return flushed


@shared_task(acks_late=True, ignore_result=True)
def scan_expiring_silences() -> int:
    """Every 30 s (beat): warn the authors of silences about to expire, once each."""
    return silences.warn_expiring(timezone.now())
