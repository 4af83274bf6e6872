from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from console.errors import Refused
from shifts import handoff_state, services
from shifts.models import (
    ChecklistRun,
    ChecklistTemplate,
    ChecklistTick,
    Handoff,
    LogEntry,
    Notice,
    Shift,
    Slot,
)

from .conftest import T0
from .factories import LogEntryFactory, RotaWeekFactory, ShiftFactory

pytestmark = pytest.mark.django_db


# --- shifts and the rota ---------------------------------------------------------------------
def test_overlapping_shifts_of_one_person_are_refused(opslead, operator, oncall):
    services.create_shift(opslead, starts_at=T0, ends_at=T0 + timedelta(hours=8), primary=operator)
    with pytest.raises(Refused, match="operator is already on the shift") as exc:
        services.create_shift(
            opslead,
            starts_at=T0 + timedelta(hours=7),
            ends_at=T0 + timedelta(hours=15),
            primary=oncall,
            secondary=operator,
        )
    assert exc.value.code == 400
    # Back to back is fine.
    services.create_shift(
        opslead,
        starts_at=T0 + timedelta(hours=8),
        ends_at=T0 + timedelta(hours=16),
        primary=operator,
    )
    assert Shift.objects.count() == 2


def test_shift_rules_refused(opslead, operator):
    with pytest.raises(Refused, match="end must be after"):
        services.create_shift(opslead, starts_at=T0, ends_at=T0, primary=operator)
    with pytest.raises(Refused, match="two people"):
        services.create_shift(
            opslead,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            primary=operator,
            secondary=operator,
        )
    with pytest.raises(PermissionDenied):
        services.create_shift(
            operator, starts_at=T0, ends_at=T0 + timedelta(hours=1), primary=operator
        )


def test_rota_week_leaving_a_gap_or_overlapping_is_refused(opslead, oncall, senior):
    services.add_rota_week(opslead, starts_at=T0, primary=oncall)
    with pytest.raises(Refused, match="leaves a gap in the rota"):
        services.add_rota_week(opslead, starts_at=T0 + timedelta(days=8), primary=senior)
    with pytest.raises(Refused, match="overlaps"):
        services.add_rota_week(opslead, starts_at=T0 + timedelta(days=6), primary=senior)
    with pytest.raises(Refused, match="leaves a gap in the rota"):
        services.add_rota_week(opslead, starts_at=T0 - timedelta(days=8), primary=senior)
    services.add_rota_week(opslead, starts_at=T0 + timedelta(days=7), primary=senior)
    services.add_rota_week(opslead, starts_at=T0 - timedelta(days=7), primary=senior)
    assert services.on_call_now(T0 + timedelta(days=8)).primary == senior


def test_shift_override_covers_part_of_a_shift(opslead, operator, oncall):
    shift = ShiftFactory(starts_at=T0, primary=operator)
    override = services.add_override(
        operator,
        starts_at=T0 + timedelta(hours=2),
        ends_at=T0 + timedelta(hours=4),
        user=oncall,
        slot=Slot.PRIMARY,
        reason="appointment",
        shift=shift,
    )
    assert override.replaces == operator
    with pytest.raises(Refused, match="within that shift"):
        services.add_override(
            operator,
            starts_at=T0 + timedelta(hours=7),
            ends_at=T0 + timedelta(hours=9),
            user=oncall,
            reason="x",
            shift=shift,
        )


def test_shift_override_refused_when_the_cover_is_on_another_shift(opslead, operator, oncall):
    shift = ShiftFactory(starts_at=T0, primary=operator)
    ShiftFactory(starts_at=T0 - timedelta(hours=4), primary=oncall)  # until T0+4h
    with pytest.raises(Refused, match="may not overlap"):
        services.add_override(
            opslead,
            starts_at=T0 + timedelta(hours=2),
            ends_at=T0 + timedelta(hours=3),
            user=oncall,
            reason="x",
            shift=shift,
        )


def test_swap_shifts_exchanges_primaries(opslead, operator, oncall):
    a = ShiftFactory(starts_at=T0, primary=operator)
    b = ShiftFactory(starts_at=T0 + timedelta(days=1), primary=oncall)
    services.swap_shifts(operator, a.pk, b.pk)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.primary, b.primary) == (oncall, operator)


def test_reminder_fires_once_fifteen_minutes_before_the_end(opslead, operator, oncall):
    shift = services.create_shift(
        opslead, starts_at=T0, ends_at=T0 + timedelta(hours=8), primary=operator, secondary=oncall
    )
    with time_machine.travel(T0 + timedelta(hours=7, minutes=44), tick=False):
        assert services.scan_shift_reminders() == 0
    with time_machine.travel(T0 + timedelta(hours=7, minutes=45), tick=False):
        assert services.scan_shift_reminders() == 1
        assert services.scan_shift_reminders() == 0
    assert Notice.objects.filter(kind=Notice.Kind.REMINDER).count() == 2
    shift.refresh_from_db()
    assert shift.reminder_due_at is None and shift.reminded_at is not None


def test_reminder_for_a_shift_already_over_is_dropped(opslead, operator):
    services.create_shift(opslead, starts_at=T0, ends_at=T0 + timedelta(hours=8), primary=operator)
    with time_machine.travel(T0 + timedelta(hours=9), tick=False):
        assert services.scan_shift_reminders() == 0
        assert services.scan_shift_reminders() == 0
    assert not Notice.objects.exists()


# --- checklists --------------------------------------------------------------------------------
def _morning_item(key):
    return ChecklistTemplate.objects.get(key="morning").items.get(key=key)


def test_tick_records_who_when_and_the_evidence(checklists, operator):
    with time_machine.travel(T0.replace(hour=6, minute=10), tick=False):
        run = services.start_checklist(operator, "morning")
        tick = services.tick(operator, run.pk, _morning_item("modules-healthy").pk, "ok")
    assert tick.by == operator and tick.at == T0.replace(hour=6, minute=10)
    assert tick.evidence["lines"][0]["label"] == "No modules registered"


def test_deviation_needs_a_note_and_ticking_twice_is_refused(checklists, operator, opslead):
    run = services.start_checklist(operator, "morning")
    item = _morning_item("dlq")
    with pytest.raises(Refused, match="needs a note"):
        services.tick(operator, run.pk, item.pk, "deviation", "  ")
    services.tick(operator, run.pk, item.pk, "deviation", "DLQ at 60%")
    with pytest.raises(Refused, match="Already ticked by operator"):
        services.tick(opslead, run.pk, item.pk, "ok")


def test_checklist_completes_when_every_item_is_ticked_and_late_is_derived(checklists, operator):
    day = T0.date()
    with time_machine.travel(T0.replace(hour=6, minute=30), tick=False):
        run = services.start_checklist(operator, "midday", day)
    assert run.window_end_at == T0.replace(hour=12, minute=30)
    assert not run.late(T0.replace(hour=12, minute=29))
    assert run.late(T0.replace(hour=12, minute=31))
    with time_machine.travel(T0.replace(hour=12, minute=40), tick=False):
        for item in run.template.items.all():
            services.tick(operator, run.pk, item.pk, "ok")
    run.refresh_from_db()
    assert run.status == ChecklistRun.Status.COMPLETED
    assert run.late()  # completed after its window


def test_deviation_raises_an_incident_in_one_click(checklists, incident_policy, operator):
    run = services.start_checklist(operator, "morning")
    tick = services.tick(operator, run.pk, _morning_item("dlq").pk, "deviation", "DLQ at 60%")
    incident = services.raise_incident(operator, tick.pk, "P3")
    assert "DLQ at 60%" in incident.summary
    assert ChecklistTick.objects.get(pk=tick.pk).incident == incident
    with pytest.raises(Refused, match="Already raised"):
        services.raise_incident(operator, tick.pk, "P3")


def test_viewer_may_not_tick(checklists, viewer):
    with pytest.raises(PermissionDenied):
        services.start_checklist(viewer, "morning")


# --- the shift log ------------------------------------------------------------------------
def test_log_entry_kinds_require_their_fields(operator):
    with pytest.raises(Refused, match="justification"):
        services.add_log_entry(operator, kind="manual", text="Restarted beta")
    entry = services.add_log_entry(
        operator,
        kind="manual",
        text="Restarted beta",
        justification="stuck",
        actions="restart",
        verification="queue drains",
        side_effects="none",
    )
    assert entry.author == operator and entry.status == LogEntry.Status.OPEN
    with pytest.raises(Refused, match="incident"):
        services.add_log_entry(operator, kind="incident", text="see INC")
    with pytest.raises(Refused, match="kind"):
        services.add_log_entry(operator, kind="bogus", text="x")


# --- handoffs -----------------------------------------------------------------------------
@pytest.fixture
def open_incident(incident_policy, operator):
    from incidents import services as incidents

    incident = incidents.declare(operator, title="Beta stuck", severity="P2", summary="s")
    incidents.add_note(operator, incident.pk, "Next: restart the enrichment cache.")
    return incident


def test_handoff_is_prefilled_from_live_state(open_incident, operator, oncall):
    LogEntryFactory(author=operator, text="Watch the beta queue")
    handoff = services.start_handoff(operator, incoming=oncall)
    sections = {s["key"]: s for s in handoff.state}
    assert list(sections) == [
        "incidents",
        "alerts",
        "changes",
        "jobs",
        "maintenance",
        "annotations",
        "log",
    ]
    item = sections["incidents"]["items"][0]
    assert open_incident.number in item["text"] and "Open" in item["text"]
    assert "restart the enrichment cache" in item["detail"]
    assert "Watch the beta queue" in sections["log"]["items"][0]["text"]
    # The same pair reuses the open draft.
    assert services.start_handoff(operator, incoming=oncall).pk == handoff.pk


def test_handoff_lists_maintenance_of_the_next_day(operator, oncall, opslead):
    from changes import maintenance_policy
    from monitoring.models import Module
    from tests.changes.factories import window

    maintenance_policy.load()
    gamma = Module.objects.create(name="gamma", kind="gamma", base_url="http://127.0.0.1:1/g")
    soon = window(opslead, [gamma], type="emergency", emergency_reason="Disk", start=None, hours=1)
    handoff = services.start_handoff(operator, incoming=oncall)
    sections = {s["key"]: s for s in handoff.state}
    assert sections["maintenance"]["items"] == []  # three days ahead: not this handoff's
    with time_machine.travel(soon.start - timedelta(hours=2)):
        handoff = services.refresh_state(operator, handoff.pk)
    items = {s["key"]: s for s in handoff.state}["maintenance"]["items"]
    assert len(items) == 1 and soon.number in items[0]["text"] and "gamma" in items[0]["text"]


def _change(requester, number, status, start=None, hours=2, modules=(), **extra):
    from django.utils import timezone

    from changes.models import Change

    now = timezone.now()
    change = Change.objects.create(
        number=number,
        title=f"Change {number}",
        status=status,
        requester=requester,
        risk="low",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=hours) if start else None,
        created_at=now,
        status_changed_at=now,
        **extra,
    )
    change.affected_modules.set(modules)
    return change


def test_handoff_lists_changes_in_progress_or_due_in_twelve_hours(operator, oncall):
    from django.utils import timezone

    from monitoring.models import Module

    beta = Module.objects.create(name="beta", kind="beta", base_url="http://127.0.0.1:1/b")
    now = timezone.now()
    _change(operator, "CHG-2026-0302-001", "in_progress", now - timedelta(hours=1), modules=[beta])
    _change(
        operator,
        "CHG-2026-0302-002",
        "scheduled",
        now + timedelta(hours=11),
        modules=[beta],
        requires_downtime=True,
    )
    _change(operator, "CHG-2026-0302-003", "scheduled", now + timedelta(hours=13))  # beyond 12 h
    _change(operator, "CHG-2026-0302-004", "completed", now - timedelta(hours=3))  # finished
    _change(
        operator, "CHG-2026-0302-005", "cab_review", now + timedelta(hours=2)
    )  # not approved yet
    handoff = services.start_handoff(operator, incoming=oncall)
    items = {s["key"]: s for s in handoff.state}["changes"]["items"]
    assert [i["text"].split()[0] for i in items] == ["CHG-2026-0302-001", "CHG-2026-0302-002"]
    assert items[0]["text"] == "CHG-2026-0302-001 In Progress: Change CHG-2026-0302-001"
    assert "Modules: beta." in items[1]["detail"] and "Needs downtime." in items[1]["detail"]
    assert items[1]["url"] == "/changes/CHG-2026-0302-002/"
    with time_machine.travel(now + timedelta(hours=2)):
        # Two hours on, CHG-3 is within the 12 hours too.
        handoff = services.refresh_state(operator, handoff.pk)
    items = {s["key"]: s for s in handoff.state}["changes"]["items"]
    assert "CHG-2026-0302-003" in [i["text"].split()[0] for i in items]


def test_handoff_lists_jobs_that_failed_during_the_shift_and_suspended_ones(
    operator, oncall, opslead
):
    from django.utils import timezone

    from monitoring import jobs
    from monitoring.models import Job, JobRun
    from monitoring.policy import load_jobs

    load_jobs()
    now = timezone.now()
    failed = Job.objects.get(name="alpha_source_sync")
    for job, at, status in [
        (failed, now - timedelta(hours=2), JobRun.Status.FAILED),
        (failed, now - timedelta(days=2), JobRun.Status.FAILED),  # an earlier shift's
        (Job.objects.get(name="gamma_dlq_report"), now - timedelta(hours=1), "success"),
    ]:
        JobRun.objects.create(
            job=job, trigger="schedule", scheduled_for=at, status=status, error="Source timed out"
        )
    jobs.suspend(opslead, "weekly_full_backup", "Storage migration")
    handoff = services.start_handoff(operator, incoming=oncall)
    items = {s["key"]: s for s in handoff.state}["jobs"]["items"]
    texts = [i["text"] for i in items]
    assert len(texts) == 2, texts
    assert (
        texts[0].startswith("alpha_source_sync (alpha) failed")
        and "Source timed out" in (items[0]["detail"])
    )
    assert texts[1].startswith("weekly_full_backup (") and texts[1].endswith("is suspended")
    assert "Storage migration" in items[1]["detail"]


def test_a_new_section_is_one_function_in_the_registry(monkeypatch, operator, oncall):
    def jobs(since, now):
        return handoff_state.Section(
            "jobs", "Failed jobs", [{"text": "x", "detail": "", "url": ""}]
        )

    monkeypatch.setattr(handoff_state, "SECTIONS", [*handoff_state.SECTIONS, jobs])
    handoff = services.start_handoff(operator, incoming=oncall)
    assert handoff.state[-1]["title"] == "Failed jobs"


def _verify(handoff, incoming, outgoing):
    services.save_draft(incoming, handoff.pk, {"incidents_summary": "Beta stuck, restart next"})
    services.confirm(incoming, handoff.pk, "dashboard")
    services.confirm(incoming, handoff.pk, "contacts")
    notice = services.send_test_notification(outgoing, handoff.pk)
    services.confirm_test_received(incoming, handoff.pk, notice.pk)


def test_sign_rules(operator, oncall, opslead):
    handoff = services.start_handoff(operator, incoming=oncall)
    with pytest.raises(Refused, match="Only the outgoing or the incoming") as exc:
        services.sign(opslead, handoff.pk)
    assert exc.value.code == 403
    with pytest.raises(Refused, match="outgoing operator signs first"):
        services.sign(oncall, handoff.pk)
    services.sign(operator, handoff.pk)
    with pytest.raises(Refused, match="already signed"):
        services.sign(operator, handoff.pk)
    with pytest.raises(Refused, match="Before signing") as exc:
        services.sign(oncall, handoff.pk)
    assert "receive the test notification" in exc.value.detail
    _verify(handoff, oncall, operator)
    services.sign(oncall, handoff.pk)
    with pytest.raises(Refused, match="already signed"):
        services.sign(oncall, handoff.pk)
    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.ACCEPTED
    assert services.latest_accepted_for(oncall) == handoff


def test_drafts_are_saved_and_read_only_once_signed(operator, oncall):
    handoff = services.start_handoff(operator, incoming=oncall)
    services.save_draft(
        operator, handoff.pk, {"items_to_watch": "beta queue", "incidents_summary": "x"}
    )
    handoff.refresh_from_db()
    assert handoff.items_to_watch == "beta queue"
    assert handoff.incidents_summary == ""  # not the outgoing operator's field
    services.sign(operator, handoff.pk)
    with pytest.raises(Refused, match="read-only"):
        services.save_draft(operator, handoff.pk, {"items_to_watch": "changed"})
    services.save_draft(oncall, handoff.pk, {"incidents_summary": "understood"})
    _verify(handoff, oncall, operator)
    services.sign(oncall, handoff.pk)
    with pytest.raises(Refused, match="read-only"):
        services.save_draft(oncall, handoff.pk, {"incidents_summary": "later edit"})


def test_test_notification_is_sent_to_the_incoming_and_confirmed_by_them(
    operator, oncall, django_capture_on_commit_callbacks
):
    from django.core import mail

    handoff = services.start_handoff(operator, incoming=oncall)
    with pytest.raises(Refused, match="No test notification"):
        services.confirm_test_received(oncall, handoff.pk, 1)
    with django_capture_on_commit_callbacks(execute=True):
        notice = services.send_test_notification(operator, handoff.pk)
    assert [m.to for m in mail.outbox] == [[oncall.email]]
    assert notice.user == oncall and notice.kind == Notice.Kind.TEST
    with pytest.raises(Refused, match="Only the incoming"):
        services.confirm_test_received(operator, handoff.pk, notice.pk)
    services.confirm_test_received(oncall, handoff.pk, notice.pk)
    handoff.refresh_from_db()
    assert handoff.test_received_at is not None
    assert Notice.objects.get(pk=notice.pk).read_at is not None


def test_handoff_to_oneself_or_to_a_viewer_is_refused(operator, viewer):
    with pytest.raises(Refused, match="someone else"):
        services.start_handoff(operator, incoming=operator)
    with pytest.raises(Refused, match="may not take over"):
        services.start_handoff(operator, incoming=viewer)


def test_oncall_handoff_links_the_current_week(oncall, senior):
    week = RotaWeekFactory(starts_at=T0, primary=oncall)
    with time_machine.travel(T0 + timedelta(days=6), tick=False):
        handoff = services.start_handoff(oncall, incoming=senior, kind=Handoff.Kind.ONCALL)
    assert handoff.rota == week
