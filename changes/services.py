"""Change management workflows (001 "Change Management"). Views, API, tasks and admin call
these; each owns its transaction, locks the change row for the change it makes, writes the
timeline and the audit trail (the model's transition methods), and publishes live updates
after commit.

Permissions:
- Operators and above raise changes (`changes.add_change`); every role reads them.
- The requester and the implementer act on their change (guardian `changes.act_change`);
  Operations Lead and above act on every change (global `act_change`).
- The technical review takes the policy's reviewer role (Senior Engineer) or above.
- Approval takes the risk level's approver role or above; CAB votes take the CAB Member role.
- Nobody reviews, approves or votes on a change they requested (separation of duties), and
  nobody decides twice in one round.
- Conflicts are overridden only by the policy's override role (Operations Lead) or above.
"""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from console import audit, live, roles
from console.errors import Refused
from monitoring.models import Module

from .models import (
    BOOKED,
    FINISHED,
    RISK_ORDER,
    Approval,
    ApprovalLevel,
    CabMeeting,
    Change,
    ChangeDayCounter,
    ChangeEvent,
    ChangePolicy,
    ChangeType,
    ChecklistItem,
    ChecklistTemplateItem,
    Freeze,
    IncidentLink,
    Level,
    Priority,
    Revision,
    Risk,
    RiskCell,
    StandardTemplate,
    Status,
)

ACT = "changes.act_change"
VIEW = "changes.view_change"
ADD = "changes.add_change"
FORM_FIELDS = (
    "title",
    "priority",
    "description",
    "business_justification",
    "technical_details",
    "affected_systems",
    "risk_assessment",
    "testing_performed",
    "implementation_plan",
    "rollback_plan",
    "success_criteria",
    "impact",
    "likelihood",
    "requires_downtime",
    "planned_start",
    "planned_end",
)


# --- permissions ------------------------------------------------------------------------
def can_view(user) -> bool:
    return user.is_authenticated and user.has_perm(VIEW)


def can_act(user, change: Change) -> bool:
    return user.is_authenticated and (user.has_perm(ACT) or user.has_perm(ACT, change))


def _require_act(user, change: Change) -> None:
    if not can_act(user, change):
        raise PermissionDenied(
            f"Only the requester, the implementer or an Operations Lead acts on {change.number}."
        )


def _not_requester(user, change: Change, what: str) -> None:
    if user.pk == change.requester_id:
        raise PermissionDenied(f"Separation of duties: you cannot {what} your own change.")


def _grant(user, change: Change) -> None:
    assign_perm(ACT, user, change)


# --- numbering and risk -----------------------------------------------------------------
def next_number(now: datetime) -> str:
    """CHG-YYYY-MMDD-NNN (001 "Configuration Change Tracking": CHG-2024-0115-001), the day in
    the console's time zone. Inside the creating transaction the day's counter row stays
    locked until commit: concurrent requests queue, a rolled-back one leaves no gap."""
    day = timezone.localdate(now)
    ChangeDayCounter.objects.bulk_create([ChangeDayCounter(day=day, last=0)], ignore_conflicts=True)
    counter = ChangeDayCounter.objects.select_for_update().get(day=day)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"CHG-{day:%Y}-{day:%m%d}-{counter.last:03d}"


def compute_risk(impact: str, likelihood: str) -> str:
    """001 "Risk Assessment Matrix", read from the RiskCell rows (editable in the admin)."""
    if impact not in Level.values or likelihood not in Level.values:
        raise Refused("Impact and likelihood must each be low, medium or high.", 400)
    cell = RiskCell.objects.filter(impact=impact, likelihood=likelihood).first()
    if cell is None:
        raise Refused("The risk matrix is not loaded: run manage.py load_policy.", 400)
    return cell.risk


def approval_level(change: Change) -> ApprovalLevel:
    level = ApprovalLevel.objects.filter(risk=change.risk).first()
    if level is None:
        raise Refused(f"No approval level for {change.get_risk_display()}: run load_policy.", 400)
    return level


def cab_members(exclude=None) -> list:
    users = get_user_model().objects.filter(groups__name=roles.CAB, is_active=True).distinct()
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return list(users.order_by("username"))


def needs_rollback_plan(change_type: str, risk: str) -> bool:
    """Issue 8: a Normal or riskier change needs a rollback plan (standard templates carry
    theirs; an emergency completes it in its formal request within 24 hours)."""
    if change_type == ChangeType.EMERGENCY:
        return False
    return change_type == ChangeType.NORMAL or RISK_ORDER[Risk(risk)] >= RISK_ORDER[Risk.NORMAL]


# --- shared steps -------------------------------------------------------------------------
def changed(change: Change) -> None:
    live.publish(f"change.{change.pk}", "change.updated", pk=change.pk)
    live.publish("changes", "change.updated", pk=change.pk)


def note_action_run(number: str, text: str, by, run_pk: int) -> None:
    """A runbook action run under a change goes on that change's timeline (the audit has it
    already); the console writes it, so it needs no permission on the change."""
    change = Change.objects.filter(number=number).first()
    if change is None:
        return
    change.log(ChangeEvent.Kind.ACTION, text, by, run=run_pk)
    changed(change)


# --- notifications ----------------------------------------------------------------------
# Who hears of a move (issue 8): the holders of the role a change now waits for, and the
# requester once it is decided. Queued after commit, so a refused or rolled-back move tells
# no one; the same Notification rows as incidents' (console inbox, and email with an address).
NOTIFY_EVENTS = {
    Status.SUBMITTED: "review_requested",
    Status.CAB_REVIEW: "approval_requested",
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
}


def _announce(change: Change, by) -> None:
    """Schedule the notifications of the status the change has just reached (after commit)."""
    if change.status not in NOTIFY_EVENTS:
        return
    pk, status, by_pk = change.pk, change.status, getattr(by, "pk", None)
    transaction.on_commit(lambda: notify_status(pk, status, by_pk))


def awaiting_whom(change: Change) -> list[str]:
    """The roles whose holders the change now waits for (its policy, as data)."""
    if change.status == Status.SUBMITTED:
        return [ChangePolicy.current().reviewer_role]
    if change.status == Status.CAB_REVIEW:
        level = approval_level(change)
        return [level.approver_role] + ([roles.CAB] if level.cab != ApprovalLevel.Cab.NONE else [])
    return []


def notify_status(pk: int, status: str, by_pk: int | None = None) -> int:
    """Queue the messages for `status` if the change is still there; returns how many users
    were told. Nobody is told of their own change's review, nor of a decision they made."""
    from incidents import notify
    from incidents.models import Notification

    change = Change.objects.select_related("requester").filter(pk=pk).first()
    if change is None or change.status != status:
        return 0  # moved on meanwhile: the later move announces itself
    link = reverse("changes:detail", args=[change.number])
    modules = ", ".join(m.name for m in change.affected_modules.all()) or "no module"
    facts = (
        f"{change.title}\n{change.get_type_display()} change, risk "
        f"{change.get_risk_display()}, on {modules}; requested by "
        f"{change.requester.get_username()}.\n{link}"
    )
    if status in (Status.SUBMITTED, Status.CAB_REVIEW):
        wanted = awaiting_whom(change)
        users = {u.pk: u for role in wanted for u in notify.role_members(role)}
        users.pop(change.requester_id, None)  # separation of duties: not theirs to decide
        what = "technical review" if status == Status.SUBMITTED else "approval"
        subject = f"{change.number} awaits {what} ({' / '.join(wanted)})"
        recipients = sorted(users.values(), key=lambda u: u.get_username())
        body = facts
    else:
        if change.requester_id == by_pk:
            return 0
        kinds = [ChangeEvent.Kind.APPROVAL, ChangeEvent.Kind.VOTE, ChangeEvent.Kind.REVIEW]
        last = change.events.filter(kind__in=kinds).last()
        subject = f"{change.number} {change.get_status_display().lower()}: {change.title}"
        body = facts + (f"\n\nLast decision: {last.actor_name}: {last.text}" if last else "")
        recipients = [change.requester]
    rows = notify.queue_users(
        None,
        recipients,
        NOTIFY_EVENTS[status],
        subject[:300],
        body,
        Notification.Audience.CHANGES,
        link=link,
    )
    return len({row.user_id for row in rows})


def _lock(pk: int) -> Change:
    try:
        return Change.objects.select_for_update().get(pk=pk)
    except Change.DoesNotExist:
        raise Refused("No such change.", 404) from None


def _modules(names) -> list[Module]:
    names = [n for n in names if n]
    found = list(Module.objects.filter(name__in=names))
    missing = sorted(set(names) - {m.name for m in found})
    if missing:
        raise Refused(f"Unknown module(s): {', '.join(missing)}.", 400)
    return found


def _snapshot(change: Change) -> dict:
    data = {name: getattr(change, name) for name in FORM_FIELDS}
    data["type"] = change.type
    data["risk"] = change.risk
    data["affected_modules"] = sorted(change.affected_modules.values_list("name", flat=True))
    return audit._plain(data)


def _copy_checklist(change: Change) -> None:
    ChecklistItem.objects.bulk_create(
        ChecklistItem(change=change, section=t.section, position=t.position, text=t.text)
        for t in ChecklistTemplateItem.objects.filter(active=True)
    )


# --- create and edit ------------------------------------------------------------------------
def create(
    by,
    *,
    title: str,
    type: str = ChangeType.NORMAL,
    impact: str = Level.LOW,
    likelihood: str = Level.LOW,
    affected_modules=(),
    template: StandardTemplate | str | int | None = None,
    incident=None,
    **fields,
) -> Change:
    """Raise a change request (Draft). A standard change comes from the catalogue: the
    template's plans and risk are copied and it needs no review or CAB."""
    if not by.has_perm(ADD):
        raise PermissionDenied("Your role may not raise change requests.")
    if type not in ChangeType.values:
        raise Refused("Type must be standard, normal or emergency.", 400)
    if fields.get("priority", Priority.MEDIUM) not in Priority.values:
        raise Refused("Priority must be low, medium or high.", 400)
    if not (title or "").strip():
        raise Refused("A change needs a title.", 400)
    unknown = set(fields) - set(FORM_FIELDS)
    if unknown:
        raise Refused(f"Unknown field(s): {', '.join(sorted(unknown))}.", 400)
    if type == ChangeType.STANDARD:
        if template is None:
            raise Refused("A standard change must come from the catalogue (`template`).", 400)
        if not isinstance(template, StandardTemplate):
            lookup = {"pk": template} if str(template).isdigit() else {"name": template}
            template = StandardTemplate.objects.filter(active=True, **lookup).first()
            if template is None:
                raise Refused("No such standard change in the catalogue.", 400)
        impact, likelihood = template.impact, template.likelihood
        fields.setdefault("description", template.description)
        fields["implementation_plan"] = fields.get("implementation_plan") or (
            template.implementation_plan
        )
        fields["rollback_plan"] = fields.get("rollback_plan") or template.rollback_plan
    else:
        template = None
    risk = compute_risk(impact, likelihood)
    if type == ChangeType.STANDARD and risk != Risk.STANDARD:
        raise Refused("A standard change must be Standard risk.", 400)
    if needs_rollback_plan(type, risk) and not (fields.get("rollback_plan") or "").strip():
        raise Refused("A Normal or riskier change needs a rollback plan.", 400)
    _check_window(fields.get("planned_start"), fields.get("planned_end"), "planned")
    modules = _modules(affected_modules)
    now = timezone.now()
    with transaction.atomic():
        change = Change(
            number=next_number(now),
            title=title.strip(),
            type=type,
            template=template,
            requester=by,
            impact=impact,
            likelihood=likelihood,
            risk=risk,
            incident=incident,
            created_at=now,
            status_changed_at=now,
            **fields,
        )
        change.save()
        change.affected_modules.set(modules)
        _grant(by, change)
        _copy_checklist(change)
        change.log(
            ChangeEvent.Kind.CREATED,
            f"{change.get_type_display()} change raised, risk {change.get_risk_display()}.",
            by,
        )
        audit.record("change.created", actor=by, obj=change, after=_snapshot(change))
        changed(change)
    return change


def update(by, pk: int, *, affected_modules=None, **fields) -> Change:
    """Edit the form while it is a draft (or an emergency change's formal request)."""
    unknown = set(fields) - set(FORM_FIELDS)
    if unknown:
        raise Refused(f"Unknown field(s): {', '.join(sorted(unknown))}.", 400)
    modules = None if affected_modules is None else _modules(affected_modules)
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        editable = change.status == Status.DRAFT or (
            change.is_emergency and change.formal_completed_at is None
        )
        if not editable:
            raise Refused(
                f"{change.number} is {change.get_status_display()}: only a draft is edited "
                "(a rejected change is revised first)."
            )
        before = _snapshot(change)
        for name, value in fields.items():
            setattr(change, name, value)
        if change.type == ChangeType.STANDARD:
            change.impact, change.likelihood = change.template.impact, change.template.likelihood
        change.risk = compute_risk(change.impact, change.likelihood)
        _check_window(change.planned_start, change.planned_end, "planned")
        change.save()
        if modules is not None:
            change.affected_modules.set(modules)
        after = _snapshot(change)
        diff = sorted(k for k in after if before.get(k) != after.get(k))
        if diff:
            change.log(ChangeEvent.Kind.EDITED, f"Edited: {', '.join(diff)}.", by, fields=diff)
            audit.record("change.edited", actor=by, obj=change, before=before, after=after)
        changed(change)
    return change


def _check_window(start, end, what: str) -> None:
    if (start is None) != (end is None):
        raise Refused(f"The {what} window needs both a start and an end.", 400)
    if start is not None and end <= start:
        raise Refused(f"The {what} window must end after it starts.", 400)


# --- submission, review, approval --------------------------------------------------------
def submit(by, pk: int) -> Change:
    """Draft → Submitted (a new round, its form kept as a revision). A standard change is
    pre-approved (001 "Standard Change Process") and goes straight on to Approved."""
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.is_emergency:
            raise Refused(
                "An emergency change is approved verbally; record the verbal approval instead."
            )
        if change.status != Status.DRAFT:
            raise Refused(f"{_is(change)}; only a draft is submitted.")
        if needs_rollback_plan(change.type, change.risk) and not change.rollback_plan.strip():
            raise Refused("A Normal or riskier change needs a rollback plan.", 400)
        if not change.affected_modules.exists() and not change.affected_systems.strip():
            raise Refused("Name the affected modules or systems.", 400)
        if not change.description.strip():
            raise Refused("Describe the change before submitting it.", 400)
        now = timezone.now()
        change.round += 1
        Revision.objects.create(
            change=change, round=change.round, submitted_at=now, data=_snapshot(change)
        )
        note = f"Round {change.round}." if change.round > 1 else ""
        change.move_to(Status.SUBMITTED, by, note, fields=["round"])
        if change.type == ChangeType.STANDARD:
            change.move_to(
                Status.APPROVED, by, f"Pre-approved standard change ({change.template})."
            )
        _announce(change, by)
        changed(change)
    return change


def begin_review(by, pk: int) -> Change:
    """Submitted → Technical Review: a reviewer takes it (001 "Step 2: Technical Review")."""
    policy = ChangePolicy.current()
    with transaction.atomic():
        change = _lock(pk)
        if not roles.at_least(by, policy.reviewer_role):
            raise PermissionDenied(f"The technical review takes a {policy.reviewer_role} or above.")
        _not_requester(by, change, "review")
        if change.status != Status.SUBMITTED:
            raise Refused(f"{_is(change)}; not awaiting review.")
        change.reviewer = by
        change.move_to(Status.TECHNICAL_REVIEW, by, f"Taken by {by.get_username()}.", ["reviewer"])
        changed(change)
    return change


def review(by, pk: int, *, passed: bool = True, comment: str = "") -> Change:
    """Record the technical review's outcome: passed → CAB Review (the approval stage), failed
    → Rejected. From Submitted, the reviewer takes it first."""
    policy = ChangePolicy.current()
    if not passed and not comment.strip():
        raise Refused("Say why the review failed.", 400)
    with transaction.atomic():
        change = _lock(pk)
        if not roles.at_least(by, policy.reviewer_role):
            raise PermissionDenied(f"The technical review takes a {policy.reviewer_role} or above.")
        _not_requester(by, change, "review")
        if change.status == Status.SUBMITTED:
            change.reviewer = by
            change.move_to(
                Status.TECHNICAL_REVIEW, by, f"Taken by {by.get_username()}.", ["reviewer"]
            )
        if change.status != Status.TECHNICAL_REVIEW:
            raise Refused(f"{_is(change)}; not in technical review.")
        outcome = "passed" if passed else "failed"
        change.log(
            ChangeEvent.Kind.REVIEW,
            f"Technical review {outcome}. {comment}".strip(),
            by,
            passed=passed,
        )
        audit.record(
            "change.reviewed", actor=by, obj=change, after={"passed": passed, "comment": comment}
        )
        change.move_to(Status.CAB_REVIEW if passed else Status.REJECTED, by)
        _announce(change, by)
        changed(change)
    return change


def approval_state(change: Change, level: ApprovalLevel | None = None) -> dict:
    """What this round still needs: the approver role's decision and the CAB's votes."""
    level = level or approval_level(change)
    decisions = list(change.approvals.filter(round=change.round).select_related("user"))
    members = cab_members(exclude=change.requester)
    needed = level.votes_needed(len(members))
    role_decision = next((a for a in decisions if a.kind == Approval.Kind.ROLE), None)
    votes = [a for a in decisions if a.kind == Approval.Kind.CAB]
    approvals = sum(a.decision == Approval.Decision.APPROVE for a in votes)
    rejections = sum(a.decision == Approval.Decision.REJECT for a in votes)
    voted = {a.user_id for a in votes}
    still_possible = approvals + len([m for m in members if m.pk not in voted])
    return {
        "level": level,
        "role": level.approver_role,
        "role_decision": role_decision,
        "cab": level.cab,
        "members": members,
        "votes": votes,
        "votes_needed": needed,
        "approvals": approvals,
        "rejections": rejections,
        "approved": (role_decision is not None and role_decision.decision == "approve")
        and approvals >= needed,
        "rejected": (role_decision is not None and role_decision.decision == "reject")
        or (needed and still_possible < needed),
    }


def decide(by, pk: int, decision: str, comment: str = "") -> Change:
    """Approve or reject in CAB Review (001 "Approval levels"). The caller decides in the
    level's approver role if they hold it (or above) and it is still open, else as a CAB
    member's vote. The change row is locked, so simultaneous votes are counted one after the
    other and exactly one of them moves the change to Approved or Rejected."""
    if decision not in Approval.Decision.values:
        raise Refused("The decision must be approve or reject.", 400)
    if decision == Approval.Decision.REJECT and not comment.strip():
        raise Refused("A rejection needs a comment saying why.", 400)
    with transaction.atomic():
        change = _lock(pk)
        _not_requester(by, change, "approve or reject")
        if change.status != Status.CAB_REVIEW:
            raise Refused(f"{_is(change)}; it is not awaiting approval.")
        level = approval_level(change)
        state = approval_state(change, level)
        mine = change.approvals.filter(round=change.round, user=by).first()
        if mine is not None:
            raise Refused(
                f"You already decided on this round ({mine.get_decision_display().lower()})."
            )
        if state["role_decision"] is None and roles.at_least(by, level.approver_role):
            kind, role = Approval.Kind.ROLE, level.approver_role
        elif level.cab != ApprovalLevel.Cab.NONE and roles.has_role(by, roles.CAB):
            kind, role = Approval.Kind.CAB, roles.CAB
        else:
            needs = level.approver_role + " (or above)"
            if level.cab != ApprovalLevel.Cab.NONE:
                needs += " or a CAB member"
            if state["role_decision"] is not None and roles.at_least(by, level.approver_role):
                raise Refused(
                    f"The {level.approver_role} decision on this round is already recorded."
                )
            raise PermissionDenied(f"A {level.label}-risk change is approved by {needs}.")
        try:
            with transaction.atomic():
                approval = Approval.objects.create(
                    change=change,
                    round=change.round,
                    kind=kind,
                    role=role,
                    user=by,
                    decision=decision,
                    comment=comment.strip(),
                    at=timezone.now(),
                )
        except IntegrityError:
            raise Refused("You already decided on this round.") from None
        verb = "approved" if decision == "approve" else "rejected"
        event_kind = (
            ChangeEvent.Kind.APPROVAL if kind == Approval.Kind.ROLE else ChangeEvent.Kind.VOTE
        )
        change.log(
            event_kind, f"{verb.capitalize()} as {role}. {comment}".strip(), by, decision=decision
        )
        audit.record(
            f"change.{kind}_{decision}",
            actor=by,
            obj=change,
            after={"round": change.round, "role": role, "comment": comment},
        )
        state = approval_state(change, level)
        if state["rejected"]:
            change.move_to(Status.REJECTED, by, "Rejected by the approvers.")
        elif state["approved"]:
            change.move_to(Status.APPROVED, by, "All required approvals recorded.")
        if change.status != Status.CAB_REVIEW:
            _announce(change, by)
        _ = approval
        changed(change)
    return change


def revise(by, pk: int) -> Change:
    """Rejected → Draft, to revise and resubmit; earlier rounds and their votes are kept."""
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        change.move_to(Status.DRAFT, by, "Reopened for revision.")
        changed(change)
    return change


def record_verbal_approval(by, pk: int, approver, note: str = "") -> Change:
    """Emergency change (001 "Emergency Change Process"): the on-call manager's verbal
    approval, recorded by the requester; Draft → Approved, and the formal request is due in
    `formal_request_hours` (24 h)."""
    policy = ChangePolicy.current()
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if not change.is_emergency:
            raise Refused("Only an emergency change is approved verbally.", 400)
        if approver is None or not roles.at_least(approver, policy.verbal_approver_role):
            raise PermissionDenied(
                f"The verbal approval must come from a {policy.verbal_approver_role} or above."
            )
        if approver.pk == change.requester_id:
            raise PermissionDenied("Separation of duties: you cannot approve your own change.")
        if change.status != Status.DRAFT:
            raise Refused(f"{_is(change)}; already decided.")
        now = timezone.now()
        change.round = max(change.round, 1)
        change.verbal_approver = approver
        change.verbal_approval_note = note.strip()
        change.formal_due_at = now + timedelta(hours=policy.formal_request_hours)
        change.log(
            ChangeEvent.Kind.VERBAL,
            f"Verbal approval from {approver.get_username()}. {note}".strip(),
            by,
            approver=approver.get_username(),
        )
        change.move_to(
            Status.APPROVED,
            by,
            f"Formal request due within {policy.formal_request_hours} h.",
            ["verbal_approver", "verbal_approval_note", "formal_due_at", "round"],
        )
        changed(change)
    return change


def complete_formal_request(by, pk: int) -> Change:
    """The emergency change's formal request is complete (every section of the form filled)."""
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if not change.is_emergency or change.formal_due_at is None:
            raise Refused(
                "Only a verbally approved emergency change has a formal request due.", 400
            )
        if change.formal_completed_at is not None:
            return change
        missing = change.missing_form_fields()
        if missing:
            raise Refused(f"The formal request still lacks: {', '.join(missing)}.", 400)
        now = timezone.now()
        late = now > change.formal_due_at
        change.formal_completed_at = now
        fields = ["formal_completed_at", "updated_at"] + change.recompute_due()
        change.save(update_fields=fields)
        Revision.objects.get_or_create(
            change=change,
            round=change.round,
            defaults={"submitted_at": now, "data": _snapshot(change)},
        )
        change.log(
            ChangeEvent.Kind.FORMAL,
            "Formal change request completed" + (" (late)." if late else "."),
            by,
            late=late,
        )
        audit.record("change.formal_completed", actor=by, obj=change, after={"late": late})
        changed(change)
    return change


# --- scheduling ---------------------------------------------------------------------------
def _overlaps(q_start: str, q_end: str, start, end) -> Q:
    return Q(**{f"{q_start}__lt": end, f"{q_end}__gt": start})


def find_conflicts(change: Change, start: datetime, end: datetime) -> list[dict]:
    """Why [start, end) is a bad window for `change` (issue 8 "Scheduling and conflicts"):
    1. another booked change on one of the same modules overlapping it;
    2. a change freeze overlapping it (on its modules, or on all modules);
    3. an open P1/P2 incident on one of its modules, for a window starting within the policy's
       `incident_conflict_hours` (an open incident's end is unknown; starting re-checks it);
    4. for a change needing downtime: no approved maintenance window covering it and all its
       modules."""
    modules = list(change.affected_modules.all())
    names = {m.name for m in modules}
    found = []
    others = (
        Change.objects.filter(status__in=BOOKED, affected_modules__in=modules)
        .filter(_overlaps("scheduled_start", "scheduled_end", start, end))
        .exclude(pk=change.pk)
        .distinct()
        .prefetch_related("affected_modules")
    )
    for other in others:
        shared = sorted(names & {m.name for m in other.affected_modules.all()})
        found.append(
            {
                "kind": "change",
                "detail": f"{other.number} ({other.get_status_display()}) is booked on "
                f"{', '.join(shared)} from {_fmt(other.scheduled_start)} "
                f"to {_fmt(other.scheduled_end)}.",
                "ref": other.number,
                "url": reverse("changes:detail", args=[other.number]),
            }
        )
    freezes = (
        Freeze.objects.filter(_overlaps("starts_at", "ends_at", start, end))
        .filter(Q(modules__in=modules) | Q(modules__isnull=True))
        .distinct()
    )
    for freeze in freezes:
        found.append(
            {
                "kind": "freeze",
                "detail": f"Change freeze “{freeze.name}” from {_fmt(freeze.starts_at)} to "
                f"{_fmt(freeze.ends_at)}.",
                "ref": freeze.name,
                "url": "",
            }
        )
    horizon = timezone.now() + timedelta(hours=ChangePolicy.current().incident_conflict_hours)
    incidents = open_major_incidents(modules) if start < horizon else []
    for incident in incidents:
        shared = sorted(names & {m.name for m in incident.affected_modules.all()})
        found.append(
            {
                "kind": "incident",
                "detail": f"{incident.number} ({incident.severity}, "
                f"{incident.get_status_display()}) "
                f"is open on {', '.join(shared)}.",
                "ref": incident.number,
                "url": reverse("incidents:detail", args=[incident.number]),
            }
        )
    if change.requires_downtime:
        problem = _downtime_problem(modules, start, end)
        if problem:
            found.append({"kind": "window", "detail": problem, "ref": "", "url": ""})
    return found


def open_major_incidents(modules) -> list:
    """Open P1/P2 incidents on any of `modules`."""
    from incidents.models import ACTIVE_STATUSES, Incident

    return list(
        Incident.objects.filter(
            status__in=ACTIVE_STATUSES, severity__in=["P1", "P2"], affected_modules__in=modules
        )
        .distinct()
        .prefetch_related("affected_modules")
    )


def _downtime_problem(modules, start, end) -> str:
    """A change that needs downtime must fall inside an approved maintenance window (issue 9's
    MaintenanceWindow, approved or already running) that covers every one of its modules."""
    from .models import MaintenanceWindow

    windows = MaintenanceWindow.objects.filter(
        status__in=[MaintenanceWindow.Status.APPROVED, MaintenanceWindow.Status.IN_PROGRESS],
        start__lte=start,
        end__gte=end,
    ).prefetch_related("modules")
    needed = {m.pk for m in modules}
    for window in windows:
        if needed <= {m.pk for m in window.modules.all()}:
            return ""
    return (
        "Needs downtime, but no approved maintenance window covers "
        f"{_fmt(start)} – {_fmt(end)} on {', '.join(sorted(m.name for m in modules))}."
    )


def _is(change: Change) -> str:
    return f"{change.number} is {change.get_status_display()}"


def _fmt(when) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else "—"


def schedule(by, pk: int, start: datetime, end: datetime, override_reason: str = "") -> Change:
    """Approved (or Scheduled, to move it) → Scheduled for [start, end). Conflicts refuse it
    (409, listing each with its reason) unless an Operations Lead or above overrides them with
    a recorded reason."""
    policy = ChangePolicy.current()
    if start is None or end is None:
        raise Refused("Give the window's start and end.", 400)
    if end <= start:
        raise Refused("The window must end after it starts.", 400)
    if start < timezone.now():
        raise Refused("A change cannot be scheduled in the past.", 400)
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status not in (Status.APPROVED, Status.SCHEDULED):
            raise Refused(f"{_is(change)}; only an approved change is scheduled.")
        conflicts = find_conflicts(change, start, end)
        override_reason = override_reason.strip()
        if conflicts and not override_reason:
            raise Refused(
                "The window conflicts: " + " ".join(c["detail"] for c in conflicts),
                409,
                conflicts,
            )
        if conflicts and not roles.at_least(by, policy.override_role):
            raise PermissionDenied(
                f"Only a {policy.override_role} or above may override scheduling conflicts."
            )
        change.scheduled_start, change.scheduled_end = start, end
        change.schedule_conflicts = conflicts
        change.override_reason = override_reason if conflicts else ""
        change.override_by = by if conflicts else None
        fields = [
            "scheduled_start",
            "scheduled_end",
            "schedule_conflicts",
            "override_reason",
            "override_by",
        ]
        if conflicts:
            change.log(
                ChangeEvent.Kind.OVERRIDE,
                f"Conflicts overridden: {override_reason}",
                by,
                conflicts=[c["detail"] for c in conflicts],
            )
            audit.record(
                "change.conflicts_overridden",
                actor=by,
                obj=change,
                after={"reason": override_reason, "conflicts": [c["detail"] for c in conflicts]},
            )
        text = f"Window {_fmt(start)} – {_fmt(end)}."
        if change.status == Status.SCHEDULED:
            change.save(update_fields=fields + ["updated_at"])
            change.log(ChangeEvent.Kind.SCHEDULE, f"Re-scheduled: {text}", by)
            audit.record(
                "change.rescheduled", actor=by, obj=change, after={"start": start, "end": end}
            )
        else:
            change.move_to(Status.SCHEDULED, by, text, fields)
        changed(change)
    return change


# --- implementation -----------------------------------------------------------------------
def set_checklist_item(by, pk: int, item_id: int, done: bool) -> ChecklistItem:
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status in FINISHED + (Status.REVIEWED, Status.CLOSED, Status.IN_PROGRESS):
            raise Refused("The pre-implementation checklist is closed once work has started.")
        item = change.checklist.filter(pk=item_id).first()
        if item is None:
            raise Refused("No such checklist line.", 404)
        if bool(item.done_at) == done:
            return item
        item.done_at, item.done_by = (timezone.now(), by) if done else (None, None)
        item.save(update_fields=["done_at", "done_by"])
        change.log(
            ChangeEvent.Kind.CHECKLIST, f"{'Checked' if done else 'Unchecked'}: {item.text}", by
        )
        audit.record(
            "change.checklist", actor=by, obj=change, after={"item": item.text, "done": done}
        )
        changed(change)
    return item


def start(by, pk: int) -> Change:
    """Scheduled → In Progress (an emergency change may start once verbally approved). The
    pre-implementation checklist must be complete (001 "Before implementing any change"); an
    emergency change executes "with available resources" and is exempt. An open P1/P2 on its
    modules holds it back (see `_blocking_incidents`). Starting outside the scheduled window is
    logged as a deviation."""
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status == Status.APPROVED and not change.is_emergency:
            raise Refused(f"{change.number} must be scheduled before it starts.")
        if not change.is_emergency:
            open_items = change.checklist.filter(done_at__isnull=True).count()
            if open_items:
                raise Refused(
                    f"The pre-implementation checklist has {open_items} open line(s); "
                    "complete it before starting."
                )
        blocking = _blocking_incidents(change)
        if blocking:
            raise Refused(
                ", ".join(f"{i.number} ({i.severity})" for i in blocking)
                + " is open on its modules: resolve it first, or reschedule with an "
                "Operations Lead's override."
            )
        now = timezone.now()
        change.implementer = change.implementer or by
        _grant(change.implementer, change)
        change.move_to(Status.IN_PROGRESS, by, "Implementation started.", ["implementer"])
        if change.scheduled_start and not (change.scheduled_start <= now < change.scheduled_end):
            change.log(
                ChangeEvent.Kind.DEVIATION,
                f"Started outside the scheduled window ({_fmt(change.scheduled_start)} – "
                f"{_fmt(change.scheduled_end)}).",
                by,
            )
        changed(change)
    return change


def _blocking_incidents(change: Change) -> list:
    """Open P1/P2 incidents on the change's modules that nobody has accepted for it: an
    emergency change or one remediating the incident goes ahead, as does one whose schedule
    override covered that incident."""
    if change.is_emergency:
        return []
    accepted = {c["ref"] for c in change.schedule_conflicts if c.get("kind") == "incident"}
    return [
        i
        for i in open_major_incidents(list(change.affected_modules.all()))
        if i.pk != change.incident_id and i.number not in accepted
    ]


def add_log_entry(by, pk: int, kind: str, text: str) -> ChangeEvent:
    """The implementation log (001 "Execute Implementation": checkpoints, deviations)."""
    if kind not in ChangeEvent.LOG_KINDS:
        raise Refused("The log takes a checkpoint, a deviation or a note.", 400)
    if not text.strip():
        raise Refused("Write what happened.", 400)
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status != Status.IN_PROGRESS and kind != ChangeEvent.Kind.NOTE:
            raise Refused("Checkpoints and deviations are logged while the change is in progress.")
        entry = change.log(kind, text.strip(), by)
        audit.record(f"change.log_{kind}", actor=by, obj=change, after={"text": text.strip()})
        changed(change)
    return entry


def _finish(change: Change, to: str, by, note: str, fields: list[str]) -> None:
    policy = ChangePolicy.current()
    now = timezone.now()
    change.review_window_from(now, policy.review_hours)
    change.move_to(to, by, note, fields + ["review_due_at"], now=now)


def complete(by, pk: int, note: str = "") -> Change:
    """In Progress → Completed; the post-implementation review is due within 24 h."""
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status != Status.IN_PROGRESS:
            raise Refused(f"{_is(change)}; only work in progress completes.")
        _finish(change, Status.COMPLETED, by, note.strip(), [])
        changed(change)
    return change


def fail(by, pk: int, reason: str) -> Change:
    if not reason.strip():
        raise Refused("Say why the change failed.", 400)
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status != Status.IN_PROGRESS:
            raise Refused(f"{_is(change)}; only work in progress fails.")
        change.failure_reason = reason.strip()
        _finish(change, Status.FAILED, by, reason.strip(), ["failure_reason"])
        changed(change)
    return change


def rollback(by, pk: int, reason: str, outcome: str = "", trigger: str = "") -> Change:
    """In Progress or Completed → Rolled Back, recording the trigger, the reason and the
    outcome (001 "Rollback Triggers", "Rollback Execution")."""
    if not reason.strip():
        raise Refused("A rollback needs a reason.", 400)
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status not in (Status.IN_PROGRESS, Status.COMPLETED):
            raise Refused(f"{_is(change)}; nothing to roll back.")
        change.rollback_reason = reason.strip()
        change.rollback_outcome = outcome.strip()
        change.rollback_trigger = trigger.strip()[:200]
        change.log(
            ChangeEvent.Kind.ROLLBACK,
            f"Rolled back{f' ({trigger})' if trigger else ''}: {reason.strip()}"
            + (f" Outcome: {outcome.strip()}" if outcome.strip() else ""),
            by,
        )
        _finish(
            change,
            Status.ROLLED_BACK,
            by,
            "",
            ["rollback_reason", "rollback_outcome", "rollback_trigger"],
        )
        changed(change)
    return change


def record_review(by, pk: int, *, stability: str, issues: str = "", monitoring: str = "",
                  lessons: str = "", results: str = "") -> Change:  # fmt: skip
    """Post-implementation review (001 "Immediate Review (within 24 hours)") → Reviewed."""
    if not stability.strip() or not results.strip():
        raise Refused("The review needs the stability check and the results.", 400)
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.status not in FINISHED:
            raise Refused(f"{_is(change)}; review it once finished.")
        change.review_stability, change.review_issues = stability.strip(), issues.strip()
        change.review_monitoring, change.review_lessons = monitoring.strip(), lessons.strip()
        change.review_results, change.reviewed_by = results.strip(), by
        late = change.review_overdue
        change.move_to(
            Status.REVIEWED, by, "Post-implementation review recorded" + (" (late)." if late else "."),  # noqa: E501
            ["review_stability", "review_issues", "review_monitoring", "review_lessons",
             "review_results", "reviewed_by"],
        )  # fmt: skip
        changed(change)
    return change


def close(by, pk: int) -> Change:
    with transaction.atomic():
        change = _lock(pk)
        _require_act(by, change)
        if change.is_emergency and change.formal_completed_at is None:
            raise Refused("Complete the emergency change's formal request before closing it.")
        change.move_to(Status.CLOSED, by)
        changed(change)
    return change


# --- CAB ----------------------------------------------------------------------------------
def cab_agenda():
    """Changes awaiting a decision whose level involves the CAB, oldest first."""
    levels = ApprovalLevel.objects.exclude(cab=ApprovalLevel.Cab.NONE).values_list(
        "risk", flat=True
    )
    return (
        Change.objects.filter(status=Status.CAB_REVIEW, risk__in=list(levels))
        .select_related("requester")
        .prefetch_related("affected_modules")
        .order_by("submitted_at")
    )


def may_record_minutes(user) -> bool:
    return roles.has_role(user, roles.CAB) or roles.at_least(user, roles.DIRECTOR)


def record_minutes(by, *, held_at, minutes: str, attendees=(), changes=()) -> CabMeeting:
    """CAB minutes, recorded by a CAB member or a Director and above."""
    if not may_record_minutes(by):
        raise PermissionDenied("CAB minutes are recorded by a CAB member or a Director.")
    if not minutes.strip():
        raise Refused("The minutes are empty.", 400)
    with transaction.atomic():
        meeting = CabMeeting.objects.create(
            held_at=held_at, recorded_by=by, minutes=minutes.strip()
        )
        meeting.attendees.set(attendees)
        meeting.changes.set(changes)
        audit.record(
            "change.cab_minutes",
            actor=by,
            obj=meeting,
            after={"held_at": held_at, "changes": [c.number for c in changes]},
        )
        live.publish("changes", "cab.minutes", pk=meeting.pk)
    return meeting


# --- incidents ----------------------------------------------------------------------------
def changes_before(incident) -> list[Change]:
    """Changes implemented on the incident's modules in the lookback (24 h) before it was
    detected, or still in progress then (issue 8: the war room's recent changes)."""
    hours = ChangePolicy.current().incident_lookback_hours
    since = incident.detected_at - timedelta(hours=hours)
    return list(
        Change.objects.filter(affected_modules__in=incident.affected_modules.all())
        .filter(started_at__isnull=False, started_at__lte=incident.detected_at)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
        .distinct()
        .select_related("requester")
        .order_by("-started_at")
    )


def emergency_changes_for(incident, user=None) -> list[Change]:
    """The emergency changes that remediated `incident` (001 "Emergency Change Process": they
    are reviewed in the linked incident's review), oldest first; none for a user who may not
    read changes."""
    if user is not None and not can_view(user):
        return []
    return list(
        Change.objects.filter(incident=incident, type=ChangeType.EMERGENCY)
        .select_related("requester", "verbal_approver")
        .prefetch_related("affected_modules")
        .order_by("created_at", "pk")
    )


def incidents_after(change: Change) -> list:
    """Incidents opened on the change's modules while it was being implemented or within the
    policy's hours after it finished."""
    from incidents.models import Incident

    if change.started_at is None:
        return []
    hours = ChangePolicy.current().incident_after_hours
    until = (change.finished_at or timezone.now()) + timedelta(hours=hours)
    return list(
        Incident.objects.filter(
            affected_modules__in=change.affected_modules.all(),
            detected_at__gte=change.started_at,
            detected_at__lte=until,
        )
        .distinct()
        .order_by("detected_at")
    )


def mark_caused(by, change_pk: int, incident, note: str = "") -> IncidentLink:
    """A responder marks `incident` as caused by the change."""
    from incidents.services import can_act as can_act_incident

    if not can_act_incident(by, incident):
        raise PermissionDenied(f"Only responders to {incident.number} mark what caused it.")
    with transaction.atomic():
        change = _lock(change_pk)
        link, created = IncidentLink.objects.get_or_create(
            change=change,
            incident=incident,
            defaults={"marked_by": by, "marked_at": timezone.now(), "note": note.strip()},
        )
        if created:
            change.log(
                ChangeEvent.Kind.INCIDENT,
                f"Marked as the cause of {incident.number}. {note}".strip(),
                by,
                incident=incident.number,
            )
            audit.record(
                "change.caused_incident", actor=by, obj=change, after={"incident": incident.number}
            )
            changed(change)
            live.publish(f"incident.{incident.pk}", "incident.updated", pk=incident.pk)
    return link


def unmark_caused(by, change_pk: int, incident) -> None:
    from incidents.services import can_act as can_act_incident

    if not can_act_incident(by, incident):
        raise PermissionDenied(f"Only responders to {incident.number} mark what caused it.")
    with transaction.atomic():
        change = _lock(change_pk)
        deleted, _ = IncidentLink.objects.filter(change=change, incident=incident).delete()
        if deleted:
            change.log(
                ChangeEvent.Kind.INCIDENT,
                f"No longer marked as the cause of {incident.number}.",
                by,
            )
            audit.record(
                "change.caused_incident_removed",
                actor=by,
                obj=change,
                after={"incident": incident.number},
            )
            changed(change)
            live.publish(f"incident.{incident.pk}", "incident.updated", pk=incident.pk)


# --- calendar and queries for other apps ---------------------------------------------------
def calendar_events(start: datetime, end: datetime) -> list[dict]:
    """Changes with a window and freezes overlapping [start, end), for the calendar page
    (issue 9 draws it at /maintenance/)."""
    events = []
    changes = (
        Change.objects.filter(scheduled_start__isnull=False)
        .exclude(status__in=[Status.REJECTED, Status.DRAFT])
        .filter(_overlaps("scheduled_start", "scheduled_end", start, end))
        .prefetch_related("affected_modules")
    )
    for change in changes:
        events.append(
            {
                "kind": "change",
                "title": f"{change.number} {change.title}",
                "start": change.scheduled_start,
                "end": change.scheduled_end,
                "url": reverse("changes:detail", args=[change.number]),
                "modules": sorted(m.name for m in change.affected_modules.all()),
                "status": change.status,
                "risk": change.risk,
            }
        )
    for freeze in Freeze.objects.filter(
        _overlaps("starts_at", "ends_at", start, end)
    ).prefetch_related("modules"):
        events.append(
            {
                "kind": "freeze",
                "title": freeze.name,
                "start": freeze.starts_at,
                "end": freeze.ends_at,
                "url": reverse("changes:freezes"),
                "modules": sorted(m.name for m in freeze.modules.all()),
            }
        )
    return sorted(events, key=lambda e: e["start"])


def approved_change_for(module_name: str, at: datetime | None = None) -> Change | None:
    """The change covering `module_name` at `at` (now): one in progress on it, else an
    approved or scheduled one whose window contains `at`. None when nothing covers it."""
    at = at or timezone.now()
    on_module = Change.objects.filter(affected_modules__name=module_name)
    running = on_module.filter(status=Status.IN_PROGRESS).order_by("-started_at").first()
    if running is not None:
        return running
    return (
        on_module.filter(status__in=[Status.APPROVED, Status.SCHEDULED])
        .filter(scheduled_start__lte=at, scheduled_end__gt=at)
        .order_by("scheduled_start")
        .first()
    )


def in_progress_or_due(now: datetime, hours: int) -> list[Change]:
    """Changes in progress, and booked ones whose window starts within `hours` of `now` (or
    is under way): the handoff's "changes in progress or scheduled in the next 12 hours" (000
    "Pre-Handoff Preparation")."""
    return list(
        Change.objects.filter(
            Q(status=Status.IN_PROGRESS)
            | Q(
                status__in=[Status.APPROVED, Status.SCHEDULED],
                scheduled_start__lt=now + timedelta(hours=hours),
                scheduled_end__gt=now,
            )
        )
        .prefetch_related("affected_modules")
        .order_by("scheduled_start", "pk")
    )


def carried_by(start: datetime, end: datetime, modules) -> list[Change]:
    """The changes a maintenance window [start, end) on `modules` carries: those on one of its
    modules whose scheduled window (or, not yet scheduled, the proposed one) overlaps it,
    leaving out drafts and rejected ones. Downtime changes are the ones it exists for; others
    that share its time and modules are listed too, because they run during it."""
    dated = Q(scheduled_start__isnull=False) & _overlaps(
        "scheduled_start", "scheduled_end", start, end
    )
    proposed = Q(scheduled_start__isnull=True, planned_start__isnull=False) & _overlaps(
        "planned_start", "planned_end", start, end
    )
    return list(
        Change.objects.filter(dated | proposed, affected_modules__in=list(modules))
        .exclude(status__in=[Status.DRAFT, Status.REJECTED])
        .distinct()
        .prefetch_related("affected_modules")
        .order_by("-requires_downtime", "scheduled_start", "planned_start", "pk")
    )


def active_freeze(at: datetime | None = None, module_name: str | None = None) -> Freeze | None:
    """The change freeze in force at `at` (now), optionally for one module."""
    at = at or timezone.now()
    freezes = Freeze.objects.filter(starts_at__lte=at, ends_at__gt=at)
    if module_name:
        freezes = freezes.filter(Q(modules__name=module_name) | Q(modules__isnull=True)).distinct()
    return freezes.order_by("ends_at").first()


# --- timers -------------------------------------------------------------------------------
def scan_due(now: datetime | None = None, limit: int = 200) -> dict:
    """Note each overdue emergency formal request and post-implementation review once (the
    beat task calls this). Rows are claimed with SKIP LOCKED, and the `*_noted_at` columns
    make a second scan, or a second worker, a no-op."""
    now = now or timezone.now()
    counts = {"formal": 0, "review": 0}
    pks = list(
        Change.objects.filter(next_due_at__lte=now)
        .order_by("next_due_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in pks:
        with transaction.atomic():
            change = Change.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if change is None:
                continue
            fields = []
            if (
                change.formal_due_at
                and change.formal_due_at <= now
                and change.formal_completed_at is None
                and change.formal_overdue_noted_at is None
            ):
                change.formal_overdue_noted_at = now
                fields.append("formal_overdue_noted_at")
                change.log(
                    ChangeEvent.Kind.OVERDUE,
                    "The emergency change's formal request is overdue (due "
                    f"{_fmt(change.formal_due_at)}).",
                )
                audit.record(
                    "change.formal_overdue", obj=change, after={"due": change.formal_due_at}
                )
                counts["formal"] += 1
            if (
                change.review_due_at
                and change.review_due_at <= now
                and change.reviewed_at is None
                and change.review_overdue_noted_at is None
            ):
                change.review_overdue_noted_at = now
                fields.append("review_overdue_noted_at")
                change.log(
                    ChangeEvent.Kind.OVERDUE,
                    "The post-implementation review is overdue (due "
                    f"{_fmt(change.review_due_at)}).",
                )
                audit.record(
                    "change.review_overdue", obj=change, after={"due": change.review_due_at}
                )
                counts["review"] += 1
            fields += change.recompute_due()
            if fields:
                change.save(update_fields=fields)
                changed(change)
    return counts


# --- weekly review ------------------------------------------------------------------------
def week_start(day) -> datetime:
    """Monday 00:00 (console time zone) of the week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return timezone.make_aware(datetime(monday.year, monday.month, monday.day))


def weekly_figures(start: datetime) -> dict:
    """001 "Weekly Change Review": the changes finished in [start, start + 7 days): success
    rate, rollback frequency, emergency share and the changes that caused incidents."""
    end = start + timedelta(days=7)
    finished = list(
        Change.objects.filter(finished_at__gte=start, finished_at__lt=end)
        .select_related("requester")
        .prefetch_related("affected_modules", "incident_links__incident")
        .order_by("finished_at")
    )
    total = len(finished)
    rolled_back = [c for c in finished if c.rollback_reason or c.status == Status.ROLLED_BACK]
    failed = [c for c in finished if c.failure_reason or c.status == Status.FAILED]
    succeeded = [c for c in finished if c not in rolled_back and c not in failed]
    emergency = [c for c in finished if c.is_emergency]
    caused = [c for c in finished if c.incident_links.all()]

    def pct(n):
        return round(100 * n / total, 1) if total else None

    return {
        "start": start,
        "end": end,
        "changes": finished,
        "total": total,
        "succeeded": len(succeeded),
        "rolled_back": len(rolled_back),
        "failed": len(failed),
        "emergency": len(emergency),
        "caused_incidents": caused,
        "success_rate": pct(len(succeeded)),
        "rollback_rate": pct(len(rolled_back)),
        "emergency_share": pct(len(emergency)),
        "by_risk": {r.label: sum(c.risk == r for c in finished) for r in Risk},
    }


def weekly_report(end: datetime):
    """The weekly change review as a report of the reports index (reports/registry.py): the
    week (Monday to Sunday, as `/changes/weekly/` shows it) holding the instant before `end`,
    so a mailing sent on Monday at midnight reports the week that just ended."""
    from reports.registry import ReportData, Table

    start = week_start(timezone.localtime(end - timedelta(seconds=1)).date())
    figures = weekly_figures(start)

    def rate(value) -> str:
        return "—" if value is None else f"{value} %"

    summary = [
        ["Changes finished", figures["total"]],
        ["Succeeded", figures["succeeded"]],
        ["Success rate", rate(figures["success_rate"])],
        ["Rolled back", figures["rolled_back"]],
        ["Rollback rate", rate(figures["rollback_rate"])],
        ["Failed", figures["failed"]],
        ["Emergency changes", figures["emergency"]],
        ["Emergency share", rate(figures["emergency_share"])],
        ["Changes that caused incidents", len(figures["caused_incidents"])],
    ]
    rows = [
        [
            change.number,
            change.title,
            change.get_type_display(),
            change.get_risk_display(),
            change.get_status_display(),
            timezone.localtime(change.finished_at).strftime("%a %d %b %H:%M"),
            ", ".join(link.incident.number for link in change.incident_links.all()) or "—",
        ]
        for change in figures["changes"]
    ]
    return ReportData(
        "Weekly change review",
        figures["start"],
        figures["end"],
        tables=[
            Table("Outcomes", ["Figure", "Value"], summary),
            Table(
                "Finished by risk", ["Risk", "Changes"], list(map(list, figures["by_risk"].items()))
            ),
            Table(
                "Changes finished this week",
                ["Change", "Title", "Type", "Risk", "Outcome", "Finished", "Incidents caused"],
                rows,
                note="" if rows else "No change finished this week.",
            ),
        ],
    )
