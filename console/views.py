from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .filters import AuditFilter
from .models import AuditEntry, WorkerHeartbeat

AUDIT_PAGE_SIZE = 50


OVERVIEW_FRAGMENTS = {"activity": "activity-panel", "console-health": "console-health"}


def overview(request: HttpRequest) -> HttpResponse:
    context = {
        "recent": (
            AuditEntry.objects.all()[:10]
            if request.user.has_perm("console.view_auditentry")
            else None
        ),
        "heartbeat": WorkerHeartbeat.objects.filter(name="worker").first(),
    }
    fragment = OVERVIEW_FRAGMENTS.get(request.GET.get("fragment", ""))
    if request.htmx and fragment:
        return render(request, f"console/overview.html#{fragment}", context)
    return render(request, "console/overview.html", context)


@permission_required("console.view_auditentry", raise_exception=True)
def audit_list(request: HttpRequest) -> HttpResponse:
    filterset = AuditFilter(request.GET, queryset=AuditEntry.objects.all())
    entries = filterset.qs if filterset.is_valid() else AuditEntry.objects.none()
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filter": filterset, "page": page}
    template = "console/audit_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#audit-table"
    return render(request, template, context)


def locked_out(request: HttpRequest, credentials=None, *args, **kwargs) -> HttpResponse:
    """django-axes calls this when a (username, address) pair is cooling off."""
    from django.conf import settings

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if (
        request.path_info.startswith("/api/")
        or request.accepts("application/json")
        and not (request.accepts("text/html"))
    ):
        return JsonResponse(
            {"detail": f"Too many failed logins. Try again in {minutes} minutes."}, status=429
        )
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


def _wants_json(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/") or (
        request.accepts("application/json") and not request.accepts("text/html")
    )


@login_not_required
def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


@login_not_required
def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "You do not have permission to do that."}, status=403)
    return render(request, "403.html", status=403)


@login_not_required
def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return render(request, "400.html", status=400)


@login_not_required
def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Internal error; it has been logged."}, status=500)
    return render(request, "500.html", status=500)
