"""Incident clocks and deliveries, driven by due-time scans over the database (never by
countdown tasks): a lost message, a dead worker or a restarted Redis delays work by one scan
at most, and the do-once rows (unique escalation step, unique breach) make reruns harmless."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import notify, services
from .models import WatchdogRun

log = logging.getLogger(__name__)

# An escalation this far past due was missed by three scans (they run every 10 s); with the
# watchdog every 60 s, a missed escalation fires at most 90 s late (issue 5: 2 minutes).
WATCHDOG_GRACE = timedelta(seconds=30)


@shared_task(acks_late=True, ignore_result=True)
def scan_incident_timers() -> dict:
    """Every 10 s (beat): fire due escalations, record breaches, hand out due deliveries."""
    totals = services.scan_due()
    claimed = notify.claim_due()
    for pk, attempt in claimed:
        transaction.on_commit(
            lambda pk=pk, attempt=attempt: deliver_notification.delay(pk, attempt)
        )
    totals["deliveries"] = len(claimed)
    return totals


@shared_task(acks_late=True, ignore_result=True)
def deliver_notification(pk: int, attempt: int) -> str:
    """One claimed delivery; a stale claim (already sent, or re-claimed) returns early."""
    return notify.deliver(pk, attempt)


@shared_task(ignore_result=True)
def watchdog_incident_escalations() -> dict:
    """Every minute (beat), never retried: finds escalations overdue but not fired, fires
    them itself, and stamps its own heartbeat (`incidents_watchdog_last_run_timestamp`)."""
    now = timezone.now()
    overdue = services.overdue_escalations(now, WATCHDOG_GRACE)
    refired = 0
    for pk in overdue:
        log.error("incident %s: escalation overdue by more than %s; firing it", pk, WATCHDOG_GRACE)
        refired += services.refire(pk, now)["escalations"]
    WatchdogRun.objects.update_or_create(
        name="escalations",
        defaults={"at": now, "overdue_found": len(overdue), "refired": refired},
    )
    return {"overdue": len(overdue), "refired": refired}
