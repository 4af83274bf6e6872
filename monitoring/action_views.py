"""Runbook action pages (001 Runbooks A–E): the list of modules and their actions with recent
runs and degraded mode; one guided page per action (what it does, its impact, the pre-check
live from the module, a confirmation); and the run itself. monitoring.actions decides."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.errors import Refused
from console.exports import defuse_csv

from . import actions, degraded
from .models import ActionRun, Module
from .module_admin import call

VIEW = "monitoring.view_actionrun"
# What a target-taking action lists to choose from: (admin path, list key, id key).
TARGET_LISTS = {
    "source": ("/admin/sources", "sources", "source_id"),
    "cache": ("/admin/cache/status", "caches", "name"),
    "destination": ("/admin/circuit-breakers/status", "circuit_breakers", "destination"),
}


def _require(request: HttpRequest, perm: str = VIEW) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _incident(request: HttpRequest):
    number = request.GET.get("incident") or request.POST.get("incident")
    if not number:
        return None
    from incidents import services as incidents
    from incidents.models import Incident

    incident = Incident.objects.filter(number=number).first()
    if incident is None or not incidents.can_view(request.user, incident):
        raise Http404("No such incident.")
    return incident


def actions_page(request: HttpRequest) -> HttpResponse:
    _require(request)
    modules = list(Module.objects.filter(enabled=True))
    rows = []
    for module in modules:
        available = [a for a in actions.ACTIONS.values() if a.applies_to(module)]
        rows.append(
            {
                "module": module,
                "actions": available,
                "degraded": degraded.current(module.name),
                "buffering": degraded.buffering(module),
            }
        )
    context = {
        "rows": rows,
        "runs": ActionRun.objects.select_related("incident")[:30],
        "incident": _incident(request),
        "can_degrade": request.user.has_perm(degraded.PERMISSION),
    }
    if request.htmx and request.GET.get("fragment") == "degraded":
        return render(request, "monitoring/actions.html#degraded-panel", context)
    if request.htmx and request.GET.get("fragment") == "runs":
        return render(request, "monitoring/actions.html#action-runs", context)
    return render(request, "monitoring/actions.html", context)


def _targets(module: Module, action: actions.Action) -> tuple[list[str], str]:
    spec = TARGET_LISTS.get(action.target)
    if spec is None:
        return [], ""
    path, key, id_key = spec
    answer = call(module, "GET", path)
    if not answer.ok or not isinstance(answer.data, dict):
        return [], answer.message
    names = [str(item.get(id_key)) for item in answer.data.get(key, [])]
    if action.target == "cache":
        names.append("all")
    return names, ""


def _params(request) -> dict:
    source = request.POST if request.method == "POST" else request.GET
    params: dict = {}
    if source.get("target"):
        params["target"] = source.get("target")
    if source.getlist("entry_ids"):
        params["entry_ids"] = source.getlist("entry_ids")
    if source.get("scope"):
        params["scope"] = source.get("scope")
    if source.get("format"):
        params["format"] = source.get("format")
    if source.get("reason", "").strip():
        params["reason"] = source.get("reason").strip()[:500]
    if source.get("change", "").strip():  # change control: the CHG id it runs under
        params["change"] = source.get("change").strip().upper()
    if source.get("changes"):
        import json

        try:
            params["changes"] = json.loads(source.get("changes"))
        except ValueError:
            params["changes"] = source.get("changes")  # the pre-check says what is wrong
    return params


def action_page(request: HttpRequest, module: str, key: str) -> HttpResponse:
    """The guided page: description and impact, the pre-check now, then confirm."""
    _require(request)
    mod = get_object_or_404(Module, name=module)
    action = actions.ACTIONS.get(key)
    if action is None or not action.applies_to(mod):
        raise Http404("No such action for this module.")
    params = _params(request)
    if key in ("dlq_replay", "dlq_purge") and not params.get("entry_ids"):
        # The form's default choice, so that the pre-check shown is the one that will run.
        params.setdefault("scope", "retry_eligible")
    targets, target_error = _targets(mod, action)
    check = None
    if not action.target or params.get("target"):
        _, check = actions.preview(request.user, key, mod, params)
    dlq = {}
    if key in ("dlq_replay", "dlq_purge", "dlq_export"):
        for name, path in (
            ("stats", "/admin/dlq/stats"),
            ("analysis", "/admin/dlq/analysis"),
            ("entries", "/admin/dlq/entries?limit=50"),
        ):
            answer = call(mod, "GET", path)
            dlq[name] = answer.data if answer.ok else {"error": answer.message}
    context = {
        "module": mod,
        "action": action,
        "params": params,
        "targets": targets,
        "target_error": target_error,
        "check": check,
        "dlq": dlq,
        "required_role": actions.required_role(key),
        "may_run": actions.may_run(request.user, key),
        "idempotency_key": actions.new_key(),
        "incident": _incident(request),
        "recent": ActionRun.objects.filter(action=key, module=mod.name)[:10],
    }
    return render(request, "monitoring/actions_page.html", context)


@require_POST
def action_run(request: HttpRequest, module: str, key: str) -> HttpResponse:
    mod = get_object_or_404(Module, name=module)
    incident = _incident(request)
    query = {
        k: v
        for k, v in (
            ("target", request.POST.get("target")),
            ("incident", incident and incident.number),
            ("change", request.POST.get("change", "").strip()),
        )
        if v
    }
    back = reverse("monitoring:action", args=[mod.name, key]) + (
        f"?{urlencode(query)}" if query else ""
    )
    # The role before the confirmation: a role that may not run this action gets 403.
    if key in actions.ACTIONS and not actions.may_run(request.user, key):
        raise PermissionDenied
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation first.")
        return redirect(back)
    try:
        record, answer = actions.run(
            request.user,
            key,
            mod,
            _params(request),
            request.POST.get("idempotency_key", ""),
            incident,
        )
    except PermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except Refused as exc:
        messages.error(request, exc.detail)
        return redirect(back)
    if key == "dlq_export" and answer is not None and record.status == ActionRun.Status.SUCCEEDED:
        fmt = record.params.get("format", "json")
        if fmt == "csv":
            response = HttpResponse(defuse_csv(answer.text), content_type="text/csv")
        else:
            response = HttpResponse(answer.text, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="dlq_export.{fmt}"'
        return response
    return redirect(reverse("monitoring:action_result", args=[record.pk]))


def action_result(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    record = get_object_or_404(ActionRun.objects.select_related("incident"), pk=pk)
    action = actions.ACTIONS.get(record.action)
    return render(request, "monitoring/actions_result.html", {"run": record, "action": action})


@require_POST
def degraded_activate(request: HttpRequest, module: str) -> HttpResponse:
    mod = get_object_or_404(Module, name=module)
    try:
        degraded.activate(request.user, mod, request.POST.get("reason", ""), _incident(request))
        messages.success(request, f"{mod} is recorded in degraded mode.")
    except Refused as exc:
        messages.error(request, exc.detail)
    return redirect("monitoring:actions")


@require_POST
def degraded_end(request: HttpRequest, module: str) -> HttpResponse:
    mod = get_object_or_404(Module, name=module)
    try:
        degraded.end(request.user, mod, request.POST.get("note", ""))
        messages.success(request, f"{mod} is out of degraded mode.")
    except Refused as exc:
        messages.error(request, exc.detail)
    return redirect("monitoring:actions")
