"""Two people or two workers acting at once leave one consistent result (PostgreSQL)."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from changes import maintenance
from changes.models import MaintenanceWindow
from console.errors import Refused
from incidents.models import Notification, NotificationChannel
from monitoring.models import Silence

from .factories import window


def _together(*calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            barrier.wait()
            results.append(call())
        except Refused as exc:
            errors.append(exc)
        except Exception as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_windows_scheduled_at_once_one_wins(mpolicy, modules, opslead):
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    gamma = modules["gamma"]
    results, errors = _together(
        lambda: window(opslead, [gamma], start=start, title="first"),
        lambda: window(opslead, [gamma], start=start + timedelta(hours=1), title="second"),
    )
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], Refused) and "overlaps" in errors[0].detail
    assert MaintenanceWindow.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_start_end_and_remind_once(mpolicy, modules, opslead):
    NotificationChannel.objects.create(name="Stakeholders", kind="email", target="s@example.com")
    start = (timezone.now() + timedelta(days=8)).replace(microsecond=0)
    made = window(opslead, [modules["gamma"]], start=start)
    with time_machine.travel(start - timedelta(hours=1), tick=False):
        _, errors = _together(maintenance.scan_reminders, maintenance.scan_reminders)
    assert errors == []
    assert list(made.reminders.values_list("state", "note")) == [("sent", "")] * 4
    # Each reminder queued once on the channel (delivery is the notification scan's).
    assert Notification.objects.filter(channel__isnull=False).count() == 4
    with time_machine.travel(start, tick=False):
        _, errors = _together(maintenance.scan_windows, maintenance.scan_windows)
    assert errors == []
    assert Silence.objects.count() == 1
    made.refresh_from_db()
    assert made.status == "in_progress"
    with time_machine.travel(made.end, tick=False):
        _together(maintenance.scan_windows, maintenance.scan_windows)
    made.refresh_from_db()
    assert made.status == "completed"
