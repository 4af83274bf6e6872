"""Shift workflows. Views, the API, tasks, the admin and the demo data call these; each owns its
transaction, locks what it changes, writes the audit trail and publishes after commit."""

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from console import audit, live, roles
from console.errors import Refused

from . import evidence, handoff_state
from .models import (
    ChecklistItem,
    ChecklistRun,
    ChecklistTemplate,
    ChecklistTick,
    Handoff,
    LogEntry,
    Notice,
    Override,
    RotaGap,
    RotaWeek,
    Shift,
    Slot,
)
from .oncall import GAP_HORIZON, OnCall, find_gaps
from .oncall import on_call_now as _on_call_now

log = logging.getLogger(__name__)

VIEW = "shifts.view_shift"
MANAGE_SHIFTS = "shifts.add_shift"
MANAGE_ROTA = "shifts.add_rotaweek"
OVERRIDE = "shifts.add_override"
TICK = "shifts.add_checklisttick"
LOG = "shifts.add_logentry"
HANDOFF = "shifts.add_handoff"
# 000 "Pre-Handoff Preparation (15 minutes before shift end)".
REMINDER_BEFORE_END = timedelta(minutes=15)
TOPIC = "shifts"


def on_call_now(at: datetime | None = None) -> OnCall:
    """Primary and secondary on call now (or at `at`) and until when; primary None when no
    rota covers that moment."""
    return _on_call_now(at)


def _require(user, perm: str, what: str) -> None:
    if user is not None and not user.has_perm(perm):
        raise PermissionDenied(f"Your role may not {what}.")


def _changed(topic: str = TOPIC, event: str = "shifts.updated", **data) -> None:
    live.publish(topic, event, **data)


def _aware(value: datetime) -> datetime:
    if timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _validate(obj, exclude=("created_by",)) -> None:
    """The model's own rules (clean()), as a refusal with the message."""
    try:
        obj.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise Refused(detail, 400) from exc


def _lock_people(people) -> None:
    """Serialise schedule changes touching the same people: two overlapping shifts created at
    once for one person would each pass an overlap check that runs before the other commits."""
    ids = sorted({p.pk for p in people if p is not None})
    list(get_user_model().objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def overlapping_shift(user, starts_at, ends_at, exclude_pk=None) -> Shift | None:
    rows = Shift.objects.filter(starts_at__lt=ends_at, ends_at__gt=starts_at).filter(
        Q(primary=user) | Q(secondary=user)
    )
    if exclude_pk:
        rows = rows.exclude(pk=exclude_pk)
    return rows.first()


def _refuse_overlaps(people, starts_at, ends_at, exclude_pk=None) -> None:
    for person in people:
        if person is None:
            continue
        other = overlapping_shift(person, starts_at, ends_at, exclude_pk)
        if other is not None:
            when = timezone.localtime(other.starts_at)
            raise Refused(
                f"{person.get_username()} is already on the shift from {when:%Y-%m-%d %H:%M} "
                f"to {timezone.localtime(other.ends_at):%H:%M}: shifts of one person may not "
                "overlap.",
                400,
            )


# --- shifts -------------------------------------------------------------------------------
def create_shift(by, *, starts_at, ends_at, primary, secondary=None, notes="") -> Shift:
    _require(by, MANAGE_SHIFTS, "plan shifts")
    starts_at, ends_at = _aware(starts_at), _aware(ends_at)
    shift = Shift(
        starts_at=starts_at,
        ends_at=ends_at,
        primary=primary,
        secondary=secondary,
        notes=notes,
        reminder_due_at=ends_at - REMINDER_BEFORE_END,
        created_by=by,
    )
    _validate(shift)
    with transaction.atomic():
        _lock_people([primary, secondary])
        _refuse_overlaps([primary, secondary], starts_at, ends_at)
        shift.save()
        audit.record(
            "shift.create",
            actor=by,
            obj=shift,
            after={
                "starts_at": starts_at,
                "ends_at": ends_at,
                "primary": primary.get_username(),
                "secondary": secondary.get_username() if secondary else None,
            },
        )
        _changed()
    return shift


def swap_shifts(by, first_pk: int, second_pk: int) -> tuple[Shift, Shift]:
    """The primaries of two shifts trade places (000: operators swap shifts)."""
    with transaction.atomic():
        first, second = (
            Shift.objects.select_for_update().select_related("primary").get(pk=pk)
            for pk in sorted([first_pk, second_pk])
        )
        if not (by.has_perm(MANAGE_SHIFTS) or by.pk in (first.primary_id, second.primary_id)):
            raise PermissionDenied("Only a primary of one of the shifts or a planner swaps them.")
        a, b = first.primary, second.primary
        if a.pk == b.pk:
            raise Refused("Both shifts have the same primary: nothing to swap.", 400)
        for person, shift in ((b, first), (a, second)):
            if shift.secondary_id == person.pk:
                raise Refused(f"{person.get_username()} is already secondary on that shift.", 400)
            clash = (
                Shift.objects.filter(starts_at__lt=shift.ends_at, ends_at__gt=shift.starts_at)
                .filter(Q(primary=person) | Q(secondary=person))
                .exclude(pk__in=[first.pk, second.pk])
                .first()
            )
            if clash:
                raise Refused(f"{person.get_username()} would be on two shifts at once.", 400)
        first.primary, second.primary = b, a
        first.save(update_fields=["primary"])
        second.save(update_fields=["primary"])
        audit.record(
            "shift.swap",
            actor=by,
            obj=first,
            after={"shifts": [first.pk, second.pk], "primaries": [b.username, a.username]},
        )
        _changed()
    return first, second


def current_shift(at: datetime | None = None, user=None) -> Shift | None:
    at = at or timezone.now()
    rows = Shift.objects.filter(starts_at__lte=at, ends_at__gt=at).select_related(
        "primary", "secondary"
    )
    if user is not None:
        rows = rows.filter(Q(primary=user) | Q(secondary=user) | Q(overrides__user=user))
    return rows.order_by("starts_at").first()


def next_shift(after: Shift) -> Shift | None:
    return (
        Shift.objects.filter(starts_at__gte=after.ends_at - timedelta(minutes=1))
        .exclude(pk=after.pk)
        .select_related("primary", "secondary")
        .order_by("starts_at")
        .first()
    )


# --- the on-call rota ----------------------------------------------------------------------
def add_rota_week(by, *, starts_at, ends_at=None, primary, secondary=None) -> RotaWeek:
    """One week of the rotation. Refused when it overlaps a week or leaves a gap to the week
    before or after it (000 "On-Call Rotation Structure": coverage is continuous)."""
    _require(by, MANAGE_ROTA, "change the on-call rota")
    starts_at = _aware(starts_at)
    ends_at = _aware(ends_at) if ends_at else starts_at + timedelta(days=7)
    week = RotaWeek(
        starts_at=starts_at, ends_at=ends_at, primary=primary, secondary=secondary, created_by=by
    )
    # starts_at is unique: the overlap check below says so with a clearer message.
    _validate(week, exclude=("created_by", "starts_at"))
    with transaction.atomic():
        # One lock for every rota change: the neighbour checks read the whole table.
        list(RotaWeek.objects.select_for_update().all())
        clash = RotaWeek.objects.filter(starts_at__lt=ends_at, ends_at__gt=starts_at).first()
        if clash:
            raise Refused(f"It overlaps the {clash}.", 400)
        before = RotaWeek.objects.filter(ends_at__lte=starts_at).order_by("-ends_at").first()
        if before and before.ends_at != starts_at:
            raise Refused(
                f"It leaves a gap in the rota from {_fmt(before.ends_at)} to {_fmt(starts_at)}.",
                400,
            )
        after = RotaWeek.objects.filter(starts_at__gte=ends_at).order_by("starts_at").first()
        if after and after.starts_at != ends_at:
            raise Refused(
                f"It leaves a gap in the rota from {_fmt(ends_at)} to {_fmt(after.starts_at)}.",
                400,
            )
        week.save()
        audit.record(
            "rota.add_week",
            actor=by,
            obj=week,
            after={
                "starts_at": starts_at,
                "ends_at": ends_at,
                "primary": primary.get_username(),
                "secondary": secondary.get_username() if secondary else None,
            },
        )
        _changed()
    return week


def _fmt(at: datetime) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}"


def add_override(
    by, *, starts_at, ends_at, user, slot=Slot.PRIMARY, reason: str, shift: Shift | None = None
) -> Override:
    """`user` covers `slot` for a while, on the on-call rota or (with `shift`) on one shift.
    Planners may set any override; otherwise only the person being covered."""
    starts_at, ends_at = _aware(starts_at), _aware(ends_at)
    if ends_at <= starts_at:
        raise Refused("The end must be after the start.", 400)
    if not reason.strip():
        raise Refused("Say why (the reason is kept with the override).", 400)
    with transaction.atomic():
        if shift is not None:
            shift = Shift.objects.select_for_update().get(pk=shift.pk)
            if starts_at < shift.starts_at or ends_at > shift.ends_at:
                raise Refused("An override of a shift lies within that shift.", 400)
            replaces = shift.primary if slot == Slot.PRIMARY else shift.secondary
            _lock_people([user])
            if shift.primary_id != user.pk and shift.secondary_id != user.pk:
                _refuse_overlaps([user], starts_at, ends_at, exclude_pk=shift.pk)
            else:
                raise Refused(f"{user.get_username()} is already on that shift.", 400)
        else:
            current = _on_call_now(starts_at)
            replaces = current.primary if slot == Slot.PRIMARY else current.secondary
        allowed = by.has_perm(OVERRIDE) or (replaces is not None and replaces.pk == by.pk)
        if not allowed:
            raise PermissionDenied("Only the person being covered or a planner sets an override.")
        if replaces is not None and replaces.pk == user.pk:
            raise Refused(f"{user.get_username()} already holds that slot then.", 400)
        override = Override.objects.create(
            starts_at=starts_at,
            ends_at=ends_at,
            slot=slot,
            user=user,
            replaces=replaces,
            shift=shift,
            reason=reason.strip(),
            created_by=by,
        )
        audit.record(
            "rota.override",
            actor=by,
            obj=override,
            after={
                "starts_at": starts_at,
                "ends_at": ends_at,
                "slot": slot,
                "user": user.get_username(),
                "replaces": replaces.get_username() if replaces else None,
                "shift": shift.pk if shift else None,
            },
        )
        _changed()
    return override


# --- notices -------------------------------------------------------------------------------
def notify(user, kind: str, text: str, url: str = "") -> Notice:
    """A notice in the console, and by email when the user has an address (after commit)."""
    notice = Notice.objects.create(user=user, kind=kind, text=text[:500], url=url)
    if user.email:
        transaction.on_commit(lambda: _email(user.email, text))
    live.publish(TOPIC, "shifts.notice", user=user.pk)
    return notice


def _email(address: str, text: str) -> None:
    try:
        send_mail("[Ops Console] " + text[:120], text, settings.DEFAULT_FROM_EMAIL, [address])
    except Exception:  # the console notice is the record; a mail failure must not undo it
        log.exception("shift notice email to %s failed", address)


def _leads():
    """Operations Leads plan the rota (000: management escalation contacts follow them)."""
    return list(
        get_user_model().objects.filter(is_active=True, groups__name=roles.OPS_LEAD).distinct()
    )


def scan_rota_gaps(now: datetime | None = None) -> dict:
    """Find spans of the coming two weeks with nobody primary on call and raise each once
    (a unique row per gap start) to the Operations Leads; mark gaps since filled resolved."""
    now = now or timezone.now()
    gaps = find_gaps(now, now + GAP_HORIZON)
    raised = 0
    for starts_at, ends_at in gaps:
        # A gap already under way when first seen is keyed by its own start, not by `now`, so
        # that scanning again a minute later does not raise it a second time.
        key = starts_at if starts_at > now else _open_gap_start(now) or starts_at
        try:
            with transaction.atomic():
                gap, created = RotaGap.objects.get_or_create(
                    starts_at=key, defaults={"ends_at": ends_at, "detected_at": now}
                )
                if not created:
                    if gap.ends_at != ends_at or gap.resolved_at:
                        RotaGap.objects.filter(pk=gap.pk).update(ends_at=ends_at, resolved_at=None)
                    continue
                text = f"Nobody is primary on call from {_fmt(starts_at)} to {_fmt(ends_at)}."
                for lead in _leads():
                    notify(lead, Notice.Kind.GAP, text, reverse("shifts:calendar"))
                audit.record(
                    "rota.gap_found", obj=gap, after={"starts_at": starts_at, "ends_at": ends_at}
                )
                raised += 1
        except IntegrityError:  # another scan raised it first
            continue
    keys = {s if s > now else (_open_gap_start(now) or s) for s, _ in gaps}
    resolved = RotaGap.objects.filter(resolved_at__isnull=True, ends_at__gt=now).exclude(
        starts_at__in=keys
    )
    for gap in resolved:
        with transaction.atomic():
            if RotaGap.objects.filter(pk=gap.pk, resolved_at__isnull=True).update(resolved_at=now):
                audit.record("rota.gap_filled", obj=gap)
    if raised:
        _changed()
    return {"gaps": len(gaps), "raised": raised}


def _open_gap_start(now: datetime) -> datetime | None:
    row = (
        RotaGap.objects.filter(starts_at__lte=now, ends_at__gt=now)
        .order_by("-starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    return row


def scan_shift_reminders(now: datetime | None = None, limit: int = 100) -> int:
    """Remind the people of shifts ending within 15 minutes to prepare the handoff; each shift
    is claimed under `SKIP LOCKED` and its due time cleared in the same transaction, so the
    reminder goes out once however many workers scan."""
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        due = list(
            Shift.objects.select_for_update(skip_locked=True)
            .filter(reminder_due_at__lte=now)
            .order_by("reminder_due_at")[:limit]
        )
        for shift in due:
            Shift.objects.filter(pk=shift.pk).update(reminder_due_at=None, reminded_at=now)
            if shift.ends_at <= now:
                continue  # the shift is over: a reminder now would only be noise
            text = (
                f"Your shift ends at {timezone.localtime(shift.ends_at):%H:%M}: prepare the "
                "handoff (000 'Pre-Handoff Preparation')."
            )
            for person in shift.people():
                notify(person, Notice.Kind.REMINDER, text, reverse("shifts:handoff_start"))
            audit.record("shift.reminded", obj=shift)
            sent += 1
    return sent


def mark_notices_read(user) -> int:
    return (
        Notice.objects.filter(user=user, read_at__isnull=True)
        .exclude(kind=Notice.Kind.TEST)
        .update(read_at=timezone.now())
    )


# --- checklists ----------------------------------------------------------------------------
def window(template: ChecklistTemplate, day: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, template.window_start, tz)
    end = datetime.combine(day, template.window_end, tz)
    return start, end


def start_checklist(by, template_key: str, day: date | None = None) -> ChecklistRun:
    """Today's run of a checklist (created on first use; the same for everyone)."""
    _require(by, TICK, "run checklists")
    template = ChecklistTemplate.objects.filter(key=template_key).first()
    if template is None:
        raise Refused("No such checklist.", 404)
    now = timezone.now()
    day = day or timezone.localdate(now)
    start, end = window(template, day)
    existing = ChecklistRun.objects.filter(template=template, day=day).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            run = ChecklistRun.objects.create(
                template=template,
                day=day,
                shift=current_shift(now),
                window_start_at=start,
                window_end_at=end,
                started_by=by,
                started_at=now,
            )
            audit.record("checklist.start", actor=by, obj=run)
            _changed()
    except IntegrityError:  # two operators opened it at once: both use the one row
        return ChecklistRun.objects.get(template=template, day=day)
    return run


def tick(by, run_pk: int, item_pk: int, result: str, note: str = "") -> ChecklistTick:
    """Tick one item with the evidence the console shows now; a deviation needs a note. When
    every item is ticked the run is complete."""
    _require(by, TICK, "tick checklists")
    if result not in ChecklistTick.Result.values:
        raise Refused("Choose OK or deviation.", 400)
    if result == ChecklistTick.Result.DEVIATION and not note.strip():
        raise Refused("A deviation needs a note saying what was found.", 400)
    with transaction.atomic():
        run = ChecklistRun.objects.select_for_update().select_related("template").get(pk=run_pk)
        item = ChecklistItem.objects.filter(pk=item_pk, template=run.template_id).first()
        if item is None:
            raise Refused("That item is not on this checklist.", 400)
        done = ChecklistTick.objects.filter(run=run, item=item).select_related("by").first()
        if done:
            raise Refused(
                f"Already ticked by {done.by.get_username()} at "
                f"{timezone.localtime(done.at):%H:%M}.",
            )
        shown = evidence.for_item(item.evidence) or {}
        row = ChecklistTick.objects.create(
            run=run, item=item, result=result, note=note.strip(), evidence=shown, by=by
        )
        audit.record(
            "checklist.tick",
            actor=by,
            obj=run,
            after={"item": item.key, "result": result, "note": note.strip()[:200]},
        )
        if run.ticks.count() == run.template.items.count():
            run.complete(by)
        _changed()
    return row


def raise_incident(by, tick_pk: int, severity: str):
    """A deviation becomes an incident in one click: its note is the summary."""
    from incidents import services as incidents

    with transaction.atomic():
        row = (
            ChecklistTick.objects.select_for_update()
            .select_related("item", "run__template")
            .get(pk=tick_pk)
        )
        if row.result != ChecklistTick.Result.DEVIATION:
            raise Refused("Only a deviation raises an incident.", 400)
        if row.incident_id:
            raise Refused(f"Already raised as {row.incident.number}.")
        incident = incidents.declare(
            by,
            title=f"{row.run.template.name}: {row.item.title}"[:200],
            severity=severity,
            summary=f"Deviation found by the {row.run.template.name} checklist: {row.note}",
            detection_source="health_check",
        )
        ChecklistTick.objects.filter(pk=row.pk).update(incident=incident)
        audit.record(
            "checklist.raise_incident", actor=by, obj=row.run, after={"incident": incident.number}
        )
        _changed()
    return incident


# --- the shift log -------------------------------------------------------------------------
LOG_FIELDS = [
    "kind",
    "text",
    "justification",
    "actions",
    "verification",
    "side_effects",
    "root_cause",
    "remediation",
    "counterpart",
    "change_ref",
    "job_ref",
]


def add_log_entry(by, *, incident=None, **fields) -> LogEntry:
    _require(by, LOG, "write the shift log")
    entry = LogEntry(
        author=by,
        incident=incident,
        shift=current_shift(user=by) or current_shift(),
        **{k: (v or "").strip() for k, v in fields.items() if k in LOG_FIELDS},
    )
    if entry.kind not in LogEntry.Kind.values:
        raise Refused("Choose a kind of entry.", 400)
    if not entry.text:
        raise Refused("text: Write what happened.", 400)
    _validate(entry, exclude=("shift", "author"))
    with transaction.atomic():
        entry.save()
        audit.record(
            "shift_log.add",
            actor=by,
            obj=entry,
            after={"kind": entry.kind, "text": entry.text[:200]},
        )
        _changed()
    return entry


def close_log_entry(by, pk: int) -> LogEntry:
    _require(by, LOG, "write the shift log")
    with transaction.atomic():
        entry = LogEntry.objects.select_for_update().get(pk=pk)
        entry.close(by)
        _changed()
    return entry


# --- handoffs ------------------------------------------------------------------------------
def handoff_topic(handoff: Handoff) -> str:
    return f"handoff.{handoff.pk}"


def start_handoff(by, *, incoming, kind=Handoff.Kind.SHIFT, shift=None, rota=None) -> Handoff:
    """A draft handoff from `by` to `incoming`, pre-filled from live state. An open draft of
    the same pair and kind is reused, so nothing typed is ever split over two drafts."""
    _require(by, HANDOFF, "hand over")
    if kind not in Handoff.Kind.values:
        raise Refused(f"kind: one of {', '.join(Handoff.Kind.values)}.", 400)
    if incoming is None:
        raise Refused("Choose the incoming operator.", 400)
    if incoming.pk == by.pk:
        raise Refused("The incoming operator must be someone else.", 400)
    if not incoming.has_perm(HANDOFF):
        raise Refused(f"{incoming.get_username()} may not take over a shift.", 400)
    with transaction.atomic():
        _lock_people([by])
        draft = Handoff.objects.filter(
            outgoing=by, incoming=incoming, kind=kind, status=Handoff.Status.DRAFT
        ).first()
        if draft:
            return draft
        now = timezone.now()
        if kind == Handoff.Kind.SHIFT and shift is None:
            shift = current_shift(now, user=by)
        if kind == Handoff.Kind.ONCALL and rota is None:
            rota = on_call_now(now).week
        since = (
            shift.starts_at if shift else (rota.starts_at if rota else now - timedelta(hours=12))
        )
        handoff = Handoff.objects.create(
            kind=kind,
            shift=shift,
            rota=rota,
            outgoing=by,
            incoming=incoming,
            state=handoff_state.collect(since, now),
            state_at=now,
            created_at=now,
            updated_at=now,
        )
        audit.record(
            "handoff.start",
            actor=by,
            obj=handoff,
            after={"kind": kind, "incoming": incoming.get_username()},
        )
        _changed()
    return handoff


def _lock_handoff(pk: int) -> Handoff:
    return Handoff.objects.select_for_update().select_related("outgoing", "incoming").get(pk=pk)


def refresh_state(by, pk: int) -> Handoff:
    with transaction.atomic():
        handoff = _lock_handoff(pk)
        if by.pk != handoff.outgoing_id or handoff.status != Handoff.Status.DRAFT:
            raise Refused("Only the outgoing operator refreshes a draft handoff.", 403)
        since = (
            handoff.shift.starts_at if handoff.shift else handoff.created_at - timedelta(hours=12)
        )
        handoff.state = handoff_state.collect(since)
        handoff.state_at = handoff.updated_at = timezone.now()
        handoff.save(update_fields=["state", "state_at", "updated_at"])
        audit.record("handoff.refresh", actor=by, obj=handoff)
        _changed(handoff_topic(handoff), "handoff.updated", id=handoff.pk)
    return handoff


def save_draft(by, pk: int, fields: dict) -> Handoff:
    """Autosave: the outgoing operator's fields while a draft, the incoming operator's summary
    until they sign. Whatever the other person may not edit is ignored, never an error, so an
    autosave racing a sign-off cannot lose the text of the fields still editable."""
    with transaction.atomic():
        handoff = _lock_handoff(pk)
        if by.pk == handoff.outgoing_id and handoff.status == Handoff.Status.DRAFT:
            allowed = Handoff.OUTGOING_FIELDS
        elif by.pk == handoff.incoming_id and handoff.status != Handoff.Status.ACCEPTED:
            allowed = Handoff.INCOMING_FIELDS
        else:
            raise Refused("This handoff is signed or not yours to edit: it is read-only.", 409)
        changed = {}
        for name in allowed:
            if name in fields and fields[name] is not None:
                value = str(fields[name])[:20000]
                if value != getattr(handoff, name):
                    setattr(handoff, name, value)
                    changed[name] = value
        if changed:
            handoff.updated_at = timezone.now()
            handoff.save(update_fields=[*changed, "updated_at"])
            audit.record(
                "handoff.draft_saved",
                actor=by,
                obj=handoff,
                after={k: v[:200] for k, v in changed.items()},
            )
            _changed(handoff_topic(handoff), "handoff.updated", id=handoff.pk)
    return handoff


def confirm(by, pk: int, what: str) -> Handoff:
    """The incoming operator confirms dashboard access or the escalation contacts."""
    field = {"dashboard": "dashboard_confirmed_at", "contacts": "contacts_confirmed_at"}.get(what)
    if field is None:
        raise Refused("Unknown confirmation.", 400)
    with transaction.atomic():
        handoff = _lock_incoming(by, pk)
        if getattr(handoff, field) is None:
            setattr(handoff, field, timezone.now())
            handoff.updated_at = timezone.now()
            handoff.save(update_fields=[field, "updated_at"])
            audit.record(f"handoff.confirm_{what}", actor=by, obj=handoff)
            _changed(handoff_topic(handoff), "handoff.updated", id=handoff.pk)
    return handoff


def _lock_incoming(by, pk: int) -> Handoff:
    handoff = _lock_handoff(pk)
    if by.pk != handoff.incoming_id:
        raise Refused("Only the incoming operator completes the verification.", 403)
    if handoff.status == Handoff.Status.ACCEPTED:
        raise Refused("This handoff is signed: it is read-only.")
    return handoff


def send_test_notification(by, pk: int) -> Notice:
    """Either operator sends the incoming one a test notification through the console's
    channels (in the console, and email when they have an address)."""
    with transaction.atomic():
        handoff = _lock_handoff(pk)
        if by.pk not in (handoff.outgoing_id, handoff.incoming_id):
            raise Refused("Only the two operators of this handoff send its test.", 403)
        if handoff.status == Handoff.Status.ACCEPTED:
            raise Refused("This handoff is signed: it is read-only.")
        notice = notify(
            handoff.incoming,
            Notice.Kind.TEST,
            f"Test notification for handoff #{handoff.pk} from {by.get_username()}: "
            "confirm on the handoff page that you received it.",
            reverse("shifts:handoff", args=[handoff.pk]),
        )
        handoff.test_notice = notice
        handoff.test_sent_at = handoff.updated_at = timezone.now()
        handoff.test_received_at = None
        handoff.save(
            update_fields=["test_notice", "test_sent_at", "test_received_at", "updated_at"]
        )
        audit.record("handoff.test_sent", actor=by, obj=handoff)
        _changed(handoff_topic(handoff), "handoff.updated", id=handoff.pk)
    return notice


def confirm_test_received(by, pk: int, notice_pk: int) -> Handoff:
    """The incoming operator confirms receipt of the test notification they were sent."""
    with transaction.atomic():
        handoff = _lock_incoming(by, pk)
        if handoff.test_notice_id is None:
            raise Refused("No test notification has been sent yet.", 400)
        if handoff.test_notice_id != notice_pk:
            raise Refused("That is not the latest test notification of this handoff.", 400)
        now = timezone.now()
        Notice.objects.filter(pk=notice_pk, user=by).update(read_at=now)
        handoff.test_received_at = handoff.updated_at = now
        handoff.save(update_fields=["test_received_at", "updated_at"])
        audit.record("handoff.test_received", actor=by, obj=handoff)
        _changed(handoff_topic(handoff), "handoff.updated", id=handoff.pk)
    return handoff


def sign(by, pk: int) -> Handoff:
    """Sign off (000 "Shift log sign-off by both operators"); the row lock makes two sign-offs
    at once leave one consistent result (the second sees the first)."""
    with transaction.atomic():
        handoff = _lock_handoff(pk)
        handoff.sign(by)
        _changed(handoff_topic(handoff), "handoff.updated", id=handoff.pk)
        _changed()
    return handoff


def latest_accepted_for(user) -> Handoff | None:
    """The handoff the user took over last: the first thing the incoming shift sees."""
    return (
        Handoff.objects.filter(incoming=user, status=Handoff.Status.ACCEPTED)
        .select_related("outgoing")
        .order_by("-incoming_signed_at")
        .first()
    )
