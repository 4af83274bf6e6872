"""Incident pages: list, declare, the war room and its actions, review, figures.

Every mutation is a POST calling one service; a refused action shows why (HTMX: a message
fragment; otherwise a flash message and a redirect back to the war room)."""

import time
from collections import defaultdict
from functools import wraps
from statistics import median

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST

from console import live
from console.errors import Refused
from console.permissions import visible

from . import forms, notify, services
from .filters import IncidentFilter
from .models import (
    Breach,
    Incident,
    Notification,
    Review,
    SeverityPolicy,
    Status,
)

PAGE_SIZE = 25
PRESENCE_TTL = 25  # seconds; pages beat every 10 s, so a missed beat does not drop anyone
DETAIL_FRAGMENTS = {
    "head": "incident-head",
    "timeline": "timeline",
    "people": "people",
    "deliveries": "deliveries",
    "modules": "modules-panel",
}


def _incidents(user):
    return visible(user, Incident.objects.all(), services.VIEW)


def _get(request: HttpRequest, number: str) -> Incident:
    return get_object_or_404(_incidents(request.user), number=number)


# --- list, declare ------------------------------------------------------------------------
@login_required
def index(request: HttpRequest) -> HttpResponse:
    incidents = _incidents(request.user)
    if not request.user.has_perm(services.VIEW) and not incidents.exists():
        raise PermissionDenied
    filterset = IncidentFilter(
        request.GET,
        queryset=incidents.select_related("commander").prefetch_related("affected_modules"),
    )
    rows = filterset.qs.distinct() if filterset.is_valid() else incidents.none()
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "can_declare": request.user.has_perm("incidents.add_incident"),
        "active_count": incidents.filter(
            status__in=[Status.OPEN, Status.INVESTIGATING, Status.MITIGATING]
        ).count(),
    }
    template = "incidents/index.html"
    if request.htmx and not request.htmx.boosted:
        template += "#incident-table"
    return render(request, template, context)


@login_required
def declare(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("incidents.add_incident"):
        raise PermissionDenied
    form = forms.DeclareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.declare(
                request.user,
                title=data["title"],
                severity=data["severity"],
                summary=data["summary"],
                impact=data["impact"],
                affected_modules=[m.name for m in data["affected_modules"]],
                detection_source=data["detection_source"],
                channel_url=data["channel_url"],
            )
        except Refused as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{incident.number} declared.")
            return redirect("incidents:detail", incident.number)
    policies = SeverityPolicy.objects.all()
    return render(request, "incidents/declare.html", {"form": form, "policies": policies})


# --- war room -----------------------------------------------------------------------------
def _shared_context(incident: Incident) -> dict:
    """What the war room shows everyone who may see the incident (no user in it)."""
    return {
        "incident": incident,
        "countdowns": incident.countdowns(),
        "timeline": incident.timeline.select_related(None).all(),
        "responders": incident.responders.select_related("user"),
        "escalations": incident.escalations.all(),
        "next_step": incident.next_step(),
        "deliveries": incident.notifications.exclude(kind=Notification.Kind.CONSOLE)[:30],
        "modules": incident.affected_modules.all(),
        "review": getattr(incident, "review", None),
        "statuses": Status,
        "topic": f"incident.{incident.pk}",
    }


def _detail_context(request: HttpRequest, incident: Incident) -> dict:
    return {
        **_shared_context(incident),
        "can_act": services.can_act(request.user, incident),
        "forms": {
            "resolve": forms.ResolveForm(),
            "severity": forms.SeverityForm(initial={"severity": incident.severity}),
            "escalate": forms.EscalateForm(),
            "note": forms.NoteForm(),
            "responder": forms.ResponderForm(),
        },
    }


# The war room's fragments that are the same for every watcher, pushed with the live message.
PUSHED_FRAGMENTS = ("timeline", "people", "deliveries")


def pushed_fragments(user, data: dict) -> str:
    """Live renderer of `incident.updated` on `incident.<pk>`: the timeline, people and
    delivery log, rendered once per message (cached by topic and sequence number) and sent to
    every open war room with `hx-swap-oob`. Before, each of N open pages re-fetched five
    fragments per update (a measured 30–54 s timeline lag with 50 pages and an update a
    second, bench/war_room.py). The user was checked when subscribing (incidents.apps
    _may_watch, the pages' rule); nothing in these fragments depends on who watches. The head
    (actions by role, the form's CSRF token) and other apps' panels still re-fetch."""
    topic = f"incident.{data.get('pk')}"
    if data.get("topic") != topic:
        return ""  # the same event on `overview`: the lists re-fetch
    key = f"incidents:pushed:{topic}:{data.get('seq')}"
    html = cache.get(key)
    if html is None:
        incident = Incident.objects.filter(pk=data["pk"]).first()
        if incident is None:
            return ""
        context = {**_shared_context(incident), "oob": True}
        html = "".join(
            render_to_string(f"incidents/detail.html#{DETAIL_FRAGMENTS[name]}", context)
            for name in PUSHED_FRAGMENTS
        )
        cache.set(key, html, 120)
    return html


@login_required
def detail(request: HttpRequest, number: str) -> HttpResponse:
    incident = _get(request, number)
    context = _detail_context(request, incident)
    fragment = DETAIL_FRAGMENTS.get(request.GET.get("fragment", ""))
    if request.htmx and fragment:
        return render(request, f"incidents/detail.html#{fragment}", context)
    return render(request, "incidents/detail.html", context)


def _action(view):
    """A war-room action: POST only, the incident looked up by number (404 if not visible),
    a refusal turned into a message that says why."""

    @login_required
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, number: str, *args, **kwargs):
        incident = _get(request, number)
        # The role before the form: a bystander is refused (403), not told what to fix.
        if not services.can_act(request.user, incident):
            raise PermissionDenied
        try:
            done = view(request, incident, *args, **kwargs)
        except Refused as exc:
            return _result(request, incident, exc.detail, ok=False, status=exc.code)
        return _result(request, incident, done or "Done.", ok=True)

    return wrapper


def _result(request, incident: Incident, text: str, ok: bool, status: int = 200):
    if request.htmx:
        # 200 so htmx swaps the message in; the fragments refresh on the live push (and on
        # this response's trigger, for when the socket is down).
        response = render(request, "incidents/partials/result_panel.html", {"text": text, "ok": ok})
        response["HX-Trigger"] = "incident-refresh"
        if not ok:
            response["X-Refused-Status"] = str(status)
        return response
    (messages.success if ok else messages.error)(request, text)
    return redirect("incidents:detail", incident.number)


def _form(form_class, request):
    form = form_class(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        raise Refused(errors or "Invalid input.", 400)
    return form.cleaned_data


@_action
def acknowledge(request, incident):
    services.acknowledge(request.user, incident.pk)
    return f"{incident.number} acknowledged."


@_action
def investigate(request, incident):
    services.move(request.user, incident.pk, Status.INVESTIGATING)
    return "Investigating."


@_action
def mitigate(request, incident):
    services.move(request.user, incident.pk, Status.MITIGATING)
    return "Mitigating."


@_action
def resolve(request, incident):
    summary = request.POST.get("resolution_summary", "")
    services.move(request.user, incident.pk, Status.RESOLVED, resolution_summary=summary)
    return "Resolved."


@_action
def close(request, incident):
    services.move(request.user, incident.pk, Status.CLOSED, reason=request.POST.get("reason", ""))
    return "Closed."


@_action
def reopen(request, incident):
    services.move(request.user, incident.pk, Status.INVESTIGATING)
    return "Reopened."


@_action
def severity(request, incident):
    data = _form(forms.SeverityForm, request)
    services.change_severity(request.user, incident.pk, data["severity"], data["reason"])
    return f"Severity is now {data['severity']}."


@_action
def escalate(request, incident):
    data = _form(forms.EscalateForm, request)
    escalation = services.escalate(request.user, incident.pk, data["trigger"], data["reason"])
    return f"Escalated to {escalation.role}."


@_action
def add_note(request, incident):
    services.add_note(request.user, incident.pk, _form(forms.NoteForm, request)["text"])
    return "Note added."


@_action
def add_responder(request, incident):
    data = _form(forms.ResponderForm, request)
    services.add_responder(request.user, incident.pk, data["user"], data["role"])
    return f"{data['user'].get_username()} added."


@_action
def update_modules(request, incident):
    services.update_modules(request.user, incident.pk, request.POST.getlist("modules"))
    return "Affected modules updated."


@_action
def confirm_data_loss(request, incident):
    services.confirm_data_loss(request.user, incident.pk, request.POST.get("detail", ""))
    return "Data loss confirmed; escalated."


@login_required
def post_update(request: HttpRequest, number: str) -> HttpResponse:
    """GET: the update template rendered for the commander to edit. POST: send it."""
    incident = _get(request, number)
    if not services.can_act(request.user, incident):
        raise PermissionDenied
    if request.method == "POST":
        form = forms.UpdateForm(request.POST)
        if form.is_valid():
            try:
                services.post_update(
                    request.user,
                    incident.pk,
                    form.cleaned_data["subject"],
                    form.cleaned_data["body"],
                )
            except Refused as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, "Update sent; the update clock starts again.")
                return redirect("incidents:detail", incident.number)
    else:
        subject, body = notify.render("update", incident)
        form = forms.UpdateForm(initial={"subject": subject, "body": body})
    return render(request, "incidents/update.html", {"incident": incident, "form": form})


@login_required
@require_POST
def presence(request: HttpRequest, number: str) -> HttpResponse:
    """Who is on this war room now: each open page beats every 10 s (POST: it writes)."""
    incident = _get(request, number)
    key = f"incidents:presence:{incident.pk}"
    now = time.time()
    seen = {u: t for u, t in (cache.get(key) or {}).items() if now - t < PRESENCE_TTL}
    arrived = request.user.get_username() not in seen
    seen[request.user.get_username()] = now
    cache.set(key, seen, PRESENCE_TTL * 2)
    if arrived:
        live.send_now(f"incident.{incident.pk}-presence", "incident.presence", {})
    return render(
        request,
        "incidents/partials/presence_panel.html",
        {"incident": incident, "present": sorted(seen)},
    )


# --- notifications (badge, toast) ---------------------------------------------------------
@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    unread = Notification.objects.filter(
        user=request.user, kind=Notification.Kind.CONSOLE, read_at__isnull=True
    ).select_related("incident")
    return render(
        request,
        "incidents/partials/inbox_panel.html",
        {"unread": unread[:8], "unread_count": unread.count()},
    )


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    services.mark_read(request.user)
    if request.htmx:
        return inbox(request)
    return redirect("incidents:index")


# --- review -------------------------------------------------------------------------------
def _prefill(incident: Incident) -> str:
    lines = [
        f"{timezone.localtime(e.at):%Y-%m-%d %H:%M:%S} {e.actor_name}: {e.text}"
        for e in incident.timeline.all()
    ]
    return "\n".join(lines)


def _emergency_changes(request: HttpRequest, incident: Incident) -> list:
    # Emergency changes are reviewed in their incident's review (001); changes owns the query.
    from changes.services import emergency_changes_for

    return emergency_changes_for(incident, request.user)


@login_required
def review(request: HttpRequest, number: str) -> HttpResponse:
    incident = _get(request, number)
    review = getattr(incident, "review", None)
    can_act = services.can_act(request.user, incident)
    if review is None:
        raise Http404("No review for this incident yet.")
    form = forms.ReviewForm(instance=review)
    if not review.timeline_reconstruction and not review.is_complete:
        form.initial["timeline_reconstruction"] = _prefill(incident)
    if request.method == "POST":
        if not can_act:
            raise PermissionDenied
        form = forms.ReviewForm(request.POST, instance=Review.objects.get(pk=review.pk))
        if form.is_valid():
            complete = "complete" in request.POST
            try:
                services.save_review(
                    request.user, incident.pk, form.cleaned_data, complete=complete
                )
            except Refused as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, "Review completed." if complete else "Review saved.")
                return redirect("incidents:review", incident.number)
    context = {
        "incident": incident,
        "review": review,
        "emergency_changes": _emergency_changes(request, incident),
        "form": form,
        "item_form": forms.ActionItemForm(),
        "can_act": can_act,
        "item_states": review.action_items.model.State.choices,
    }
    return render(request, "incidents/review.html", context)


@login_required
def review_report(request: HttpRequest, number: str) -> HttpResponse:
    incident = _get(request, number)
    review = getattr(incident, "review", None)
    if review is None:
        raise Http404("No review for this incident yet.")
    context = {
        "incident": incident,
        "review": review,
        "emergency_changes": _emergency_changes(request, incident),
        "escalations": incident.escalations.all(),
        "breaches": incident.breaches.all(),
    }
    return render(request, "incidents/review_report.html", context)


@_action
def start_review(request, incident):
    services.start_review(request.user, incident.pk)
    return "Review started."


@login_required
@require_POST
def add_action_item(request: HttpRequest, number: str) -> HttpResponse:
    incident = _get(request, number)
    if not services.can_act(request.user, incident):
        raise PermissionDenied
    form = forms.ActionItemForm(request.POST)
    if form.is_valid():
        try:
            services.add_action_item(request.user, incident.pk, **form.cleaned_data)
        except Refused as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, "Action item added.")
    else:
        messages.error(request, "Action item: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))  # fmt: skip
    return redirect("incidents:review", incident.number)


@login_required
@require_POST
def set_action_item(request: HttpRequest, number: str, item: int) -> HttpResponse:
    incident = _get(request, number)
    try:
        services.set_action_item_state(
            request.user, incident.pk, item, request.POST.get("state", "")
        )
    except Refused as exc:
        messages.error(request, exc.detail)
    return redirect("incidents:review", incident.number)


# --- figures ------------------------------------------------------------------------------
@login_required
def figures(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(services.VIEW):
        raise PermissionDenied
    return render(request, "incidents/figures.html", {"charts": CHARTS})


CHARTS = {
    "ack": "Time to acknowledge (median minutes, by week and severity)",
    "resolve": "Time to resolve (median hours, by week and severity)",
    "breaches": "Deadline breaches (by week and timer)",
}


def _week(at) -> str:
    local = timezone.localtime(at)
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def chart_data(name: str, incidents) -> dict:
    """A Plotly figure (data + layout) as plain JSON for plotly.js."""
    series: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    if name == "ack":
        for inc in incidents.filter(acknowledged_at__isnull=False):
            minutes = (inc.acknowledged_at - inc.declared_at).total_seconds() / 60
            series[inc.severity][_week(inc.declared_at)].append(minutes)
        unit = "minutes"
    elif name == "resolve":
        for inc in incidents.filter(resolved_at__isnull=False):
            hours = (inc.resolved_at - inc.declared_at).total_seconds() / 3600
            series[inc.severity][_week(inc.declared_at)].append(hours)
        unit = "hours"
    else:
        breaches = Breach.objects.filter(incident__in=incidents)
        for breach in breaches:
            series[breach.timer][_week(breach.due_at)].append(1)
        unit = "breaches"
    traces = []
    for label in sorted(series):
        weeks = sorted(series[label])
        values = [
            sum(series[label][w]) if name == "breaches" else round(median(series[label][w]), 2)
            for w in weeks
        ]
        kind = (
            {"type": "bar"} if name == "breaches" else {"type": "scatter", "mode": "lines+markers"}
        )
        traces.append({"name": label, "x": weeks, "y": values, **kind})
    layout = {
        "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        "yaxis": {"title": {"text": unit}, "rangemode": "tozero"},
        "xaxis": {"type": "category"},
        "barmode": "stack",
        "height": 300,
        "legend": {"orientation": "h"},
    }
    return {"data": traces, "layout": layout}


@login_required
def figures_chart(request: HttpRequest, name: str) -> HttpResponse:
    if not request.user.has_perm(services.VIEW):
        raise PermissionDenied
    if name not in CHARTS:
        raise Http404
    figure = chart_data(name, _incidents(request.user))
    return render(
        request,
        "incidents/partials/chart_panel.html",
        {
            "name": name,
            "title": CHARTS[name],
            "figure": figure,
            "chart_id": f"figure-data-{name}",
            "empty": not figure["data"],
        },
    )
