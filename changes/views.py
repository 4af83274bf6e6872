"""Change pages: list, raise and edit, the change page and its actions, the CAB page, the
weekly change review, freezes, and the war room's recent-changes panel.

Every mutation is a POST calling one service; a refused action shows why (HTMX: a message
fragment; otherwise a flash message and a redirect back to the change)."""

from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from console import roles
from console.errors import Refused
from incidents.models import Incident
from incidents.services import can_act as can_act_incident
from incidents.services import can_view as can_view_incident
from monitoring.models import Module

from . import forms, services
from .models import (
    FINISHED,
    ApprovalLevel,
    Change,
    ChangeEvent,
    ChangePolicy,
    ChangeType,
    Freeze,
    Risk,
    Status,
)

PAGE_SIZE = 25
DETAIL_FRAGMENTS = {"head": "change-head", "timeline": "timeline", "side": "change-side"}


def _require_view(user) -> None:
    if not services.can_view(user):
        raise PermissionDenied


def _get(request: HttpRequest, number: str) -> Change:
    _require_view(request.user)
    return get_object_or_404(Change.objects.select_related("requester"), number=number)


# --- list, raise, edit ----------------------------------------------------------------------
@login_required
def index(request: HttpRequest) -> HttpResponse:
    _require_view(request.user)
    rows = Change.objects.select_related("requester").prefetch_related("affected_modules")
    status, kind, risk = (request.GET.get(k, "") for k in ("status", "type", "risk"))
    module, q = request.GET.get("module", ""), request.GET.get("q", "").strip()
    if status in Status.values:
        rows = rows.filter(status=status)
    if kind in ChangeType.values:
        rows = rows.filter(type=kind)
    if risk in Risk.values:
        rows = rows.filter(risk=risk)
    if module:
        rows = rows.filter(affected_modules__name=module).distinct()
    if q:
        rows = rows.filter(Q(number__icontains=q) | Q(title__icontains=q))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "statuses": Status.choices,
        "types": ChangeType.choices,
        "risks": Risk.choices,
        "modules": Module.objects.order_by("name").values_list("name", flat=True),
        "current": {"status": status, "type": kind, "risk": risk, "module": module, "q": q},
        "can_create": request.user.has_perm(services.ADD),
        "agenda_count": services.cab_agenda().count(),
        "overdue": Change.objects.filter(next_due_at__lte=timezone.now()).count(),
    }
    template = "changes/index.html"
    if request.htmx and not request.htmx.boosted:
        template += "#change-table"
    return render(request, template, context)


def _form_kwargs(data: dict) -> dict:
    data = dict(data)
    data["affected_modules"] = [m.name for m in data.pop("affected_modules", [])]
    return data


@login_required
def create(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(services.ADD):
        raise PermissionDenied
    initial = {}
    incident_number = request.GET.get("incident", "")
    if incident_number:
        initial["type"] = ChangeType.EMERGENCY
    form = forms.ChangeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = _form_kwargs(form.cleaned_data)
        incident = None
        number = request.POST.get("incident", "")
        if number:
            incident = Incident.objects.filter(number=number).first()
        try:
            change = services.create(request.user, incident=incident, **data)
        except Refused as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{change.number} raised as a draft.")
            return redirect("changes:detail", change.number)
    context = {
        "form": form,
        "levels": ApprovalLevel.objects.all(),
        "matrix": _matrix(),
        "incident_number": incident_number,
    }
    return render(request, "changes/form.html", context)


@login_required
def edit(request: HttpRequest, number: str) -> HttpResponse:
    change = _get(request, number)
    if not services.can_act(request.user, change):
        raise PermissionDenied
    form = forms.ChangeForm(request.POST or None, instance=change)
    form.fields["type"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = _form_kwargs(form.cleaned_data)
        data.pop("type", None)
        data.pop("template", None)
        try:
            services.update(request.user, change.pk, **data)
        except Refused as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{change.number} saved.")
            return redirect("changes:detail", change.number)
    context = {
        "form": form,
        "change": change,
        "levels": ApprovalLevel.objects.all(),
        "matrix": _matrix(),
    }
    return render(request, "changes/form.html", context)


def _matrix() -> list[dict]:
    from .models import RiskCell

    cells = {(c.impact, c.likelihood): c for c in RiskCell.objects.all()}
    return [
        {"impact": impact, "cells": [cells.get((impact, lk)) for lk in ("low", "medium", "high")]}
        for impact in ("low", "medium", "high")
    ]


# --- the change page ------------------------------------------------------------------------
def _detail_context(request: HttpRequest, change: Change) -> dict:
    user = request.user
    policy = ChangePolicy.current()
    modules = list(change.affected_modules.all())
    state = None
    if change.round and change.status in (Status.CAB_REVIEW, Status.APPROVED, Status.REJECTED):
        try:
            state = services.approval_state(change)
        except Refused:
            state = None
    checklist = list(change.checklist.select_related("done_by"))
    events = list(change.events.all())
    return {
        "change": change,
        "modules": modules,
        "can_act": services.can_act(user, change),
        "is_requester": user.pk == change.requester_id,
        "can_review": roles.at_least(user, policy.reviewer_role),
        "can_override": roles.at_least(user, policy.override_role),
        "is_cab": roles.has_role(user, roles.CAB),
        "state": state,
        "approvals": change.approvals.select_related("user").order_by("-round", "at"),
        "revisions": change.revisions.all(),
        "checklist": checklist,
        "checklist_open": sum(1 for i in checklist if not i.done_at),
        "events": events,
        "log": [e for e in events if e.kind in ChangeEvent.LOG_KINDS],
        "incidents": services.incidents_after(change),
        "caused": {link.incident_id: link for link in change.incident_links.all()},
        "triggers": policy.rollback_triggers,
        "policy": policy,
        "statuses": Status,
        "finished": change.status in FINISHED,
        "forms": {
            "schedule": forms.ScheduleForm(
                initial={"start": change.planned_start, "end": change.planned_end}
            ),
            "decision": forms.DecisionForm(),
            "verbal": forms.VerbalForm(role=policy.verbal_approver_role),
            "rollback": forms.RollbackForm(triggers=policy.rollback_triggers),
            "pir": forms.PirForm(),
            "log": forms.LogForm(),
        },
        "topic": f"change.{change.pk}",
    }


@login_required
def detail(request: HttpRequest, number: str) -> HttpResponse:
    change = _get(request, number)
    context = _detail_context(request, change)
    fragment = DETAIL_FRAGMENTS.get(request.GET.get("fragment", ""))
    if request.htmx and fragment:
        return render(request, f"changes/detail.html#{fragment}", context)
    return render(request, "changes/detail.html", context)


def _action(view, acting: bool = False):
    """An action on a change: POST only, the change looked up by number, a refusal (rules or
    role) turned into a message that says why. `acting`: only the change's actors take it
    (services.can_act), checked before the form so a bystander is refused (403), not told
    what to fill in."""

    @login_required
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, number: str, *args, **kwargs):
        change = _get(request, number)
        back = reverse("changes:detail", args=[change.number])
        if acting and not services.can_act(request.user, change):
            text = f"Only the requester, the implementer or an Operations Lead acts on {number}."
            return _result(request, back, text, ok=False, status=403)
        return _answer(request, back, lambda: view(request, change, *args, **kwargs))

    return wrapper


def _acting(view):
    return _action(view, acting=True)


def _answer(request, back: str, action) -> HttpResponse:
    """Run `action()`, which returns what to tell the user; a refusal (rules or role) is
    answered with why, and the status the API would give in `X-Refused-Status`."""
    try:
        done = action()
    except Refused as exc:
        return _result(request, back, exc.detail, ok=False, status=exc.code)
    except PermissionDenied as exc:
        return _result(request, back, str(exc) or "Not allowed.", ok=False, status=403)
    return _result(request, back, done or "Done.", ok=True)


def _result(request, back: str, text: str, ok: bool, status: int = 200):
    if request.htmx:
        response = render(request, "changes/partials/result_panel.html", {"text": text, "ok": ok})
        if ok:
            # Refresh the fragments now (the live push does too, but the socket may be down).
            # A refusal changed nothing: the forms keep what the user typed.
            response["HX-Trigger"] = "change-refresh"
        else:
            response["X-Refused-Status"] = str(status)
        return response
    (messages.success if ok else messages.error)(request, text)
    return redirect(back)


def _form(form_class, request, **kwargs):
    form = form_class(request.POST, **kwargs)
    if not form.is_valid():
        errors = "; ".join(
            f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in form.errors.items()
        )
        raise Refused(errors or "Invalid input.", 400)
    return form.cleaned_data


@_action
def submit(request, change):
    change = services.submit(request.user, change.pk)
    return f"{change.number} submitted ({change.get_status_display()})."


@_action
def begin_review(request, change):
    services.begin_review(request.user, change.pk)
    return "Technical review started."


@_action
def review(request, change):
    reviewer = ChangePolicy.current().reviewer_role
    if not roles.at_least(request.user, reviewer):  # the role before the form
        raise PermissionDenied(f"The technical review takes a {reviewer} or above.")
    data = _form(forms.ReviewForm, request)
    change = services.review(
        request.user, change.pk, passed=data["passed"], comment=data["comment"]
    )
    return f"Technical review recorded: {change.get_status_display()}."


@_action
def decide(request, change):
    data = _form(forms.DecisionForm, request)
    change = services.decide(request.user, change.pk, data["decision"], data["comment"])
    return f"Your {data['decision']} is recorded; {change.number} is {change.get_status_display()}."


@_action
def revise(request, change):
    services.revise(request.user, change.pk)
    return "Back to draft: revise and resubmit."


@_acting
def verbal(request, change):
    policy = ChangePolicy.current()
    data = _form(forms.VerbalForm, request, role=policy.verbal_approver_role)
    services.record_verbal_approval(request.user, change.pk, data["approver"], data["note"])
    hours = policy.formal_request_hours
    return f"Verbal approval recorded; the formal request is due within {hours} h."


@_action
def formal(request, change):
    services.complete_formal_request(request.user, change.pk)
    return "Formal change request completed."


@_acting
def schedule(request, change):
    data = _form(forms.ScheduleForm, request)
    services.schedule(request.user, change.pk, data["start"], data["end"], data["override_reason"])
    return "Scheduled."


@login_required
def conflicts(request: HttpRequest, number: str) -> HttpResponse:
    """Preview the conflicts of a window (GET, changes nothing)."""
    change = _get(request, number)
    form = forms.ScheduleForm(request.GET)
    found, error = [], ""
    if form.is_valid():
        found = services.find_conflicts(
            change, form.cleaned_data["start"], form.cleaned_data["end"]
        )
    else:
        error = "Give a start and an end."
    return render(
        request,
        "changes/partials/conflicts_panel.html",
        {"conflicts": found, "error": error, "checked": True},
    )


@_action
def checklist(request, change, item: int):
    done = request.POST.get("done") == "1"
    line = services.set_checklist_item(request.user, change.pk, item, done)
    return f"{'Checked' if done else 'Unchecked'}: {line.text}"


@_action
def start(request, change):
    services.start(request.user, change.pk)
    return "Implementation started."


@_acting
def add_log(request, change):
    data = _form(forms.LogForm, request)
    services.add_log_entry(request.user, change.pk, data["kind"], data["text"])
    return "Logged."


@_action
def complete(request, change):
    data = _form(forms.CompleteForm, request)
    services.complete(request.user, change.pk, data["note"])
    return "Completed. The post-implementation review is due within 24 hours."


@_acting
def fail(request, change):
    data = _form(forms.FailForm, request)
    services.fail(request.user, change.pk, data["reason"])
    return "Marked as failed."


@_acting
def rollback(request, change):
    policy = ChangePolicy.current()
    data = _form(forms.RollbackForm, request, triggers=policy.rollback_triggers)
    services.rollback(request.user, change.pk, data["reason"], data["outcome"], data["trigger"])
    return "Rolled back."


@_acting
def pir(request, change):
    data = _form(forms.PirForm, request)
    services.record_review(request.user, change.pk, **data)
    return "Post-implementation review recorded."


@_action
def close(request, change):
    services.close(request.user, change.pk)
    return "Closed."


def _incident(number: str, user) -> Incident:
    incident = Incident.objects.filter(number=number.strip()).first()
    if incident is None or not can_view_incident(user, incident):
        raise Refused(f"No incident {number}.", 400)
    return incident


@_action
def mark_caused(request, change):
    data = _form(forms.CauseForm, request)
    incident = _incident(data["incident"], request.user)
    services.mark_caused(request.user, change.pk, incident, data["note"])
    return f"{incident.number} marked as caused by {change.number}."


@_action
def unmark_caused(request, change):
    incident = _incident(request.POST.get("incident", ""), request.user)
    services.unmark_caused(request.user, change.pk, incident)
    return f"{incident.number} is no longer marked as caused by {change.number}."


# --- CAB ----------------------------------------------------------------------------------
@login_required
def cab(request: HttpRequest) -> HttpResponse:
    _require_view(request.user)
    agenda = list(services.cab_agenda())
    items = []
    for change in agenda:
        state = services.approval_state(change)
        mine = next((a for a in state["votes"] if a.user_id == request.user.pk), None)
        if state["role_decision"] and state["role_decision"].user_id == request.user.pk:
            mine = state["role_decision"]
        items.append({"change": change, "state": state, "mine": mine})
    may_record = services.may_record_minutes(request.user)
    form = forms.MinutesForm(
        initial={"held_at": timezone.localtime().replace(second=0, microsecond=0)},
        changes=Change.objects.filter(
            Q(status=Status.CAB_REVIEW) | Q(approved_at__gte=timezone.now() - timedelta(days=14))
        ),
    )
    from .models import CabMeeting

    context = {
        "items": items,
        "is_cab": roles.has_role(request.user, roles.CAB),
        "may_record": may_record,
        "form": form,
        "meetings": CabMeeting.objects.prefetch_related("attendees", "changes")[:20],
        "members": services.cab_members(),
    }
    template = "changes/cab.html"
    if request.htmx and request.GET.get("fragment") == "agenda":
        template += "#agenda"
    return render(request, template, context)


@login_required
@require_POST
def cab_minutes(request: HttpRequest) -> HttpResponse:
    _require_view(request.user)
    if not services.may_record_minutes(request.user):  # the role before the form: 403
        raise PermissionDenied
    form = forms.MinutesForm(request.POST, changes=Change.objects.all())
    if not form.is_valid():
        messages.error(request, "The minutes need a time and some text.")
        return redirect("changes:cab")
    data = form.cleaned_data
    try:
        services.record_minutes(
            request.user,
            held_at=data["held_at"],
            minutes=data["minutes"],
            attendees=list(data["attendees"]),
            changes=list(data["changes"]),
        )
    except (Refused, PermissionDenied) as exc:
        messages.error(request, getattr(exc, "detail", None) or str(exc))
    else:
        messages.success(request, "Minutes recorded.")
    return redirect("changes:cab")


@login_required
@require_POST
def cab_vote(request: HttpRequest, number: str) -> HttpResponse:
    """A vote from the CAB page: same service as the change page, back to the agenda."""
    change = _get(request, number)

    def vote():
        data = _form(forms.DecisionForm, request)
        decided = services.decide(request.user, change.pk, data["decision"], data["comment"])
        return f"Vote recorded; {decided.number} is {decided.get_status_display()}."

    return _answer(request, reverse("changes:cab"), vote)


# --- weekly review ------------------------------------------------------------------------
def _week(request) -> tuple:
    day = parse_date(request.GET.get("week", "") or "") or timezone.localdate()
    return services.week_start(day)


@login_required
def weekly(request: HttpRequest) -> HttpResponse:
    _require_view(request.user)
    start = _week(request)
    figures = services.weekly_figures(start)
    context = {
        "figures": figures,
        "previous": (start - timedelta(days=7)).date(),
        "next": (start + timedelta(days=7)).date(),
        "week": start.date(),
        "last_day": (start + timedelta(days=6)).date(),
    }
    return render(request, "changes/weekly.html", context)


@login_required
def weekly_chart(request: HttpRequest) -> JsonResponse:
    """The last eight weeks' outcomes, success rate and emergency share (Plotly traces)."""
    _require_view(request.user)
    start = _week(request)
    weeks = [services.weekly_figures(start - timedelta(days=7 * i)) for i in range(7, -1, -1)]
    labels = [f"{w['start']:%d %b}" for w in weeks]
    outcome = [
        {"type": "bar", "name": "Succeeded", "x": labels, "y": [w["succeeded"] for w in weeks]},
        {"type": "bar", "name": "Rolled back", "x": labels, "y": [w["rolled_back"] for w in weeks]},
        {"type": "bar", "name": "Failed", "x": labels, "y": [w["failed"] for w in weeks]},
    ]
    rates = [
        {"type": "scatter", "mode": "lines+markers", "name": "Success rate %", "x": labels,
         "y": [w["success_rate"] for w in weeks]},
        {"type": "scatter", "mode": "lines+markers", "name": "Emergency share %", "x": labels,
         "y": [w["emergency_share"] for w in weeks]},
        {"type": "scatter", "mode": "lines+markers", "name": "Rollback rate %", "x": labels,
         "y": [w["rollback_rate"] for w in weeks]},
    ]  # fmt: skip
    this = weeks[-1]["by_risk"]
    risk = [{"type": "bar", "name": "This week by risk", "x": list(this), "y": list(this.values())}]
    return JsonResponse(
        {
            "outcomes": {
                "data": outcome,
                "layout": {"barmode": "stack", "title": {"text": "Outcomes per week"}},
            },
            "rates": {
                "data": rates,
                "layout": {"title": {"text": "Rates per week"}, "yaxis": {"range": [0, 100]}},
            },
            "risk": {"data": risk, "layout": {"title": {"text": "Finished this week by risk"}}},
        }
    )


# --- freezes, calendar, war room panel ----------------------------------------------------
@login_required
def freezes(request: HttpRequest) -> HttpResponse:
    _require_view(request.user)
    rows = Freeze.objects.prefetch_related("modules").filter(
        ends_at__gte=timezone.now() - timedelta(days=30)
    )
    return render(request, "changes/freezes.html", {"freezes": rows, "now": timezone.now()})


@login_required
def incident_changes(request: HttpRequest, number: str) -> HttpResponse:
    """The war room's panel: changes on the incident's modules in the 24 h before detection,
    with the "caused by this change" mark for responders."""
    incident = get_object_or_404(Incident, number=number)
    if not can_view_incident(request.user, incident) or not services.can_view(request.user):
        raise PermissionDenied
    context = {
        "incident": incident,
        "recent": services.changes_before(incident),
        "caused": set(incident.change_links.values_list("change_id", flat=True)),
        "can_mark": can_act_incident(request.user, incident),
        "hours": ChangePolicy.current().incident_lookback_hours,
    }
    return render(request, "changes/partials/incident_changes_panel.html", context)
