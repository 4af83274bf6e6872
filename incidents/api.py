"""`/api/v1/incidents/`: declare, list, filter, read (with the timeline) and one POST action per
transition. The INC id is the key in URLs. A refused action answers 400 (bad input) or 409
(conflicts with the incident's state) with a JSON `detail` saying why."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated

from console.api import ServiceActionsMixin
from console.errors import Refused
from console.permissions import visible

from . import services
from .filters import IncidentFilter
from .models import (
    DetectionSource,
    Escalation,
    Incident,
    Responder,
    Severity,
    Status,
    TimelineEntry,
)


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")
    # Plain strings in the schema: `kind` and `status` are names other apps' enums use too.
    kind = serializers.CharField(help_text=", ".join(TimelineEntry.Kind.values))

    class Meta:
        model = TimelineEntry
        fields = ["at", "kind", "actor", "text", "data"]


class ResponderSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Responder
        fields = ["username", "role", "added_at"]


class EscalationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Escalation
        fields = ["key", "step", "role", "trigger", "reason", "due_at", "fired_at", "notified"]


class IncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="number", read_only=True)
    affected_modules = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    commander = serializers.CharField(source="commander.username", read_only=True)
    deadlines = serializers.SerializerMethodField()
    status = serializers.CharField(read_only=True, help_text=", ".join(Status.values))

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "severity",
            "status",
            "summary",
            "impact",
            "affected_modules",
            "detection_source",
            "commander",
            "channel_url",
            "resolution_summary",
            "data_loss_confirmed",
            "detected_at",
            "declared_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "deadlines",
        ]

    def get_deadlines(self, obj) -> dict:
        return {c["key"]: c["due"].isoformat() for c in obj.countdowns()}


class IncidentDetailSerializer(IncidentSerializer):
    timeline = TimelineEntrySerializer(many=True, read_only=True)
    responders = ResponderSerializer(many=True, read_only=True)
    escalations = EscalationSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = IncidentSerializer.Meta.fields + ["responders", "escalations", "timeline"]


class DeclareSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices)
    summary = serializers.CharField()
    impact = serializers.CharField(required=False, allow_blank=True, default="")
    affected_modules = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    detection_source = serializers.ChoiceField(
        choices=DetectionSource.choices, required=False, default=DetectionSource.OBSERVATION
    )
    channel_url = serializers.URLField(required=False, allow_blank=True, default="")


class ResolveSerializer(serializers.Serializer):
    resolution_summary = serializers.CharField(required=False, allow_blank=True, default="")


class CloseSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    trigger = serializers.ChoiceField(
        choices=[(t.value, t.label) for t in Escalation.MANUAL], required=False, default="expertise"
    )


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="")


class SeveritySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class AddResponderSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Responder.Role.choices, default=Responder.Role.RESPONDER)


class UpdateSerializer(serializers.Serializer):
    subject = serializers.CharField(required=False, allow_blank=True, default="")
    body = serializers.CharField()


class IncidentViewSet(
    ServiceActionsMixin,
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Incidents: declare (POST), list with filters, read one with its timeline, act on it."""

    lookup_field = "number"
    lookup_value_regex = r"INC-\d{8}-\d{4,}"
    filterset_class = IncidentFilter
    permission_classes = [IsAuthenticated]
    serializer_class = IncidentSerializer
    detail_serializer_class = IncidentDetailSerializer

    def get_queryset(self):
        queryset = visible(self.request.user, Incident.objects.all(), services.VIEW)
        if self.action == "list":
            return queryset.select_related("commander").prefetch_related("affected_modules")
        return queryset.select_related("commander")

    def get_serializer_class(self):
        if self.action == "create":
            return DeclareSerializer
        if self.action == "list":
            return IncidentSerializer
        return IncidentDetailSerializer

    @extend_schema(request=DeclareSerializer, responses={201: IncidentDetailSerializer})
    def create(self, request, *args, **kwargs):
        # The role before the body: a role that may not declare gets 403, not field errors.
        if not request.user.has_perm("incidents.add_incident"):
            raise PermissionDenied("Your role may not declare incidents.")
        serializer = DeclareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.declare(request.user, **serializer.validated_data)
        return self._respond(incident, status.HTTP_201_CREATED)

    def _run(self, serializer_class, fn):
        # The role before the body, as on the pages (incidents.views._action).
        incident = self.get_object()
        if not services.can_act(self.request.user, incident):
            raise PermissionDenied(f"Only the commander and responders act on {incident.number}.")
        return super()._run(serializer_class, fn)

    def _move(self, to: str):
        def fn(incident, data):
            services.move(self.request.user, incident.pk, to, **data)

        return fn

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, number=None):
        return self._run(None, lambda inc, d: services.acknowledge(request.user, inc.pk))

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def investigate(self, request, number=None):
        return self._run(None, self._move(Status.INVESTIGATING))

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def mitigate(self, request, number=None):
        return self._run(None, self._move(Status.MITIGATING))

    @extend_schema(request=ResolveSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, number=None):
        return self._run(ResolveSerializer, self._move(Status.RESOLVED))

    @extend_schema(request=CloseSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, number=None):
        return self._run(CloseSerializer, self._move(Status.CLOSED))

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, number=None):
        return self._run(None, self._move(Status.INVESTIGATING))

    @extend_schema(request=EscalateSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request, number=None):
        return self._run(
            EscalateSerializer,
            lambda inc, d: services.escalate(request.user, inc.pk, d["trigger"], d["reason"]),
        )

    @extend_schema(request=NoteSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def notes(self, request, number=None):
        return self._run(
            NoteSerializer, lambda inc, d: services.add_note(request.user, inc.pk, d["text"])
        )

    @extend_schema(request=SeveritySerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def severity(self, request, number=None):
        return self._run(
            SeveritySerializer,
            lambda inc, d: services.change_severity(
                request.user, inc.pk, d["severity"], d["reason"]
            ),
        )

    @extend_schema(request=AddResponderSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def responders(self, request, number=None):
        def fn(incident, data):
            user = get_user_model().objects.filter(username=data["username"]).first()
            if user is None:
                raise Refused(f"No user named {data['username']}.", 400)
            services.add_responder(request.user, incident.pk, user, data["role"])

        return self._run(AddResponderSerializer, fn)

    @extend_schema(request=UpdateSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def updates(self, request, number=None):
        return self._run(
            UpdateSerializer,
            lambda inc, d: services.post_update(request.user, inc.pk, d["subject"], d["body"]),
        )
