"""Runbook F pages: the batch job list (next run, last result), a job's runs, and the buttons
(trigger now, suspend or resume one or all, with a reason). Thin: monitoring.jobs decides."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.errors import Refused

from . import jobs
from .models import Job, JobRun

VIEW = "monitoring.view_job"


def _require(request: HttpRequest, perm: str = VIEW) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def jobs_page(request: HttpRequest) -> HttpResponse:
    """Every job with its schedule, next run and last result; suspended ones stand out."""
    _require(request)
    job_list = list(jobs.visible_jobs().order_by("module", "name"))
    context = {
        "jobs": job_list,
        "suspended_count": sum(1 for j in job_list if j.suspended),
        "running": JobRun.objects.filter(status__in=JobRun.IN_FLIGHT).count(),
        "can_change": request.user.has_perm(jobs.PERMISSION),
        "time_zone": settings.TIME_ZONE,
    }
    if request.htmx and request.GET.get("fragment") == "table":
        return render(request, "monitoring/jobs.html#jobs-table", context)
    return render(request, "monitoring/jobs.html", context)


def job_detail(request: HttpRequest, name: str) -> HttpResponse:
    _require(request)
    job = get_object_or_404(jobs.visible_jobs(), name=name)
    context = {
        "job": job,
        "runs": list(JobRun.objects.filter(job=job)[:50]),
        "upcoming": [] if job.suspended else jobs.upcoming(job.cron, job.next_run_at, 5),
        "can_change": request.user.has_perm(jobs.PERMISSION),
    }
    if request.htmx and request.GET.get("fragment") == "runs":
        return render(request, "monitoring/jobs_detail.html#job-runs", context)
    return render(request, "monitoring/jobs_detail.html", context)


def _act(request: HttpRequest, fn, success: str, back: str):
    # A role without the jobs permission is refused outright (403); the services' refusals
    # (state, reasons) become messages.
    if not request.user.has_perm(jobs.PERMISSION):
        raise PermissionDenied
    try:
        fn()
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "Your role may not do that.")
    except Refused as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, success)
    return redirect(back)


def _back(request: HttpRequest, name: str = "") -> str:
    if request.POST.get("next") == "detail" and name:
        return reverse("monitoring:job_detail", args=[name])
    return reverse("monitoring:jobs")


@require_POST
def job_trigger(request: HttpRequest, name: str) -> HttpResponse:
    def go():
        run = jobs.trigger(request.user, name)
        if run.status == JobRun.Status.FAILED:
            raise Refused(f"{name} could not start: {run.error}")

    return _act(request, go, f"{name} triggered.", _back(request, name))


@require_POST
def job_suspend(request: HttpRequest, name: str) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        lambda: jobs.suspend(request.user, name, reason),
        f"{name} suspended.",
        _back(request, name),
    )


@require_POST
def job_resume(request: HttpRequest, name: str) -> HttpResponse:
    return _act(
        request,
        lambda: jobs.resume(request.user, name, request.POST.get("reason", "")),
        f"{name} resumed.",
        _back(request, name),
    )


@require_POST
def jobs_suspend_all(request: HttpRequest) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(
        request,
        lambda: jobs.suspend_all(request.user, reason),
        "Every job suspended.",
        _back(request),
    )


@require_POST
def jobs_resume_all(request: HttpRequest) -> HttpResponse:
    return _act(
        request,
        lambda: jobs.resume_all(request.user, request.POST.get("reason", "")),
        "Every job resumed.",
        _back(request),
    )


def job_states() -> dict[str, str]:
    """name → status, for other pages that mark suspended jobs."""
    return dict(Job.objects.values_list("name", "status"))
