from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from console.errors import Refused
from console.models import AuditEntry
from incidents import services
from incidents.models import (
    Escalation,
    EscalationStep,
    Incident,
    Notification,
    Responder,
    Review,
    SeverityPolicy,
    Status,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_declare_copies_policy_grants_commander_and_audits(declare, operator, modules):
    incident = declare("P2", affected_modules=["alpha", "gamma"], impact="Deliveries late")
    assert incident.commander == operator
    assert incident.policy["severities"]["P2"]["ack_minutes"] == 15
    assert [s["role"] for s in incident.policy["matrix"]["P1"]] == [
        "On-call Engineer",
        "Engineering Manager",
        "Director",
        "VP/CTO",
    ]
    assert sorted(m.name for m in incident.affected_modules.all()) == ["alpha", "gamma"]
    assert services.can_act(operator, incident)
    assert AuditEntry.objects.filter(action="incident.declared", object_id=incident.pk).exists()
    assert incident.timeline.filter(kind="declared").exists()


def test_declare_refuses_bad_input(declare):
    with pytest.raises(Refused) as exc:
        declare("P9")
    assert exc.value.code == 400
    with pytest.raises(Refused, match="Unknown module"):
        declare("P3", affected_modules=["delta"])
    with pytest.raises(Refused, match="title and a summary"):
        declare("P3", title=" ")


def test_declare_needs_the_permission(declare, viewer, outsider):
    for user in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            declare("P3", by=user)


def test_declare_engages_the_initial_responders(declare, staff):
    incident = declare("P1")
    first = incident.escalations.get()
    assert (first.step, first.role, first.trigger) == (0, "On-call Engineer", "time")
    assert Responder.objects.filter(incident=incident, user=staff["oncall"]).exists()
    assert services.can_act(staff["oncall"], incident)
    note = Notification.objects.get(user=staff["oncall"], kind="console")
    assert note.state == "sent" and "On-call Engineer" in note.subject


def test_p1_notifies_executives_at_once(declare, staff):
    incident = declare("P1")
    assert incident.executive_notified_at is not None
    assert incident.executive_due_at is None
    assert Notification.objects.filter(
        incident=incident, audience="executives", user=staff["vp"], kind="console"
    ).exists()


def test_editing_the_policy_later_keeps_running_clocks(declare):
    incident = declare("P1")
    SeverityPolicy.objects.filter(severity="P1").update(ack_minutes=60)
    EscalationStep.objects.filter(severity="P1", step=1).update(role="Viewer")
    incident = Incident.objects.get(pk=incident.pk)
    incident.recompute_deadlines()
    assert incident.ack_due_at == incident.declared_at + timedelta(minutes=5)
    assert incident.next_step()["role"] == "Engineering Manager"
    assert declare("P1").ack_due_at - timezone.now() > timedelta(minutes=55)


def test_viewer_and_outsider_cannot_act(declare, viewer, outsider):
    incident = declare("P3")
    for user in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            services.acknowledge(user, incident.pk)
        with pytest.raises(PermissionDenied):
            services.add_note(user, incident.pk, "hi")


def test_other_operator_acts_only_once_added_as_responder(declare, operator, roles):
    other = UserFactory(username="other")
    other.groups.add(roles["Operator"].group)
    incident = declare("P2")  # P3/P4 engage the whole Operations Team at once
    with pytest.raises(PermissionDenied):
        services.add_note(other, incident.pk, "can I?")
    services.add_responder(operator, incident.pk, other, Responder.Role.SCRIBE)
    other = type(other).objects.get(pk=other.pk)  # fresh permission cache
    services.add_note(other, incident.pk, "now I can")
    assert incident.timeline.filter(kind="note", actor=other).exists()
    with pytest.raises(Refused, match="already a responder"):
        services.add_responder(operator, incident.pk, other, Responder.Role.SCRIBE)


def test_opslead_acts_on_any_incident(declare, opslead):
    incident = declare("P3")
    services.acknowledge(opslead, incident.pk)


def test_acknowledge_twice_conflicts(declare, operator):
    incident = declare("P2")
    services.acknowledge(operator, incident.pk)
    with pytest.raises(Refused) as exc:
        services.acknowledge(operator, incident.pk)
    assert exc.value.code == 409
    assert "already acknowledged by operator" in exc.value.detail


def test_same_status_twice_says_what_happened(declare, operator):
    incident = declare("P2")
    services.move(operator, incident.pk, Status.INVESTIGATING)
    with pytest.raises(Refused, match="already Investigating .* by operator"):
        services.move(operator, incident.pk, Status.INVESTIGATING)


def test_investigating_acknowledges(declare, operator):
    incident = services.move(operator, declare("P2").pk, Status.INVESTIGATING)
    assert incident.acknowledged_at is not None and incident.ack_due_at is None
    assert incident.response_due_at is None


def test_resolve_needs_a_summary_and_opens_a_required_review(declare, operator):
    incident = declare("P1")
    with pytest.raises(Refused) as exc:
        services.move(operator, incident.pk, Status.RESOLVED)
    assert exc.value.code == 400
    incident = services.move(
        operator, incident.pk, Status.RESOLVED, resolution_summary="Restarted Beta"
    )
    review = Review.objects.get(incident=incident)
    assert review.required
    assert review.due_on >= timezone.localdate(incident.resolved_at) + timedelta(days=5)


def test_p3_has_no_required_review_but_may_start_one(declare, operator):
    incident = declare("P3")
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="ok")
    assert not Review.objects.filter(incident=incident).exists()
    review = services.start_review(operator, incident.pk)
    assert not review.required
    services.move(operator, incident.pk, Status.CLOSED)  # optional review: closes anyway


def test_closing_p1_needs_a_complete_review(declare, operator, opslead):
    incident = declare("P1")
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    with pytest.raises(Refused, match="review must be complete"):
        services.move(operator, incident.pk, Status.CLOSED)
    with pytest.raises(Refused, match="needs a reason"):
        services.move(opslead, incident.pk, Status.CLOSED)
    with pytest.raises(Refused, match="incomplete: .*root cause"):
        services.save_review(operator, incident.pk, {"timeline_reconstruction": "t"}, complete=True)
    fields = dict.fromkeys(Review.REQUIRED_FIELDS, "written")
    services.save_review(operator, incident.pk, fields, complete=True)
    with pytest.raises(Refused, match="no longer edited"):
        services.save_review(operator, incident.pk, fields)
    incident = services.move(operator, incident.pk, Status.CLOSED)
    assert incident.status == Status.CLOSED and incident.closed_at


def test_opslead_may_close_without_review_with_a_reason(declare, operator, opslead):
    incident = declare("P2")
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    services.move(opslead, incident.pk, Status.CLOSED, reason="duplicate of another incident")
    entry = incident.timeline.filter(kind="status").last()
    assert "without a complete review: duplicate" in entry.text


def test_downgrading_a_p1_takes_operations_lead(declare, operator, opslead):
    incident = declare("P1")
    with pytest.raises(PermissionDenied, match="Operations Lead"):
        services.change_severity(operator, incident.pk, "P2")
    services.change_severity(opslead, incident.pk, "P2", "contained to Beta")
    incident.refresh_from_db()
    assert incident.severity == "P2"
    assert incident.ack_due_at == incident.declared_at + timedelta(minutes=15)
    services.change_severity(operator, incident.pk, "P1", "spreading")  # upgrade: anyone acting
    with pytest.raises(Refused, match="already P1"):
        services.change_severity(operator, incident.pk, "P1")


def test_upgrade_engages_the_new_severity_steps_already_due(declare, operator, staff):
    incident = declare("P3")
    with time_machine.travel(timezone.now() + timedelta(minutes=45), tick=False):
        services.change_severity(operator, incident.pk, "P1", "all modules down")
    keys = set(incident.escalations.values_list("key", flat=True))
    assert {"P3-0", "P1-0", "P1-1"} <= keys


def test_scope_expansion_and_data_loss_escalate_automatically(declare, operator, modules, staff):
    incident = declare("P2", affected_modules=["beta"])
    services.update_modules(operator, incident.pk, ["beta", "gamma"])
    services.confirm_data_loss(operator, incident.pk, "500 records dropped from the DLQ")
    triggers = list(incident.escalations.order_by("step").values_list("role", "trigger"))
    assert triggers == [
        ("On-call Engineer", "time"),
        ("Senior Engineer", "scope"),
        ("Engineering Manager", "data_loss"),
    ]
    with pytest.raises(Refused, match="already confirmed"):
        services.confirm_data_loss(operator, incident.pk, "again")


def test_manual_escalation_needs_a_reason_and_stops_at_the_top(declare, operator, staff):
    incident = declare("P4")
    with pytest.raises(Refused) as exc:
        services.escalate(operator, incident.pk, "expertise", " ")
    assert exc.value.code == 400
    with pytest.raises(Refused, match="Manual escalation needs one of"):
        services.escalate(operator, incident.pk, "time", "x")
    escalation = services.escalate(operator, incident.pk, "cross_team", "needs the DBA team")
    assert (escalation.role, escalation.reason) == ("Operations Lead", "needs the DBA team")
    with pytest.raises(Refused, match="already engaged"):
        services.escalate(operator, incident.pk, "expertise", "more")


def test_post_update_resets_the_update_clock(declare, operator):
    incident = declare("P2")
    later = timezone.now() + timedelta(minutes=20)
    with time_machine.travel(later, tick=False):
        incident = services.post_update(operator, incident.pk, "", "Beta draining")
    assert incident.update_due_at == later + timedelta(minutes=30)
    assert incident.timeline.filter(kind="update").exists()
    assert Notification.objects.filter(incident=incident, event="update").count() == 1


def test_every_change_is_audited(declare, operator):
    incident = declare("P3")
    services.acknowledge(operator, incident.pk)
    services.add_note(operator, incident.pk, "looking")
    services.move(operator, incident.pk, Status.MITIGATING)
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    actions = set(
        AuditEntry.objects.filter(object_id=str(incident.pk)).values_list("action", flat=True)
    )
    assert {
        "incident.declared",
        "incident.acknowledged",
        "incident.note_added",
        "incident.mitigating",
        "incident.resolved",
        "incident.escalated",
    } <= actions


def test_changes_are_published_after_commit(declare, operator, django_capture_on_commit_callbacks):
    from unittest import mock

    incident = declare("P3")
    with mock.patch("console.live.send_now") as send:
        with django_capture_on_commit_callbacks(execute=True):
            services.add_note(operator, incident.pk, "hello")
    topics = [c.args[0] for c in send.call_args_list]
    assert f"incident.{incident.pk}" in topics and "overview" in topics


def test_action_items(declare, operator):
    incident = declare("P2")
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    item = services.add_action_item(
        operator, incident.pk, description="Alert on DLQ growth", owner=operator,
        due_on=timezone.localdate() + timedelta(days=14),
    )  # fmt: skip
    services.set_action_item_state(operator, incident.pk, item.pk, "done")
    item.refresh_from_db()
    assert item.state == "done"


def test_escalation_unique_per_step(declare):
    from django.db import IntegrityError, transaction

    incident = declare("P3")
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(
            incident=incident, key="P3-0", severity="P3", step=0, role="x",
            trigger="time", due_at=timezone.now(), actor_name="system",
        )  # fmt: skip


def test_upgrade_to_p1_notifies_executives(declare, operator, staff):
    incident = declare("P2")
    assert incident.executive_notified_at is None
    services.change_severity(operator, incident.pk, "P1", "all destinations down")
    incident.refresh_from_db()
    assert incident.executive_notified_at is not None
    assert Notification.objects.filter(incident=incident, user=staff["director"]).exists()
