"""Shift scans, driven by due-time columns (never countdown tasks)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def scan_shift_reminders() -> int:
    """Every 30 s (beat): remind shifts ending within 15 minutes to prepare the handoff."""
    return services.scan_shift_reminders()


@shared_task(acks_late=True, ignore_result=True)
def scan_rota_gaps() -> dict:
    """Every 15 min (beat): raise spans of the coming two weeks with nobody primary on call."""
    return services.scan_rota_gaps()
