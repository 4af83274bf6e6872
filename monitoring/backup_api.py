"""`POST /api/v1/backups/runs/`: a backup script (or the pipeline's backup job) reports a
backup or verification run. Bearer token of a user holding monitoring.add_backuprun."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from console.parsers import JSONParser

from . import backups
from .models import BackupRun


class BackupRunSerializer(serializers.Serializer):
    backup_class = serializers.SlugField(max_length=60, help_text="e.g. state, database-full")
    kind = serializers.ChoiceField(choices=BackupRun.Kind.choices, default=BackupRun.Kind.BACKUP)
    status = serializers.ChoiceField(choices=BackupRun.Status.choices)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    size_bytes = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    location = serializers.CharField(max_length=500, required=False, allow_blank=True)
    detail = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class BackupRunResultSerializer(serializers.ModelSerializer):
    backup_class = serializers.SlugRelatedField(slug_field="key", read_only=True)

    class Meta:
        model = BackupRun
        fields = [
            "id",
            "backup_class",
            "kind",
            "status",
            "started_at",
            "finished_at",
            "reported_at",
        ]


def _first_error(errors) -> str:
    """DRF's nested errors as one sentence: `field: message`."""
    for field, problems in errors.items():
        message = problems[0] if isinstance(problems, list) else problems
        return f"{field}: {message}"
    return "invalid payload"


class BackupRunReport(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=BackupRunSerializer,
        responses={201: BackupRunResultSerializer, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        if not request.user.has_perm("monitoring.add_backuprun"):
            return Response({"detail": "This token may not report backup runs."}, status=403)
        if not isinstance(request.data, dict):
            return Response({"detail": "The body must be a JSON object."}, status=400)
        payload = BackupRunSerializer(data=request.data)
        if not payload.is_valid():
            return Response({"detail": _first_error(payload.errors)}, status=400)
        data = payload.validated_data
        try:
            run = backups.record_run(
                data["backup_class"],
                kind=data["kind"],
                status=data["status"],
                started_at=data["started_at"],
                finished_at=data["finished_at"],
                size_bytes=data.get("size_bytes"),
                location=data.get("location", ""),
                detail=data.get("detail", ""),
                actor=request.user,
            )
        except backups.BackupError as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(BackupRunResultSerializer(run).data, status=201)
