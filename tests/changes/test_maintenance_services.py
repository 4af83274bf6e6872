"""Scheduling rules, approval, the start/end lifecycle (silence), reminders and checklists."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from changes import maintenance
from changes.models import (
    MaintenanceChecklistItem,
    MaintenanceReminder,
    MaintenanceWindow,
    Phase,
)
from console.errors import Refused
from console.models import AuditEntry
from incidents.models import Incident
from monitoring.alerting import evaluate_rule
from monitoring.models import Alert, AlertRule, Silence
from monitoring.promql import MemorySource
from tests.factories import UserFactory

from .factories import window

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
SUNDAY = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 02:00 in the console's zone (UTC)

Status = MaintenanceWindow.Status


@pytest.fixture(autouse=True)
def _monday():
    with time_machine.travel(T0, tick=False):
        yield


# --- rules ---------------------------------------------------------------------------------------
def test_end_before_start_is_refused(mpolicy, modules, opslead):
    with pytest.raises(Refused, match="end after it starts") as exc:
        window(opslead, [modules["gamma"]], start=SUNDAY, hours=-1)
    assert exc.value.field == "end"


def test_weekly_longer_than_four_hours_is_refused(mpolicy, modules, opslead):
    with pytest.raises(Refused, match="Standard Weekly window lasts 4 h at most"):
        window(opslead, [modules["gamma"]], start=SUNDAY, hours=5)
    window(opslead, [modules["gamma"]], start=SUNDAY, hours=4)  # exactly the cap is fine


def test_monthly_cap_is_eight_hours_and_emergency_has_none(mpolicy, modules, engmanager):
    with pytest.raises(Refused, match="Monthly window lasts 8 h at most"):
        window(
            engmanager, [modules["beta"]], type="monthly", start=T0 + timedelta(days=20), hours=9
        )
    made = window(
        engmanager,
        [modules["beta"]],
        type="emergency",
        start=T0 + timedelta(hours=1),
        hours=12,
        emergency_reason="CVE in the TLS library",
    )
    assert made.duration == timedelta(hours=12)


def test_weekly_inside_its_48h_notice_needs_the_emergency_path(mpolicy, modules, opslead):
    with pytest.raises(Refused, match="48 h external notice") as exc:
        window(opslead, [modules["gamma"]], start=T0 + timedelta(hours=30))
    assert "emergency path" in exc.value.detail
    # The same time through the emergency path, with a reason, is accepted.
    with pytest.raises(Refused, match="needs a reason"):
        window(opslead, [modules["gamma"]], type="emergency", start=T0 + timedelta(hours=30))
    made = window(
        opslead,
        [modules["gamma"]],
        type="emergency",
        start=T0 + timedelta(hours=30),
        emergency_reason="Expiring certificate",
    )
    assert made.status == Status.APPROVED  # the Operations Lead approves Emergency windows


def test_monthly_needs_two_weeks_notice(mpolicy, modules, engmanager):
    with pytest.raises(Refused, match="1 week internal and 2 weeks external"):
        window(engmanager, [modules["beta"]], type="monthly", start=T0 + timedelta(days=13))
    window(engmanager, [modules["beta"]], type="monthly", start=T0 + timedelta(days=15))


def test_overlap_on_a_shared_module_is_refused(mpolicy, modules, opslead):
    first = window(opslead, [modules["gamma"], modules["beta"]], start=SUNDAY, hours=4)
    with pytest.raises(Refused, match=f"overlaps {first.number}"):
        window(opslead, [modules["gamma"]], start=SUNDAY + timedelta(hours=3), hours=1)
    # Other modules, or right after it, are fine.
    window(opslead, [modules["alpha"]], start=SUNDAY, hours=4)
    window(opslead, [modules["gamma"]], start=SUNDAY + timedelta(hours=4), hours=1)
    # A cancelled window no longer blocks its time.
    maintenance.cancel_window(opslead, first.pk, "Postponed")
    window(opslead, [modules["beta"]], start=SUNDAY, hours=2)


def test_start_in_the_past_and_no_module_are_refused(mpolicy, modules, opslead):
    with pytest.raises(Refused, match="in the past"):
        window(
            opslead,
            [modules["gamma"]],
            type="emergency",
            start=T0 - timedelta(hours=1),
            emergency_reason="x",
        )
    with pytest.raises(Refused, match="at least one module"):
        window(opslead, [], start=SUNDAY)


# --- approval and permissions -----------------------------------------------------------
def test_operator_requests_and_only_the_approving_role_approves(
    mpolicy, modules, operator, opslead, engmanager
):
    requested = window(operator, [modules["gamma"]], start=SUNDAY)
    assert requested.status == Status.REQUESTED and requested.reminders.count() == 0
    monthly = window(operator, [modules["beta"]], type="monthly", start=T0 + timedelta(days=20))
    with pytest.raises(PermissionDenied, match="Engineering Manager or above"):
        maintenance.approve_window(opslead, monthly.pk)
    maintenance.approve_window(engmanager, monthly.pk)
    approved = maintenance.approve_window(opslead, requested.pk)
    assert approved.status == Status.APPROVED and approved.approved_by == "opslead"
    assert set(approved.reminders.values_list("key", flat=True)) == {"T-7d", "T-3d", "T-1d", "T-1h"}
    # T-7d was already past when approved (5 days ahead): recorded as skipped, not sent late.
    assert approved.reminders.get(key="T-7d").state == MaintenanceReminder.State.SKIPPED
    assert AuditEntry.objects.filter(
        action="maintenance.approve", object_id=str(approved.pk)
    ).exists()


def test_viewer_and_outsider_may_not_schedule(mpolicy, modules, viewer, outsider):
    for user in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            window(user, [modules["gamma"]], start=SUNDAY)
    assert not MaintenanceWindow.objects.exists()


def test_requested_window_never_approved_is_cancelled_at_its_start(mpolicy, modules, operator):
    made = window(operator, [modules["gamma"]], start=SUNDAY)
    with time_machine.travel(SUNDAY, tick=False):
        assert maintenance.scan_windows()["cancelled"] == 1
    made.refresh_from_db()
    assert made.status == Status.CANCELLED and made.silence is None


# --- the running window: silence on, silence off --------------------------------------------
@pytest.fixture
def alerting(roles):
    call_command("load_policy", verbosity=0)
    oncall = UserFactory(username="oncall")
    oncall.groups.add(roles["On-call Engineer"].group)


def _gamma_down(at):
    source = MemorySource()
    labels = {"module": "gamma", "instance": "gamma-1", "destination": "analytics_warehouse"}
    source.add({"__name__": "gamma_destination_status", **labels}, [(at.timestamp(), 0.0)])
    source.add({"__name__": "gamma_circuit_breaker_state", **labels}, [(at.timestamp(), 1.0)])
    for name in ("gamma_circuit_breaker_open", "gamma_destination_down"):
        evaluate_rule(AlertRule.objects.get(name=name), at, source)


def test_silence_lifecycle_and_a_firing_gamma_alert_pages_no_one(
    alerting, modules, opslead, client, django_capture_on_commit_callbacks
):
    made = window(opslead, [modules["gamma"]], start=SUNDAY, hours=4)
    with time_machine.travel(SUNDAY + timedelta(seconds=5), tick=False):
        client.force_login(opslead)
        assert maintenance.scan_windows()["started"] == 1
        assert maintenance.scan_windows()["started"] == 0  # fires once
        made.refresh_from_db()
        assert made.status == Status.IN_PROGRESS
        silence = made.silence
        assert silence.created_by_name == f"maintenance {made.pk}"
        assert silence.ends_at == made.end
        listed = client.get("/api/v1/silences/").json()
        rows = listed["results"] if isinstance(listed, dict) else listed
        mine = [s for s in rows if s["id"] == silence.pk]
        assert mine and mine[0]["status"]["state"] == "active"
        assert mine[0]["createdBy"] == f"maintenance {made.pk}"
        active = client.get("/api/v1/maintenance-windows/?active=true").json()
        assert [w["id"] for w in active["results"]] == [made.pk]
    for minutes in (1, 2, 6, 7):
        at = SUNDAY + timedelta(minutes=minutes)
        with time_machine.travel(at, tick=False):
            _gamma_down(at)
    assert Alert.objects.filter(state="firing", labels__module="gamma").exists()
    assert not Incident.objects.exists()  # silenced: pages no one, opens nothing
    end = made.end
    with time_machine.travel(end, tick=False):
        assert maintenance.scan_windows()["ended"] == 1
        assert maintenance.scan_windows()["ended"] == 0
    made.refresh_from_db()
    assert made.status == Status.COMPLETED and made.ended_at == end
    assert Silence.objects.get(pk=silence.pk).state(end) == "expired"
    assert AuditEntry.objects.filter(action="maintenance.end", object_id=str(made.pk)).exists()
    # Alerts flow again once the window is over: a new episode opens an incident.
    Alert.objects.all().delete()
    for minutes in (1, 2, 6, 7):
        at = end + timedelta(minutes=minutes)
        with time_machine.travel(at, tick=False):
            _gamma_down(at)
    assert Incident.objects.count() == 1


def test_ending_early_by_hand_expires_the_silence_and_reanchors_post_items(
    mpolicy, modules, opslead
):
    made = window(opslead, [modules["gamma"]], start=SUNDAY, hours=4)
    with time_machine.travel(SUNDAY, tick=False):
        maintenance.scan_windows()
    early = SUNDAY + timedelta(hours=1)
    with time_machine.travel(early, tick=False):
        maintenance.end_window(made.pk, by=opslead)
        made.refresh_from_db()
        assert made.silence.state(early + timedelta(seconds=1)) == "expired"
        assert made.silence.ends_at == early
    assert AuditEntry.objects.filter(action="silence.expire").exists()
    first_post = made.checklist.get(phase=Phase.POST_30M, position=1)
    assert first_post.due_at == early + timedelta(minutes=30)


def test_window_suspends_its_modules_jobs_and_resumes_only_those(mpolicy, modules, opslead):
    from monitoring import jobs
    from monitoring.models import Job
    from monitoring.policy import load_jobs

    load_jobs()
    gamma_jobs = set(Job.objects.filter(module="gamma").values_list("name", flat=True))
    assert gamma_jobs and Job.objects.exclude(module="gamma").exists()
    held = sorted(gamma_jobs)[0]  # an operator's own suspension, for another reason
    jobs.suspend(opslead, held, "Source contract being renegotiated")
    made = window(opslead, [modules["gamma"]], start=SUNDAY, hours=4)
    with time_machine.travel(SUNDAY, tick=False):
        maintenance.scan_windows()
    suspended = set(Job.objects.filter(status=Job.Status.SUSPENDED).values_list("name", flat=True))
    assert suspended == gamma_jobs  # every Gamma job, no other module's
    assert Job.objects.get(name=held).suspension_key == ""
    entry = AuditEntry.objects.get(action="maintenance.start", object_id=str(made.pk))
    assert set(entry.after["jobs_suspended"]) == gamma_jobs - {held}
    with time_machine.travel(made.end, tick=False):
        maintenance.scan_windows()
    still = set(Job.objects.filter(status=Job.Status.SUSPENDED).values_list("name", flat=True))
    assert still == {held}  # the window resumed what it suspended, and nothing else
    assert all(j.next_run_at for j in Job.objects.filter(module="gamma").exclude(name=held))


def test_start_and_end_hooks_are_noops_out_of_state(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    assert maintenance.start_window(made.pk) is None  # not yet due
    assert maintenance.end_window(made.pk) is None  # not running
    assert Silence.objects.count() == 0


# --- reminders --------------------------------------------------------------------------
def _deliver(now=None):
    """Run the notification delivery scan once (as the beat task does)."""
    from incidents import notify

    return [notify.deliver(pk, attempt) for pk, attempt in notify.claim_due(now)]


def test_reminders_fire_once_at_their_due_times(mpolicy, modules, opslead, settings):
    from incidents.models import Notification, NotificationChannel

    NotificationChannel.objects.create(
        name="Stakeholders", kind="email", target="a@example.com, b@example.com"
    )
    # A channel kept to P1/P2 incidents does not take maintenance notices.
    NotificationChannel.objects.create(
        name="Majors", kind="email", target="major@example.com", severities=["P1", "P2"]
    )
    start = T0 + timedelta(days=8)
    made = window(opslead, [modules["gamma"]], start=start)
    due = dict(made.reminders.values_list("key", "due_at"))
    assert due == {
        "T-7d": start - timedelta(days=7),
        "T-3d": start - timedelta(days=3),
        "T-1d": start - timedelta(days=1),
        "T-1h": start - timedelta(hours=1),
    }
    with time_machine.travel(due["T-7d"] - timedelta(seconds=1), tick=False):
        assert maintenance.scan_reminders() == 0
    with time_machine.travel(due["T-7d"], tick=False):
        assert maintenance.scan_reminders() == 1
        assert maintenance.scan_reminders() == 0
        # Queued, not sent by the reminder itself: one row on the channel, and the owner's
        # console message and email.
        queued = Notification.objects.filter(event="maintenance T-7d", incident=None)
        assert sorted(queued.values_list("kind", "target", "state")) == [
            ("console", "opslead", "sent"),
            ("email", "a@example.com, b@example.com", "pending"),
            ("email", "opslead@example.com", "pending"),
        ]
        assert {row.link for row in queued} == {f"/maintenance/{made.pk}/"}
        assert {row.audience for row in queued} == {"responders"}  # T-7d: internal teams
        assert mail.outbox == []
        assert _deliver() == ["sent", "sent"]
    assert sorted(m.to for m in mail.outbox) == [
        ["a@example.com", "b@example.com"],
        ["opslead@example.com"],
    ]
    assert mail.outbox[0].subject.startswith("[T-7d] MAINTENANCE NOTIFICATION")
    assert "System: Data Pipeline System" in mail.outbox[0].body
    sent = made.reminders.get(key="T-7d")
    assert (
        sent.state == "sent" and sent.sent_at == due["T-7d"] and "a@example.com" in sent.recipients
    )
    made.refresh_from_db()
    assert made.announcement_sent_at is None  # T-7d is internal
    with time_machine.travel(due["T-1h"] + timedelta(minutes=5), tick=False):
        assert maintenance.scan_reminders() == 3  # the scan was down: each queued once now
        _deliver()
    assert len(mail.outbox) == 8
    assert not Notification.objects.filter(target="major@example.com").exists()
    assert Notification.objects.get(event="maintenance T-3d", kind="email", user=None).audience == (
        "stakeholders"
    )
    made.refresh_from_db()
    assert made.announcement_sent_at is not None  # T-3d carried the announcement


def test_reminder_delivery_failures_are_retried_and_recorded(mpolicy, modules, opslead):
    """A hook that does not answer: the reminder is queued once, its delivery retried with
    the notification machinery's backoff and bound, the failure recorded on the row."""
    from incidents.models import Notification, NotificationChannel

    # Nothing listens on port 9 of the loopback: the connection is refused at once.
    NotificationChannel.objects.create(
        name="Ops hook", kind="webhook", target="http://127.0.0.1:9/hook"
    )
    start = T0 + timedelta(days=8)
    made = window(opslead, [modules["gamma"]], start=start)
    due = start - timedelta(days=7)
    with time_machine.travel(due, tick=False):
        maintenance.scan_reminders()
        assert "Ops hook" in made.reminders.get(key="T-7d").recipients
        hook = Notification.objects.get(kind="webhook")
        assert hook.payload["window"] == made.number and hook.payload["event"] == "maintenance T-7d"
        assert hook.payload["modules"] == ["gamma"]
        results = [r for r in _deliver() if r != "sent"]
    assert results == ["retry"]
    hook.refresh_from_db()
    assert (
        hook.state == "pending" and hook.attempts == 1 and "Connection refused" in hook.last_error
    )
    at = due
    for _ in range(Notification.MAX_ATTEMPTS - 1):
        at += timedelta(hours=1)
        with time_machine.travel(at, tick=False):
            _deliver()
    hook.refresh_from_db()
    assert hook.state == "failed" and hook.attempts == Notification.MAX_ATTEMPTS
    assert made.reminders.get(key="T-7d").state == "sent"  # queued once, not re-queued


def test_cancelling_skips_the_pending_reminders(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=T0 + timedelta(days=8))
    maintenance.cancel_window(opslead, made.pk, "No longer needed")
    assert set(made.reminders.values_list("state", flat=True)) == {"skipped"}
    with time_machine.travel(made.start, tick=False):
        assert maintenance.scan_reminders() == 0
    assert mail.outbox == []


def test_announcement_is_rendered_editable_then_frozen_once_sent(mpolicy, modules, opslead):
    made = window(
        opslead,
        [modules["gamma"]],
        start=SUNDAY,
        impact="Deliveries delayed up to 10 minutes",
        activities="Rotate certificates",
    )
    assert "Type: Standard Weekly" in made.announcement
    assert "Time: 02:00 - 04:00 UTC" in made.announcement
    assert "Impact: Deliveries delayed up to 10 minutes" in made.announcement
    assert "Actions: Rotate certificates" in made.announcement
    maintenance.edit_announcement(opslead, made.pk, "Gamma maintenance", "Edited text")
    from incidents.models import Notification

    maintenance.send_announcement(opslead, made.pk)
    queued = Notification.objects.filter(event="maintenance notice")
    assert {(n.subject, n.body) for n in queued} == {("Gamma maintenance", "Edited text")}
    _deliver()
    assert mail.outbox[-1].body == "Edited text"
    with pytest.raises(Refused, match="no longer change"):
        maintenance.edit_announcement(opslead, made.pk, "x", "y")


# --- checklists -------------------------------------------------------------------------
def test_checklist_due_times_and_overdue(mpolicy, modules, opslead, operator):
    start = T0 + timedelta(days=3)
    made = window(opslead, [modules["gamma"]], start=start, hours=2)
    end = made.end
    due = {
        phase: made.checklist.filter(phase=phase)
        .order_by()
        .values_list("due_at", flat=True)
        .distinct()
        for phase in Phase.values
    }
    assert list(due[Phase.PRE_48H]) == [start - timedelta(hours=48)]
    assert list(due[Phase.PRE_24H]) == [start - timedelta(hours=24)]
    assert list(due[Phase.PRE_1H]) == [start - timedelta(hours=1)]
    assert list(due[Phase.POST_30M]) == [end + timedelta(minutes=30)]
    assert list(due[Phase.POST_4H]) == [end + timedelta(hours=4)]
    assert list(due[Phase.POST_24H]) == [end + timedelta(hours=24)]
    assert list(due[Phase.ROLLBACK]) == [None]
    assert made.checklist.filter(phase=Phase.PRE_48H).count() == 7  # 000's seven items
    item = made.checklist.get(phase=Phase.PRE_48H, position=1)
    assert item.text == "Review maintenance change request documentation"
    assert not item.overdue(start - timedelta(hours=49))
    assert item.overdue(start - timedelta(hours=47))
    maintenance.tick_item(operator, item.pk, note="CR-12 reviewed")
    item.refresh_from_db()
    assert item.done_by == operator and item.done_at == T0 and item.note == "CR-12 reviewed"
    assert not item.overdue(start)
    rollback_item = made.checklist.filter(phase=Phase.ROLLBACK).first()
    assert not rollback_item.overdue(end + timedelta(days=30))


def test_viewer_may_not_tick(mpolicy, modules, opslead, viewer):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    item = MaintenanceChecklistItem.objects.filter(window=made).first()
    with pytest.raises(PermissionDenied):
        maintenance.tick_item(viewer, item.pk)


def test_rollback_record(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    with pytest.raises(Refused, match="has started"):
        maintenance.record_rollback(opslead, made.pk, [], "r", "s", "v")
    with time_machine.travel(SUNDAY, tick=False):
        maintenance.scan_windows()
        rollback = maintenance.record_rollback(
            opslead,
            made.pk,
            ["Error rates exceed warning thresholds"],
            "Delivery errors at 8%",
            "Restored the previous configuration",
            "Error rate back under 1%, throughput nominal",
        )
    assert rollback.criteria == ["Error rates exceed warning thresholds"]
    assert made.checklist.get(text="Error rates exceed warning thresholds").done_by == opslead
    with pytest.raises(Refused, match="already recorded"):
        maintenance.record_rollback(opslead, made.pk, [], "r", "s", "v")


def test_live_evidence_comes_from_the_windows_modules(alerting, modules, opslead, client):
    from monitoring.models import MetricStatus, Module, Threshold

    Module.objects.filter(name="gamma").update(status="HEALTHY", last_success_at=T0)
    for key, module, value, level in [
        ("gamma-delivery-rate", modules["gamma"], 950.0, "OK"),
        ("gamma-ack-timeout-rate", modules["gamma"], 0.07, "WARNING"),
        ("alpha-ingestion-rate", modules["alpha"], 10.0, "CRITICAL"),
        ("system-overall-throughput", None, 990.0, "OK"),
    ]:
        MetricStatus.objects.create(
            threshold=Threshold.objects.get(key=key),
            module=module,
            value=value,
            level=level,
            evaluated_at=T0,
            changed_at=T0,
        )
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    found = maintenance.evidence(made)
    assert found["healthy"] == [{"label": "gamma", "value": "HEALTHY", "ok": True}]
    assert [(row["label"].split()[0], row["ok"]) for row in found["throughput"]] == [
        ("gamma", True),
        ("pipeline", True),
    ]
    assert [(row["value"], row["ok"]) for row in found["errors"]] == [("0.07 (WARNING)", False)]
    assert all("alpha" not in row["label"] for rows in found.values() for row in rows)
    client.force_login(opslead)
    page = client.get(f"/maintenance/{made.pk}/").content.decode()
    assert "evidence-throughput" in page and "0.07 (WARNING)" in page
