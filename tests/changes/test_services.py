"""Workflow rules: approvals by level, separation of duties, quorum, resubmission, rollback
plan, scheduling in the past, transitions refused, implementation, reviews."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from changes import services
from changes.models import Approval, ChangeEvent, Revision, Status
from console.errors import Refused
from tests.changes.conftest import window


def _to_cab(change, people):
    services.submit(change.requester, change.pk)
    services.review(people["senior"], change.pk, comment="feasible")
    change.refresh_from_db()
    assert change.status == Status.CAB_REVIEW
    return change


# --- creation -------------------------------------------------------------------------------
def test_create_computes_risk_and_copies_the_checklist(raise_change):
    change = raise_change(impact="high", likelihood="medium")
    assert change.status == Status.DRAFT
    assert change.risk == "high_risk"
    assert change.checklist.count() == 17  # 001 "Pre-Implementation Checklist": 7 + 5 + 5


def test_normal_change_without_rollback_plan_is_refused(raise_change):
    with pytest.raises(Refused) as exc:
        raise_change(rollback_plan="")
    assert exc.value.code == 400
    assert "rollback plan" in exc.value.detail


def test_standard_change_comes_from_the_catalogue_and_is_pre_approved(policy, modules, people):
    from changes.models import StandardTemplate

    template = StandardTemplate.objects.get(name="Log level change")
    change = services.create(
        people["operator"], title="Debug logs on gamma", type="standard", template=template,
        affected_modules=["gamma"],
    )  # fmt: skip
    assert change.rollback_plan == template.rollback_plan
    assert change.risk == "standard"
    services.submit(people["operator"], change.pk)
    change.refresh_from_db()
    assert change.status == Status.APPROVED  # skips technical review and CAB
    assert not change.approvals.exists()


def test_standard_change_without_template_is_refused(policy, modules, people):
    with pytest.raises(Refused, match="catalogue"):
        services.create(people["operator"], title="x", type="standard", affected_modules=["beta"])


def test_operator_raises_viewer_may_not(raise_change, people):
    with pytest.raises(PermissionDenied):
        raise_change(by=people["viewer"])
    with pytest.raises(PermissionDenied):
        raise_change(by=people["cab1"])


# --- approvals by level ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("impact", "likelihood", "approver", "wrong"),
    [
        ("low", "low", "opslead", "senior"),  # Standard risk → Low → Operations Lead
        ("low", "medium", "engmanager", "opslead"),  # Normal → Medium → Engineering Manager
    ],
)
def test_single_approver_levels(raise_change, people, impact, likelihood, approver, wrong):
    change = _to_cab(raise_change(impact=impact, likelihood=likelihood), people)
    with pytest.raises(PermissionDenied, match="approved by"):
        services.decide(people[wrong], change.pk, "approve")
    with pytest.raises(PermissionDenied):
        services.decide(people["cab1"], change.pk, "approve")  # no CAB at this level
    services.decide(people[approver], change.pk, "approve", "ok")
    change.refresh_from_db()
    assert change.status == Status.APPROVED


def test_higher_rank_may_approve_a_lower_level(raise_change, people):
    change = _to_cab(raise_change(impact="low", likelihood="medium"), people)
    services.decide(people["director"], change.pk, "approve")
    change.refresh_from_db()
    assert change.status == Status.APPROVED


def test_high_risk_needs_director_and_cab_quorum(raise_change, people):
    change = _to_cab(raise_change(impact="high", likelihood="medium"), people)
    with pytest.raises(PermissionDenied):
        services.decide(people["engmanager"], change.pk, "approve")
    services.decide(people["cab1"], change.pk, "approve")
    services.decide(people["director"], change.pk, "approve")
    change.refresh_from_db()
    # Two CAB members in all: a majority is both.
    assert change.status == Status.CAB_REVIEW
    services.decide(people["cab2"], change.pk, "approve")
    change.refresh_from_db()
    assert change.status == Status.APPROVED
    assert change.approvals.filter(kind=Approval.Kind.CAB).count() == 2


def test_high_risk_quorum_of_three_members(raise_change, people, roles):
    from tests.changes.conftest import _person

    _person(roles, "cab3", "CAB Member")
    change = _to_cab(raise_change(impact="high", likelihood="medium"), people)
    services.decide(people["director"], change.pk, "approve")
    services.decide(people["cab1"], change.pk, "approve")
    services.decide(people["cab2"], change.pk, "approve")
    change.refresh_from_db()
    assert change.status == Status.APPROVED  # 2 of 3 is a majority


def test_critical_needs_vp_and_the_full_cab(raise_change, people):
    change = _to_cab(raise_change(impact="high", likelihood="high"), people)
    assert change.risk == "critical"
    with pytest.raises(PermissionDenied):
        services.decide(people["director"], change.pk, "approve")
    services.decide(people["vp"], change.pk, "approve")
    services.decide(people["cab1"], change.pk, "approve")
    change.refresh_from_db()
    assert change.status == Status.CAB_REVIEW
    services.decide(people["cab2"], change.pk, "approve")
    change.refresh_from_db()
    assert change.status == Status.APPROVED


def test_one_cab_rejection_that_makes_quorum_impossible_rejects(raise_change, people):
    change = _to_cab(raise_change(impact="high", likelihood="medium"), people)
    services.decide(people["cab1"], change.pk, "reject", "no rollback rehearsal")
    change.refresh_from_db()
    assert change.status == Status.REJECTED


def test_rejection_needs_a_comment(raise_change, people):
    change = _to_cab(raise_change(), people)
    with pytest.raises(Refused) as exc:
        services.decide(people["engmanager"], change.pk, "reject", "  ")
    assert exc.value.code == 400


# --- separation of duties -------------------------------------------------------------------
def test_nobody_approves_their_own_change(raise_change, people):
    change = raise_change(by=people["engmanager"])
    services.submit(people["engmanager"], change.pk)
    services.review(people["senior"], change.pk)
    with pytest.raises(PermissionDenied, match="own change"):
        services.decide(people["engmanager"], change.pk, "approve")


def test_nobody_reviews_their_own_change(raise_change, people):
    change = raise_change(by=people["senior"])
    services.submit(people["senior"], change.pk)
    with pytest.raises(PermissionDenied, match="own change"):
        services.review(people["senior"], change.pk)


def test_a_cab_member_who_requested_does_not_count_toward_quorum(raise_change, people, roles):
    from tests.changes.conftest import _person

    _person(roles, "cab3", "CAB Member")
    people["cab1"].groups.add(roles["Operator"].group)  # a CAB member who also raises changes
    change = _to_cab(raise_change(impact="high", likelihood="medium", by=people["cab1"]), people)
    with pytest.raises(PermissionDenied):
        services.decide(people["cab1"], change.pk, "approve")
    state = services.approval_state(change)
    assert len(state["members"]) == 2 and state["votes_needed"] == 2


def test_nobody_decides_twice_in_a_round(raise_change, people):
    change = _to_cab(raise_change(impact="high", likelihood="medium"), people)
    services.decide(people["cab1"], change.pk, "approve")
    with pytest.raises(Refused, match="already decided"):
        services.decide(people["cab1"], change.pk, "approve")


def test_technical_review_takes_a_senior_engineer(raise_change, people):
    change = raise_change()
    services.submit(people["operator"], change.pk)
    with pytest.raises(PermissionDenied, match="Senior Engineer"):
        services.review(people["oncall"], change.pk)


# --- resubmission ----------------------------------------------------------------------------
def test_rejected_change_is_revised_and_resubmitted_with_history(raise_change, people):
    change = _to_cab(raise_change(), people)
    services.decide(people["engmanager"], change.pk, "reject", "test it under load first")
    services.revise(people["operator"], change.pk)
    services.update(people["operator"], change.pk, testing_performed="Load test at 2x peak.")
    services.submit(people["operator"], change.pk)
    services.review(people["senior"], change.pk)
    services.decide(people["engmanager"], change.pk, "approve", "better")
    change.refresh_from_db()
    assert change.status == Status.APPROVED
    assert change.round == 2
    assert list(Revision.objects.filter(change=change).values_list("round", flat=True)) == [1, 2]
    assert Revision.objects.get(change=change, round=1).data["testing_performed"] == (
        "Load test in staging."
    )
    decisions = list(change.approvals.values_list("round", "decision"))
    assert decisions == [(1, "reject"), (2, "approve")]


def test_only_a_draft_is_edited(raise_change, people):
    change = raise_change()
    services.submit(people["operator"], change.pk)
    with pytest.raises(Refused, match="only a draft"):
        services.update(people["operator"], change.pk, title="new")


# --- transitions refused --------------------------------------------------------------------
def test_transitions_refused_from_the_wrong_state(raise_change, people):
    change = raise_change()
    with pytest.raises(Refused):
        services.start(people["operator"], change.pk)
    with pytest.raises(Refused):
        services.complete(people["operator"], change.pk)
    with pytest.raises(Refused):
        services.rollback(people["operator"], change.pk, "bad")
    with pytest.raises(Refused):
        services.decide(people["engmanager"], change.pk, "approve")
    start, end = window()
    with pytest.raises(Refused, match="only an approved change"):
        services.schedule(people["operator"], change.pk, start, end)
    services.submit(people["operator"], change.pk)
    with pytest.raises(Refused, match="only a draft"):
        services.submit(people["operator"], change.pk)


def test_others_may_not_act_on_a_change(approved, people):
    change = approved()
    start, end = window()
    with pytest.raises(PermissionDenied):
        services.schedule(people["oncall"], change.pk, start, end)
    services.schedule(people["opslead"], change.pk, start, end)  # Ops Lead acts on every change


# --- scheduling ------------------------------------------------------------------------------
def test_scheduling_in_the_past_is_refused(approved, people):
    change = approved()
    start = timezone.now() - timedelta(hours=1)
    with pytest.raises(Refused, match="past") as exc:
        services.schedule(people["operator"], change.pk, start, start + timedelta(hours=2))
    assert exc.value.code == 400


def test_scheduling_an_empty_window_is_refused(approved, people):
    change = approved()
    start, _ = window()
    with pytest.raises(Refused, match="end after"):
        services.schedule(people["operator"], change.pk, start, start)


def test_conflict_with_another_change_on_the_same_module(approved, people):
    first, second = approved(), approved()
    start, end = window(2, 2)
    services.schedule(people["operator"], first.pk, start, end)
    with pytest.raises(Refused) as exc:
        services.schedule(people["operator"], second.pk, start + timedelta(hours=1), end)
    assert exc.value.code == 409
    assert [c["kind"] for c in exc.value.conflicts] == ["change"]
    assert first.number in exc.value.detail


def test_no_conflict_with_a_change_on_another_module(approved, people):
    first, second = approved(), approved(modules_=("gamma",))
    start, end = window()
    services.schedule(people["operator"], first.pk, start, end)
    services.schedule(people["operator"], second.pk, start, end)


def test_conflict_with_a_freeze(approved, people, modules):
    from changes.models import Freeze

    change = approved()
    start, end = window(5)
    freeze = Freeze.objects.create(
        name="Quarter close", starts_at=start - timedelta(hours=1), ends_at=end + timedelta(hours=1)
    )
    with pytest.raises(Refused, match="Quarter close") as exc:
        services.schedule(people["operator"], change.pk, start, end)
    assert exc.value.conflicts[0]["kind"] == "freeze"
    # A freeze on other modules only does not apply.
    freeze.modules.set([modules["gamma"]])
    services.schedule(people["operator"], change.pk, start, end)


def test_conflict_with_an_open_p1_on_the_module(approved, people):
    from incidents import services as incidents

    change = approved()
    incident = incidents.declare(
        people["oncall"], title="Beta down", severity="P1", summary="s", affected_modules=["beta"]
    )
    start, end = window()
    with pytest.raises(Refused) as exc:
        services.schedule(people["operator"], change.pk, start, end)
    assert exc.value.conflicts[0]["kind"] == "incident"
    assert incident.number in exc.value.detail
    incidents.move(people["opslead"], incident.pk, "resolved", resolution_summary="fixed")
    services.schedule(people["operator"], change.pk, start, end)


def test_p3_incident_is_no_conflict(approved, people):
    from incidents import services as incidents

    change = approved()
    incidents.declare(
        people["oncall"], title="slow", severity="P3", summary="s", affected_modules=["beta"]
    )
    start, end = window()
    services.schedule(people["operator"], change.pk, start, end)


def _maintenance_window(people, modules, start, end, status="approved"):
    from changes.models import MaintenanceType, MaintenanceWindow

    kind, _ = MaintenanceType.objects.get_or_create(
        key="weekly", defaults={"name": "Standard Weekly", "approving_role": "Operations Lead"}
    )
    window = MaintenanceWindow.objects.create(
        type=kind, title="Weekly", status=status, start=start, end=end, owner=people["opslead"]
    )
    window.modules.set(modules)
    return window


def test_downtime_change_needs_an_approved_window_covering_its_modules(approved, people, modules):
    change = approved(requires_downtime=True)
    start, end = window(24, 1)
    with pytest.raises(Refused, match="maintenance window") as exc:
        services.schedule(people["operator"], change.pk, start, end)
    assert exc.value.conflicts[0]["kind"] == "window"
    # A window covering other modules only, or not approved, is no help.
    mw = _maintenance_window(
        people, [modules["gamma"]], start - timedelta(hours=1), end + timedelta(hours=1)
    )
    with pytest.raises(Refused, match="maintenance window"):
        services.schedule(people["operator"], change.pk, start, end)
    mw.modules.set([modules["beta"], modules["gamma"]])
    mw.status = "requested"
    mw.save()
    with pytest.raises(Refused, match="maintenance window"):
        services.schedule(people["operator"], change.pk, start, end)
    mw.status = "approved"
    mw.save()
    services.schedule(people["operator"], change.pk, start, end)
    change.refresh_from_db()
    assert change.status == Status.SCHEDULED


def test_override_by_ops_lead_with_reason(approved, people):
    from incidents import services as incidents

    change = approved()
    incidents.declare(
        people["oncall"], title="Beta down", severity="P2", summary="s", affected_modules=["beta"]
    )
    start, end = window()
    with pytest.raises(PermissionDenied, match="Operations Lead"):
        services.schedule(people["operator"], change.pk, start, end, "it is the fix")
    services.schedule(people["opslead"], change.pk, start, end, "This change is the fix.")
    change.refresh_from_db()
    assert change.status == Status.SCHEDULED
    assert change.override_reason == "This change is the fix."
    assert change.override_by == people["opslead"]
    assert change.schedule_conflicts[0]["kind"] == "incident"
    assert change.events.filter(kind=ChangeEvent.Kind.OVERRIDE).count() == 1


# --- implementation -------------------------------------------------------------------------
def test_start_needs_the_checklist_complete(approved, people):
    change = approved()
    start, end = window()
    services.schedule(people["operator"], change.pk, start, end)
    items = list(change.checklist.all())
    for item in items[:-1]:
        services.set_checklist_item(people["operator"], change.pk, item.pk, True)
    with pytest.raises(Refused, match="1 open line"):
        services.start(people["operator"], change.pk)
    services.set_checklist_item(people["operator"], change.pk, items[-1].pk, True)
    services.start(people["operator"], change.pk)
    change.refresh_from_db()
    assert change.status == Status.IN_PROGRESS
    # Started before its window: logged as a deviation.
    assert change.events.filter(kind=ChangeEvent.Kind.DEVIATION).exists()


def _in_progress(approved, people, **kwargs):
    change = approved(**kwargs)
    start, end = window()
    services.schedule(people["operator"], change.pk, start, end)
    for item in change.checklist.all():
        services.set_checklist_item(people["operator"], change.pk, item.pk, True)
    services.start(people["operator"], change.pk)
    change.refresh_from_db()
    return change


def test_log_complete_and_review_within_24_hours(approved, people):
    change = _in_progress(approved, people)
    services.add_log_entry(people["operator"], change.pk, "checkpoint", "Config reloaded")
    services.add_log_entry(people["operator"], change.pk, "deviation", "Took 2 reloads")
    services.complete(people["operator"], change.pk)
    change.refresh_from_db()
    assert change.status == Status.COMPLETED
    assert change.review_due_at == change.finished_at + timedelta(hours=24)
    services.record_review(people["operator"], change.pk, stability="stable", results="as planned")
    services.close(people["operator"], change.pk)
    change.refresh_from_db()
    assert change.status == Status.CLOSED


def test_rollback_records_reason_and_outcome(approved, people):
    change = _in_progress(approved, people)
    with pytest.raises(Refused, match="reason") as exc:
        services.rollback(people["operator"], change.pk, "")
    assert exc.value.code == 400
    services.rollback(
        people["operator"], change.pk, "errors doubled", "previous config restored",
        "Error rate increases significantly",
    )  # fmt: skip
    change.refresh_from_db()
    assert change.status == Status.ROLLED_BACK
    assert (change.rollback_reason, change.rollback_outcome) == (
        "errors doubled",
        "previous config restored",
    )
    assert change.rollback_trigger == "Error rate increases significantly"


def test_review_overdue_is_noted_once(approved, people):
    change = _in_progress(approved, people)
    services.complete(people["operator"], change.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert services.scan_due() == {"formal": 0, "review": 1}
        assert services.scan_due() == {"formal": 0, "review": 0}
        change.refresh_from_db()
        assert change.review_overdue


# --- emergency ------------------------------------------------------------------------------
def test_emergency_change_24_hour_rule(raise_change, people):
    from incidents import services as incidents

    incident = incidents.declare(
        people["oncall"], title="Gamma down", severity="P1", summary="s", affected_modules=["gamma"]
    )
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        change = raise_change(
            type="emergency", by=people["oncall"], modules_=("gamma",), incident=incident,
            rollback_plan="", business_justification="",
        )  # fmt: skip
        with pytest.raises(Refused, match="verbal"):
            services.submit(people["oncall"], change.pk)
        with pytest.raises(PermissionDenied, match="Engineering Manager"):
            services.record_verbal_approval(people["oncall"], change.pk, people["senior"])
        services.record_verbal_approval(
            people["oncall"], change.pk, people["engmanager"], "phone, 02:10"
        )
        change.refresh_from_db()
        assert change.status == Status.APPROVED
        assert change.formal_due_at == t0 + timedelta(hours=24)
        # Starts at once, unscheduled, checklist or not (001: "with available resources").
        services.start(people["oncall"], change.pk)
    with time_machine.travel(t0 + timedelta(hours=23, minutes=59), tick=False):
        assert services.scan_due()["formal"] == 0
        assert not Change_get(change).formal_overdue
    with time_machine.travel(t0 + timedelta(hours=24, minutes=1), tick=False):
        assert services.scan_due()["formal"] == 1
        assert services.scan_due()["formal"] == 0  # noted once
        change = Change_get(change)
        assert change.formal_overdue
        assert change.events.filter(kind="overdue").count() == 1
        with pytest.raises(Refused, match="lacks"):
            services.complete_formal_request(people["oncall"], change.pk)
        services.update(
            people["oncall"], change.pk, rollback_plan="revert", business_justification="P1"
        )
        services.complete_formal_request(people["oncall"], change.pk)
        change = Change_get(change)
        assert not change.formal_overdue
        assert change.events.filter(kind="formal", text__contains="late").exists()


def Change_get(change):  # noqa: N802
    from changes.models import Change

    return Change.objects.get(pk=change.pk)


def test_emergency_closed_only_after_the_formal_request(raise_change, people):
    change = raise_change(type="emergency", by=people["oncall"], modules_=("gamma",))
    services.record_verbal_approval(people["oncall"], change.pk, people["engmanager"])
    services.start(people["oncall"], change.pk)
    services.complete(people["oncall"], change.pk)
    services.record_review(people["oncall"], change.pk, stability="ok", results="ok")
    with pytest.raises(Refused, match="formal request"):
        services.close(people["oncall"], change.pk)


# --- queries for other apps ----------------------------------------------------------------
def test_approved_change_for_and_active_freeze(approved, people, modules):
    from changes.models import Freeze

    change = approved()
    start, end = window(1, 2)
    services.schedule(people["operator"], change.pk, start, end)
    assert services.approved_change_for("beta") is None
    assert services.approved_change_for("beta", start + timedelta(minutes=5)) == change
    assert services.approved_change_for("gamma", start + timedelta(minutes=5)) is None
    freeze = Freeze.objects.create(name="F", starts_at=end, ends_at=end + timedelta(days=1))
    freeze.modules.set([modules["alpha"]])
    assert services.active_freeze() is None
    assert services.active_freeze(end + timedelta(hours=1)) == freeze
    assert services.active_freeze(end + timedelta(hours=1), "beta") is None
    events = services.calendar_events(start - timedelta(days=1), end + timedelta(days=2))
    assert [(e["kind"], e["modules"]) for e in events] == [
        ("change", ["beta"]),
        ("freeze", ["alpha"]),
    ]


def test_changes_before_an_incident_and_caused_mark(approved, people):
    from incidents import services as incidents

    change = _in_progress(approved, people)
    services.complete(people["operator"], change.pk)
    other = _in_progress(approved, people, modules_=("gamma",))
    incident = incidents.declare(
        people["oncall"], title="Beta errors", severity="P2", summary="s",
        affected_modules=["beta"],
    )  # fmt: skip
    assert services.changes_before(incident) == [Change_get(change)]
    assert other not in services.changes_before(incident)
    assert incident in services.incidents_after(Change_get(change))
    with pytest.raises(PermissionDenied):
        services.mark_caused(people["viewer"], change.pk, incident)
    services.mark_caused(people["oncall"], change.pk, incident, "queue change")
    assert incident.change_links.get().change_id == change.pk
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        later = incidents.declare(
            people["oncall"], title="later", severity="P3", summary="s", affected_modules=["beta"]
        )
        assert services.changes_before(later) == []


def test_weekly_figures(approved, people):
    ok = _in_progress(approved, people)
    services.complete(people["operator"], ok.pk)
    bad = _in_progress(approved, people, modules_=("gamma",))
    services.rollback(people["operator"], bad.pk, "errors")
    figures = services.weekly_figures(services.week_start(timezone.localdate()))
    assert figures["total"] == 2
    assert (figures["succeeded"], figures["rolled_back"]) == (1, 1)
    assert figures["success_rate"] == 50.0
    assert figures["emergency_share"] == 0.0


def test_open_p1_clashes_only_with_windows_soon_and_holds_back_the_start(approved, people):
    from incidents import services as incidents

    change = approved()
    incident = incidents.declare(
        people["oncall"], title="Beta down", severity="P1", summary="s", affected_modules=["beta"]
    )
    # Beyond the policy's 24 hours the incident's end is unknown: no clash at scheduling time.
    start, end = window(48, 2)
    services.schedule(people["operator"], change.pk, start, end)
    change.checklist.update(done_at=timezone.now())
    with pytest.raises(Refused, match=incident.number):
        services.start(people["operator"], change.pk)
    incidents.move(people["opslead"], incident.pk, "resolved", resolution_summary="fixed")
    services.start(people["operator"], change.pk)


def test_override_of_an_incident_conflict_lets_the_change_start(approved, people):
    from incidents import services as incidents

    change = approved()
    incidents.declare(
        people["oncall"], title="Beta down", severity="P1", summary="s", affected_modules=["beta"]
    )
    start, end = window(1)
    services.schedule(people["opslead"], change.pk, start, end, "This change is the fix.")
    change.checklist.update(done_at=timezone.now())
    services.start(people["operator"], change.pk)
