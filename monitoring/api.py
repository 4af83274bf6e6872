from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from console import audit
from console.parsers import JSONParser

from . import alerting, intake, services, silences
from .models import Alert, MetricStatus, Module, PipelineState, Silence


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


@extend_schema(responses=PipelineStatusSerializer)
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


# --- alerts, silences, Alertmanager intake ---------------------------------------------------


class AlertSerializer(serializers.ModelSerializer):
    silenced = serializers.SerializerMethodField()
    silenced_by = serializers.SerializerMethodField()
    inhibited = serializers.SerializerMethodField()
    rule = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    incident = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "fingerprint",
            "name",
            "severity",
            "labels",
            "annotations",
            "state",
            "value",
            "silenced",
            "silenced_by",
            "inhibited",
            "source",
            "rule",
            "incident",
            "active_since",
            "fired_at",
            "resolved_at",
        ]

    def get_silenced(self, alert) -> bool:
        return bool(alert.silenced_by)

    def get_silenced_by(self, alert) -> list[int]:
        return alert.silenced_by

    def get_inhibited(self, alert) -> bool:
        return alert.inhibited

    def get_incident(self, alert) -> str | None:
        return alert.incident.number if alert.incident_id else None


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts from the console's rules and from Alertmanager; `?state=firing` etc."""

    queryset = Alert.objects.select_related("rule", "incident")
    serializer_class = AlertSerializer
    lookup_field = "fingerprint"
    permission_classes = [ModelPermissions]
    filterset_fields = ["state", "name", "source", "severity"]

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        alerting.annotate(page if page is not None else [])
        return page

    def get_object(self):
        # The newest row of that fingerprint (resolved episodes stay as history).
        alert = (
            self.filter_queryset(self.get_queryset())
            .filter(fingerprint=self.kwargs["fingerprint"])
            .order_by("-active_since")
            .first()
        )
        if alert is None:
            raise NotFound("No alert with that fingerprint.")
        return alerting.annotate([alert])[0]


class MatcherSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    value = serializers.CharField(max_length=500, allow_blank=True)
    isRegex = serializers.BooleanField(default=False)  # noqa: N815 (Alertmanager's spelling)
    isEqual = serializers.BooleanField(default=True)  # noqa: N815


class SilenceSerializer(serializers.ModelSerializer):
    """Alertmanager's field names: matchers, startsAt, endsAt, createdBy, comment."""

    matchers = MatcherSerializer(many=True)
    startsAt = serializers.DateTimeField(source="starts_at")  # noqa: N815
    endsAt = serializers.DateTimeField(source="ends_at")  # noqa: N815
    createdBy = serializers.CharField(source="created_by_name", read_only=True)  # noqa: N815
    status = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = ["id", "matchers", "startsAt", "endsAt", "createdBy", "comment", "status"]

    def get_status(self, silence) -> dict:
        return {"state": silence.state(timezone.now())}


class SilencePermissions(ModelPermissions):
    """Expiring (DELETE) changes a silence, it never deletes one."""

    perms_map = {**ModelPermissions.perms_map, "DELETE": ["%(app_label)s.change_%(model_name)s"]}


class SilenceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Silences; DELETE expires one (it stays listed as expired)."""

    queryset = Silence.objects.all()
    serializer_class = SilenceSerializer
    permission_classes = [SilencePermissions]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            silence = silences.create_silence(
                request.user,
                [dict(m) for m in data["matchers"]],
                data["starts_at"],
                data["ends_at"],
                data["comment"],
            )
        except silences.SilenceError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return Response(SilenceSerializer(silence).data, status=201)

    def destroy(self, request, *args, **kwargs):
        try:
            silence = silences.expire_silence(request.user, self.get_object())
        except silences.SilenceError as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(SilenceSerializer(silence).data)


class AlertmanagerPayloadSerializer(serializers.Serializer):
    """Alertmanager's webhook payload, version 4 (documented here; monitoring/intake.py checks
    it)."""

    version = serializers.CharField()
    status = serializers.CharField(required=False)
    receiver = serializers.CharField(required=False)
    alerts = serializers.ListField(child=serializers.DictField())


class IntakeResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    resolved = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class AlertmanagerIntake(APIView):
    """Alertmanager webhook_config target: POST the version 4 payload with a bearer token whose
    user holds monitoring.add_alert."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=AlertmanagerPayloadSerializer,
        responses={200: IntakeResultSerializer, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        if not request.user.has_perm("monitoring.add_alert"):
            return Response({"detail": "This token may not post alerts."}, status=403)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > intake.MAX_BYTES:
            return Response(
                {"detail": f"Payload of {length} bytes; at most {intake.MAX_BYTES}."}, status=400
            )
        try:
            alerts = intake.validate(request.data)
        except intake.PayloadError as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(intake.apply(alerts, actor=request.user))
