"""Maintenance-window workflows (issue 9). Views, the API, tasks, the admin and the demo call
these; each owns its transaction, locks what it changes, writes the audit trail and publishes
`maintenance` after commit.

Rules come from the manuals as data (changes/fixtures/maintenance.json, editable in the
admin): 000 "Standard Maintenance Windows" (slots and caps), "Pre-Maintenance Notification
Requirements" (notice periods and approving role), "Maintenance Announcement Template",
the pre- and post-maintenance checklists and the rollback criteria; 004 "Notification
Process" (T-7d, T-3d, T-1d, T-1h reminders).

Times: slots and recurrences are wall-clock times in the console's `TIME_ZONE`; generation
turns them into instants one occurrence at a time, so a window stays "Sunday 02:00-06:00" on
both sides of a daylight-saving change (see `occurrence`).
"""

import logging
import re
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import rrulestr
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from console import audit, live, roles
from console.errors import Refused
from monitoring import silences
from monitoring.models import Module

from . import maintenance_policy
from .models import (
    MaintenanceChecklistItem,
    MaintenanceChecklistTemplate,
    MaintenanceRecurrence,
    MaintenanceReminder,
    MaintenanceReminderStep,
    MaintenanceRollback,
    MaintenanceType,
    MaintenanceWindow,
    Phase,
)

log = logging.getLogger(__name__)

Status = MaintenanceWindow.Status
ADD = "changes.add_maintenancewindow"
CHANGE = "changes.change_maintenancewindow"
VIEW = "changes.view_maintenancewindow"
TOPIC = "maintenance"
# A window may be scheduled to start "now": a few minutes of form-filling are not the past.
PAST_GRACE = timedelta(minutes=5)
PRE_PHASES = (Phase.PRE_48H, Phase.PRE_24H, Phase.PRE_1H)
POST_PHASES = (Phase.POST_30M, Phase.POST_4H, Phase.POST_24H)


def actor_name(user) -> str:
    return user.get_username() if user is not None else audit.SYSTEM


# --- local time ---------------------------------------------------------------------------
def local_tz():
    return timezone.get_default_timezone()


def to_instant(naive: datetime, latest: bool):
    """A local wall-clock time as an instant. A time that does not exist (the clocks jumped
    over it) or exists twice (the clocks went back) has two candidates; `latest` picks the
    later one (for a start: the clock has reached the slot on both readings), otherwise the
    earlier one (for an end), so a window never leaves its wall-clock slot."""
    tz = local_tz()
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(first, second) if latest else min(first, second)


def occurrence(day: date, start: time, end: time, cap_minutes: int | None):
    """The window of one day's slot: wall-clock start and end (the end on the next day when it
    is not after the start), clipped to the cap in elapsed time. On the spring change the
    slot Sunday 02:00-06:00 (Europe/Berlin) runs 03:00-06:00 CEST, three hours; on the
    autumn change a Monthly 00:00-08:00 (America/New_York) would last nine hours and is
    clipped to its eight."""
    begins = to_instant(datetime.combine(day, start), latest=True)
    end_day = day if end > start else day + timedelta(days=1)
    ends = to_instant(datetime.combine(end_day, end), latest=False)
    if cap_minutes:
        ends = min(ends, begins + timedelta(minutes=cap_minutes))
    return begins, ends


def occurrences(rule: str, start: time, end: time, cap_minutes, after, before):
    """(start, end) of every occurrence of an RFC 5545 rule (dates in local time) whose start
    lies in [after, before)."""
    tz = local_tz()
    first_day = timezone.localtime(after, tz).date() - timedelta(days=1)
    last_day = timezone.localtime(before, tz).date() + timedelta(days=1)
    dtstart = datetime.combine(first_day, time(0, 0))
    found = []
    for naive in rrulestr(rule, dtstart=dtstart).between(
        dtstart, datetime.combine(last_day, time(23, 59)), inc=True
    ):
        begins, ends = occurrence(naive.date(), start, end, cap_minutes)
        if after <= begins < before:
            found.append((begins, ends))
    return found


def next_slots(type_: MaintenanceType, now=None, count: int = 6):
    """The next designated slots of a type (e.g. the coming Sundays 02:00-06:00) that are
    outside its notice period, for the scheduling form."""
    if not type_.rrule or type_.slot_start is None or type_.slot_end is None:
        return []
    now = now or timezone.now()
    earliest = now + timedelta(minutes=type_.notice_minutes)
    horizon = earliest + timedelta(days=45 * count)
    slots = occurrences(
        type_.rrule, type_.slot_start, type_.slot_end, type_.max_minutes, earliest, horizon
    )
    return slots[:count]


# --- checks -------------------------------------------------------------------------------
def _duration_text(minutes: int) -> str:
    """As the manual says it: "1 week", "2 weeks", "48 h", "4 h"."""
    if minutes and minutes % 10080 == 0:
        weeks = minutes // 10080
        return f"{weeks} week{'s' if weeks > 1 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def check(
    type_: MaintenanceType,
    start,
    end,
    modules,
    emergency_reason: str = "",
    now=None,
    exclude_pk=None,
) -> None:
    """Refuses a window that breaks a rule, with the reason (in this order): ends before it
    starts, in the past, no module, longer than its type allows, inside its notice period
    without the emergency path, overlapping another window on one of its modules."""
    now = now or timezone.now()
    if start is None or end is None:
        raise Refused("Give a start and an end.", 400, field="start")
    if end <= start:
        raise Refused("The window must end after it starts.", 400, field="end")
    if start < now - PAST_GRACE:
        raise Refused("The window cannot start in the past.", 400, field="start")
    if not modules:
        raise Refused("Choose at least one module (the window's scope).", 400, field="modules")
    minutes = (end - start).total_seconds() / 60
    if type_.max_minutes and minutes > type_.max_minutes:
        raise Refused(
            f"A {type_.name} window lasts {_duration_text(type_.max_minutes)} at most "
            f"(000 'Standard Maintenance Windows'); this one lasts {minutes / 60:.1f} h.",
            400,
            field="end",
        )
    notice = timedelta(minutes=type_.notice_minutes)
    if type_.emergency_path:
        if not emergency_reason.strip():
            raise Refused(
                "The emergency path needs a reason (what critical issue it addresses).",
                400,
                field="emergency_reason",
            )
    elif start - now < notice:
        raise Refused(
            f"A {type_.name} window needs {_duration_text(type_.internal_notice_minutes)} "
            f"internal and {_duration_text(type_.external_notice_minutes)} external notice "
            "(000 'Pre-Maintenance Notification Requirements'); this one starts sooner. "
            "Schedule it later or use the emergency path (type Emergency, with a reason).",
            400,
            field="start",
        )
    clash = (
        MaintenanceWindow.objects.filter(
            status__in=MaintenanceWindow.ACTIVE_STATUSES,
            modules__in=list(modules),
            start__lt=end,
            end__gt=start,
        )
        .exclude(pk=exclude_pk)
        .order_by("start")
        .first()
    )
    if clash is not None:
        local = timezone.localtime(clash.start)
        raise Refused(
            f"It overlaps {clash.number} “{clash.title}” ({local:%a %d %b %H:%M}) on the same "
            "modules.",
            400,
            field="start",
        )


def can_approve(user, window: MaintenanceWindow) -> bool:
    return bool(user and user.is_authenticated) and roles.at_least(user, window.approving_role)


def can_change(user, window: MaintenanceWindow | None = None) -> bool:
    return bool(user and user.is_authenticated) and user.has_perm(CHANGE)


def owner_or_approver(user, window: MaintenanceWindow) -> bool:
    """Who moves or cancels a window: its owner or an approver (holding the change right)."""
    return can_change(user) and (user == window.owner or can_approve(user, window))


def visible_windows(user):
    """The windows a user may see (the role's view permission covers them all)."""
    if not user.is_authenticated or not user.has_perm(VIEW):
        return MaintenanceWindow.objects.none()
    return MaintenanceWindow.objects.all()


# --- scheduling -----------------------------------------------------------------------------
def describe(window: MaintenanceWindow) -> dict:
    return {
        "type": window.type.key,
        "title": window.title,
        "status": window.status,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "modules": sorted(m.name for m in window.modules.all()),
        "owner": window.owner.get_username(),
    }


def changed(window: MaintenanceWindow) -> None:
    live.publish(TOPIC, "maintenance.changed", window=window.pk)
    live.publish("overview", "maintenance.changed", window=window.pk)


def render_announcement(window: MaintenanceWindow) -> tuple[str, str]:
    """000 "Maintenance Announcement Template" filled in for this window."""
    template = maintenance_policy.announcement_template()
    start = timezone.localtime(window.start)
    end = timezone.localtime(window.end)
    contact = window.contact or (window.owner.email or window.owner.get_username())
    context = Context(
        {
            "window": window,
            "type": window.type.name,
            "date": f"{start:%A %d %B %Y}",
            "start_time": f"{start:%H:%M}",
            "end_time": f"{end:%H:%M}"
            + ("" if end.date() == start.date() else f" ({end:%a %d %b})"),
            "timezone": start.tzname(),
            "contact": contact,
            "modules": ", ".join(m.name.title() for m in window.modules.all()),
        },
        autoescape=False,
    )
    subject = " ".join(Template(template["subject"]).render(context).split())[:300]
    return subject, Template(template["body"]).render(context).strip()


def _build_checklist(window: MaintenanceWindow) -> None:
    items = []
    for template in MaintenanceChecklistTemplate.objects.all():
        items.append(
            MaintenanceChecklistItem(
                window=window,
                phase=template.phase,
                position=template.position,
                text=template.text,
                evidence=template.evidence,
                due_at=item_due(template.phase, template.offset_minutes, window),
            )
        )
    MaintenanceChecklistItem.objects.bulk_create(items)


def item_due(phase: str, offset_minutes, window: MaintenanceWindow, ended_at=None):
    """Pre-maintenance items fall due before the start (48 h, 24 h, 1 h); post-maintenance
    ones after the end (30 min, 4 h, 24 h: the actual end once the window has ended)."""
    if offset_minutes is None:
        return None
    if phase in PRE_PHASES:
        return window.start - timedelta(minutes=offset_minutes)
    return (ended_at or window.end) + timedelta(minutes=offset_minutes)


def _queue_reminders(window: MaintenanceWindow, now) -> None:
    """One row per step of 004's timeline. A step already past when the window is approved
    is recorded as skipped (with why), not sent late."""
    rows = []
    for step in MaintenanceReminderStep.objects.all():
        due = window.start - timedelta(minutes=step.minutes_before)
        late = due <= now
        rows.append(
            MaintenanceReminder(
                window=window,
                key=step.key,
                label=step.label,
                audience=step.audience,
                due_at=due,
                state=MaintenanceReminder.State.SKIPPED
                if late
                else MaintenanceReminder.State.PENDING,
                note="Already past when the window was approved." if late else "",
            )
        )
    MaintenanceReminder.objects.bulk_create(rows, ignore_conflicts=True)


def _approve(window: MaintenanceWindow, by, now) -> None:
    window.status = Status.APPROVED
    window.approved_by = actor_name(by)
    window.approved_at = now
    window.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    _queue_reminders(window, now)


def schedule_window(
    by,
    *,
    type: MaintenanceType | str,  # noqa: A002 (the API's field name)
    title: str,
    start,
    end,
    modules,
    activities: str = "",
    impact: str = "",
    availability_target: str = "",
    owner=None,
    contact: str = "",
    emergency_reason: str = "",
    recurrence: MaintenanceRecurrence | None = None,
) -> MaintenanceWindow:
    """Schedule a window. Someone holding the type's approving role (or above) approves it
    by scheduling it; otherwise it awaits approval. `by` None is the console itself (a
    recurrence), acting for `owner`."""
    acting = by if by is not None else owner
    if by is not None and not by.has_perm(ADD):
        raise PermissionDenied("You may not schedule maintenance windows.")
    if isinstance(type, str):
        type = MaintenanceType.objects.filter(key=type).first()  # noqa: A001
        if type is None:
            raise Refused("Unknown window type.", 400, field="type")
    if not title.strip():
        raise Refused("Give the window a title.", 400, field="title")
    owner = owner or by
    now = timezone.now()
    module_ids = sorted({m.pk if isinstance(m, Module) else int(m) for m in modules})
    with transaction.atomic():
        # Lock the modules: two windows scheduled at once on the same module queue here, and
        # the second sees the first in its overlap check.
        locked = list(Module.objects.select_for_update().filter(pk__in=module_ids).order_by("pk"))
        check(type, start, end, locked, emergency_reason, now)
        window = MaintenanceWindow.objects.create(
            type=type,
            title=title.strip()[:200],
            start=start,
            end=end,
            activities=activities,
            impact=impact,
            availability_target=availability_target or type.availability_target,
            owner=owner,
            contact=contact,
            emergency_reason=emergency_reason.strip(),
            recurrence=recurrence,
            requested_by=actor_name(acting),
            requested_at=now,
            approving_role=type.approving_role,
        )
        window.modules.set(locked)
        window.announcement_subject, window.announcement = render_announcement(window)
        window.save(update_fields=["announcement_subject", "announcement"])
        _build_checklist(window)
        audit.record("maintenance.schedule", actor=by, obj=window, after=describe(window))
        if acting is not None and roles.at_least(acting, type.approving_role):
            _approve(window, acting, now)
            audit.record(
                "maintenance.approve", actor=by, obj=window, after={"status": window.status}
            )
        changed(window)
    return window


def _locked(window_pk: int) -> MaintenanceWindow:
    return (
        MaintenanceWindow.objects.select_for_update(of=("self",))
        .select_related("type")
        .get(pk=window_pk)
    )


def approve_window(by, window_pk: int) -> MaintenanceWindow:
    with transaction.atomic():
        window = _locked(window_pk)
        if not can_approve(by, window):
            raise PermissionDenied(
                f"A {window.type.name} window is approved by the {window.approving_role} "
                "or above (000 'Pre-Maintenance Notification Requirements')."
            )
        if window.status == Status.APPROVED:
            return window
        if window.status != Status.REQUESTED:
            raise Refused(f"{window.number} is {window.get_status_display().lower()}.", code=409)
        now = timezone.now()
        if window.start <= now:
            raise Refused("Its start has passed; schedule a new window.", code=409)
        _approve(window, by, now)
        audit.record(
            "maintenance.approve",
            actor=by,
            obj=window,
            before={"status": Status.REQUESTED},
            after={"status": window.status},
        )
        changed(window)
    return window


def cancel_window(by, window_pk: int, reason: str) -> MaintenanceWindow:
    if not reason.strip():
        raise Refused("Say why the window is cancelled.", 400, field="reason")
    with transaction.atomic():
        window = _locked(window_pk)
        if not owner_or_approver(by, window):
            raise PermissionDenied("Only the owner or an approver cancels a window.")
        if window.status == Status.CANCELLED:
            return window
        if window.status not in (Status.REQUESTED, Status.APPROVED):
            raise Refused(
                f"{window.number} is {window.get_status_display().lower()}: end it instead.",
                code=409,
            )
        _cancel(window, by, reason.strip())
    return window


def reschedule_window(
    by, window_pk: int, start, end, reason: str = "", emergency_reason: str | None = None
) -> MaintenanceWindow:
    """Move a requested or approved window to [start, end).

    1. The owner or an approver moves it (as for cancelling); a running, ended or cancelled
       window stays where it is (409).
    2. The new times pass the same rules as scheduling (`check`: cap, past, notice period or
       the emergency path, overlap with other windows on its modules, which are locked first
       as `schedule_window` locks them), the window itself left out of the overlap.
    3. When its type says so (`reschedule_resets_approval`), an approved window goes back to
       awaiting approval, unless the person moving it may approve it, who approves the new
       times by moving it (as scheduling does).
    4. Checklist due times follow the new times; the reminder timeline is regenerated (each
       step due again relative to the new start, a step already past is skipped) and the
       announcement, if nobody edited it, is re-rendered and may be sent again.
    5. Audited with the old and new times, and pushed live."""
    if start is None or end is None:
        raise Refused("Give a start and an end.", 400, field="start")
    now = timezone.now()
    with transaction.atomic():
        module_ids = list(
            MaintenanceWindow.modules.through.objects.filter(maintenancewindow_id=window_pk)
            .order_by("module_id")
            .values_list("module_id", flat=True)
        )
        locked = list(Module.objects.select_for_update().filter(pk__in=module_ids).order_by("pk"))
        window = _locked(window_pk)
        if not owner_or_approver(by, window):
            raise PermissionDenied("Only the owner or an approver reschedules a window.")
        if window.status not in (Status.REQUESTED, Status.APPROVED):
            raise Refused(
                f"{window.number} is {window.get_status_display().lower()}; only a window "
                "that has not started is rescheduled.",
                code=409,
            )
        if (start, end) == (window.start, window.end):
            return window
        if emergency_reason is None:
            emergency_reason = window.emergency_reason
        check(window.type, start, end, locked, emergency_reason, now, exclude_pk=window.pk)
        before = {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "status": window.status,
            "approved_by": window.approved_by,
            "requested_at": window.requested_at.isoformat(),
            "requested_by": window.requested_by,
        }
        old_text = render_announcement(window)
        window.start, window.end = start, end
        window.emergency_reason = emergency_reason.strip()
        # The notice period counts from when the new times were asked for.
        window.requested_at = now
        window.requested_by = actor_name(by)
        # Stakeholders told the old times must hear the new ones: the announcement may go
        # out again. Its text follows the new times unless someone edited it (then it is kept,
        # for them to correct, and the audit entry says so).
        window.announcement_sent_at = None
        edited = (window.announcement_subject, window.announcement) != old_text
        if not edited:
            window.announcement_subject, window.announcement = render_announcement(window)
        fields = [
            "start",
            "end",
            "emergency_reason",
            "requested_at",
            "requested_by",
            "announcement_subject",
            "announcement",
            "announcement_sent_at",
        ]
        reset = window.status == Status.APPROVED and window.type.reschedule_resets_approval
        if reset:
            window.status = Status.REQUESTED
            window.approved_by, window.approved_at = "", None
            fields += ["status", "approved_by", "approved_at"]
        window.save(update_fields=[*fields, "updated_at"])
        offsets = {
            (t.phase, t.position): t.offset_minutes
            for t in MaintenanceChecklistTemplate.objects.exclude(phase=Phase.ROLLBACK)
        }
        for item in window.checklist.exclude(phase=Phase.ROLLBACK):
            if (item.phase, item.position) in offsets:
                item.due_at = item_due(item.phase, offsets[item.phase, item.position], window)
                item.save(update_fields=["due_at"])
        window.reminders.all().delete()  # regenerated below; the sent ones are in the audit
        if window.status == Status.APPROVED:
            _queue_reminders(window, now)
        elif roles.at_least(by, window.approving_role):
            _approve(window, by, now)
        after = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "status": window.status,
            "reason": reason.strip(),
            "approval_reset": reset,
            "announcement_edited_kept": edited,
        }
        audit.record("maintenance.reschedule", actor=by, obj=window, before=before, after=after)
        changed(window)
    return window


def _cancel(window: MaintenanceWindow, by, reason: str) -> None:
    before = window.status
    window.status = Status.CANCELLED
    window.cancelled_at = timezone.now()
    window.cancelled_by = actor_name(by)
    window.cancel_reason = reason
    window.save(
        update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "updated_at"]
    )
    window.reminders.filter(state=MaintenanceReminder.State.PENDING).update(
        state=MaintenanceReminder.State.SKIPPED, note="The window was cancelled."
    )
    audit.record(
        "maintenance.cancel",
        actor=by,
        obj=window,
        before={"status": before},
        after={"status": window.status, "reason": reason},
    )
    changed(window)


# --- running ----------------------------------------------------------------------------------
def silence_matchers(window: MaintenanceWindow) -> list[dict]:
    names = sorted(m.name for m in window.modules.all())
    return [
        {
            "name": "module",
            "value": "|".join(re.escape(n) for n in names),
            "isRegex": True,
            "isEqual": True,
        }
    ]


def start_window(window_pk: int, now=None) -> MaintenanceWindow | None:
    """Start an approved window whose start has come: silence its modules' alerts until its
    end. Fires once: the row is locked and its status checked, so a second worker, a
    redelivered task or a later scan finds it already running. Returns None when there was
    nothing to do.

    The batch jobs of its modules are suspended in the same transaction (000 "Maintenance
    Windows": scheduled processing paused) and the modules told after it commits."""
    from monitoring import jobs

    now = now or timezone.now()
    suspended = []
    with transaction.atomic():
        window = (
            MaintenanceWindow.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("type")
            .filter(pk=window_pk, status=Status.APPROVED, start__lte=now)
            .first()
        )
        if window is None:
            return None
        window.status = Status.IN_PROGRESS
        window.started_at = now
        fields = ["status", "started_at", "updated_at"]
        if window.end <= now:
            # The console was down for the whole window: record it, silence nothing.
            window.status = Status.COMPLETED
            window.ended_at = now
            fields.append("ended_at")
        else:
            modules = ", ".join(sorted(m.name for m in window.modules.all()))
            window.silence = silences.create_silence(
                None,
                silence_matchers(window),
                now,
                window.end,
                f"Maintenance window {window.number}: {window.title} ({modules})",
                created_by_name=f"maintenance {window.pk}",
            )
            fields.append("silence")
            suspended = jobs.suspend_module_jobs(
                [m.name for m in window.modules.all()],
                f"Maintenance window {window.number}: {window.title}",
                key=job_key(window),
                propagate=False,
            )
        window.save(update_fields=fields)
        audit.record(
            "maintenance.start",
            obj=window,
            before={"status": Status.APPROVED},
            after={
                "status": window.status,
                "silence": window.silence_id,
                "jobs_suspended": [j.name for j in suspended],
            },
        )
        changed(window)
    if suspended:
        jobs.tell_modules(None, [j.name for j in suspended], jobs.Job.Status.SUSPENDED)
    return window


def job_key(window: MaintenanceWindow) -> str:
    """Marks the jobs a window suspended, so that its end resumes those and no others."""
    return f"maintenance:{window.pk}"


def end_window(window_pk: int, by=None, now=None) -> MaintenanceWindow | None:
    """End a running window (at its end, or earlier by hand): expire its silence so alerts
    flow again, resume the jobs it suspended (and only those), and re-anchor the
    post-maintenance checklist on the actual end. Fires once."""
    from monitoring import jobs

    now = now or timezone.now()
    with transaction.atomic():
        window = (
            MaintenanceWindow.objects.select_for_update(of=("self",))
            .select_related("type", "silence")
            .filter(pk=window_pk)
            .first()
        )
        if window is None or window.status != Status.IN_PROGRESS:
            return None
        if by is not None and not can_change(by, window):
            raise PermissionDenied("You may not end maintenance windows.")
        if window.silence is not None and window.silence.state(now) != "expired":
            silences.expire_silence(by, window.silence)
        resumed = jobs.resume_module_jobs(
            [m.name for m in window.modules.all()],
            key=job_key(window),
            reason=f"Maintenance window {window.number} ended",
            propagate=False,
        )
        window.status = Status.COMPLETED
        window.ended_at = now
        window.save(update_fields=["status", "ended_at", "updated_at"])
        for template in MaintenanceChecklistTemplate.objects.filter(phase__in=POST_PHASES):
            window.checklist.filter(phase=template.phase, position=template.position).update(
                due_at=item_due(template.phase, template.offset_minutes, window, ended_at=now)
            )
        audit.record(
            "maintenance.end",
            actor=by,
            obj=window,
            before={"status": Status.IN_PROGRESS},
            after={
                "status": window.status,
                "early": now < window.end,
                "jobs_resumed": [j.name for j in resumed],
            },
        )
        changed(window)
    if resumed:
        jobs.tell_modules(by, [j.name for j in resumed], jobs.Job.Status.ACTIVE)
    return window


def scan_windows(now=None) -> dict:
    """The due-time scan (beat): start approved windows whose start has come, end running
    ones whose end has come, cancel requested ones that were never approved in time."""
    now = now or timezone.now()
    counts = {"started": 0, "ended": 0, "cancelled": 0}
    due = MaintenanceWindow.objects.filter(status=Status.APPROVED, start__lte=now)
    for pk in due.values_list("pk", flat=True):
        try:
            counts["started"] += start_window(pk, now) is not None
        except Exception:  # one bad window must not stop the others
            log.exception("maintenance window %s could not be started", pk)
    ending = MaintenanceWindow.objects.filter(status=Status.IN_PROGRESS, end__lte=now)
    for pk in ending.values_list("pk", flat=True):
        try:
            counts["ended"] += end_window(pk, now=now) is not None
        except Exception:
            log.exception("maintenance window %s could not be ended", pk)
    stale = MaintenanceWindow.objects.filter(status=Status.REQUESTED, start__lte=now)
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            window = (
                MaintenanceWindow.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, status=Status.REQUESTED)
                .first()
            )
            if window is not None:
                _cancel(window, None, "Not approved before its start.")
                counts["cancelled"] += 1
    return counts


def active_windows(now=None):
    """Windows running now (the banner, the war room, `?active=true`)."""
    return (
        MaintenanceWindow.objects.filter(status=Status.IN_PROGRESS)
        .select_related("type")
        .prefetch_related("modules")
        .order_by("end")
    )


def windows_for_modules(module_ids) -> list[MaintenanceWindow]:
    return list(active_windows().filter(modules__in=list(module_ids)).distinct())


# --- announcement and reminders -------------------------------------------------------------
def edit_announcement(by, window_pk: int, subject: str, body: str) -> MaintenanceWindow:
    if not subject.strip() or not body.strip():
        raise Refused("The announcement needs a subject and a text.", 400, field="announcement")
    with transaction.atomic():
        window = _locked(window_pk)
        if not can_change(by, window):
            raise PermissionDenied("You may not edit maintenance announcements.")
        if window.announcement_sent_at is not None:
            raise Refused("The announcement has been sent; it can no longer change.", code=409)
        before = {"subject": window.announcement_subject, "body": window.announcement}
        window.announcement_subject = subject.strip()[:300]
        window.announcement = body.strip()
        window.save(update_fields=["announcement_subject", "announcement", "updated_at"])
        audit.record(
            "maintenance.announcement.edit",
            actor=by,
            obj=window,
            before=before,
            after={"subject": window.announcement_subject, "body": window.announcement},
        )
        changed(window)
    return window


# Notification rows of a window's messages carry this event: "maintenance T-7d",
# "maintenance notice" (the announcement); with the window's page as `link` they are found again.
EVENT = "maintenance {}"
ANNOUNCEMENT_EVENT = EVENT.format("notice")


def channels():
    """The notification channels that take maintenance messages: enabled, not limited to some
    incident severities, and listening to every event or to "maintenance"
    (`NotificationChannel.wants` with no severity)."""
    from incidents.models import NotificationChannel

    return [
        channel
        for channel in NotificationChannel.objects.filter(enabled=True).order_by("pk")
        if channel.wants("", "maintenance")
    ]


def notify(window: MaintenanceWindow, event: str, subject: str, body: str, audience: str) -> list:
    """Queue one message about `window` on every maintenance channel and to its owner (in the
    console, and by email when they have an address). Delivery, retries with backoff and the
    delivery record are incidents' notification machinery (`incidents.notify`): the rows
    commit with the caller's transaction and the delivery scan sends them."""
    from incidents import notify as delivery
    from incidents.models import Notification

    # Internal-team reminders go to responders; user notices and the announcement to
    # stakeholders (004 "Notification Process" audiences).
    kind = (
        Notification.Audience.RESPONDERS
        if audience == MaintenanceReminderStep.Audience.INTERNAL
        else Notification.Audience.STAKEHOLDERS
    )
    extra = {"link": window_url(window), "payload": payload(window, event, subject, body)}
    rows = delivery.queue_on(channels(), event, subject, body, kind, **extra)
    rows += delivery.queue_users(None, [window.owner], event, subject, body, kind, **extra)
    return rows


def payload(window: MaintenanceWindow, event: str, subject: str, body: str) -> dict:
    """A JSON webhook's body for a maintenance message (a window has no incident)."""
    return {
        "window": window.number,
        "title": window.title,
        "type": window.type.key,
        "status": window.status,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "modules": sorted(m.name for m in window.modules.all()),
        "event": event,
        "subject": subject,
        "text": body,
        "url": window_url(window),
    }


def targets(rows) -> list[str]:
    """Where the messages went, as the reminder row and the audit record say it: addresses and
    usernames, and a hook's channel name (a webhook's URL is a secret, never shown)."""
    found = []
    for row in rows:
        if row.kind in ("webhook", "slack"):
            found.append(row.channel.name if row.channel else row.get_kind_display())
        elif row.target:
            found.append(row.target)
    return list(dict.fromkeys(found))


def deliveries(window: MaintenanceWindow) -> dict[str, list]:
    """The window's queued messages by event, for its page (state, attempts, last error)."""
    from incidents.models import Notification

    found: dict[str, list] = {}
    rows = (
        Notification.objects.filter(
            link=window_url(window), incident__isnull=True, event__startswith=EVENT.format("")
        )
        .select_related("channel")
        .order_by("pk")
    )
    for row in rows:
        found.setdefault(row.event, []).append(row)
    return found


def send_announcement(by, window_pk: int) -> MaintenanceWindow:
    with transaction.atomic():
        window = _locked(window_pk)
        if by is not None and not can_change(by, window):
            raise PermissionDenied("You may not send maintenance announcements.")
        if window.status not in (Status.APPROVED, Status.IN_PROGRESS):
            raise Refused("Only an approved window is announced.", code=409)
        if window.announcement_sent_at is not None:
            raise Refused("The announcement has already been sent.", code=409)
        rows = notify(
            window,
            ANNOUNCEMENT_EVENT,
            window.announcement_subject,
            window.announcement,
            MaintenanceReminderStep.Audience.USERS,
        )
        window.announcement_sent_at = timezone.now()
        window.save(update_fields=["announcement_sent_at", "updated_at"])
        audit.record(
            "maintenance.announcement.send", actor=by, obj=window, after={"to": targets(rows)}
        )
        changed(window)
    return window


def reminder_text(reminder: MaintenanceReminder) -> tuple[str, str]:
    window = reminder.window
    subject = f"[{reminder.key}] {window.announcement_subject}"[:300]
    body = (
        f"{reminder.label} ({reminder.key}, 004 'Notification Process').\n\n{window.announcement}"
    )
    return subject, body


def send_reminder(reminder_pk: int, now=None) -> MaintenanceReminder | None:
    """Queue one due reminder's messages, once: the row alone is locked (`of=self`: locking
    the joined window too would make a second worker skip every reminder of a window the
    first is updating) and its state checked; the queued notifications and the row's new
    state commit together, so a worker that dies mid-way leaves it pending for the next scan
    and a second worker finds it sent. Delivery (and its retries) is the notification scan's."""
    now = now or timezone.now()
    with transaction.atomic():
        reminder = (
            MaintenanceReminder.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("window", "window__owner", "window__type")
            .filter(pk=reminder_pk, state=MaintenanceReminder.State.PENDING, due_at__lte=now)
            .first()
        )
        if reminder is None:
            return None
        window = reminder.window
        if window.status not in (Status.APPROVED, Status.IN_PROGRESS):
            reminder.state = MaintenanceReminder.State.SKIPPED
            reminder.note = f"The window is {window.get_status_display().lower()}."
            reminder.save(update_fields=["state", "note"])
            return reminder
        subject, body = reminder_text(reminder)
        rows = notify(window, EVENT.format(reminder.key), subject, body, reminder.audience)
        to = targets(rows)
        reminder.state = MaintenanceReminder.State.SENT
        reminder.sent_at = now
        reminder.subject = subject
        reminder.recipients = ", ".join(to)
        reminder.note = "" if channels() else "No maintenance channel: the owner only."
        reminder.save(update_fields=["state", "sent_at", "subject", "recipients", "note"])
        if reminder.audience == "users" and window.announcement_sent_at is None:
            # 004: T-3d is the user notification, i.e. the announcement itself.
            window.announcement_sent_at = now
            window.save(update_fields=["announcement_sent_at", "updated_at"])
        audit.record(
            "maintenance.reminder.send",
            obj=window,
            after={"reminder": reminder.key, "to": to},
        )
        changed(window)
    return reminder


def scan_reminders(now=None) -> int:
    now = now or timezone.now()
    due = MaintenanceReminder.objects.filter(
        state=MaintenanceReminder.State.PENDING, due_at__lte=now
    ).order_by("due_at")
    sent = 0
    for pk in due.values_list("pk", flat=True)[:200]:
        sent += send_reminder(pk, now) is not None
    return sent


# --- checklist and rollback --------------------------------------------------------------------
def tick_item(by, item_pk: int, done: bool = True, note: str = "") -> MaintenanceChecklistItem:
    with transaction.atomic():
        item = (
            MaintenanceChecklistItem.objects.select_for_update(of=("self",))
            .select_related("window")
            .get(pk=item_pk)
        )
        if not can_change(by, item.window):
            raise PermissionDenied("You may not work maintenance checklists.")
        if item.window.status == Status.CANCELLED:
            raise Refused("The window was cancelled.", code=409)
        if done == (item.done_at is not None) and not note:
            return item
        before = {"done": item.done_at is not None}
        item.done_at = timezone.now() if done else None
        item.done_by = by if done else None
        if note:
            item.note = note[:500]
        item.save(update_fields=["done_at", "done_by", "note"])
        audit.record(
            "maintenance.checklist",
            actor=by,
            obj=item.window,
            before=before,
            after={"item": item.text, "done": done, "note": item.note},
        )
        changed(item.window)
    return item


def record_rollback(
    by, window_pk: int, criteria: list[str], reason: str, steps: str, verification: str
) -> MaintenanceRollback:
    """000 "Rollback Execution": the decision (which criteria were met), the reason, the steps
    taken and how the pre-maintenance state was verified."""
    if not reason.strip() or not steps.strip() or not verification.strip():
        raise Refused("A rollback needs its reason, steps and verification.", 400, field="reason")
    with transaction.atomic():
        window = _locked(window_pk)
        if not can_change(by, window):
            raise PermissionDenied("You may not record rollbacks.")
        if window.status not in (Status.IN_PROGRESS, Status.COMPLETED):
            raise Refused("Only a window that has started is rolled back.", code=409)
        known = set(window.checklist.filter(phase=Phase.ROLLBACK).values_list("text", flat=True))
        unknown = [c for c in criteria if c not in known]
        if unknown:
            raise Refused(f"Unknown criteria: {', '.join(unknown)}", 400, field="criteria")
        try:
            with transaction.atomic():
                rollback = MaintenanceRollback.objects.create(
                    window=window,
                    criteria=criteria,
                    reason=reason.strip(),
                    steps=steps.strip(),
                    verification=verification.strip(),
                    decided_by=by,
                )
        except IntegrityError:
            raise Refused("A rollback is already recorded.", code=409) from None
        now = timezone.now()
        window.checklist.filter(phase=Phase.ROLLBACK, text__in=criteria, done_at=None).update(
            done_at=now, done_by=by
        )
        audit.record(
            "maintenance.rollback",
            actor=by,
            obj=window,
            after={"criteria": criteria, "reason": rollback.reason},
        )
        changed(window)
    return rollback


# --- recurrences ----------------------------------------------------------------------------
def generate(recurrence: MaintenanceRecurrence, now=None) -> list[MaintenanceWindow]:
    """Windows for the recurrence's occurrences from the end of its type's notice period to
    its horizon. An occurrence that already has a window, or that a rule refuses (overlap), is
    skipped; running it again creates nothing new."""
    now = now or timezone.now()
    type_ = recurrence.type
    earliest = now + timedelta(minutes=type_.notice_minutes)
    horizon = now + timedelta(days=recurrence.horizon_days)
    made = []
    modules = list(recurrence.modules.all())
    for start, end in occurrences(
        recurrence.rrule,
        recurrence.start_time,
        recurrence.end_time,
        type_.max_minutes,
        earliest,
        horizon,
    ):
        if MaintenanceWindow.objects.filter(recurrence=recurrence, start=start).exists():
            continue
        try:
            made.append(
                schedule_window(
                    None,
                    type=type_,
                    title=recurrence.title,
                    start=start,
                    end=end,
                    modules=modules,
                    activities=recurrence.activities,
                    impact=recurrence.impact,
                    owner=recurrence.owner,
                    recurrence=recurrence,
                )
            )
        except (Refused, IntegrityError) as exc:
            log.info("recurrence %s: %s skipped: %s", recurrence.pk, start, exc)
    return made


def generate_all(now=None) -> int:
    return sum(len(generate(r, now)) for r in MaintenanceRecurrence.objects.filter(enabled=True))


# --- evidence, calendar, status -----------------------------------------------------------------
def evidence(window: MaintenanceWindow) -> dict[str, list[dict]]:
    """What the console knows now, per evidence kind, for the window's modules: module
    statuses, whether metrics arrive, error-rate, throughput and resource thresholds."""
    from monitoring import services as monitoring
    from monitoring.models import MetricStatus

    now = timezone.now()
    modules = list(window.modules.all())
    out: dict[str, list[dict]] = {
        "healthy": [
            {"label": m.name, "value": m.status, "ok": m.status == "HEALTHY"} for m in modules
        ],
        "metrics": [
            {
                "label": m.name,
                "value": (
                    f"last poll {timezone.localtime(m.last_success_at):%H:%M:%S}"
                    if m.last_success_at
                    else "never polled"
                ),
                "ok": m.last_success_at is not None and not monitoring.is_stale(m, now),
            }
            for m in modules
        ],
        "errors": [],
        "throughput": [],
        "resources": [],
    }
    kinds = maintenance_policy.evidence_thresholds()
    kind_of = {key: kind for kind, keys in kinds.items() for key in keys}
    statuses = (
        MetricStatus.objects.filter(threshold__key__in=list(kind_of))
        .filter(Q(module__in=modules) | Q(module__isnull=True))
        .select_related("threshold", "module")
        .order_by("threshold__key")
    )
    for status in statuses:
        value = "—" if status.value is None else f"{status.value:.3g}"
        where = status.module.name if status.module else "pipeline"
        out[kind_of[status.threshold.key]].append(
            {
                "label": f"{where} {status.threshold.name}",
                "value": f"{value} ({status.level})",
                "ok": status.level == "OK",
            }
        )
    return out


def carried_changes(window: MaintenanceWindow) -> list:
    """The change requests the window carries (on its modules, dated inside it)."""
    from . import services as change_services

    return change_services.carried_by(window.start, window.end, window.modules.all())


def window_url(window: MaintenanceWindow) -> str:
    return reverse("maintenance:detail", args=[window.pk])


def calendar_events(start, end) -> list[dict]:
    """Windows overlapping [start, end) as calendar events, the shape every calendar source
    shares: {"kind", "title", "start", "end", "url", "modules"}."""
    windows = (
        MaintenanceWindow.objects.filter(start__lt=end, end__gt=start)
        .exclude(status=Status.CANCELLED)
        .select_related("type")
        .prefetch_related("modules")
        .order_by("start")
    )
    return [
        {
            "kind": "maintenance",
            "title": f"{w.number} {w.title}",
            "start": w.start,
            "end": w.end,
            "url": window_url(w),
            "modules": sorted(m.name for m in w.modules.all()),
            "status": w.status,
            "type": w.type.name,
        }
        for w in windows
    ]


def upcoming(now=None, days: int = 30):
    now = now or timezone.now()
    return (
        MaintenanceWindow.objects.filter(
            status__in=(Status.APPROVED, Status.IN_PROGRESS),
            end__gt=now,
            start__lt=now + timedelta(days=days),
        )
        .select_related("type")
        .prefetch_related("modules")
        .order_by("start")
    )


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())
