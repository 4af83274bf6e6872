"""Data safety (issue 12 item 6): every destructive operation — purge, delete, close, cancel,
expire, suspend — either keeps an archive or asks for a reason, and is audited; and the audit
chain verifies after a workload that exercises them all.

`OPERATIONS` is the survey: one row per destructive operation, with the safeguard it has.
Each row has a check below (`CHECKS[name]`) that fails if the safeguard is missing:
- "reason": without a reason the page answers with a message and changes nothing, the API
  answers 4xx, the service refuses (400); with one, the audit entry carries it.
- "archive": the thing is kept (status changed, never deleted) or its content is kept in the
  audit entry, and the operation is audited.

Admin deletions are checked for every registered model (`test_every_admin_delete_...`): a new
admin that deletes without auditing fails it.

The chain is verified at the end of one test's workload rather than after the whole suite:
each test runs in a transaction that is rolled back, so no database outlives the suite for a
session finaliser to verify.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from changes import maintenance
from changes.models import MaintenanceWindow
from console import audit
from console.errors import Refused
from console.models import AuditEntry
from tests.changes.factories import window
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# (operation, where it lives, safeguard)
OPERATIONS = [
    ("dlq_purge", "monitoring.actions dlq_purge (page, API)", "reason"),
    ("maintenance_cancel", "changes.maintenance.cancel_window (page)", "reason"),
    ("job_suspend", "monitoring.jobs.suspend (page, API)", "reason"),
    ("jobs_suspend_all", "monitoring.jobs.suspend_all (page)", "reason"),
    ("incident_close_without_review", "incidents.services.move → closed (page)", "reason"),
    ("incident_close", "incidents.services.move → closed", "archive"),
    ("change_close", "changes.services.close", "archive"),
    ("silence_expire", "monitoring.silences.expire_silence (API DELETE)", "archive"),
    ("annotation_end", "monitoring.services.end_annotation", "archive"),
    ("drill_cancel", "monitoring.backups.cancel_drill", "archive"),
    ("shift_log_close", "shifts.services.close_log_entry", "archive"),
    ("maintenance_reschedule", "changes.maintenance.reschedule_window (reminders)", "archive"),
    ("unmark_caused", "changes.services.unmark_caused (incident link)", "archive"),
    ("metrics_prune", "monitoring.rollups.prune (retention)", "archive"),
    ("admin_delete", "admin delete and delete-selected", "archive"),
]


def audited(action: str, **after) -> list[AuditEntry]:
    rows = list(AuditEntry.objects.filter(action=action).order_by("seq"))
    return [r for r in rows if all((r.after or {}).get(k) == v for k, v in after.items())]


@pytest.fixture
def world(roles, operator, opslead):
    """The policies the operations need, two modules, and the people."""
    from changes import maintenance_policy
    from incidents import policy as incident_policy
    from monitoring.models import Module
    from monitoring.policy import load_capacity_and_backups, load_jobs

    maintenance_policy.load()
    incident_policy.load()
    load_jobs()
    load_capacity_and_backups()
    # Nothing listens on port 9: a module call fails at once, and no test reaches the network.
    modules = {
        name: Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:9/{name}")
        for name in ("beta", "gamma")
    }
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    return {"operator": operator, "opslead": opslead, "root": superuser, "modules": modules}


# --- reason required ----------------------------------------------------------------------------
def check_dlq_purge(client, w):
    from monitoring import actions
    from monitoring.models import ActionRun

    lead, gamma = w["opslead"], w["modules"]["gamma"]
    client.force_login(lead)
    page = client.post(
        "/monitoring/actions/gamma/dlq_purge/run/",
        {"confirm": "yes", "idempotency_key": actions.new_key(), "scope": "all"},
        follow=True,
    )
    assert page.status_code == 200 and "cannot be undone: say why" in page.content.decode()
    api = client.post(
        "/api/v1/actions/",
        {
            "action": "dlq_purge",
            "module": "gamma",
            "params": {"scope": "all"},
            "idempotency_key": "k",
        },
        content_type="application/json",
    )
    assert api.status_code == 400 and "say why" in api.json()["detail"]
    assert not ActionRun.objects.filter(action="dlq_purge").exists()
    assert audited("action.dlq_purge") == []
    # Change control (changes.action_control) is not what this checks: as a staging module,
    # gamma may be purged without a linked change.
    gamma.labels = {**(gamma.labels or {}), "environment": "staging"}
    gamma.save(update_fields=["labels"])
    record, _ = actions.run(
        lead, "dlq_purge", gamma, {"scope": "all", "reason": "Test data"}, actions.new_key()
    )
    assert record.params["reason"] == "Test data"
    assert audited("action.dlq_purge", reason="Test data")


def check_maintenance_cancel(client, w):
    lead = w["opslead"]
    made = window(lead, [w["modules"]["gamma"]], title="Cancel me")
    client.force_login(lead)
    page = client.post(f"/maintenance/{made.pk}/cancel/", {"reason": " "}, follow=True)
    assert "Say why the window is cancelled" in page.content.decode()
    made.refresh_from_db()
    assert made.status == MaintenanceWindow.Status.APPROVED
    with pytest.raises(Refused) as exc:
        maintenance.cancel_window(lead, made.pk, "")
    assert exc.value.field == "reason" and exc.value.code == 400
    assert audited("maintenance.cancel") == []
    maintenance.cancel_window(lead, made.pk, "Vendor slipped")
    assert MaintenanceWindow.objects.filter(pk=made.pk, status="cancelled").exists()
    assert audited("maintenance.cancel", reason="Vendor slipped")


def check_job_suspend(client, w):
    from monitoring import jobs
    from monitoring.models import Job

    client.force_login(w["opslead"])
    client.post("/monitoring/jobs/gamma_dlq_report/suspend/", {"reason": ""})
    api = client.post("/api/v1/jobs/gamma_dlq_report/suspend/", {}, content_type="application/json")
    assert 400 <= api.status_code < 500
    assert Job.objects.get(name="gamma_dlq_report").status == Job.Status.ACTIVE
    with pytest.raises(Refused, match="Say why"):
        jobs.suspend(w["opslead"], "gamma_dlq_report", "")
    jobs.suspend(w["opslead"], "gamma_dlq_report", "Report server moving")
    assert audited("job.suspend", reason="Report server moving")
    jobs.resume(w["opslead"], "gamma_dlq_report")


def check_jobs_suspend_all(client, w):
    from monitoring import jobs
    from monitoring.models import Job

    client.force_login(w["opslead"])
    client.post("/monitoring/jobs/suspend-all/", {"reason": ""})
    assert not Job.objects.filter(status=Job.Status.SUSPENDED).exists()
    suspended = jobs.suspend_all(w["opslead"], "Storage failover")
    assert len(audited("job.suspend", reason="Storage failover")) == len(suspended) > 1
    jobs.resume_all(w["opslead"])


def _resolved(w, severity):
    from incidents import services

    incident = services.declare(
        w["operator"], title=f"{severity} data safety", severity=severity, summary="s"
    )
    return services.move(w["operator"], incident.pk, "resolved", resolution_summary="fixed")


def check_incident_close_without_review(client, w):
    from incidents import services

    incident = _resolved(w, "P2")  # P2: a review is required before closing
    client.force_login(w["opslead"])
    client.post(f"/incidents/{incident.number}/close/", {"reason": ""})
    incident.refresh_from_db()
    assert incident.status == "resolved"
    with pytest.raises(Refused, match="needs a reason") as exc:
        services.move(w["opslead"], incident.pk, "closed")
    assert exc.value.code == 400
    services.move(w["opslead"], incident.pk, "closed", reason="Duplicate of another")
    entry = audited("incident.closed")[-1]
    assert entry.object_id == str(incident.pk)
    assert "Duplicate of another" in incident.timeline.filter(kind="status").last().text


# --- archive kept ---------------------------------------------------------------------------------
def check_incident_close(client, w):
    from incidents import services
    from incidents.models import Incident

    incident = _resolved(w, "P3")
    services.move(w["operator"], incident.pk, "closed")
    kept = Incident.objects.get(pk=incident.pk)
    assert kept.status == "closed" and kept.timeline.count() > 1 and kept.resolution_summary
    assert [e.object_id for e in audited("incident.closed")][-1] == str(incident.pk)


def check_change_close(client, w):
    from changes import services
    from changes.models import Change

    change = _change(w, "reviewed", "901")
    services.close(w["opslead"], change.pk)
    assert Change.objects.get(pk=change.pk).status == "closed"
    assert audited("change.closed")[-1].object_id == str(change.pk)


def check_silence_expire(client, w):
    from monitoring import silences
    from monitoring.models import Silence

    now = timezone.now()
    silence = silences.create_silence(
        w["opslead"],
        [{"name": "module", "value": "beta", "isRegex": False, "isEqual": True}],
        now,
        now + timedelta(hours=1),
        "Planned restart",
    )
    client.force_login(w["opslead"])
    response = client.delete(f"/api/v1/silences/{silence.pk}/")
    assert response.status_code == 200
    assert Silence.objects.get(pk=silence.pk).state(timezone.now()) == "expired"
    assert audited("silence.expire")[-1].object_id == str(silence.pk)


def check_annotation_end(client, w):
    from monitoring import services
    from monitoring.models import Annotation

    note = services.create_annotation(w["operator"], "Backfill running", timezone.now())
    services.end_annotation(note, w["operator"])
    assert Annotation.objects.get(pk=note.pk).ends_at is not None
    assert audited("annotation.end")[-1].object_id == str(note.pk)


def check_drill_cancel(client, w):
    from monitoring import backups
    from monitoring.models import DrDrill, DrillType

    drill = backups.schedule_drill(
        w["opslead"], DrillType.objects.first(), timezone.now() + timedelta(days=3)
    )
    backups.cancel_drill(w["opslead"], drill.pk)
    assert DrDrill.objects.get(pk=drill.pk).status == DrDrill.Status.CANCELLED
    assert audited("dr_drill.cancelled")[-1].object_id == str(drill.pk)


def check_shift_log_close(client, w):
    from shifts import services
    from shifts.models import LogEntry

    entry = services.add_log_entry(w["operator"], kind="note", text="Watch Beta's queue")
    services.close_log_entry(w["operator"], entry.pk)
    assert LogEntry.objects.get(pk=entry.pk).status == LogEntry.Status.CLOSED
    assert audited("shift_log.close")[-1].object_id == str(entry.pk)


def check_maintenance_reschedule(client, w):
    from incidents import notify
    from incidents.models import Notification

    lead = w["opslead"]
    start = timezone.now() + timedelta(days=8)
    made = window(lead, [w["modules"]["beta"]], start=start, title="Move me")
    maintenance.send_announcement(lead, made.pk)
    sent = Notification.objects.filter(event=maintenance.ANNOUNCEMENT_EVENT).count()
    assert sent >= 1
    later = start + timedelta(days=7)
    maintenance.reschedule_window(lead, made.pk, later, later + timedelta(hours=2), reason="x")
    # The regenerated timeline replaced the old rows; what was sent stays on record.
    assert Notification.objects.filter(event=maintenance.ANNOUNCEMENT_EVENT).count() == sent
    entry = audited("maintenance.reschedule")[-1]
    assert entry.before["start"] == start.isoformat() and entry.after["start"] == later.isoformat()
    notify.claim_due()  # the queued messages are the delivery scan's (no network: console/email)


def _change(w, status, number):
    from changes.models import Change

    now = timezone.now()
    return Change.objects.create(
        number=f"CHG-{now:%Y-%m%d}-{number}",
        title=f"Change {number}",
        status=status,
        requester=w["operator"],
        risk="low",
        created_at=now,
        status_changed_at=now,
    )


def check_unmark_caused(client, w):
    """The link row goes; the change's timeline keeps both the marking and its removal."""
    from changes import services
    from changes.models import IncidentLink
    from incidents import services as incidents

    incident = incidents.declare(w["operator"], title="Caused?", severity="P3", summary="s")
    change = _change(w, "completed", "902")
    services.mark_caused(w["operator"], change.pk, incident, "Started right after")
    services.unmark_caused(w["operator"], change.pk, incident)
    assert not IncidentLink.objects.filter(change=change).exists()
    texts = list(change.events.filter(kind="incident").values_list("text", flat=True))
    assert texts == [
        f"Marked as the cause of {incident.number}. Started right after",
        f"No longer marked as the cause of {incident.number}.",
    ]
    assert audited("change.caused_incident_removed", incident=incident.number)


def check_metrics_prune(client, w):
    from monitoring import rollups
    from monitoring.models import Poll

    Poll.objects.create(
        module=w["modules"]["beta"],
        started_at=timezone.now() - timedelta(days=60),
        duration_ms=3,
        ok=True,
    )
    assert rollups.prune()["polls"] == 1
    assert audited("metrics.prune", polls=1)


def check_admin_delete(client, w):
    from incidents.models import NotificationChannel

    channel = NotificationChannel.objects.create(
        name="Old list", kind="email", target="old@example.com"
    )
    client.force_login(w["root"])
    url = "/admin/incidents/notificationchannel/"
    response = client.post(
        url, {"action": "delete_selected", "_selected_action": [channel.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not NotificationChannel.objects.filter(pk=channel.pk).exists()
    entry = audited("incidents.notificationchannel.delete")[-1]
    assert entry.before["name"] == "Old list" and entry.before["target"] == "old@example.com"
    # A record, not policy: the admin refuses to delete it (it is cancelled with a reason).
    made = window(w["opslead"], [w["modules"]["gamma"]], title="Keep me")
    refused = client.post(f"/admin/changes/maintenancewindow/{made.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 403 and MaintenanceWindow.objects.filter(pk=made.pk).exists()


CHECKS = {name[len("check_") :]: fn for name, fn in globals().items() if name.startswith("check_")}


def test_every_surveyed_operation_has_its_check():
    assert sorted(CHECKS) == sorted(name for name, _, _ in OPERATIONS)
    assert {safeguard for _, _, safeguard in OPERATIONS} == {"reason", "archive"}


@pytest.mark.parametrize(
    ("name", "safeguard"), [(name, safeguard) for name, _, safeguard in OPERATIONS]
)
def test_destructive_operation_is_safeguarded_and_audited(client, world, name, safeguard):
    CHECKS[name](client, world)


def test_every_admin_delete_is_audited_or_refused(roles):
    """Every registered admin either refuses deletion (records: windows, incidents,
    notifications, reviews, ...) or audits each deletion, one by one and by "delete
    selected", keeping the row in the entry."""
    request = RequestFactory().get("/")
    request.user = UserFactory(username="root", is_staff=True, is_superuser=True)
    unsafe = []
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_delete_permission(request):
            continue
        cls = type(model_admin)
        if (
            cls.delete_model is ModelAdmin.delete_model
            or cls.delete_queryset is ModelAdmin.delete_queryset
        ):
            unsafe.append(model._meta.label)
    assert unsafe == []


# --- the chain ----------------------------------------------------------------------------------
def test_audit_chain_verifies_after_a_representative_workload(client, world, capsys):
    """Every check above in one database, plus the everyday work around them (incidents
    declared, acknowledged and noted; windows scheduled, approved, started and ended; silences;
    jobs), then the chain is walked from the first entry to the head."""
    from incidents import services as incidents

    for name, _, _ in OPERATIONS:
        CHECKS[name](client, world)
    for n in range(5):
        incident = incidents.declare(
            world["operator"], title=f"Load {n}", severity="P3", summary="s"
        )
        incidents.acknowledge(world["operator"], incident.pk)
        incidents.add_note(world["operator"], incident.pk, f"note {n}")
    gamma = world["modules"]["gamma"]
    made = window(world["opslead"], [gamma], start=timezone.now() + timedelta(days=20))
    maintenance.start_window(made.pk, now=made.start)
    maintenance.end_window(made.pk, now=made.start + timedelta(hours=1))

    checked, broken = audit.verify()
    assert broken is None
    assert checked == AuditEntry.objects.count() > 100
    call_command("verify_audit")
    assert f"Audit chain OK: {checked} entries verified." in capsys.readouterr().out

    # The check can fail: an entry altered by hand breaks the chain at that entry.
    victim = AuditEntry.objects.get(seq=checked // 2)
    with connection.cursor() as cursor:  # the model refuses updates; only raw SQL can forge
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET action = %s WHERE seq = %s",
            ["x.forged", victim.seq],
        )
    checked, broken = audit.verify()
    assert broken is not None and broken.seq == victim.seq
    with pytest.raises(CommandError, match=f"BROKEN at entry #{victim.seq}"):
        call_command("verify_audit")
