"""/reports/: the index (the registry, filtered by permission), each report as a printable
page and as CSV."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from .export import to_csv
from .models import ReportMailing
from .registry import REPORTS, Report, get


def _report(request: HttpRequest, key: str) -> Report:
    report = get(key)
    if report is None:
        raise Http404
    if not report.allowed(request.user):
        raise PermissionDenied
    return report


def index(request: HttpRequest) -> HttpResponse:
    allowed = [r for r in REPORTS if r.allowed(request.user)]
    if not allowed:
        raise PermissionDenied
    mailings = (
        ReportMailing.objects.filter(report__in=[r.key for r in allowed])
        if request.user.has_perm("reports.view_reportmailing")
        else ReportMailing.objects.none()
    )
    return render(
        request,
        "reports/index.html",
        {"title": "Reports", "reports": allowed, "mailings": mailings},
    )


def detail(request: HttpRequest, key: str) -> HttpResponse:
    report = _report(request, key)
    data = report.build(timezone.now())
    return render(
        request, "reports/detail.html", {"title": report.title, "report": report, "data": data}
    )


def download(request: HttpRequest, key: str) -> HttpResponse:
    report = _report(request, key)
    now = timezone.now()
    response = HttpResponse(to_csv(report.build(now)), content_type="text/csv; charset=utf-8")
    filename = f"{report.key}-{timezone.localtime(now):%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
