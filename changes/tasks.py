"""Thin Celery tasks of the changes app; the work is in the services."""

from celery import shared_task


# --- maintenance windows (issue 9) -----------------------------------------------------------
@shared_task(acks_late=True, ignore_result=True)
def scan_maintenance_windows():
    """Start windows whose start has come and end those whose end has come (once each)."""
    from . import maintenance

    return maintenance.scan_windows()


@shared_task(acks_late=True, ignore_result=True)
def scan_maintenance_reminders():
    """Send the 004 reminders (T-7d, T-3d, T-1d, T-1h) that are due, once each."""
    from . import maintenance

    return maintenance.scan_reminders()


@shared_task(acks_late=True, ignore_result=True)
def generate_maintenance_windows():
    """Extend every enabled recurrence's windows to its horizon."""
    from . import maintenance

    return maintenance.generate_all()
