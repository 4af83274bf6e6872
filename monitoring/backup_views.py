"""The backups page (/backups/): each backup class's last good backup and RPO exposure now,
recent runs, and DR drills (schedule, record results, figures against 001 "DR Metrics").
Live on topic `backups`; the tables re-fetch themselves through `index` (fragment=…)."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import backups
from .models import Alert, AlertState, BackupRun, DrDrill, DrillType

VIEW = "monitoring.view_backupclass"
SCHEDULE = "monitoring.add_drdrill"
RECORD = "monitoring.change_drdrill"
FRAGMENTS = {"classes": "backup-classes", "drills": "dr-drills"}


def _require(request: HttpRequest, perm: str = VIEW) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


class ScheduleForm(forms.Form):
    drill_type = forms.ModelChoiceField(queryset=DrillType.objects.all(), label="Type")
    scheduled_for = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="When"
    )


class RecordForm(forms.Form):
    passed = forms.TypedChoiceField(
        choices=[("1", "Passed"), ("0", "Failed")], coerce=lambda v: v == "1", label="Result"
    )
    performed_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Performed at"
    )
    achieved_rto_minutes = forms.IntegerField(
        min_value=0, max_value=60 * 24 * 30, required=False, label="Achieved RTO (minutes)"
    )
    achieved_rpo_minutes = forms.IntegerField(
        min_value=0, max_value=60 * 24 * 30, required=False, label="Achieved RPO (minutes)"
    )
    findings = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


def _styled(form: forms.Form) -> forms.Form:
    for field in form.fields.values():
        css = (
            "form-select form-select-sm"
            if isinstance(field, forms.ChoiceField)
            else ("form-control form-control-sm")
        )
        field.widget.attrs.setdefault("class", css)
    return form


def _context(request: HttpRequest) -> dict:
    now = timezone.now()
    return {
        "title": "Backups and DR",
        "now": now,
        "statuses": backups.class_statuses(now),
        "alerts": Alert.objects.filter(
            source=Alert.Source.CONSOLE,
            name__in=[backups.OVERDUE, backups.FAILED, backups.DRILL_OVERDUE],
            state=AlertState.FIRING,
        )
        .select_related("incident")
        .order_by("-active_since"),
        "runs": BackupRun.objects.select_related("backup_class")[:20],
        "dr": backups.dr_figures(now),
        "drills": DrDrill.objects.select_related("drill_type")[:20],
        "can_schedule": request.user.has_perm(SCHEDULE),
        "can_record": request.user.has_perm(RECORD),
        "schedule_form": _styled(ScheduleForm()),
        "record_form": _styled(RecordForm(initial={"performed_at": now})),
    }


def index(request: HttpRequest) -> HttpResponse:
    _require(request)
    context = _context(request)
    fragment = FRAGMENTS.get(request.GET.get("fragment", ""))
    template = "monitoring/backups.html"
    if fragment and request.htmx:
        template += f"#{fragment}"
    return render(request, template, context)


@require_POST
def drill_schedule(request: HttpRequest) -> HttpResponse:
    _require(request, SCHEDULE)
    form = _styled(ScheduleForm(request.POST))
    if form.is_valid():
        backups.schedule_drill(
            request.user, form.cleaned_data["drill_type"], form.cleaned_data["scheduled_for"]
        )
        messages.success(request, "Drill scheduled.")
        return redirect("backups:index")
    context = _context(request)
    context["schedule_form"] = form
    return render(request, "monitoring/backups.html", context, status=400)


def _minutes(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


@require_POST
def drill_record(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, RECORD)
    drill = get_object_or_404(DrDrill, pk=pk)
    form = _styled(RecordForm(request.POST))
    if form.is_valid():
        data = form.cleaned_data
        try:
            backups.record_drill(
                request.user,
                drill.pk,
                passed=data["passed"],
                performed_at=data["performed_at"],
                achieved_rto=_minutes(data["achieved_rto_minutes"]),
                achieved_rpo=_minutes(data["achieved_rpo_minutes"]),
                findings=data["findings"],
            )
        except backups.BackupError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Drill result recorded.")
            return redirect("backups:index")
    context = _context(request)
    context["record_form"] = form
    context["record_drill"] = drill
    return render(request, "monitoring/backups.html", context, status=400)


@require_POST
def drill_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, RECORD)
    drill = get_object_or_404(DrDrill, pk=pk)
    try:
        backups.cancel_drill(request.user, drill.pk)
    except backups.BackupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Drill cancelled.")
    return redirect("backups:index")
