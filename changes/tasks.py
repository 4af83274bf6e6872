"""Change timers and drift, driven by beat scans over the database (never countdown tasks)."""

from celery import shared_task

from . import drift, services


@shared_task(acks_late=True, ignore_result=True)
def scan_change_timers() -> dict:
    """Every minute (beat): note overdue emergency formal requests (24 h) and overdue
    post-implementation reviews (24 h) once each."""
    return services.scan_due()


@shared_task(acks_late=True, ignore_result=True)
def scan_config_versions() -> dict:
    """Every 30 s (beat): record each module's running config version; raise drift alerts."""
    return drift.record_config_versions()


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
