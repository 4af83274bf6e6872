"""Monitoring pages: the System Overview (the console's home page), the module list and each
module's dashboard, module settings, annotations, and the chart data the pages load lazily.

Pages render their shell and status grids server-side in a few queries; every chart is fetched
afterwards from `chart_data` (static/monitoring/charts.js), so a slow chart never holds up the
page. Live: the Overview listens on `overview`, a module page on `module.<name>`; grids re-fetch
their fragment through these same views (console/live.js), charts fetch only the new points.
"""

import hashlib
from collections import defaultdict

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from console import live
from console import views as console_views

from . import charts, services
from .forms import AnnotationForm, ModuleForm
from .models import Annotation, Module, PipelineState, Poll, Status, StatusChange

VIEW = "monitoring.view_module"
BREAKER_STATES = {0: "CLOSED", 1: "OPEN", 2: "HALF_OPEN"}
OVERVIEW_FRAGMENTS = {"status": "status-board", "changes": "status-changes"}
MODULE_FRAGMENTS = {
    "status": "module-status",
    "sources": "sources-grid",
    "destinations": "destinations-grid",
    "annotations": "annotations-panel",
}


def _require(request: HttpRequest, perm: str = VIEW) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _range(request: HttpRequest, default: str) -> str:
    value = request.GET.get("range", default)
    return value if value in charts.RANGES else default


def _module(name: str) -> Module:
    return get_object_or_404(Module, name=name)


def _with_freshness(modules: list[Module], now) -> list[Module]:
    """Decorate modules with what the templates show: stale or current, and its shown status."""
    for module in modules:
        module.stale = services.is_stale(module, now)
        module.fresh_until = services.fresh_until(module)
        # Stale data is never shown as current: the badge says UNKNOWN (stale) instead.
        module.shown_status = Status.UNKNOWN if module.stale else module.status
        module.age = (
            int((now - module.last_success_at).total_seconds()) if module.last_success_at else None
        )
    return modules


# --- the System Overview ------------------------------------------------------------------


def _breakers(modules: list[Module], now) -> list[dict]:
    """Circuit breakers and destination reachability, one row per (module, destination)."""
    rows: dict[tuple[str, str], dict] = defaultdict(dict)
    for item in charts.latest(
        ["gamma_circuit_breaker_state", "gamma_destination_status"], modules, now
    ):
        key = (item.module.name, item.labels.get("destination", "?"))
        row = rows[key]
        row.update(module=item.module, destination=key[1], at=item.at)
        row["stale"] = row.get("stale", False) or item.stale
        if item.name == "gamma_circuit_breaker_state":
            row["state"] = BREAKER_STATES.get(int(item.value), "UNKNOWN")
        else:
            row["reachable"] = item.value >= 1
    return [rows[key] for key in sorted(rows)]


def _status_board(modules: list[Module], now) -> dict:
    statuses = charts.metric_statuses(modules)
    for module in modules:
        module.metrics = statuses.get(module.pk, [])
    state = PipelineState.objects.first()
    breakers = _breakers(modules, now)
    return {
        "modules": modules,
        "pipeline_status": services.pipeline_status(modules, now),
        "pipeline_changed_at": state.changed_at if state else None,
        "system_metrics": statuses.get(None, []),
        "breakers": breakers,
        "breakers_open": sum(1 for b in breakers if b.get("state") == "OPEN" and not b["stale"]),
        "stale_modules": [m.name for m in modules if m.stale],
        "now": now,
    }


def _status_board_html(request: HttpRequest, modules: list[Module], now) -> str:
    """The Overview's status board, rendered at most once per data version: every page on
    the Overview re-fetches it after each `overview` message (thresholds evaluated on every
    poll), and under load most requests of one second ask for the same thing. The key is the
    second (the board says "polled N s ago"), the `overview` topic's sequence number (bumped
    by every change the board shows, after commit), the modules' own state (read anyway) and
    the one permission the board shows."""
    fingerprint = hashlib.blake2b(
        repr(
            [(m.pk, m.status, m.last_polled_at, m.last_success_at, m.stale) for m in modules]
        ).encode(),
        digest_size=8,
    ).hexdigest()
    can_add = request.user.has_perm("monitoring.add_module")
    key = (
        f"monitoring:status-board:{int(now.timestamp())}:{live.current_seq('overview')}:"
        f"{fingerprint}:{int(can_add)}"
    )
    html = cache.get(key)
    if html is None:
        html = render_to_string(
            "monitoring/overview.html#status-board", _status_board(modules, now), request
        )
        cache.set(key, str(html), 5)
    return mark_safe(html)


def overview(request: HttpRequest) -> HttpResponse:
    """The console's home page: 001 "System Overview Dashboard"."""
    fragment = request.GET.get("fragment", "")
    if fragment in console_views.OVERVIEW_FRAGMENTS:
        return console_views.overview(request)
    can_view = request.user.has_perm(VIEW)
    if fragment in OVERVIEW_FRAGMENTS and not can_view:
        raise PermissionDenied
    now = timezone.now()
    context: dict = {"can_view": can_view, "range": _range(request, "24h")}
    if can_view:
        if fragment == "changes":
            return render(
                request,
                "monitoring/overview.html#status-changes",
                {"changes": _recent_changes()},
            )
        modules = _with_freshness(list(Module.objects.filter(enabled=True)), now)
        board = _status_board_html(request, modules, now)
        if fragment == "status":
            return HttpResponse(board)
        context["status_board_html"] = board
        context["panels"] = [charts.PANELS[key] for key in charts.OVERVIEW_PANELS]
    # Status changes, recent activity and the console's health load after the page
    # (hx-trigger="load"): the shell itself is the status board only (issue 4: ≤150 ms p95).
    context["changes"] = None
    context["ranges"] = list(charts.RANGES)
    return render(request, "monitoring/overview.html", context)


def _recent_changes() -> list[StatusChange]:
    return list(
        StatusChange.objects.exclude(subject=StatusChange.Subject.METRIC).select_related("module")[
            :8
        ]
    )


# --- modules ------------------------------------------------------------------------------


def index(request: HttpRequest) -> HttpResponse:
    """Every module with its status and settings; the way into each dashboard."""
    _require(request)
    now = timezone.now()
    modules = _with_freshness(list(Module.objects.all()), now)
    context = {
        "modules": modules,
        "can_add": request.user.has_perm("monitoring.add_module"),
        "can_change": request.user.has_perm("monitoring.change_module"),
        "now": now,
    }
    if request.htmx and request.GET.get("fragment") == "table":
        return render(request, "monitoring/index.html#module-table", context)
    return render(request, "monitoring/index.html", context)


def _grid_rows(module: Module, kind: str, now) -> list[dict]:
    """Status grids of 001: Alpha's sources, Gamma's destinations (with latency)."""
    rows: dict[str, dict] = defaultdict(dict)
    if kind == "sources":
        names = [
            "alpha_source_connection_status",
            "alpha_source_enabled",
        ]
        label = "source"
    else:
        names = ["gamma_destination_status", "gamma_circuit_breaker_state"]
        names += ["gamma_delivery_success_rate", "gamma_destination_queue_depth"]
        label = "destination"
    for item in charts.latest(names, [module], now):
        name = item.labels.get(label)
        if name is None:
            continue
        row = rows[name]
        row.update(name=name, at=item.at)
        row["stale"] = row.get("stale", False) or item.stale
        row[item.name] = item.value
    found = []
    for name in sorted(rows):
        row = rows[name]
        if kind == "sources":
            enabled = row.get("alpha_source_enabled", 1) >= 1
            connected = row.get("alpha_source_connection_status")
            row["state"] = (
                "DISABLED" if not enabled else "UP" if connected and connected >= 1 else "DOWN"
            )
        else:
            row["state"] = "UP" if row.get("gamma_destination_status", 0) >= 1 else "DOWN"
            breaker = row.get("gamma_circuit_breaker_state")
            row["breaker"] = (
                BREAKER_STATES.get(int(breaker), "UNKNOWN") if breaker is not None else ""
            )
            success = row.get("gamma_delivery_success_rate")
            row["success"] = success * 100 if success is not None else None
            row["depth"] = row.get("gamma_destination_queue_depth")
        found.append(row)
    if kind == "destinations" and found:
        _add_latency(module, found)
    if kind == "sources" and found:
        _add_source_rates(module, found)
    return found


def _instant(module: Module, expr: str, label: str) -> dict[str, float]:
    """One instant query over the last few minutes of the module's raw samples."""
    win = charts.window("1h")
    win = charts.Window(win.key, "raw", win.step, win.end, win.end)
    source = charts.load([expr], [module], win)
    vector = charts.evaluate_at(charts.Query(expr), source, {"module": module.name}, win.end, win)
    return {dict(k).get(label, "?"): v for k, v in vector.items()}


def _add_latency(module: Module, rows: list[dict]) -> None:
    p99 = _instant(
        module,
        "histogram_quantile(0.99, sum by (le, destination) "
        "(rate(gamma_delivery_duration_seconds_bucket[5m])))",
        "destination",
    )
    for row in rows:
        value = p99.get(row["name"])
        row["p99_ms"] = charts.clean_number(value, 1000.0)
        # 000, Module Gamma Metrics: delivery latency P99 warning 200 ms, critical 1 s.
        ms = row["p99_ms"]
        row["latency_level"] = (
            "" if ms is None else "critical" if ms > 1000 else "warning" if ms > 200 else "ok"
        )


def _add_source_rates(module: Module, rows: list[dict]) -> None:
    rates = _instant(module, "sum by (source) (rate(alpha_records_ingested_total[1m]))", "source")
    for row in rows:
        row["rate"] = charts.clean_number(rates.get(row["name"]))


def module_dashboard(request: HttpRequest, name: str) -> HttpResponse:
    """One module's dashboard: 001 "Module Alpha/Beta/Gamma Dashboard"."""
    _require(request)
    module = _module(name)
    now = timezone.now()
    _with_freshness([module], now)
    fragment = MODULE_FRAGMENTS.get(request.GET.get("fragment", ""))
    panel_keys = charts.MODULE_PANELS.get(module.kind, charts.MODULE_PANELS[Module.Kind.OTHER])
    context: dict = {
        "module": module,
        "range": _range(request, "1h"),
        "ranges": list(charts.RANGES),
        "now": now,
        "can_change": request.user.has_perm("monitoring.change_module"),
        "can_annotate": request.user.has_perm("monitoring.add_annotation"),
    }
    if fragment in (None, "module-status"):
        context["metrics"] = charts.metric_statuses([module]).get(module.pk, [])
        if module.consecutive_failures:  # why it stopped answering, in the poller's words
            context["last_failure"] = (
                Poll.objects.filter(module=module, ok=False).order_by("-started_at").first()
            )
    if fragment is None:
        context["panels"] = [
            {"grid": key, "title": charts.GRID_PANELS[key]}
            if key in charts.GRID_PANELS
            else {"panel": charts.PANELS[key]}
            for key in panel_keys
        ]
        context["metric_choices"] = _metric_choices(panel_keys)
        for grid in ("sources", "destinations"):
            if grid in panel_keys:
                context[f"{grid}_rows"] = _grid_rows(module, grid, now)
        if module.kind == Module.Kind.OTHER:
            context["latest_values"] = charts.latest_all(module, now)
    elif fragment in ("sources-grid", "destinations-grid"):
        grid = fragment.split("-")[0]
        context[f"{grid}_rows"] = _grid_rows(module, grid, now)
    if fragment in (None, "annotations-panel"):
        context["annotations"] = _annotations(module)
        if context["can_annotate"]:
            context["annotation_form"] = AnnotationForm(initial={"module": module})
            context.setdefault("metric_choices", _metric_choices(panel_keys))
    template = "monitoring/module.html"
    if fragment and request.htmx:
        template += f"#{fragment}"
    return render(request, template, context)


def _metric_choices(panel_keys) -> list[str]:
    choices: set[str] = set()
    for key in panel_keys:
        panel = charts.PANELS.get(key)
        if panel is not None:
            choices.add(key)
            choices.update(panel.metric_names())
    return sorted(choices)


def _annotations(module: Module) -> list[Annotation]:
    return list(
        Annotation.objects.filter(module=module)
        .select_related("author")
        .order_by("-starts_at")[:10]
    )


def module_add(request: HttpRequest) -> HttpResponse:
    _require(request, "monitoring.add_module")
    form = ModuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.changes()
        module = services.create_module(request.user, **data)
        messages.success(request, f"Module {module.name} added; its first poll is due now.")
        return redirect("monitoring:module", name=module.name)
    return render(request, "monitoring/module_form.html", {"form": form, "module": None})


def module_edit(request: HttpRequest, name: str) -> HttpResponse:
    _require(request, "monitoring.change_module")
    module = _module(name)
    form = ModuleForm(request.POST or None, instance=module)
    if request.method == "POST" and form.is_valid():
        services.update_module(module, request.user, **form.changes())
        messages.success(request, f"Module {module.name} saved.")
        return redirect("monitoring:module", name=module.name)
    return render(request, "monitoring/module_form.html", {"form": form, "module": module})


@require_POST
def annotation_add(request: HttpRequest) -> HttpResponse:
    _require(request, "monitoring.add_annotation")
    form = AnnotationForm(request.POST)
    module = None
    if form.is_valid():
        data = form.cleaned_data
        module = data.get("module")
        services.create_annotation(
            request.user,
            data["text"],
            data["starts_at"],
            data.get("ends_at"),
            module=module,
            metric=data.get("metric", ""),
        )
        if not request.htmx:
            messages.success(request, "Annotation added; it shows on the charts.")
    else:
        given = request.POST.get("module", "")
        # A bad id is the form's error (shown below), not a 500 here.
        module = Module.objects.filter(pk=given).first() if given.isdigit() else None
    if request.htmx and module is not None:
        panel_keys = charts.MODULE_PANELS.get(module.kind, ())
        context = {
            "module": module,
            "annotations": _annotations(module),
            "can_annotate": True,
            "annotation_form": AnnotationForm(initial={"module": module})
            if form.is_valid()
            else form,
            "metric_choices": _metric_choices(panel_keys),
        }
        return render(
            request,
            "monitoring/module.html#annotations-panel",
            context,
            status=200 if form.is_valid() else 422,
        )
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
    if module is not None:
        return redirect("monitoring:module", name=module.name)
    return redirect("overview")


@require_POST
def annotation_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End an ongoing annotation now: its author, or whoever may change annotations."""
    _require(request, "monitoring.add_annotation")
    note = get_object_or_404(Annotation.objects.select_related("module"), pk=pk)
    if note.author_id != request.user.pk and not request.user.has_perm(
        "monitoring.change_annotation"
    ):
        raise PermissionDenied
    services.end_annotation(note, request.user)
    module = note.module
    if request.htmx and module is not None:
        context = {
            "module": module,
            "annotations": _annotations(module),
            "can_annotate": True,
            "annotation_form": AnnotationForm(initial={"module": module}),
            "metric_choices": _metric_choices(charts.MODULE_PANELS.get(module.kind, ())),
        }
        return render(request, "monitoring/module.html#annotations-panel", context)
    if module is not None:
        return redirect("monitoring:module", name=module.name)
    return redirect("overview")


# --- chart data ---------------------------------------------------------------------------


def chart_data(request: HttpRequest, key: str) -> JsonResponse:
    """One panel's data as JSON: `module` (a module's panel), `range`, and `since` (unix
    seconds of the last point the page has: only newer points come back)."""
    _require(request)
    panel = charts.PANELS.get(key)
    if panel is None:
        raise Http404("No such chart.")
    name = request.GET.get("module", "")
    since = request.GET.get("since")
    try:
        since_ts = float(since) if since else None
    except ValueError:
        since_ts = None
    range_key = _range(request, "1h")
    if name:
        module = _module(name)
        data = charts.chart(panel, [module], range_key, scoped=module, since=since_ts)
        _with_freshness([module], timezone.now())
        data["stale"] = module.stale
    else:
        if key not in charts.OVERVIEW_PANELS:
            raise Http404("This chart belongs to a module: pass ?module=<name>.")
        modules = _with_freshness(list(Module.objects.filter(enabled=True)), timezone.now())
        data = charts.chart(panel, modules, range_key, since=since_ts)
        data["stale"] = bool(modules) and all(m.stale for m in modules)
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response
