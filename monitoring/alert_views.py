"""Alert pages: the Alerts page (active alerts live, history with filters), one alert, silences
(list, create — also "silence like this alert" — and expire), alert rules (list, edit,
disable/enable, test against the last hour), runbooks, and the war room's alerts panel with
link/unlink.

Reads need the model's view permission (a 403 otherwise); every change calls one service
(monitoring/silences.py, rules.py, alert_incidents.py) that checks, audits and publishes the
`alerts` topic after commit. Live: pages listen on `alerts` and re-fetch their fragments
through these same views (console/live.js), or poll while the socket is down.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import alert_incidents, alerting, rules, runbooks, silences
from .alert_forms import (
    AlertFilter,
    AlertRuleForm,
    MatcherFormSet,
    SilenceForm,
    matcher_initial,
    matcher_text,
)
from .models import Alert, AlertRule, AlertState, Module, Runbook, Silence

VIEW_ALERT = "monitoring.view_alert"
VIEW_SILENCE = "monitoring.view_silence"
ADD_SILENCE = "monitoring.add_silence"
CHANGE_SILENCE = "monitoring.change_silence"
VIEW_RULE = "monitoring.view_alertrule"
CHANGE_RULE = "monitoring.change_alertrule"
VIEW_RUNBOOK = "monitoring.view_runbook"
PAGE_SIZE = 25
ACTIVE_LIMIT = 500  # an alert storm still renders; the count says how many there are
LINKABLE_LIMIT = 50


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _decorate(alerts: list[Alert], now) -> list[Alert]:
    """Silenced/inhibited (derived now), and the runbook page each alert's rule names."""
    alerting.annotate(alerts, now)
    links = runbooks.index() if alerts else {}
    for alert in alerts:
        name = alert.rule.runbook if alert.rule_id else alert.annotations.get("runbook", "")
        alert.runbook_link = links.get(name) if name else None
        alert.runbook_name = name
    return alerts


def _board(now) -> dict:
    active = list(
        Alert.objects.filter(state__in=[AlertState.FIRING, AlertState.PENDING])
        .select_related("rule", "incident")
        .order_by("-active_since")[:ACTIVE_LIMIT]
    )
    _decorate(active, now)
    groups = {"firing": [], "pending": [], "silenced": [], "inhibited": []}
    for alert in active:
        if alert.silenced_by:
            groups["silenced"].append(alert)
        elif alert.inhibited:
            groups["inhibited"].append(alert)
        else:
            groups[alert.state].append(alert)
    return {"groups": groups, "active_count": len(active), "now": now}


# --- the Alerts page ----------------------------------------------------------------------


def alerts(request: HttpRequest) -> HttpResponse:
    """Active alerts (firing, pending, silenced, inhibited), live; then the filtered history."""
    _require(request, VIEW_ALERT)
    now = timezone.now()
    # A fragment is only ever asked for by htmx; a plain request (a pagination link copied
    # from a fragment's URL) gets the whole page.
    fragment = request.GET.get("fragment", "") if request.htmx else ""
    context: dict = {"nav_section": "alerts", "now": now}
    if fragment in ("", "board"):
        context.update(_board(now))
        context["can_silence"] = request.user.has_perm(ADD_SILENCE)
    if fragment in ("", "history"):
        filterset = AlertFilter(
            request.GET, queryset=Alert.objects.select_related("rule", "incident")
        )
        rows = (
            filterset.qs.order_by("-active_since") if filterset.is_valid() else Alert.objects.none()
        )
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        _decorate(list(page.object_list), now)
        context.update({"filter": filterset, "page": page})
    template = "monitoring/alerts.html"
    if request.htmx and fragment in ("board", "history"):
        template += f"#alert-{fragment}"
    return render(request, template, context)


def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, VIEW_ALERT)
    alert = get_object_or_404(Alert.objects.select_related("rule", "incident"), pk=pk)
    now = timezone.now()
    _decorate([alert], now)
    context = {
        "nav_section": "alerts",
        "alert": alert,
        "now": now,
        "silences": list(Silence.objects.filter(pk__in=alert.silenced_by)),
        "episodes": list(
            Alert.objects.filter(fingerprint=alert.fingerprint)
            .exclude(pk=alert.pk)
            .select_related("incident")
            .order_by("-active_since")[:20]
        ),
        "can_silence": request.user.has_perm(ADD_SILENCE),
    }
    if request.htmx and request.GET.get("fragment") == "detail":
        return render(request, "monitoring/alert_detail.html#alert-panel", context)
    return render(request, "monitoring/alert_detail.html", context)


# --- silences -----------------------------------------------------------------------------


def _silence_rows(now) -> dict:
    groups = {"active": [], "pending": [], "expired": []}
    current = list(Alert.objects.filter(state__in=[AlertState.FIRING, AlertState.PENDING]))
    for silence in Silence.objects.select_related("created_by").order_by("-ends_at")[:300]:
        silence.shown_state = silence.state(now)
        silence.matcher_texts = [matcher_text(m) for m in silence.matchers]
        silence.silencing = (
            sum(1 for a in current if silence.matches(a.labels))
            if silence.shown_state != "expired"
            else 0
        )
        groups[silence.shown_state].append(silence)
    return groups


def silence_list(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_SILENCE)
    now = timezone.now()
    context = {
        "nav_section": "alerts",
        "groups": _silence_rows(now),
        "now": now,
        "can_add": request.user.has_perm(ADD_SILENCE),
        "can_expire": request.user.has_perm(CHANGE_SILENCE),
    }
    if request.htmx and request.GET.get("fragment") == "table":
        return render(request, "monitoring/silences.html#silence-table", context)
    return render(request, "monitoring/silences.html", context)


def silence_add(request: HttpRequest) -> HttpResponse:
    """Create a silence; `?alert=<pk>` pre-fills the matchers with that alert's labels."""
    _require(request, ADD_SILENCE)
    source_alert = None
    initial: list[dict] = []
    if request.method != "POST" and request.GET.get("alert", "").isdigit():
        source_alert = Alert.objects.filter(pk=int(request.GET["alert"])).first()
        if source_alert is not None:
            initial = matcher_initial(source_alert.labels)
    form = SilenceForm(request.POST or None)
    formset = MatcherFormSet(request.POST or None, initial=initial or None, prefix="m")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        matchers = [m for m in (f.matcher() for f in formset.forms if f.is_valid()) if m]
        data = form.cleaned_data
        try:
            silence = silences.create_silence(
                request.user, matchers, data["starts_at"], data["ends_at"], data["comment"]
            )
        except silences.SilenceError as exc:
            field = {"endsAt": "ends_at", "comment": "comment", "startsAt": "starts_at"}.get(
                exc.field
            )
            form.add_error(field, str(exc))
        else:
            messages.success(request, f"Silence {silence.pk} created.")
            return redirect("monitoring:silences")
    status = 422 if request.method == "POST" else 200
    context = {
        "nav_section": "alerts",
        "form": form,
        "formset": formset,
        "source_alert": source_alert,
    }
    return render(request, "monitoring/silence_form.html", context, status=status)


@require_POST
def silence_expire(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, CHANGE_SILENCE)
    silence = get_object_or_404(Silence, pk=pk)
    try:
        silences.expire_silence(request.user, silence)
    except silences.SilenceError as exc:
        text, ok = str(exc), False
    else:
        text, ok = f"Silence {silence.pk} expired.", True
    if request.htmx:
        now = timezone.now()
        context = {
            "groups": _silence_rows(now),
            "now": now,
            "can_add": request.user.has_perm(ADD_SILENCE),
            "can_expire": True,
            "result": {"text": text, "ok": ok},
        }
        return render(request, "monitoring/silences.html#silence-table", context)
    (messages.success if ok else messages.error)(request, text)
    return redirect("monitoring:silences")


# --- alert rules --------------------------------------------------------------------------


def rule_list(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_RULE)
    active: dict[int, dict] = {}
    for rule_id, state in Alert.objects.filter(
        state__in=[AlertState.FIRING, AlertState.PENDING]
    ).values_list("rule_id", "state"):
        counts = active.setdefault(rule_id, {"firing": 0, "pending": 0})
        counts[state] += 1
    links = runbooks.index()
    rows = list(AlertRule.objects.all())
    for rule in rows:
        rule.active = active.get(rule.pk, {"firing": 0, "pending": 0})
        rule.runbook_link = links.get(rule.runbook)
    context = {"nav_section": "alerts", "rules": rows}
    if request.htmx and request.GET.get("fragment") == "table":
        return render(request, "monitoring/rules.html#rule-table", context)
    return render(request, "monitoring/rules.html", context)


def _rule_context(request: HttpRequest, rule: AlertRule, form=None) -> dict:
    now = timezone.now()
    current = list(
        Alert.objects.filter(rule=rule, state__in=[AlertState.FIRING, AlertState.PENDING])
        .select_related("rule", "incident")
        .order_by("-active_since")
    )
    _decorate(current, now)
    can_change = request.user.has_perm(CHANGE_RULE)
    return {
        "nav_section": "alerts",
        "rule": rule,
        "runbook_link": runbooks.find(rule.runbook),
        "current": current,
        "recent": list(
            Alert.objects.filter(rule=rule, state=AlertState.RESOLVED)
            .select_related("incident")
            .order_by("-resolved_at")[:10]
        ),
        "can_change": can_change,
        "form": form
        if form is not None
        else (AlertRuleForm(instance=rule) if can_change else None),
        "runbook_names": sorted(runbooks.index()),
        "now": now,
    }


def rule_detail(request: HttpRequest, name: str) -> HttpResponse:
    """A rule, its current alerts and recent episodes; its edit form (POST saves)."""
    _require(request, VIEW_RULE)
    rule = get_object_or_404(AlertRule, name=name)
    if request.method == "POST":
        _require(request, CHANGE_RULE)
        form = AlertRuleForm(request.POST, instance=AlertRule.objects.get(pk=rule.pk))
        if form.is_valid():
            rules.update_rule(request.user, rule.pk, **form.changes())
            messages.success(request, f"Rule {rule.name} saved.")
            return redirect("monitoring:rule", name=rule.name)
        rule.refresh_from_db()
        return render(
            request, "monitoring/rule_detail.html", _rule_context(request, rule, form), status=422
        )
    context = _rule_context(request, rule)
    if request.htmx and request.GET.get("fragment") == "state":
        return render(request, "monitoring/rule_detail.html#rule-state", context)
    return render(request, "monitoring/rule_detail.html", context)


@require_POST
def rule_enabled(request: HttpRequest, name: str) -> HttpResponse:
    _require(request, CHANGE_RULE)
    rule = get_object_or_404(AlertRule, name=name)
    enabled = request.POST.get("enabled") == "1"
    rules.set_enabled(request.user, rule.pk, enabled)
    messages.success(request, f"Rule {rule.name} {'enabled' if enabled else 'disabled'}.")
    return redirect("monitoring:rule", name=rule.name)


def rule_test(request: HttpRequest, name: str) -> HttpResponse:
    """What the rule (or the draft in `expr`/`for_seconds`) would have done over the last hour.
    A read: nothing is stored. Bad input is shown in the fragment, never a 500."""
    _require(request, VIEW_RULE)
    rule = get_object_or_404(AlertRule, name=name)
    expr = request.GET.get("expr")
    for_seconds = None
    raw_for = request.GET.get("for_seconds", "")
    error = ""
    if raw_for:
        try:
            for_seconds = int(raw_for)
            if not 0 <= for_seconds <= 7 * 24 * 3600:
                raise ValueError
        except ValueError:
            error = "The duration must be a whole number of seconds, at most a week."
    result = None
    if not error:
        result = rules.test_rule(rule, expr=expr, for_seconds=for_seconds)
        error = result.error
    context = {
        "rule": rule,
        "result": result,
        "error": error,
        "draft": expr is not None and expr.strip() != rule.expr,
        "chart": result.chart() if result and not error else None,
    }
    return render(request, "monitoring/rule_detail.html#rule-test", context)


# --- runbooks -----------------------------------------------------------------------------


def runbook_list(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_RUNBOOK)
    rows = list(Runbook.objects.all())
    used: dict[str, list[str]] = {}
    for rule_name, runbook_name in AlertRule.objects.values_list("name", "runbook"):
        used.setdefault(runbook_name, []).append(rule_name)
    for runbook in rows:
        names = [runbook.slug, *(runbook.aliases or {})]
        runbook.rules = sorted({r for n in names for r in used.get(n, [])})
    context = {
        "nav_section": "alerts",
        "procedures": [r for r in rows if r.kind == Runbook.Kind.PROCEDURE],
        "scenarios": [r for r in rows if r.kind == Runbook.Kind.SCENARIO],
    }
    return render(request, "monitoring/runbooks.html", context)


def runbook_detail(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, VIEW_RUNBOOK)
    runbook = get_object_or_404(Runbook, slug=slug)
    names = [runbook.slug, *(runbook.aliases or {})]
    blocks = runbooks.blocks(runbook.body)
    context = {
        "nav_section": "alerts",
        "runbook": runbook,
        "blocks": blocks,
        "sections": [b for b in blocks if b["kind"] == "heading"],
        "rules": list(AlertRule.objects.filter(runbook__in=names)),
        "can_admin": request.user.has_perm("monitoring.change_runbook"),
        "guided_actions": guided_actions(runbook),
        "is_jobs_runbook": runbook.slug == "runbook-f",
    }
    return render(request, "monitoring/runbook.html", context)


def guided_actions(runbook: Runbook) -> list[dict]:
    """The runbook actions (issue 10) that carry out this runbook's steps, per module: an
    action cites its step ("001 Runbook A.3"), so Runbook A lists the actions citing it."""
    from . import actions

    if not runbook.slug.startswith("runbook-"):
        return []
    cite = f"Runbook {runbook.slug.removeprefix('runbook-').upper()}"
    modules = list(Module.objects.filter(enabled=True).order_by("name"))
    return [
        {"title": action.title, "key": action.key, "module": module.name, "cites": action.runbook}
        for action in actions.ACTIONS.values()
        if cite in action.runbook
        for module in modules
        if action.applies_to(module)
    ]


# --- the war room's alerts panel ----------------------------------------------------------


def _incident(request: HttpRequest, number: str):
    from incidents import services as incident_services
    from incidents.models import Incident

    incident = Incident.objects.filter(number=number).first()
    if incident is None or not incident_services.can_view(request.user, incident):
        raise Http404("No such incident.")
    return incident


def _panel(request: HttpRequest, incident, result: dict | None = None, status: int = 200):
    from incidents import services as incident_services

    now = timezone.now()
    linked = list(
        Alert.objects.filter(incident=incident).select_related("rule").order_by("-active_since")
    )
    _decorate(linked, now)
    can_act = incident_services.can_act(request.user, incident) and incident.is_active
    linkable = []
    if can_act:
        linkable = list(
            Alert.objects.filter(state=AlertState.FIRING, incident__isnull=True).order_by(
                "-active_since"
            )[:LINKABLE_LIMIT]
        )
    context = {
        "incident": incident,
        "linked": linked,
        "linkable": linkable,
        "can_act": can_act,
        "result": result,
        "now": now,
    }
    return render(
        request,
        "monitoring/partials/incident_alerts_panel.html#incident-alerts",
        context,
        status=status,
    )


def incident_alerts(request: HttpRequest, number: str) -> HttpResponse:
    _require(request, VIEW_ALERT)
    return _panel(request, _incident(request, number))


def _act_on_incident(request: HttpRequest, number: str):
    from incidents import services as incident_services

    _require(request, VIEW_ALERT)
    incident = _incident(request, number)
    if not incident_services.can_act(request.user, incident):
        raise PermissionDenied
    return incident


@require_POST
def incident_alert_link(request: HttpRequest, number: str) -> HttpResponse:
    incident = _act_on_incident(request, number)
    raw = request.POST.get("alert", "")
    alert = Alert.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if not incident.is_active:
        result, status = {"text": f"{incident.number} is no longer active.", "ok": False}, 409
    elif alert is None:
        result, status = {"text": "Pick an alert to link.", "ok": False}, 400
    elif alert.state != AlertState.FIRING:
        result, status = {"text": f"Alert {alert.name} is not firing.", "ok": False}, 409
    else:
        try:
            alert_incidents.link(request.user, alert, incident)
        except alert_incidents.LinkRefused as exc:
            result, status = {"text": str(exc), "ok": False}, 409
        else:
            result, status = {"text": f"Alert {alert.name} linked.", "ok": True}, 200
    return _finish(request, incident, result, status)


@require_POST
def incident_alert_unlink(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    incident = _act_on_incident(request, number)
    alert = get_object_or_404(Alert, pk=pk, incident=incident)
    if not incident.is_active:  # a finished incident's alerts are its record
        text = f"{incident.number} is no longer active."
        return _finish(request, incident, {"text": text, "ok": False}, 409)
    alert_incidents.unlink(request.user, alert, incident)
    return _finish(request, incident, {"text": f"Alert {alert.name} unlinked.", "ok": True}, 200)


def _finish(request: HttpRequest, incident, result: dict, status: int) -> HttpResponse:
    if request.htmx:
        # 200 so that htmx swaps the panel (and its message) in even when refused.
        response = _panel(request, incident, result)
        if status != 200:
            response["X-Refused-Status"] = str(status)
        return response
    (messages.success if result["ok"] else messages.error)(request, result["text"])
    response = redirect("incidents:detail", incident.number)
    return response
