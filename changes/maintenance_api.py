"""`/api/v1/maintenance-windows/`: list (`?active=true`, `status`, `type`, `module`) and create
(`type`, `start`, `end`, `modules`, `title`, `impact`, …) through `changes.maintenance`; a
refused window answers 400 with the reason in `detail` (and `errors` by field). The detail
adds the change requests the window carries; `POST …/<id>/reschedule/` (`start`, `end`,
`reason`, `emergency_reason`) moves a window that has not started."""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from monitoring.api import ModelPermissions
from monitoring.models import Module

from . import maintenance
from .models import MaintenanceType, MaintenanceWindow


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    type = serializers.SlugRelatedField(slug_field="key", queryset=MaintenanceType.objects.all())
    modules = serializers.SlugRelatedField(
        slug_field="name", many=True, queryset=Module.objects.all()
    )
    number = serializers.CharField(read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    silence = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    # A plain string in the schema: monitoring's Module has a `status` enum too (spectacular
    # warns on the collision and `check --deploy` fails on warnings).
    status = serializers.CharField(
        read_only=True, help_text=", ".join(MaintenanceWindow.Status.values)
    )

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "number",
            "type",
            "title",
            "status",
            "start",
            "end",
            "modules",
            "activities",
            "impact",
            "availability_target",
            "contact",
            "emergency_reason",
            "owner",
            "requested_by",
            "approving_role",
            "approved_by",
            "approved_at",
            "started_at",
            "ended_at",
            "silence",
            "url",
        ]
        read_only_fields = [
            "status",
            "requested_by",
            "approving_role",
            "approved_by",
            "approved_at",
            "started_at",
            "ended_at",
        ]

    def get_url(self, window) -> str:
        return maintenance.window_url(window)


class CarriedChangeSerializer(serializers.Serializer):
    number = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    requires_downtime = serializers.BooleanField()
    modules = serializers.SerializerMethodField()
    scheduled_start = serializers.DateTimeField(allow_null=True)
    scheduled_end = serializers.DateTimeField(allow_null=True)
    planned_start = serializers.DateTimeField(allow_null=True)
    planned_end = serializers.DateTimeField(allow_null=True)

    def get_modules(self, change) -> list[str]:
        return sorted(m.name for m in change.affected_modules.all())


class MaintenanceWindowDetailSerializer(MaintenanceWindowSerializer):
    """The list's fields and the changes the window carries (one query more, so detail only)."""

    changes = serializers.SerializerMethodField()

    class Meta(MaintenanceWindowSerializer.Meta):
        fields = [*MaintenanceWindowSerializer.Meta.fields, "changes"]

    @extend_schema_field(CarriedChangeSerializer(many=True))
    def get_changes(self, window) -> list[dict]:
        return CarriedChangeSerializer(maintenance.carried_changes(window), many=True).data


class RescheduleSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    emergency_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000
    )


class MaintenanceWindowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Maintenance windows. Creating one checks the rules of 000 (cap, notice, overlap) and
    approves it when the caller holds the type's approving role."""

    serializer_class = MaintenanceWindowSerializer
    permission_classes = [ModelPermissions]
    queryset = MaintenanceWindow.objects.all()

    def get_queryset(self):
        windows = (
            maintenance.visible_windows(self.request.user)
            .select_related("type", "owner")
            .prefetch_related("modules")
            .order_by("start", "pk")
        )
        params = self.request.query_params
        if params.get("active", "").lower() in ("1", "true", "yes"):
            windows = windows.filter(status=MaintenanceWindow.Status.IN_PROGRESS)
        if params.get("status"):
            windows = windows.filter(status=params["status"])
        if params.get("type"):
            windows = windows.filter(type__key=params["type"])
        if params.get("module"):
            windows = windows.filter(modules__name=params["module"]).distinct()
        return windows

    def get_serializer_class(self):
        if self.action == "retrieve":
            return MaintenanceWindowDetailSerializer
        return MaintenanceWindowSerializer

    @extend_schema(request=RescheduleSerializer, responses=MaintenanceWindowDetailSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        window = self.get_object()
        # The role before the body: 403 for someone who may not move it, not field errors.
        if not maintenance.owner_or_approver(request.user, window):
            return Response({"detail": "Only the owner or an approver reschedules a window."}, 403)
        data = RescheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        window = maintenance.reschedule_window(
            request.user,
            window.pk,
            values["start"],
            values["end"],
            reason=values["reason"],
            emergency_reason=values["emergency_reason"] or None,
        )
        return Response(MaintenanceWindowDetailSerializer(window).data)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            window = maintenance.schedule_window(
                request.user,
                type=data.pop("type"),
                title=data.pop("title"),
                start=data.pop("start"),
                end=data.pop("end"),
                modules=data.pop("modules"),
                **data,
            )
        except PermissionDenied as exc:
            return Response({"detail": str(exc)}, status=403)
        except IntegrityError:
            return Response({"detail": "The window must end after it starts."}, status=400)
        return Response(self.get_serializer(window).data, status=201)


router = SimpleRouter()
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")
urlpatterns = router.urls
