from django.utils import timezone
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from console import audit

from . import services
from .models import MetricStatus, Module, PipelineState


class ModelPermissions(permissions.DjangoModelPermissions):
    """Reads need the view permission too (DRF's default lets any signed-in user read)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
    }


class ModuleSerializer(serializers.ModelSerializer):
    stale = serializers.SerializerMethodField()
    token = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500)
    has_token = serializers.SerializerMethodField()

    class Meta:
        model = Module
        fields = [
            "name",
            "kind",
            "base_url",
            "token",
            "has_token",
            "poll_interval",
            "enabled",
            "labels",
            "status",
            "stale",
            "status_changed_at",
            "last_polled_at",
            "last_success_at",
            "consecutive_failures",
        ]
        read_only_fields = [
            "status",
            "status_changed_at",
            "last_polled_at",
            "last_success_at",
            "consecutive_failures",
        ]

    def get_stale(self, module) -> bool:
        return services.is_stale(module, timezone.now())

    def get_has_token(self, module) -> bool:
        return bool(module.token)

    def validate_base_url(self, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http:// or https:// URL.")
        return value.rstrip("/")

    def validate_labels(self, value):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise serializers.ValidationError("Labels are an object of string values.")
        return value


class MetricStatusSerializer(serializers.ModelSerializer):
    key = serializers.CharField(source="threshold.key")
    name = serializers.CharField(source="threshold.name")
    unit = serializers.CharField(source="threshold.unit")
    display_value = serializers.SerializerMethodField()

    class Meta:
        model = MetricStatus
        fields = [
            "key",
            "name",
            "level",
            "value",
            "display_value",
            "unit",
            "evaluated_at",
            "changed_at",
        ]

    def get_display_value(self, status) -> float | None:
        if status.value is None:
            return None
        return status.value * status.threshold.display_scale


class ModuleDetailSerializer(ModuleSerializer):
    metrics = serializers.SerializerMethodField()

    class Meta(ModuleSerializer.Meta):
        fields = [*ModuleSerializer.Meta.fields, "metrics"]

    def get_metrics(self, module) -> list[dict]:
        statuses = MetricStatus.objects.filter(module=module).select_related("threshold")
        return MetricStatusSerializer(statuses.order_by("threshold__position"), many=True).data


class ModuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The pipeline's modules, by name. Tokens are write-only."""

    queryset = Module.objects.all()
    lookup_field = "name"
    permission_classes = [ModelPermissions]
    filterset_fields = ["kind", "status", "enabled"]

    def get_serializer_class(self):
        return ModuleDetailSerializer if self.action == "retrieve" else ModuleSerializer

    def perform_create(self, serializer):
        module = serializer.save()
        audit.record(
            "module.create",
            actor=self.request.user,
            obj=module,
            after=_summary(serializer.validated_data),
        )

    def perform_update(self, serializer):
        before = _summary(ModuleSerializer(serializer.instance).data)
        module = serializer.save()
        audit.record(
            "module.update",
            actor=self.request.user,
            obj=module,
            before=before,
            after=_summary(serializer.validated_data),
        )


def _summary(data) -> dict:
    return {k: v for k, v in dict(data).items() if k != "token"}


class PipelineStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    changed_at = serializers.DateTimeField(allow_null=True)
    modules = serializers.DictField(child=serializers.CharField())


@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated])
def pipeline_status(request):
    """Overall status (001 "Pipeline Status Indicator") and each module's status."""
    if not request.user.has_perm("monitoring.view_module"):
        return Response({"detail": "You do not have permission to see the pipeline."}, status=403)
    now = timezone.now()
    modules = list(Module.objects.filter(enabled=True))
    state = PipelineState.objects.filter(pk=1).first()
    data = {
        "status": services.pipeline_status(modules, now),
        "changed_at": state.changed_at if state else None,
        "modules": {m.name: "UNKNOWN" if services.is_stale(m, now) else m.status for m in modules},
    }
    return Response(PipelineStatusSerializer(data).data)
