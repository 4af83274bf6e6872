from celery import shared_task
from django.utils import timezone

from . import alerting, rollups, services
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
    alerting.evaluate_all(timezone.now())


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


def scan_jobs() -> None:
    """Batch jobs: trigger the due ones, follow the running ones (monitoring/jobs.py)."""
    from . import actions, jobs

    jobs.scan()
    actions.expire_stale_runs()
