"""Alert routing pages (issue 6): the route tree with its receivers and live alert groups, the
"which route would this alert take" tester, route add/edit, and one alert group with its
delivery log. Every role may look (`monitoring.view_route`); Operations Lead and up change
routes (`monitoring.add_route`, `monitoring.change_route`), audited by `routing.save_route`."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from . import routing
from .models import AlertGroup, Receiver, Route
from .route_forms import RouteForm, RouteTestForm, format_matchers

VIEW = "monitoring.view_route"


def _require(request: HttpRequest, perm: str = VIEW) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _rows(root: routing.Node | None) -> list[dict]:
    """The tree flattened depth first, for a table with indentation."""
    rows: list[dict] = []

    def walk(node: routing.Node, depth: int) -> None:
        rows.append(
            {"node": node, "depth": depth, "matchers": format_matchers(node.route.matchers)}
        )
        for child in node.children:
            walk(child, depth + 1)

    if root is not None:
        walk(root, 0)
    return rows


def _groups():
    return (
        AlertGroup.objects.filter(next_flush_at__isnull=False)
        .select_related("route")
        .order_by("next_flush_at")[:50]
    )


def routes(request: HttpRequest) -> HttpResponse:
    _require(request)
    context = {
        "rows": _rows(routing.tree()),
        "receivers": Receiver.objects.prefetch_related("channels"),
        "groups": _groups(),
        "now": timezone.now(),
        "form": RouteTestForm(),
        "can_change": request.user.has_perm("monitoring.change_route"),
        "can_add": request.user.has_perm("monitoring.add_route"),
    }
    fragment = {"groups": "alert-groups", "tree": "route-tree"}.get(request.GET.get("fragment"))
    if request.htmx and fragment:
        return render(request, f"monitoring/routes.html#{fragment}", context)
    return render(request, "monitoring/routes.html", context)


def route_test(request: HttpRequest) -> HttpResponse:
    """Read-only: which route(s) the pasted labels take (a GET, it changes nothing)."""
    _require(request)
    form = RouteTestForm(request.GET or None)
    result = routing.test_route(form.cleaned_data["labels"]) if form.is_valid() else None
    context = {"form": form, "result": result}
    status = 422 if request.GET and result is None else 200
    if request.htmx:
        return render(request, "monitoring/routes_test.html#route-test", context, status=status)
    return render(request, "monitoring/routes_test.html", context, status=status)


def route_add(request: HttpRequest) -> HttpResponse:
    _require(request, "monitoring.add_route")
    return _edit(request, Route())


def route_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "monitoring.change_route")
    return _edit(request, get_object_or_404(Route, pk=pk))


def _edit(request: HttpRequest, route: Route) -> HttpResponse:
    form = RouteForm(request.POST or None, instance=route)
    if request.method == "POST" and form.is_valid():
        route = routing.save_route(request.user, form)
        messages.success(request, f"Route {route.name} saved.")
        return redirect("monitoring:routes")
    return render(
        request,
        "monitoring/routes_form.html",
        {"form": form, "route": route if route.pk else None},
        status=422 if request.method == "POST" else 200,
    )


def alert_group(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request)
    group = get_object_or_404(AlertGroup.objects.select_related("route"), pk=pk)
    members = list(group.members.select_related("alert").order_by("alert__name"))
    routing.annotate([m.alert for m in members])
    deliveries = group.notifications.select_related("user").order_by("-created_at", "-pk")[:50]
    node = routing.node_for(group.route_id)
    return render(
        request,
        "monitoring/routes_group.html",
        {"group": group, "members": members, "deliveries": deliveries, "node": node},
    )
