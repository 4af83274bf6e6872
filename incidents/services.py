"""Incident workflows. Views, API, tasks and admin call these; each owns its transaction,
locks the incident row for the change, and schedules live pushes after commit."""

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from console import audit, live, roles
from console.errors import Refused
from monitoring.models import Module

from . import notify, policy
from .models import (
    SEVERITY_ORDER,
    ActionItem,
    Breach,
    DayCounter,
    Escalation,
    Incident,
    Notification,
    Responder,
    Review,
    Severity,
    Status,
    TimelineEntry,
    actor_name,
    add_business_days,
    step_key,
)

ACT = "incidents.act_incident"
VIEW = "incidents.view_incident"
# 001 "Incident Severity Levels", P1: "Executive notification must occur within thirty
# minutes": the executives are the Director and VP/CTO roles of the escalation matrix.
EXECUTIVE_ROLES = (roles.DIRECTOR, roles.VP)
BREACH_LABELS = {
    "ack": "Acknowledgement",
    "response": "Response",
    "mitigation": "Mitigation",
    "update": "Status update",
    "executive": "Executive notification",
    "stakeholder": "Stakeholder notification",
    "resolution": "Resolution",
}


# --- permissions ------------------------------------------------------------------------
def can_act(user, incident: Incident) -> bool:
    """Commander and responders (guardian object permission), or a role whose permissions
    cover every incident (Operations Lead and above)."""
    if not user.is_authenticated:
        return False
    return user.has_perm(ACT) or user.has_perm(ACT, incident)


def can_view(user, incident: Incident) -> bool:
    return user.is_authenticated and (user.has_perm(VIEW) or user.has_perm(VIEW, incident))


def _require_act(user, incident: Incident) -> None:
    if not can_act(user, incident):
        raise PermissionDenied(f"Only the commander and responders act on {incident.number}.")


def grant(user, incident: Incident) -> None:
    assign_perm(ACT, user, incident)
    assign_perm(VIEW, user, incident)


# --- numbering ----------------------------------------------------------------------------
def next_number(now: datetime) -> str:
    """INC-YYYYMMDD-NNNN: the day in the console's time zone (001 "Incident Ticket
    Requirements"). Call inside the declaring transaction: the day's counter row stays locked
    until commit, so concurrent declarations queue and a rolled-back one leaves no gap."""
    day = timezone.localdate(now)
    # ON CONFLICT DO NOTHING: the first declaration of a day creates the row without racing.
    DayCounter.objects.bulk_create([DayCounter(day=day, last=0)], ignore_conflicts=True)
    counter = DayCounter.objects.select_for_update().get(day=day)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"INC-{day:%Y%m%d}-{counter.last:04d}"


# --- shared steps -------------------------------------------------------------------------
def changed(incident: Incident) -> None:
    """Tell the war room and the lists (after commit)."""
    live.publish(f"incident.{incident.pk}", "incident.updated", pk=incident.pk)
    live.publish("overview", "incident.updated", pk=incident.pk)


def _lock(pk: int) -> Incident:
    return Incident.objects.select_for_update().get(pk=pk)


def _save_deadlines(incident: Incident) -> None:
    fields = incident.recompute_deadlines()
    if fields:
        incident.save(update_fields=fields + ["updated_at"])


def mark_notified(incident: Incident, audience: str, at: datetime) -> None:
    """A delivery to stakeholders or executives stops that notification clock."""
    field = {
        Notification.Audience.EXECUTIVES: "executive_notified_at",
        Notification.Audience.STAKEHOLDERS: "stakeholder_notified_at",
    }.get(audience)
    if field and getattr(incident, field) is None:
        setattr(incident, field, at)
        incident.save(update_fields=[field])
        _save_deadlines(incident)


# --- declare ------------------------------------------------------------------------------
def declare(
    by,
    *,
    title: str,
    severity: str,
    summary: str,
    impact: str = "",
    affected_modules=(),
    detection_source: str = "observation",
    commander=None,
    channel_url: str = "",
    detected_at: datetime | None = None,
) -> Incident:
    """Declare an incident: number it, copy the policy onto it, engage the initial
    responders (matrix step 0) and send the initial notification. `by` None is the console
    itself (an alert), which then needs a `commander`."""
    if by is None and commander is None:
        raise Refused("An incident declared by the system needs a commander.", 400)
    if by is not None and not by.has_perm("incidents.add_incident"):
        raise PermissionDenied("Your role may not declare incidents.")
    if severity not in Severity.values:
        raise Refused(f"Severity must be one of {', '.join(Severity.values)}.", 400)
    if not title.strip() or not summary.strip():
        raise Refused("An incident needs a title and a summary.", 400)
    modules = _modules(affected_modules)
    now = timezone.now()
    commander = commander or by
    with transaction.atomic():
        incident = Incident(
            number=next_number(now),
            title=title.strip(),
            severity=severity,
            summary=summary.strip(),
            impact=impact.strip(),
            detection_source=detection_source,
            commander=commander,
            declared_by=by,
            channel_url=channel_url,
            detected_at=detected_at or now,
            declared_at=now,
            status_changed_at=now,
            status_changed_by=actor_name(by),
            policy=policy.snapshot(),
        )
        incident.recompute_deadlines()
        incident.save()
        incident.affected_modules.set(modules)
        for user in {by, commander} - {None}:
            grant(user, incident)
        incident.log(
            TimelineEntry.Kind.DECLARED,
            f"Declared {severity} by {actor_name(by)}; commander {actor_name(commander)}.",
            by,
            severity=severity,
            modules=[m.name for m in modules],
        )
        audit.record(
            "incident.declared",
            actor=by,
            obj=incident,
            after={
                "number": incident.number,
                "severity": severity,
                "title": incident.title,
                "modules": [m.name for m in modules],
            },
        )
        fire_due_escalations(incident, now)
        subject, body = notify.render("initial", incident)
        notify.queue_channels(
            incident, "initial", subject, body, Notification.Audience.STAKEHOLDERS
        )
        _notify_executives(incident, subject, body, now)
        _save_deadlines(incident)
        changed(incident)
    return incident


def _notify_executives(incident: Incident, subject: str, body: str, now: datetime) -> None:
    """P1 (001: executives within 30 min): tell the executive roles at once."""
    if not incident.rules().get("executive_minutes") or incident.executive_notified_at:
        return
    executives = [u for role in EXECUTIVE_ROLES for u in notify.role_members(role)]
    notify.queue_users(
        incident, executives, "initial", subject, body, Notification.Audience.EXECUTIVES
    )
    if executives:
        # The in-console message is delivered by being stored.
        mark_notified(incident, Notification.Audience.EXECUTIVES, now)


def _modules(names) -> list[Module]:
    names = [n for n in names if n]
    found = list(Module.objects.filter(name__in=names))
    missing = sorted(set(names) - {m.name for m in found})
    if missing:
        raise Refused(f"Unknown module(s): {', '.join(missing)}.", 400)
    return found


# --- transitions --------------------------------------------------------------------------
def acknowledge(by, pk: int) -> Incident:
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        incident.acknowledge(by)
        changed(incident)
    return incident


def move(by, pk: int, to: str, *, resolution_summary: str = "", reason: str = "") -> Incident:
    """Investigate, mitigate, resolve, close or reopen. Moving to the current status is
    refused with what happened, so the second of two people clicking at once learns it."""
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        if to == incident.status:
            raise Refused(
                f"{incident.number} is already {incident.get_status_display()} "
                f"(since {timezone.localtime(incident.status_changed_at):%H:%M:%S}, "
                f"by {incident.status_changed_by})."
            )
        if not incident.can_move(to):
            incident.move_to(to, by)  # raises, saying which move is not allowed
        note = ""
        if to == Status.RESOLVED:
            if not resolution_summary.strip():
                raise Refused("Resolving needs a resolution summary: how was it resolved?", 400)
            incident.resolution_summary = resolution_summary.strip()
            incident.save(update_fields=["resolution_summary"])
        if to == Status.CLOSED:
            note = _check_close(by, incident, reason)
        entry = incident.move_to(to, by, note)
        if entry is None:  # pragma: no cover - same status refused above
            return incident
        if to == Status.RESOLVED:
            _open_review(incident)
            subject, body = notify.render("resolution", incident)
            notify.queue_channels(
                incident, "resolution", subject, body, Notification.Audience.STAKEHOLDERS
            )
        changed(incident)
    return incident


def _check_close(by, incident: Incident, reason: str) -> str:
    """P1/P2 need a complete review (001 "Phase 5"); closing without one takes Operations
    Lead or above and a stated reason (issue 5, Permissions)."""
    review = getattr(incident, "review", None)
    if not incident.rules().get("review_required") or (review and review.is_complete):
        return ""
    if not roles.at_least(by, roles.OPS_LEAD):
        raise Refused(
            f"{incident.number} is {incident.severity}: its post-incident review must be "
            "complete before it is closed (closing without one takes Operations Lead or above)."
        )
    if not reason.strip():
        raise Refused("Closing without a complete review needs a reason.", 400)
    return f"Closed without a complete review: {reason.strip()}"


def _open_review(incident: Incident) -> Review | None:
    required = bool(incident.rules().get("review_required"))
    if not required:
        return None
    due = add_business_days(timezone.localdate(incident.resolved_at), 5)
    review, created = Review.objects.get_or_create(
        incident=incident, defaults={"required": True, "due_on": due}
    )
    if created:
        incident.log(
            TimelineEntry.Kind.REVIEW,
            f"Post-incident review required by {due:%a %d %b %Y} (5 business days).",
            None,
        )
    return review


def start_review(by, pk: int) -> Review:
    """An optional review (P3), or the required one if it does not exist yet."""
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        if incident.resolved_at is None:
            raise Refused("A review starts once the incident is resolved.")
        review, created = Review.objects.get_or_create(
            incident=incident,
            defaults={
                "required": bool(incident.rules().get("review_required")),
                "due_on": add_business_days(timezone.localdate(incident.resolved_at), 5),
            },
        )
        if created:
            incident.log(TimelineEntry.Kind.REVIEW, "Post-incident review started.", by)
            audit.record("incident.review_started", actor=by, obj=incident)
        changed(incident)
    return review


def save_review(by, pk: int, fields: dict, *, complete: bool = False) -> Review:
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        review = Review.objects.select_for_update().get(incident=incident)
        if review.is_complete:
            raise Refused("The review is complete; it is no longer edited.")
        before = {f: getattr(review, f) for f in Review.REQUIRED_FIELDS}
        for name in Review.REQUIRED_FIELDS:
            if name in fields:
                setattr(review, name, fields[name])
        if complete:
            missing = review.missing()
            if missing:
                raise Refused(
                    "The review is incomplete: " + ", ".join(m.replace("_", " ") for m in missing),
                    400,
                )
            review.state, review.completed_at = Review.State.COMPLETE, timezone.now()
            review.completed_by = actor_name(by)
        review.save()
        after = {f: getattr(review, f) for f in Review.REQUIRED_FIELDS}
        audit.record(
            "incident.review_completed" if complete else "incident.review_saved",
            actor=by,
            obj=incident,
            before=before,
            after=after,
        )
        if complete:
            incident.log(TimelineEntry.Kind.REVIEW, "Post-incident review completed.", by)
        changed(incident)
    return review


def add_action_item(by, pk: int, *, description: str, owner, due_on) -> None:
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        review = Review.objects.filter(incident=incident).first()
        if review is None:
            raise Refused(f"{incident.number} has no review yet.", 409)
        item = review.action_items.create(description=description, owner=owner, due_on=due_on)
        audit.record(
            "incident.action_item_added",
            actor=by,
            obj=incident,
            after={"description": description, "owner": owner.get_username(), "due": due_on},
        )
        changed(incident)
    return item


def set_action_item_state(by, pk: int, item_pk: int, state: str) -> None:
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        if state not in ActionItem.State.values:
            raise Refused(f"State must be one of {', '.join(ActionItem.State.values)}.", 400)
        item = (
            ActionItem.objects.select_for_update()
            .filter(review__incident=incident, pk=item_pk)
            .first()
        )
        if item is None:
            raise Refused(f"{incident.number} has no such action item.", 404)
        before = {"state": item.state}
        item.state = state
        item.save(update_fields=["state"])
        audit.record(
            "incident.action_item_state", actor=by, obj=incident, before=before,
            after={"state": state, "item": item.description},
        )  # fmt: skip
        changed(incident)


def change_severity(by, pk: int, severity: str, reason: str = "") -> Incident:
    if severity not in Severity.values:
        raise Refused(f"Severity must be one of {', '.join(Severity.values)}.", 400)
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        if severity == incident.severity:
            raise Refused(f"{incident.number} is already {severity}.")
        downgrade = SEVERITY_ORDER[severity] > SEVERITY_ORDER[incident.severity]
        if (
            downgrade
            and incident.severity == Severity.P1
            and not roles.at_least(by, roles.OPS_LEAD)
        ):
            raise PermissionDenied("Downgrading a P1 takes Operations Lead or above.")
        incident.set_severity(severity, by, reason)
        now = timezone.now()
        fire_due_escalations(incident, now)
        subject, body = notify.render("initial", incident)
        _notify_executives(incident, subject, body, now)
        _save_deadlines(incident)
        changed(incident)
    return incident


def add_note(by, pk: int, text: str, kind: str = TimelineEntry.Kind.NOTE) -> TimelineEntry:
    """A note by a responder (also linked alerts, changes and runbook actions from later
    features, by `kind`); `by` None is the console itself (an alert resolving)."""
    if not text.strip():
        raise Refused("A note needs some text.", 400)
    with transaction.atomic():
        incident = _lock(pk)
        if by is not None:
            _require_act(by, incident)
        entry = incident.log(kind, text.strip(), by)
        audit.record("incident.note_added", actor=by, obj=incident, after={"text": text[:300]})
        changed(incident)
    return entry


def add_responder(by, pk: int, user, role: str = Responder.Role.RESPONDER) -> Responder:
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        responder, created = Responder.objects.get_or_create(
            incident=incident, user=user, defaults={"role": role, "added_by": actor_name(by)}
        )
        if not created and responder.role != role:
            responder.role = role
            responder.save(update_fields=["role"])
        elif not created:
            raise Refused(f"{user.get_username()} is already a responder.")
        grant(user, incident)
        text = f"{user.get_username()} joined as {responder.get_role_display()}."
        incident.log(TimelineEntry.Kind.RESPONDER, text, by, user=user.get_username(), role=role)
        audit.record(
            "incident.responder_added",
            actor=by,
            obj=incident,
            after={"user": user.get_username(), "role": role},
        )
        changed(incident)
    return responder


def update_modules(by, pk: int, names) -> Incident:
    """Change the affected modules; adding one to a running incident means its scope
    expanded, an automatic escalation trigger (001 "Escalation Triggers")."""
    modules = _modules(names)
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        before = sorted(incident.affected_modules.values_list("name", flat=True))
        after = sorted(m.name for m in modules)
        if before == after:
            return incident
        incident.affected_modules.set(modules)
        incident.log(
            TimelineEntry.Kind.MODULES,
            f"Affected modules: {', '.join(after) or 'none'} (were {', '.join(before) or 'none'}).",
            by,
        )
        audit.record(
            "incident.modules_changed",
            actor=by,
            obj=incident,
            before={"modules": before},
            after={"modules": after},
        )
        if incident.is_active and set(after) - set(before):
            _escalate_now(incident, Escalation.Trigger.SCOPE, None, "Scope expanded: " + ", ".join(
                sorted(set(after) - set(before))))  # fmt: skip
        changed(incident)
    return incident


def confirm_data_loss(by, pk: int, detail: str) -> Incident:
    if not detail.strip():
        raise Refused("Say what data was lost.", 400)
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        if incident.data_loss_confirmed:
            raise Refused("Data loss is already confirmed on this incident.")
        incident.data_loss_confirmed = True
        incident.save(update_fields=["data_loss_confirmed"])
        incident.log(TimelineEntry.Kind.NOTE, f"Data loss confirmed: {detail.strip()}", by)
        audit.record(
            "incident.data_loss_confirmed", actor=by, obj=incident, after={"detail": detail}
        )
        if incident.is_active:
            _escalate_now(incident, Escalation.Trigger.DATA_LOSS, None, detail.strip())
        changed(incident)
    return incident


def escalate(by, pk: int, trigger: str, reason: str) -> Escalation:
    """Manual escalation (001 "Escalation Triggers": expertise, overwhelmed, cross-team,
    executive decision), always with a reason: engages the next step of the matrix now."""
    if trigger not in Escalation.MANUAL:
        raise Refused(
            "Manual escalation needs one of: " + ", ".join(t.value for t in Escalation.MANUAL),
            400,
        )
    if not reason.strip():
        raise Refused("Escalating needs a reason.", 400)
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        if not incident.is_active:
            raise Refused(f"{incident.number} is {incident.get_status_display()}.")
        escalation = _escalate_now(incident, trigger, by, reason.strip())
        if escalation is None:
            raise Refused(
                f"Every step of the {incident.severity} escalation matrix is already engaged."
            )
        changed(incident)
    return escalation


def _escalate_now(incident: Incident, trigger: str, by, reason: str) -> Escalation | None:
    step = incident.next_step()
    if step is None:
        return None
    escalation = _fire(incident, step, trigger, by, reason, timezone.now())
    _save_deadlines(incident)
    return escalation


def post_update(by, pk: int, subject: str, body: str) -> Incident:
    """Send a status update (rendered from the update template, edited by the commander) and
    reset the update clock."""
    if not body.strip():
        raise Refused("An update needs a body.", 400)
    with transaction.atomic():
        incident = _lock(pk)
        _require_act(by, incident)
        now = timezone.now()
        incident.last_update_at = now
        incident.save(update_fields=["last_update_at"])
        _save_deadlines(incident)
        subject = subject.strip() or notify.render("update", incident)[0]
        sent = notify.queue_channels(
            incident, "update", subject, body.strip(), Notification.Audience.STAKEHOLDERS
        )
        incident.log(
            TimelineEntry.Kind.UPDATE,
            f"Status update posted to {sent} channel(s):\n{body.strip()}",
            by,
            subject=subject,
        )
        audit.record("incident.update_posted", actor=by, obj=incident, after={"subject": subject})
        changed(incident)
    return incident


# --- the clock ----------------------------------------------------------------------------
def _fire(
    incident: Incident, step: dict, trigger: str, by, reason: str, due_at
) -> Escalation | None:
    """Fire one matrix step exactly once: the unique (incident, key) row is the fence. The
    caller holds the incident's row lock; the constraint is the backstop for anything else."""
    key = step_key(incident.severity, step["step"])
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(
                incident=incident,
                key=key,
                severity=incident.severity,
                step=step["step"],
                role=step["role"],
                trigger=trigger,
                reason=reason,
                due_at=due_at,
                fired_at=timezone.now(),
                actor_name=actor_name(by),
            )
    except IntegrityError:
        return None
    members = notify.role_members(step["role"])
    label = "Engaged" if step["step"] == 0 else "Escalated to"
    why = Escalation.Trigger(trigger).label
    subject = f"[{incident.severity}] {incident.number}: {label.lower()} {step['role']}"
    body = f"{incident.title}\n\n{why}" + (f": {reason}" if reason else ".")
    notify.queue_users(incident, members, "escalation", subject, body, "escalation")
    notify.queue_channels(incident, "escalation", subject, body, "escalation")
    for user in members:
        responder, created = Responder.objects.get_or_create(
            incident=incident,
            user=user,
            defaults={"role": Responder.Role.ESCALATION, "added_by": audit.SYSTEM},
        )
        grant(user, incident)
    Escalation.objects.filter(pk=escalation.pk).update(notified=len(members))
    who = ", ".join(u.get_username() for u in members) or "nobody holds this role"
    incident.log(
        TimelineEntry.Kind.ESCALATION,
        f"{label} {step['role']} ({why}{': ' + reason if reason else ''}). Notified: {who}.",
        by,
        step=step["step"],
        role=step["role"],
        trigger=trigger,
    )
    audit.record(
        "incident.escalated",
        actor=by,
        obj=incident,
        after={"step": key, "role": step["role"], "trigger": trigger, "reason": reason},
    )
    return escalation


def fire_due_escalations(incident: Incident, now: datetime) -> list[Escalation]:
    """Fire every matrix step of the current severity whose time has come."""
    fired = []
    done = incident.fired_keys()
    for step in incident.matrix():
        key = step_key(incident.severity, step["step"])
        due = incident.declared_at + timedelta(minutes=step["after_minutes"])
        if key in done or due > now or not incident.is_active:
            continue
        escalation = _fire(incident, step, Escalation.Trigger.TIME, None, "", due)
        if escalation is not None:
            fired.append(escalation)
            done.add(key)
    return fired


def process_due(incident: Incident, now: datetime) -> dict:
    """One incident's due clocks (the caller holds its row lock).

    1. Fire the matrix steps whose time has come (do-once by the unique key).
    2. Record each breached deadline once (unique (timer, due)) on the timeline.
    3. A response or mitigation breach not already covered by a step engaged at or after
       it escalates to the next step now (001 "Escalation Triggers", automatic).
    4. Store the new deadlines (next_timer_at moves past what was handled).
    """
    result = {"escalations": 0, "breaches": 0}
    if not incident.is_active:
        _save_deadlines(incident)
        return result
    result["escalations"] += len(fire_due_escalations(incident, now))
    _save_deadlines(incident)
    for key, field, _ in Incident.TIMERS:
        due = getattr(incident, field)
        if key == "escalation" or due is None or due > now:
            continue
        try:
            with transaction.atomic():
                Breach.objects.create(
                    incident=incident, timer=key, due_at=due, severity=incident.severity
                )
        except IntegrityError:
            continue
        result["breaches"] += 1
        label = BREACH_LABELS[key]
        incident.log(
            TimelineEntry.Kind.BREACH,
            f"{label} deadline breached (due {timezone.localtime(due):%H:%M:%S}).",
            None,
            timer=key,
            due=due.isoformat(),
        )
        audit.record(
            "incident.deadline_breached",
            obj=incident,
            after={"timer": key, "due": due.isoformat()},
        )
        # The commander hears of it in the console (toast and badge).
        notify.queue_users(
            incident,
            [incident.commander],
            "breach",
            f"[{incident.severity}] {incident.number}: {label.lower()} deadline breached",
            incident.title,
            Notification.Audience.RESPONDERS,
            email=False,  # every missed update would mail them; the console is enough
        )
        if key in ("response", "mitigation"):
            latest = incident.escalations.order_by("-due_at").values_list("due_at", flat=True)
            if not latest or latest[0] < due:
                step = incident.next_step()
                if step is not None:
                    _fire(incident, step, key, None, f"{label} window exceeded", due)
                    result["escalations"] += 1
    _save_deadlines(incident)
    if result["escalations"] or result["breaches"]:
        changed(incident)
    return result


def scan_due(now: datetime | None = None, limit: int = 100) -> dict:
    """The periodic sweep over `next_timer_at <= now` (indexed). Each incident is handled in
    its own transaction under its row lock; a row another worker holds is skipped (that
    worker is handling it), and a failure on one incident never undoes another's."""
    now = now or timezone.now()
    totals = {"incidents": 0, "escalations": 0, "breaches": 0}
    pks = list(
        Incident.objects.filter(next_timer_at__lte=now)
        .order_by("next_timer_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in pks:
        with transaction.atomic():
            incident = (
                Incident.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, next_timer_at__lte=now)
                .first()
            )
            if incident is None:
                continue
            result = process_due(incident, now)
        totals["incidents"] += 1
        totals["escalations"] += result["escalations"]
        totals["breaches"] += result["breaches"]
    return totals


def overdue_escalations(now: datetime, grace: timedelta) -> list[int]:
    """Active incidents whose next escalation is past due by more than `grace`: the scan
    should have fired them (the watchdog's invariant)."""
    return list(
        Incident.objects.filter(
            status__in=[Status.OPEN, Status.INVESTIGATING, Status.MITIGATING],
            next_escalation_at__lte=now - grace,
        ).values_list("pk", flat=True)
    )


def refire(pk: int, now: datetime) -> dict:
    with transaction.atomic():
        incident = Incident.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if incident is None:
            return {"escalations": 0, "breaches": 0}
        return process_due(incident, now)


def mark_read(user, pks=None) -> int:
    rows = Notification.objects.filter(
        user=user, kind=Notification.Kind.CONSOLE, read_at__isnull=True
    )
    if pks is not None:
        rows = rows.filter(pk__in=pks)
    return rows.update(read_at=timezone.now())
