"""`/api/v1/jobs/` (the batch job catalogue, Runbook F) and `/api/v1/actions/` (runbook
actions A–E). Thin: every change goes through monitoring.jobs / monitoring.actions, which check
permissions and write the audit trail."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from . import actions, jobs
from .models import ActionRun, Job, JobRun, Module


class JobSerializer(serializers.ModelSerializer):
    schedule = serializers.SerializerMethodField()
    suspended = serializers.BooleanField(read_only=True)
    last_status = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "name",
            "module",
            "schedule",
            "cron",
            "description",
            "expected_min_minutes",
            "expected_max_minutes",
            "next_run_at",
            "suspended",
            "status_reason",
            "last_status",
        ]

    def get_schedule(self, job) -> str:
        return job.schedule_text

    def get_last_status(self, job) -> str | None:
        return job.last_run.status if job.last_run else None


class JobRunSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.name")
    # Plain strings in the schema: "status" enums of several models would collide by name.
    status = serializers.CharField(read_only=True)
    versus_expected = serializers.CharField(read_only=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "trigger",
            "triggered_by",
            "scheduled_for",
            "status",
            "started_at",
            "finished_at",
            "duration_seconds",
            "versus_expected",
            "records_processed",
            "records_failed",
            "module_run_id",
            "error",
            "log_excerpt",
        ]


class ActionRunSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.number", default=None)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = ActionRun
        fields = [
            "id",
            "action",
            "module",
            "target",
            "params",
            "status",
            "message",
            "precheck",
            "postcheck",
            "requested_by_name",
            "incident",
            "started_at",
            "finished_at",
        ]


def _forbidden(request, perm: str):
    if not request.user.has_perm(perm):
        return Response({"detail": "You do not have permission to see this."}, status=403)
    return None


@extend_schema(responses=JobSerializer(many=True), operation_id="jobs_list")
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated])
def job_list(request):
    """The catalogue by name: module, schedule, next_run_at, suspended, last_status."""
    if denied := _forbidden(request, "monitoring.view_job"):
        return denied
    return Response(JobSerializer(jobs.visible_jobs(), many=True).data)


@extend_schema(responses=JobSerializer, operation_id="jobs_retrieve")
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated])
def job_detail(request, name):
    if denied := _forbidden(request, "monitoring.view_job"):
        return denied
    return Response(JobSerializer(get_object_or_404(jobs.visible_jobs(), name=name)).data)


@extend_schema(responses=JobRunSerializer(many=True), operation_id="jobs_runs_list")
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated])
def job_runs(request, name):
    if denied := _forbidden(request, "monitoring.view_jobrun"):
        return denied
    job = get_object_or_404(Job, name=name)
    runs = JobRun.objects.filter(job=job).select_related("job")[:100]
    return Response(JobRunSerializer(runs, many=True).data)


def _reason(request) -> str:
    value = request.data.get("reason", "") if isinstance(request.data, dict) else ""
    return value if isinstance(value, str) else ""


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True)


@extend_schema(request=ReasonSerializer, responses={200: JobSerializer, 202: JobRunSerializer})
@api_view(["POST"])
@permission_classes([permissions.IsAuthenticated])
def job_operation(request, name, operation):
    try:
        if operation == "trigger":
            run = jobs.trigger(request.user, name)
            return Response(JobRunSerializer(run).data, status=202)
        if operation == "suspend":
            job = jobs.suspend(request.user, name, _reason(request))
        else:
            job = jobs.resume(request.user, name, _reason(request))
    except PermissionDenied as exc:
        return Response({"detail": str(exc)}, status=403)
    job = Job.objects.select_related("last_run").get(pk=job.pk)
    return Response(JobSerializer(job).data)


class ActionRequestSerializer(serializers.Serializer):
    action = serializers.CharField()
    module = serializers.CharField()
    params = serializers.DictField(required=False)
    idempotency_key = serializers.CharField()
    incident = serializers.CharField(required=False)
    change = serializers.CharField(
        required=False, help_text="CHG id the action runs under (change control)"
    )


@extend_schema(
    methods=["GET"], responses=ActionRunSerializer(many=True), operation_id="actions_list"
)
@extend_schema(
    methods=["POST"],
    request=ActionRequestSerializer,
    responses={201: ActionRunSerializer, 400: OpenApiTypes.OBJECT},
    operation_id="actions_create",
)
@api_view(["GET", "POST"])
@permission_classes([permissions.IsAuthenticated])
def action_list(request):
    """GET: recent action runs. POST {action, module, params, idempotency_key, incident,
    change}: run one (pre-check, call, post-validation); 201 with the run, whatever its
    outcome. Refused by change control (a disruptive action needing a linked change): 409."""
    if request.method == "GET":
        if denied := _forbidden(request, "monitoring.view_actionrun"):
            return denied
        runs = ActionRun.objects.select_related("incident")[:100]
        return Response(ActionRunSerializer(runs, many=True).data)
    # Refuse a role that may run no action before reading the body (authorisation matrix).
    if not request.user.has_perm("monitoring.add_actionrun"):
        return Response({"detail": "Your role may not run runbook actions."}, status=403)
    data = request.data if isinstance(request.data, dict) else {}
    module = Module.objects.filter(name=str(data.get("module", ""))).first()
    if module is None:
        return Response({"detail": "module: no such module."}, status=400)
    params = data.get("params") or {}
    if not isinstance(params, dict):
        return Response({"detail": "params must be an object."}, status=400)
    # Change control: the CHG id it runs under, top-level or in params, stored normalised.
    change = str(data.get("change") or params.get("change") or "").strip().upper()
    params = {**params, "change": change} if change else params
    incident = None
    if data.get("incident"):
        from incidents.models import Incident

        incident = Incident.objects.filter(number=str(data["incident"])).first()
        if incident is None:
            return Response({"detail": "incident: no such incident."}, status=400)
    try:
        record, _ = actions.run(
            request.user,
            str(data.get("action", "")),
            module,
            params,
            str(data.get("idempotency_key") or ""),
            incident,
        )
    except PermissionDenied as exc:
        return Response({"detail": str(exc)}, status=403)
    return Response(ActionRunSerializer(record).data, status=201)
