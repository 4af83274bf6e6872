"""Shift pages: my shift, the calendar and rota, checklists, the shift log, handoffs, the
on-call handoff log, the daily summary and the iCalendar feeds.

Every mutation is a POST calling one service; a refused action shows why (HTMX: a message
fragment; otherwise a flash message and a redirect back)."""

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.errors import Refused
from console.exports import csv_response
from incidents.models import Severity

from . import evidence, ical, services
from . import summary as daily
from .forms import HandoffStartForm, LogEntryForm, OverrideForm, RotaWeekForm, ShiftForm
from .models import (
    ChecklistRun,
    ChecklistTemplate,
    ChecklistTick,
    EscalationContact,
    Handoff,
    LogEntry,
    Notice,
    RotaGap,
    Shift,
)
from .oncall import Rota

CALENDAR_DAYS = 14
FEED_SALT = "shifts.ical"


def _require(request: HttpRequest, perm: str = services.VIEW) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _done(request, text: str, ok: bool, back: str, status: int = 200) -> HttpResponse:
    if request.htmx:
        response = render(
            request, "shifts/partials/result_panel.html", {"text": text, "ok": ok}, status=200
        )
        response["HX-Trigger"] = "shifts-refresh"
        if not ok:
            response["X-Refused-Status"] = str(status)
        return response
    (messages.success if ok else messages.error)(request, text)
    return redirect(back)


def _refused(request, perm: str, back: str) -> HttpResponse | None:
    """The role before the form: a refusal (403) for a role without `perm`, else None."""
    if request.user.has_perm(perm):
        return None
    return _done(request, "Your role may not do that.", False, back, 403)


def _act(request, back: str, action, ok_text) -> HttpResponse:
    """Call one service (`action()`) and answer with `ok_text` (or `ok_text(result)`), or with
    why it was refused: the refusal's status, 403 when the role may not."""
    try:
        result = action()
    except Refused as exc:
        return _done(request, exc.detail, False, back, exc.code)
    except PermissionDenied as exc:
        return _done(request, str(exc) or "Not allowed.", False, back, 403)
    return _done(request, ok_text(result) if callable(ok_text) else ok_text, True, back)


def _submit(request, form_class, back: str, service, ok_text: str, perm: str) -> HttpResponse:
    """A form posted to one service: a refusal for a role without `perm` (403), the form's
    errors (400), or `service(user, **cleaned_data)`."""
    if refused := _refused(request, perm, back):
        return refused
    form = form_class(request.POST)
    if not form.is_valid():
        return _done(request, _errors(form), False, back, 400)
    return _act(request, back, lambda: service(request.user, **form.cleaned_data), ok_text)


def _errors(form) -> str:
    return "; ".join(
        f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in form.errors.items()
    )


# --- my shift -------------------------------------------------------------------------------
def index(request: HttpRequest) -> HttpResponse:
    _require(request)
    now = timezone.now()
    today = timezone.localdate(now)
    user = request.user
    runs = {r.template_id: r for r in ChecklistRun.objects.filter(day=today)}
    checklists = []
    for template in ChecklistTemplate.objects.all():
        start, end = services.window(template, today)
        run = runs.get(template.pk)
        checklists.append(
            {
                "template": template,
                "run": run,
                "start": start,
                "end": end,
                "late": run.late(now) if run else now > end,
            }
        )
    context = {
        "now": now,
        "shift": services.current_shift(now, user=user),
        "on_shift": services.current_shift(now),
        "taken_over": services.latest_accepted_for(user),
        "notices": Notice.objects.filter(user=user).order_by("-created_at")[:10],
        "checklists": checklists,
        "upcoming": Shift.objects.filter(ends_at__gt=now, starts_at__lt=now + timedelta(days=2))
        .select_related("primary", "secondary")
        .order_by("starts_at")[:8],
        "open_log": LogEntry.objects.filter(status=LogEntry.Status.OPEN).count(),
        "my_handoffs": Handoff.objects.filter(Q(incoming=user) | Q(outgoing=user))
        .exclude(status=Handoff.Status.ACCEPTED)
        .select_related("outgoing", "incoming")
        .order_by("-created_at")[:10],
        "gaps": RotaGap.objects.filter(resolved_at__isnull=True, ends_at__gt=now)[:5],
    }
    if request.htmx and request.GET.get("fragment") == "board":
        return render(request, "shifts/index.html#board", context)
    return render(request, "shifts/index.html", context)


@require_POST
def notices_read(request: HttpRequest) -> HttpResponse:
    _require(request)
    services.mark_notices_read(request.user)
    return _done(request, "Notices marked read.", True, reverse("shifts:index"))


def oncall_badge(request: HttpRequest) -> HttpResponse:
    return render(request, "shifts/partials/oncall_badge.html")


# --- calendar and rota ----------------------------------------------------------------------
def _start(request) -> datetime:
    try:
        day = date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        day = timezone.localdate()
    return datetime.combine(day, datetime.min.time(), timezone.get_current_timezone())


def calendar(request: HttpRequest) -> HttpResponse:
    _require(request)
    start = _start(request)
    end = start + timedelta(days=CALENDAR_DAYS)
    rota = Rota(start, end)
    shifts = list(
        Shift.objects.filter(starts_at__lt=end, ends_at__gt=start)
        .select_related("primary", "secondary")
        .prefetch_related("overrides__user")
    )
    days = []
    for offset in range(CALENDAR_DAYS):
        day_start = start + timedelta(days=offset)
        day_end = day_start + timedelta(days=1)
        noon = day_start + timedelta(hours=12)
        primary, secondary, _ = rota.who(noon)
        days.append(
            {
                "day": day_start,
                "shifts": [s for s in shifts if s.starts_at < day_end and s.ends_at > day_start],
                "primary": primary,
                "secondary": secondary,
                "overrides": [
                    o for o in rota.overrides if o.starts_at < day_end and o.ends_at > day_start
                ],
                "gaps": [g for g in rota.gaps() if g[0] < day_end and g[1] > day_start],
            }
        )
    context = {
        "days": days,
        "start": start,
        "previous": (start - timedelta(days=7)).date(),
        "next": (start + timedelta(days=7)).date(),
        "weeks": rota.weeks,
        "contacts": EscalationContact.objects.select_related("user"),
        "gaps": RotaGap.objects.filter(resolved_at__isnull=True, ends_at__gt=timezone.now()),
        "can_plan": request.user.has_perm(services.MANAGE_SHIFTS),
        "can_rota": request.user.has_perm(services.MANAGE_ROTA),
        "shift_form": ShiftForm(),
        "rota_form": RotaWeekForm(),
        "override_form": OverrideForm(),
        "feed_url": request.build_absolute_uri(
            reverse("shifts:ical", args=[signing.dumps(request.user.pk, salt=FEED_SALT)])
        ),
    }
    if request.htmx and request.GET.get("fragment") == "grid":
        return render(request, "shifts/calendar.html#grid", context)
    return render(request, "shifts/calendar.html", context)


@require_POST
def shift_add(request: HttpRequest) -> HttpResponse:
    return _submit(
        request,
        ShiftForm,
        reverse("shifts:calendar"),
        services.create_shift,
        "Shift added.",
        services.MANAGE_SHIFTS,
    )


@require_POST
def rota_add(request: HttpRequest) -> HttpResponse:
    return _submit(
        request,
        RotaWeekForm,
        reverse("shifts:calendar"),
        services.add_rota_week,
        "On-call week added.",
        services.MANAGE_ROTA,
    )


@require_POST
def override_add(request: HttpRequest) -> HttpResponse:
    back = reverse("shifts:calendar")
    if refused := _refused(request, services.OVERRIDE, back):
        return refused
    form = OverrideForm(request.POST)
    if not form.is_valid():
        return _done(request, _errors(form), False, back, 400)
    data = dict(form.cleaned_data)
    shift_pk = data.pop("shift")
    shift = get_object_or_404(Shift, pk=shift_pk) if shift_pk else None
    return _act(
        request,
        back,
        lambda: services.add_override(request.user, shift=shift, **data),
        "Override set.",
    )


@require_POST
def shift_swap(request: HttpRequest) -> HttpResponse:
    back = reverse("shifts:calendar")
    try:
        first, second = (int(request.POST.get(k) or 0) for k in ("first", "second"))
    except ValueError:
        return _done(request, "Give two shift numbers.", False, back, 400)
    get_object_or_404(Shift, pk=first)
    get_object_or_404(Shift, pk=second)
    return _act(
        request, back, lambda: services.swap_shifts(request.user, first, second), "Shifts swapped."
    )


@login_not_required
def ical_feed(request: HttpRequest, token: str) -> HttpResponse:
    """A person's shifts, on-call weeks and overrides as iCalendar; the signed token in the URL
    is the credential (calendar clients cannot sign in)."""
    try:
        pk = signing.loads(token, salt=FEED_SALT)
    except signing.BadSignature:
        raise Http404 from None
    user = get_object_or_404(get_user_model(), pk=pk, is_active=True)
    body = ical.feed_for(user, request.build_absolute_uri(reverse("shifts:calendar")))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{user.get_username()}-shifts.ics"'
    return response


# --- checklists -----------------------------------------------------------------------------
def checklist(request: HttpRequest, key: str) -> HttpResponse:
    _require(request)
    template = get_object_or_404(ChecklistTemplate, key=key)
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = timezone.localdate()
    now = timezone.now()
    if request.GET.get("fragment") == "evidence":
        # One item's live evidence, re-fetched when monitoring publishes on `overview`.
        item = get_object_or_404(template.items, key=request.GET.get("item", ""))
        return render(
            request,
            "shifts/partials/evidence_live.html",
            {
                "item": item,
                "ev": evidence.for_item(item.evidence, now),
                "template_key": template.key,
                "live": bool(item.evidence),
            },
        )
    run = ChecklistRun.objects.filter(template=template, day=day).first()
    ticks = {}
    if run:
        ticks = {t.item_id: t for t in run.ticks.select_related("by", "incident")}
    items = []
    for item in template.items.all():
        tick = ticks.get(item.pk)
        items.append(
            {
                "item": item,
                "tick": tick,
                # Live evidence only while the item is open; a ticked item shows what was seen.
                "evidence": tick.evidence if tick else evidence.for_item(item.evidence, now),
            }
        )
    start, end = services.window(template, day)
    context = {
        "template": template,
        "day": day,
        "run": run,
        "items": items,
        "start": start,
        "end": end,
        "late": run.late(now) if run else now > end,
        # Ticks go to today's run: earlier days are shown as they were left.
        "can_tick": request.user.has_perm(services.TICK) and day == timezone.localdate(now),
        "can_declare": request.user.has_perm("incidents.add_incident"),
        "severities": Severity.choices,
    }
    if request.htmx and request.GET.get("fragment") == "items":
        return render(request, "shifts/checklist.html#items", context)
    return render(request, "shifts/checklist.html", context)


@require_POST
def checklist_tick(request: HttpRequest, key: str) -> HttpResponse:
    back = reverse("shifts:checklist", args=[key])

    def tick():
        run = services.start_checklist(request.user, key)
        services.tick(
            request.user,
            run.pk,
            int(request.POST.get("item") or 0),
            request.POST.get("result", ""),
            request.POST.get("note", ""),
        )

    try:
        return _act(request, back, tick, "Ticked.")
    except ValueError:
        return _done(request, "Choose an item.", False, back, 400)


@require_POST
def tick_incident(request: HttpRequest, pk: int) -> HttpResponse:
    if refused := _refused(request, "incidents.add_incident", reverse("shifts:index")):
        return refused
    row = get_object_or_404(ChecklistTick.objects.select_related("run__template"), pk=pk)
    back = reverse("shifts:checklist", args=[row.run.template.key])
    severity = request.POST.get("severity", "")
    if severity not in Severity.values:
        return _done(request, "Choose a severity.", False, back, 400)
    return _act(
        request,
        back,
        lambda: services.raise_incident(request.user, pk, severity),
        lambda incident: f"Incident {incident.number} declared.",
    )


# --- the shift log ------------------------------------------------------------------------
def log(request: HttpRequest) -> HttpResponse:
    _require(request)
    rows = LogEntry.objects.select_related("author", "incident", "closed_by")
    kind = request.GET.get("kind", "")
    if kind in LogEntry.Kind.values:
        rows = rows.filter(kind=kind)
    if request.GET.get("open"):
        rows = rows.filter(status=LogEntry.Status.OPEN)
    context = {
        "entries": rows[:200],
        "form": LogEntryForm(),
        "kinds": LogEntry.Kind.choices,
        "kind": kind,
        "can_write": request.user.has_perm(services.LOG),
        "required": {k: v for k, v in LogEntry.REQUIRED.items()},
    }
    if request.htmx and request.GET.get("fragment") == "entries":
        return render(request, "shifts/log.html#entries", context)
    return render(request, "shifts/log.html", context)


@require_POST
def log_add(request: HttpRequest) -> HttpResponse:
    return _submit(
        request,
        LogEntryForm,
        reverse("shifts:log"),
        services.add_log_entry,
        "Logged.",
        services.LOG,
    )


@require_POST
def log_close(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(LogEntry, pk=pk)
    return _act(
        request,
        reverse("shifts:log"),
        lambda: services.close_log_entry(request.user, pk),
        "Closed.",
    )


# --- handoffs -------------------------------------------------------------------------------
def _default_incoming(user, kind: str):
    now = timezone.now()
    if kind == Handoff.Kind.ONCALL:
        who = services.on_call_now(now)
        if who.until:
            following = services.on_call_now(who.until).primary
            if following and following.pk != user.pk:
                return following
        return None
    shift = services.current_shift(now, user=user)
    following = services.next_shift(shift) if shift else None
    if following:
        for person in following.people():
            if person.pk != user.pk:
                return person
    return None


def handoff_start(request: HttpRequest, kind: str = Handoff.Kind.SHIFT) -> HttpResponse:
    """GET: the form (incoming preselected from the next shift or rota week); POST: create the
    draft pre-filled from live state and open it."""
    _require(request)
    back = reverse("shifts:handoff_start" if kind == Handoff.Kind.SHIFT else "shifts:oncall_log")
    if request.method == "POST":
        if refused := _refused(request, services.HANDOFF, back):
            return refused
        form = HandoffStartForm(request.POST)
        if not form.is_valid():
            return _done(request, _errors(form), False, back, 400)
        try:
            handoff = services.start_handoff(
                request.user, incoming=form.cleaned_data["incoming"], kind=form.cleaned_data["kind"]
            )
        except Refused as exc:
            return _done(request, exc.detail, False, back, exc.code)
        except PermissionDenied as exc:
            return _done(request, str(exc), False, back, 403)
        return redirect("shifts:handoff", handoff.pk)
    incoming = _default_incoming(request.user, kind)
    form = HandoffStartForm(initial={"incoming": incoming, "kind": kind})
    handoffs = (
        Handoff.objects.filter(kind=kind)
        .select_related("outgoing", "incoming", "rota")
        .order_by("-created_at")[:50]
    )
    return render(
        request,
        "shifts/handoff_start.html",
        {
            "form": form,
            "kind": kind,
            "handoffs": handoffs,
            "can_start": request.user.has_perm(services.HANDOFF),
            "title": "On-call handoff log" if kind == Handoff.Kind.ONCALL else "Shift handoffs",
        },
    )


def oncall_log(request: HttpRequest) -> HttpResponse:
    return handoff_start(request, Handoff.Kind.ONCALL)


def handoff(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    obj = get_object_or_404(Handoff.objects.select_related("outgoing", "incoming", "shift"), pk=pk)
    user = request.user
    context = {
        "handoff": obj,
        "is_outgoing": user.pk == obj.outgoing_id,
        "is_incoming": user.pk == obj.incoming_id,
        "missing": obj.missing_verification(),
        "contacts": EscalationContact.objects.select_related("user"),
        "on_call": services.on_call_now(),
        "test_notice": obj.test_notice if user.pk == obj.incoming_id else None,
    }
    context["can_edit_out"] = context["is_outgoing"] and obj.status == Handoff.Status.DRAFT
    context["can_edit_in"] = context["is_incoming"] and obj.status != Handoff.Status.ACCEPTED
    if request.htmx and request.GET.get("fragment") == "status":
        return render(request, "shifts/handoff.html#status", context)
    return render(request, "shifts/handoff.html", context)


def _handoff_action(request: HttpRequest, pk: int, action, ok_text: str) -> HttpResponse:
    get_object_or_404(Handoff, pk=pk)
    return _act(request, reverse("shifts:handoff", args=[pk]), action, ok_text)


@require_POST
def handoff_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Autosave (hx-trigger on input): answers a small "saved at" note, or why it was not."""
    get_object_or_404(Handoff, pk=pk)
    fields = {k: request.POST.get(k) for k in Handoff.OUTGOING_FIELDS + Handoff.INCOMING_FIELDS}
    try:
        obj = services.save_draft(request.user, pk, fields)
    except Refused as exc:
        if not request.htmx:
            return _done(request, exc.detail, False, reverse("shifts:handoff", args=[pk]))
        response = render(request, "shifts/partials/draft_note.html", {"error": exc.detail})
        # As every other refusal to HTMX: say its status (the note is swapped in with 200).
        response["X-Refused-Status"] = str(exc.code)
        return response
    if not request.htmx:
        return _done(request, "Draft saved.", True, reverse("shifts:handoff", args=[pk]))
    return render(request, "shifts/partials/draft_note.html", {"saved_at": obj.updated_at})


@require_POST
def handoff_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    return _handoff_action(
        request, pk, lambda: services.refresh_state(request.user, pk), "Live state refreshed."
    )


@require_POST
def handoff_confirm(request: HttpRequest, pk: int, what: str) -> HttpResponse:
    return _handoff_action(
        request, pk, lambda: services.confirm(request.user, pk, what), "Confirmed."
    )


@require_POST
def handoff_test(request: HttpRequest, pk: int) -> HttpResponse:
    return _handoff_action(
        request,
        pk,
        lambda: services.send_test_notification(request.user, pk),
        "Test notification sent.",
    )


@require_POST
def handoff_received(request: HttpRequest, pk: int, notice: int) -> HttpResponse:
    return _handoff_action(
        request,
        pk,
        lambda: services.confirm_test_received(request.user, pk, notice),
        "Receipt confirmed.",
    )


@require_POST
def handoff_sign(request: HttpRequest, pk: int) -> HttpResponse:
    return _handoff_action(request, pk, lambda: services.sign(request.user, pk), "Signed.")


# --- the daily summary ----------------------------------------------------------------------
def summary(request: HttpRequest) -> HttpResponse:
    _require(request)
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = timezone.localdate()
    if day > timezone.localdate():
        day = timezone.localdate()
    report = daily.build(day)
    fmt = request.GET.get("format", "")
    if fmt == "csv":
        header, *rows = report.rows()
        return csv_response(f"operations-{day}.csv", header, rows)
    context = {
        "report": report,
        "day": day,
        "previous": day - timedelta(days=1),
        "next": day + timedelta(days=1) if day < timezone.localdate() else None,
    }
    if fmt == "print":
        response = render(request, "shifts/summary_print.html", context)
        response["Content-Disposition"] = f'attachment; filename="operations-{day}.html"'
        return response
    return render(request, "shifts/summary.html", context)
