"""The clocks with frozen time: escalation matrix walks, breaches, do-once under redelivery,
concurrency and restarts, and the watchdog."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from incidents import services, tasks
from incidents.models import Breach, Escalation, Incident, Notification, Status, WatchdogRun

pytestmark = pytest.mark.django_db


def _scan_at(when):
    with time_machine.travel(when, tick=False):
        return tasks.scan_incident_timers()


def _steps(incident):
    return list(incident.escalations.order_by("fired_at", "step").values_list("role", "trigger"))


def _breaches(incident):
    return sorted(incident.breaches.values_list("timer", flat=True))


def test_p1_walks_every_step_of_the_matrix(declare, operator, staff):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P1")
    assert _steps(incident) == [("On-call Engineer", "time")]

    _scan_at(start + timedelta(minutes=5, seconds=1))
    assert _breaches(incident) == ["ack"]
    assert incident.timeline.filter(kind="breach", text__startswith="Acknowledgement").count() == 1

    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        services.acknowledge(operator, incident.pk)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        services.move(operator, incident.pk, Status.INVESTIGATING)

    _scan_at(start + timedelta(minutes=15, seconds=5))
    assert _breaches(incident) == ["ack", "update"]  # no update posted within 15 min

    _scan_at(start + timedelta(minutes=30, seconds=5))
    assert _steps(incident)[-1] == ("Engineering Manager", "time")
    # The mitigation window (30 min) ran out at the same moment: recorded, but the step
    # engaged at that moment already covers it.
    assert "mitigation" in _breaches(incident)
    assert incident.escalations.count() == 2

    _scan_at(start + timedelta(minutes=60, seconds=5))
    assert _steps(incident)[-1] == ("Director", "time")
    _scan_at(start + timedelta(hours=4, seconds=5))
    assert _steps(incident)[-1] == ("VP/CTO", "time")

    assert [r for r, _ in _steps(incident)] == [
        "On-call Engineer",
        "Engineering Manager",
        "Director",
        "VP/CTO",
    ]
    # Each step notified the role's holders, in the console and by email.
    for username in ("engmanager", "director", "vp"):
        assert Notification.objects.filter(
            incident=incident, event="escalation", user=staff[username], kind="console"
        ).exists()
    # Lateness: each fired within one scan of its due time.
    for escalation in incident.escalations.exclude(step=0):
        assert timedelta(0) <= escalation.fired_at - escalation.due_at <= timedelta(seconds=15)
    incident.refresh_from_db()
    assert incident.next_escalation_at is None

    _scan_at(start + timedelta(hours=8))
    assert incident.escalations.count() == 4  # nothing left to fire


def test_p1_unanswered_escalates_early_on_the_response_breach(declare, staff):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P1")
    _scan_at(start + timedelta(minutes=15, seconds=1))
    assert _steps(incident)[-1] == ("Engineering Manager", "response")
    _scan_at(start + timedelta(minutes=30, seconds=1))
    assert _steps(incident)[-1] == ("Director", "mitigation")


def test_p4_walks_through_its_resolution_deadline(declare, opslead):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P4")
    _scan_at(start + timedelta(minutes=30, seconds=1))
    assert _steps(incident)[-1] == ("Operations Lead", "time")
    _scan_at(start + timedelta(hours=1, seconds=1))
    assert _breaches(incident) == ["ack"]
    _scan_at(start + timedelta(days=6))
    assert "resolution" not in _breaches(incident)
    _scan_at(start + timedelta(days=7, seconds=1))
    assert _breaches(incident) == ["ack", "resolution"]
    entry = incident.timeline.filter(kind="breach").last()
    assert entry.text.startswith("Resolution deadline breached")
    _scan_at(start + timedelta(days=8))
    assert Breach.objects.filter(incident=incident).count() == 2


def test_duplicate_delivery_fires_once(declare, staff):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P2")
    when = start + timedelta(minutes=30, seconds=2)
    _scan_at(when)
    counts = (
        Escalation.objects.count(),
        Breach.objects.count(),
        Notification.objects.count(),
        incident.timeline.count(),
    )
    _scan_at(when)  # the same message delivered again
    _scan_at(when + timedelta(seconds=10))  # and the next beat
    assert (
        Escalation.objects.count(),
        Breach.objects.count(),
        Notification.objects.exclude(state="pending").count() + Notification.objects.filter(
            state="pending").count(),
        incident.timeline.count(),
    ) == counts  # fmt: skip
    assert incident.escalations.filter(role="Senior Engineer").count() == 1


def test_worker_dying_mid_step_is_fired_by_the_next_scan(declare, staff):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P2")
    when = start + timedelta(minutes=30, seconds=1)
    with mock.patch("incidents.notify.queue_channels", side_effect=SystemExit("killed")):
        with pytest.raises(SystemExit):
            _scan_at(when)
    # The step's transaction rolled back with the worker: nothing half-done.
    assert not incident.escalations.filter(role="Senior Engineer").exists()
    assert not Notification.objects.filter(user=staff["senior"]).exists()
    _scan_at(when + timedelta(seconds=10))  # the restarted worker's first scan
    assert incident.escalations.filter(role="Senior Engineer").count() == 1
    assert Notification.objects.filter(user=staff["senior"], kind="console").count() == 1


def test_watchdog_refires_an_overdue_escalation_and_stamps_its_heartbeat(declare, staff):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P2")
    # The scan never ran (beat down): the watchdog finds the step overdue and fires it.
    with time_machine.travel(start + timedelta(minutes=32), tick=False):
        result = tasks.watchdog_incident_escalations()
    assert result == {"overdue": 1, "refired": 1}
    assert incident.escalations.filter(role="Senior Engineer").count() == 1
    run = WatchdogRun.objects.get(name="escalations")
    assert run.overdue_found == 1
    with time_machine.travel(start + timedelta(minutes=33), tick=False):
        assert tasks.watchdog_incident_escalations() == {"overdue": 0, "refired": 0}


def test_watchdog_heartbeat_is_on_metrics(client, declare):
    tasks.watchdog_incident_escalations()
    body = client.get("/metrics").content.decode()
    assert "incidents_watchdog_last_run_timestamp_seconds" in body
    assert "incidents_active" in body


def test_acknowledge_stops_the_ack_clock_and_resolve_stops_all(declare, operator):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P3")
        services.acknowledge(operator, incident.pk)
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    _scan_at(start + timedelta(days=2))
    assert _breaches(incident) == []
    assert Incident.objects.get(pk=incident.pk).next_timer_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_scanning_at_once_fire_each_step_once(declare, staff):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incidents = [declare("P2") for _ in range(6)]
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait()
            services.scan_due(start + timedelta(minutes=30, seconds=1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for incident in incidents:
        assert incident.escalations.filter(role="Senior Engineer").count() == 1


def test_a_breach_tells_the_commander_in_the_console(declare, operator):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        incident = declare("P2")
    _scan_at(start + timedelta(minutes=15, seconds=1))
    note = Notification.objects.get(incident=incident, user=operator, event="breach")
    assert note.kind == "console" and "acknowledgement deadline breached" in note.subject
