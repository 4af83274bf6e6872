"""`/api/v1/oncall/now/`, `/api/v1/shifts/`, `/api/v1/rota/`, `/api/v1/shift-log/`,
`/api/v1/handoffs/` (create, draft PATCH, `POST <id>/sign/` by each of the two operators).
A refused action answers 400/403/409 with a JSON `detail` saying why."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.models import Incident

from . import services
from .models import Handoff, LogEntry, RotaWeek, Shift


def _run(fn):
    try:
        return fn()
    except PermissionDenied as exc:
        raise DRFPermissionDenied(str(exc) or None) from exc


class Username(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(slug_field="username", **kwargs)


class ViewPermission(IsAuthenticated):
    """Reads need the view permission; creating needs the viewset's `create_perm` too,
    checked before the body is read (403 for a role that may not, not field errors)."""

    def has_permission(self, request, view):
        if not (super().has_permission(request, view) and request.user.has_perm(services.VIEW)):
            return False
        create_perm = getattr(view, "create_perm", None)
        if create_perm and getattr(view, "action", None) == "create":
            return request.user.has_perm(create_perm)
        return True


class OnCallSerializer(serializers.Serializer):
    primary = serializers.CharField(allow_null=True)
    secondary = serializers.CharField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)


class OnCallNow(APIView):
    """Who is primary and secondary on call now (usernames) and until when."""

    permission_classes = [ViewPermission]

    @extend_schema(responses=OnCallSerializer)
    def get(self, request):
        now = services.on_call_now()
        data = {
            "primary": now.primary.get_username() if now.primary else None,
            "secondary": now.secondary.get_username() if now.secondary else None,
            "until": now.until,
        }
        return Response(OnCallSerializer(data).data)


class ShiftSerializer(serializers.ModelSerializer):
    primary = Username()
    secondary = Username(required=False, allow_null=True)

    class Meta:
        model = Shift
        fields = ["id", "starts_at", "ends_at", "primary", "secondary", "notes"]


class ShiftViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [ViewPermission]
    create_perm = services.MANAGE_SHIFTS
    serializer_class = ShiftSerializer

    def get_queryset(self):
        rows = Shift.objects.select_related("primary", "secondary").order_by("starts_at")
        since = self.request.query_params.get("since")
        if since:
            field = serializers.DateTimeField()
            try:
                rows = rows.filter(ends_at__gt=field.to_internal_value(since))
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"since": exc.detail}) from exc
        return rows

    def perform_create(self, serializer):
        serializer.instance = _run(
            lambda: services.create_shift(self.request.user, **serializer.validated_data)
        )


class RotaWeekSerializer(serializers.ModelSerializer):
    primary = Username()
    secondary = Username(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False)

    class Meta:
        model = RotaWeek
        fields = ["id", "starts_at", "ends_at", "primary", "secondary"]
        validators = []  # overlaps and gaps are the service's to refuse, with its message


class RotaViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [ViewPermission]
    create_perm = services.MANAGE_ROTA
    serializer_class = RotaWeekSerializer
    queryset = RotaWeek.objects.select_related("primary", "secondary").order_by("starts_at")

    def perform_create(self, serializer):
        serializer.instance = _run(
            lambda: services.add_rota_week(self.request.user, **serializer.validated_data)
        )


class LogEntrySerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    incident = serializers.SlugRelatedField(
        slug_field="number", queryset=Incident.objects.all(), required=False, allow_null=True
    )
    # Plain strings in the schema: `kind` and `status` are names other apps' enums use too.
    kind = serializers.CharField(help_text=", ".join(LogEntry.Kind.values))
    status = serializers.CharField(read_only=True, help_text=", ".join(LogEntry.Status.values))

    class Meta:
        model = LogEntry
        fields = [
            "id",
            "kind",
            "text",
            "justification",
            "actions",
            "verification",
            "side_effects",
            "root_cause",
            "remediation",
            "counterpart",
            "incident",
            "change_ref",
            "job_ref",
            "status",
            "author",
            "at",
            "shift",
        ]
        read_only_fields = ["status", "author", "at", "shift"]


class LogEntryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [ViewPermission]
    create_perm = services.LOG
    serializer_class = LogEntrySerializer

    def get_queryset(self):
        rows = LogEntry.objects.select_related("author", "incident")
        kind = self.request.query_params.get("kind")
        if kind:
            rows = rows.filter(kind=kind)
        return rows

    def perform_create(self, serializer):
        serializer.instance = _run(
            lambda: services.add_log_entry(self.request.user, **serializer.validated_data)
        )

    @extend_schema(request=None, responses=LogEntrySerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        entry = self.get_object()
        entry = _run(lambda: services.close_log_entry(request.user, entry.pk))
        return Response(LogEntrySerializer(entry).data)


class HandoffSerializer(serializers.ModelSerializer):
    outgoing = serializers.CharField(source="outgoing.username", read_only=True)
    incoming = Username()
    kind = serializers.CharField(
        default=Handoff.Kind.SHIFT, help_text=", ".join(Handoff.Kind.values)
    )
    status = serializers.CharField(read_only=True, help_text=", ".join(Handoff.Status.values))
    missing_verification = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Handoff
        fields = [
            "id",
            "kind",
            "status",
            "outgoing",
            "incoming",
            "shift",
            "rota",
            "state",
            "state_at",
            "system_health",
            "items_to_watch",
            "briefing_points",
            "incidents_summary",
            "dashboard_confirmed_at",
            "contacts_confirmed_at",
            "test_sent_at",
            "test_received_at",
            "outgoing_signed_at",
            "incoming_signed_at",
            "missing_verification",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [f for f in fields if f not in ("incoming", "kind")]


class DraftSerializer(serializers.Serializer):
    system_health = serializers.CharField(required=False, allow_blank=True)
    items_to_watch = serializers.CharField(required=False, allow_blank=True)
    briefing_points = serializers.CharField(required=False, allow_blank=True)
    incidents_summary = serializers.CharField(required=False, allow_blank=True)


class HandoffViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [ViewPermission]
    create_perm = services.HANDOFF
    serializer_class = HandoffSerializer
    queryset = Handoff.objects.select_related("outgoing", "incoming").order_by("-created_at")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        handoff = _run(
            lambda: services.start_handoff(
                request.user,
                incoming=serializer.validated_data["incoming"],
                kind=serializer.validated_data["kind"],
            )
        )
        return Response(HandoffSerializer(handoff).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DraftSerializer, responses=HandoffSerializer)
    def partial_update(self, request, pk=None):
        handoff = self.get_object()
        serializer = DraftSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        handoff = _run(
            lambda: services.save_draft(request.user, handoff.pk, serializer.validated_data)
        )
        return Response(HandoffSerializer(handoff).data)

    @extend_schema(request=None, responses=HandoffSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        handoff = self.get_object()
        handoff = _run(lambda: services.sign(request.user, handoff.pk))
        return Response(HandoffSerializer(handoff).data)
