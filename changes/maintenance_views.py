"""Maintenance pages: the calendar (month, week), scheduling, a window's page with its
actions, checklists and rollback, the banner fragment, the public status page and the
iCalendar feed. Every mutation is a POST calling one service in `changes.maintenance`."""

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from icalendar import Calendar, Event

from console.errors import Refused

from . import maintenance
from . import maintenance_forms as forms
from .models import (
    MaintenanceRecurrence,
    MaintenanceType,
    MaintenanceWindow,
    Phase,
)

Status = MaintenanceWindow.Status


def calendar_sources(start, end) -> list[dict]:
    """Every calendar event in [start, end): maintenance windows (and, once merged, change
    requests and freezes from `changes.services.calendar_events`), the same dict shape."""
    from . import services as change_services

    events = maintenance.calendar_events(start, end) + change_services.calendar_events(start, end)
    return sorted(events, key=lambda e: e["start"])


def _require_view(user) -> None:
    if not user.has_perm(maintenance.VIEW):
        raise PermissionDenied


def _window(request, pk: int) -> MaintenanceWindow:
    return get_object_or_404(
        maintenance.visible_windows(request.user).select_related("type", "owner", "silence"),
        pk=pk,
    )


def _day_bounds(day: date):
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(day, time(0)), tz)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time(0)), tz)
    return start, end


def _days(first: date, last: date, month: int | None, events: list[dict]) -> list[dict]:
    today = timezone.localdate()
    days = []
    day = first
    while day <= last:
        start, end = _day_bounds(day)
        days.append(
            {
                "date": day,
                "today": day == today,
                "in_month": month is None or day.month == month,
                "events": [e for e in events if e["start"] < end and e["end"] > start],
            }
        )
        day += timedelta(days=1)
    return days


@login_required
def calendar(request: HttpRequest) -> HttpResponse:
    _require_view(request.user)
    view = "week" if request.GET.get("view") == "week" else "month"
    try:
        anchor = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        anchor = timezone.localdate()
    if view == "month":
        month_first = anchor.replace(day=1)
        next_month = (month_first + timedelta(days=32)).replace(day=1)
        first = maintenance.week_start(month_first)
        last = maintenance.week_start(next_month - timedelta(days=1)) + timedelta(days=6)
        previous = (month_first - timedelta(days=1)).replace(day=1)
        following = next_month
        heading = f"{month_first:%B %Y}"
        month = month_first.month
    else:
        first = maintenance.week_start(anchor)
        last = first + timedelta(days=6)
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
        heading = f"Week of {first:%d %b %Y}"
        month = None
    start, _ = _day_bounds(first)
    _, end = _day_bounds(last)
    events = calendar_sources(start, end)
    days = _days(first, last, month, events)
    context = {
        "view": view,
        "heading": heading,
        "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
        "days": days,
        "anchor": anchor,
        "previous": previous,
        "following": following,
        "upcoming": maintenance.upcoming(days=60),
        "recurrences": MaintenanceRecurrence.objects.filter(enabled=True)
        .select_related("type", "owner")
        .prefetch_related("modules"),
        "types": MaintenanceType.objects.all(),
        "can_schedule": request.user.has_perm(maintenance.ADD),
        "title": "Maintenance",
    }
    if request.htmx:
        return render(request, "changes/maintenance/calendar.html#calendar-grid", context)
    return render(request, "changes/maintenance/calendar.html", context)


@login_required
def schedule(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(maintenance.ADD):
        raise PermissionDenied
    form = forms.WindowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            window = maintenance.schedule_window(
                request.user,
                type=data["type"],
                title=data["title"],
                start=data["start"],
                end=data["end"],
                modules=list(data["modules"]),
                activities=data["activities"],
                impact=data["impact"],
                availability_target=data["availability_target"],
                contact=data["contact"],
                emergency_reason=data["emergency_reason"],
            )
        except Refused as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.detail)
        else:
            messages.success(
                request,
                f"{window.number} scheduled: {window.get_status_display().lower()}.",
            )
            return redirect("maintenance:detail", pk=window.pk)
    context = {
        "form": form,
        "types": MaintenanceType.objects.all(),
        "title": "Schedule maintenance",
    }
    return render(
        request, "changes/maintenance/schedule.html", context, status=400 if form.errors else 200
    )


def _detail_context(request, window: MaintenanceWindow) -> dict:
    now = timezone.now()
    items = list(window.checklist.select_related("done_by"))
    phases = []
    for value, label in Phase.choices:
        group = [i for i in items if i.phase == value]
        for item in group:
            item.is_overdue = item.overdue(now)
        if group:
            phases.append({"key": value, "label": label, "items": group})
    criteria = [i.text for i in items if i.phase == Phase.ROLLBACK]
    reminders = list(window.reminders.all())
    queued = maintenance.deliveries(window)
    for reminder in reminders:
        # A regenerated step (the window moved) shows only what its own send queued.
        reminder.deliveries = [
            row
            for row in queued.get(maintenance.EVENT.format(reminder.key), [])
            if reminder.sent_at and row.created_at >= reminder.sent_at
        ]
    return {
        "window": window,
        "modules": list(window.modules.all()),
        "phases": phases,
        "reminders": reminders,
        "announcement_deliveries": queued.get(maintenance.ANNOUNCEMENT_EVENT, []),
        "changes": maintenance.carried_changes(window),
        "reschedule_form": forms.RescheduleForm(
            initial={
                "start": timezone.localtime(window.start),
                "end": timezone.localtime(window.end),
            }
        ),
        "evidence": maintenance.evidence(window),
        "rollback": getattr(window, "rollback", None),
        "rollback_form": forms.RollbackForm(criteria=criteria),
        "can_change": maintenance.can_change(request.user, window),
        "can_approve": maintenance.can_approve(request.user, window),
        "announcement_form": forms.AnnouncementForm(
            initial={"subject": window.announcement_subject, "body": window.announcement}
        ),
        "short_notice": window.short_notice(),
        "now": now,
        "title": window.number,
    }


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    window = _window(request, pk)
    context = _detail_context(request, window)
    if request.htmx and request.GET.get("fragment") == "body":
        return render(request, "changes/maintenance/detail.html#window-body", context)
    return render(request, "changes/maintenance/detail.html", context)


def _act(request, pk: int, action, may=maintenance.can_change) -> HttpResponse:
    """Run one service call for a POST; a refusal becomes a message on the window's page.
    Someone who may not act at all (`may(user, window)`: by default the change permission,
    Operator and above) is refused with a 403 before any form is read."""
    window = _window(request, pk)
    if not may(request.user, window):
        raise PermissionDenied
    try:
        text = action(window)
    except Refused as exc:
        messages.error(request, exc.detail)
    except PermissionDenied as exc:
        if not str(exc):
            raise
        messages.error(request, str(exc))
    else:
        if text:
            messages.success(request, text)
    return redirect("maintenance:detail", pk=window.pk)


@login_required
@require_POST
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda w: maintenance.approve_window(request.user, w.pk) and f"{w.number} approved.",
        may=maintenance.can_approve,
    )


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        pk,
        lambda w: (
            maintenance.cancel_window(request.user, w.pk, reason) and f"{w.number} cancelled."
        ),
        may=maintenance.owner_or_approver,
    )


@login_required
@require_POST
def reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    form = forms.RescheduleForm(request.POST)

    def action(window):
        if not form.is_valid():
            raise Refused(
                "Give the new start and end: "
                + " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()),
                400,
            )
        data = form.cleaned_data
        moved = maintenance.reschedule_window(
            request.user,
            window.pk,
            data["start"],
            data["end"],
            reason=data["reason"],
            emergency_reason=data["emergency_reason"] or None,
        )
        return f"{moved.number} moved: {moved.get_status_display().lower()}."

    return _act(request, pk, action, may=maintenance.owner_or_approver)


@login_required
@require_POST
def end(request: HttpRequest, pk: int) -> HttpResponse:
    def action(window):
        if not maintenance.can_change(request.user, window):
            raise PermissionDenied("You may not end maintenance windows.")
        ended = maintenance.end_window(window.pk, by=request.user)
        if ended is None:
            raise Refused("The window is not running.", code=409)
        return f"{window.number} ended; its silence has expired."

    return _act(request, pk, action)


@login_required
@require_POST
def announcement(request: HttpRequest, pk: int) -> HttpResponse:
    form = forms.AnnouncementForm(request.POST)

    def action(window):
        if not form.is_valid():
            raise Refused("The announcement needs a subject and a text.", 400)
        data = form.cleaned_data
        maintenance.edit_announcement(request.user, window.pk, data["subject"], data["body"])
        return "Announcement saved."

    return _act(request, pk, action)


@login_required
@require_POST
def send(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda w: maintenance.send_announcement(request.user, w.pk) and "Announcement sent.",
    )


@login_required
@require_POST
def tick(request: HttpRequest, pk: int, item: int) -> HttpResponse:
    form = forms.TickForm(request.POST)

    def action(window):
        if not window.checklist.filter(pk=item).exists():
            raise Http404
        form.is_valid()
        data = form.cleaned_data
        maintenance.tick_item(
            request.user, item, done=data.get("done", False), note=data.get("note", "")
        )
        return ""

    return _act(request, pk, action)


@login_required
@require_POST
def rollback(request: HttpRequest, pk: int) -> HttpResponse:
    def action(window):
        criteria = list(
            window.checklist.filter(phase=Phase.ROLLBACK).values_list("text", flat=True)
        )
        form = forms.RollbackForm(request.POST, criteria=criteria)
        if not form.is_valid():
            raise Refused("A rollback needs its reason, steps and verification.", 400)
        data = form.cleaned_data
        maintenance.record_rollback(
            request.user,
            window.pk,
            data["criteria"],
            data["reason"],
            data["steps"],
            data["verification"],
        )
        return "Rollback recorded."

    return _act(request, pk, action)


@login_required
def banner(request: HttpRequest) -> HttpResponse:
    """The banner fragment (re-fetched live by every page)."""
    return render(request, "changes/maintenance/partials/banner_content.html")


# --- public: status page and feed ---------------------------------------------------------------
PLAIN_STATUS = {
    "HEALTHY": "Operational",
    "DEGRADED": "Degraded performance",
    "UNHEALTHY": "Major outage",
    "UNKNOWN": "Status unknown",
}
PLAIN_PART = {
    "alpha": "Data ingestion",
    "beta": "Data transformation",
    "gamma": "Data delivery",
    "other": "Supporting services",
}
PLAIN_SEVERITY = {"P1": "Critical", "P2": "Major", "P3": "Minor", "P4": "Low-impact"}
PLAIN_PROGRESS = {
    "open": "We are aware of the issue and are looking into it.",
    "investigating": "We are investigating the cause.",
    "mitigating": "A fix is being applied.",
}


def _parts(modules) -> str:
    """Modules as parts of the service in plain words (never their names or addresses)."""
    return (
        ", ".join(sorted({PLAIN_PART.get(m.kind, PLAIN_PART["other"]) for m in modules}))
        or "the pipeline"
    )


def public_status(now=None) -> dict:
    """Only plain words: no hostnames, usernames, incident numbers, titles or notes."""
    from incidents.models import Incident
    from monitoring.models import Module, PipelineState

    state = PipelineState.objects.first()
    pipeline = state.status if state else "UNKNOWN"
    parts: dict[str, str] = {}
    for module in Module.objects.filter(enabled=True):
        label = PLAIN_PART.get(module.kind, PLAIN_PART["other"])
        # A part is as bad as its worst module.
        order = ["HEALTHY", "UNKNOWN", "DEGRADED", "UNHEALTHY"]
        current = parts.get(label, "HEALTHY")
        parts[label] = max(current, module.status, key=order.index)
    incidents = []
    for incident in (
        Incident.objects.filter(status__in=["open", "investigating", "mitigating"])
        .prefetch_related("affected_modules")
        .order_by("declared_at")
    ):
        incidents.append(
            {
                "severity": PLAIN_SEVERITY.get(incident.severity, "An"),
                "parts": _parts(incident.affected_modules.all()),
                "since": incident.declared_at,
                "progress": PLAIN_PROGRESS.get(incident.status, ""),
            }
        )
    windows = [
        {
            "type": w.type.name,
            "parts": _parts(w.modules.all()),
            "start": w.start,
            "end": w.end,
            "running": w.status == Status.IN_PROGRESS,
            "impact": w.impact,
            "availability": w.availability_target,
        }
        for w in maintenance.upcoming(now, days=30)
    ]
    return {
        "pipeline": PLAIN_STATUS.get(pipeline, "Status unknown"),
        "pipeline_key": pipeline,
        "parts": sorted((label, PLAIN_STATUS.get(s, s), s) for label, s in parts.items()),
        "incidents": incidents,
        "windows": windows,
    }


@login_not_required
def status(request: HttpRequest) -> HttpResponse:
    context = {**public_status(), "updated": timezone.now(), "title": "Pipeline status"}
    return render(request, "changes/maintenance/status.html", context)


@login_not_required
def feed(request: HttpRequest) -> HttpResponse:
    """The approved windows (30 days back, 180 ahead) as iCalendar, in the same plain words
    as the status page (calendar clients cannot sign in)."""
    now = timezone.now()
    cal = Calendar()
    cal.add("prodid", "-//Pipeline Ops Console//Maintenance//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Pipeline maintenance")
    windows = (
        MaintenanceWindow.objects.filter(
            status__in=(Status.APPROVED, Status.IN_PROGRESS, Status.COMPLETED),
            end__gt=now - timedelta(days=30),
            start__lt=now + timedelta(days=180),
        )
        .select_related("type")
        .prefetch_related("modules")
    )
    host = request.get_host().split(":")[0]
    for window in windows:
        event = Event()
        event.add("uid", f"maintenance-{window.pk}@{host}")
        event.add("summary", f"{window.type.name} maintenance: {_parts(window.modules.all())}")
        event.add("dtstart", window.start)
        event.add("dtend", window.end)
        event.add("dtstamp", window.updated_at)
        description = window.impact or "No impact expected."
        if window.availability_target:
            description += f"\nAvailability: {window.availability_target}"
        event.add("description", description)
        cal.add_component(event)
    response = HttpResponse(cal.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="maintenance.ics"'
    return response
