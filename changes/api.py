"""`/api/v1/changes/`: raise, list, read and one POST action per transition (issue 8's
contract). The CHG id is the key in URLs. Refusals answer 400 (bad input), 403 (role,
separation of duties) or 409 (the change's state, scheduling conflicts — listed in
`conflicts`) with a JSON `detail`."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated

from console.api import ServiceActionsMixin
from console.errors import Refused

from . import services
from .models import (
    Approval,
    Change,
    ChangeEvent,
    ChangeType,
    Level,
    Priority,
    Risk,
    Status,
)

NUMBER_RE = r"CHG-\d{4}-\d{4}-\d{3,}"


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")
    kind = serializers.CharField(help_text=", ".join(ChangeEvent.Kind.values))

    class Meta:
        model = ChangeEvent
        fields = ["at", "kind", "actor", "text", "round"]


class ApprovalSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    # Plain strings in the schema: `kind` is a name other apps' enums use too.
    kind = serializers.CharField(help_text=", ".join(Approval.Kind.values))
    decision = serializers.CharField(help_text=", ".join(Approval.Decision.values))

    class Meta:
        model = Approval
        fields = ["round", "kind", "role", "user", "decision", "comment", "at"]


class ChangeSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="number", read_only=True)
    affected_modules = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    requester = serializers.CharField(source="requester.username", read_only=True)
    status = serializers.CharField(read_only=True, help_text=", ".join(Status.values))
    risk = serializers.CharField(read_only=True, help_text=", ".join(Risk.values))
    # Plain strings in the schema (other apps' enums share these field names).
    type = serializers.CharField(read_only=True, help_text=", ".join(ChangeType.values))
    impact = serializers.CharField(read_only=True, help_text=", ".join(Level.values))
    likelihood = serializers.CharField(read_only=True, help_text=", ".join(Level.values))
    priority = serializers.CharField(read_only=True, help_text=", ".join(Priority.values))
    formal_overdue = serializers.BooleanField(read_only=True)
    review_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Change
        fields = [
            "id",
            "title",
            "type",
            "status",
            "risk",
            "impact",
            "likelihood",
            "priority",
            "requester",
            "description",
            "business_justification",
            "technical_details",
            "affected_modules",
            "affected_systems",
            "risk_assessment",
            "testing_performed",
            "implementation_plan",
            "rollback_plan",
            "success_criteria",
            "requires_downtime",
            "planned_start",
            "planned_end",
            "scheduled_start",
            "scheduled_end",
            "schedule_conflicts",
            "override_reason",
            "round",
            "formal_due_at",
            "formal_completed_at",
            "formal_overdue",
            "rollback_reason",
            "rollback_outcome",
            "review_due_at",
            "review_overdue",
            "created_at",
            "submitted_at",
            "approved_at",
            "started_at",
            "finished_at",
        ]


class ChangeDetailSerializer(ChangeSerializer):
    approvals = ApprovalSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)

    class Meta(ChangeSerializer.Meta):
        fields = ChangeSerializer.Meta.fields + ["approvals", "events"]


class CreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    # Checked by the service (400 with the reason); plain strings in the schema.
    type = serializers.CharField(default=ChangeType.NORMAL, help_text=", ".join(ChangeType.values))
    impact = serializers.CharField(help_text=", ".join(Level.values))
    likelihood = serializers.CharField(help_text=", ".join(Level.values))
    affected_modules = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    template = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Standard change: catalogue name"
    )
    priority = serializers.CharField(default=Priority.MEDIUM, help_text=", ".join(Priority.values))
    description = serializers.CharField(required=False, allow_blank=True, default="")
    business_justification = serializers.CharField(required=False, allow_blank=True, default="")
    technical_details = serializers.CharField(required=False, allow_blank=True, default="")
    affected_systems = serializers.CharField(required=False, allow_blank=True, default="")
    risk_assessment = serializers.CharField(required=False, allow_blank=True, default="")
    testing_performed = serializers.CharField(required=False, allow_blank=True, default="")
    implementation_plan = serializers.CharField(required=False, allow_blank=True, default="")
    rollback_plan = serializers.CharField(required=False, allow_blank=True, default="")
    success_criteria = serializers.CharField(required=False, allow_blank=True, default="")
    requires_downtime = serializers.BooleanField(required=False, default=False)
    planned_start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    planned_end = serializers.DateTimeField(required=False, allow_null=True, default=None)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewSerializer(CommentSerializer):
    passed = serializers.BooleanField(required=False, default=True)


class ScheduleSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


class ChangeNoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class RollbackSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    outcome = serializers.CharField(required=False, allow_blank=True, default="")
    trigger = serializers.CharField(required=False, allow_blank=True, default="")


class VerbalSerializer(serializers.Serializer):
    approver = serializers.CharField(help_text="Username of the on-call manager")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ChangeViewSet(
    ServiceActionsMixin,
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Change requests: raise (POST), list (`?status=`, `?module=`), read one, act on it."""

    lookup_field = "number"
    lookup_value_regex = NUMBER_RE
    permission_classes = [IsAuthenticated]
    serializer_class = ChangeSerializer
    detail_serializer_class = ChangeDetailSerializer

    def get_queryset(self):
        if not services.can_view(self.request.user):
            return Change.objects.none()
        queryset = Change.objects.select_related("requester").prefetch_related("affected_modules")
        params = self.request.query_params
        if params.get("status"):
            queryset = queryset.filter(status=params["status"])
        if params.get("module"):
            queryset = queryset.filter(affected_modules__name=params["module"]).distinct()
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return CreateSerializer
        if self.action == "list":
            return ChangeSerializer
        return ChangeDetailSerializer

    def _run(self, serializer_class, fn, acting: bool = False):
        # `acting`: only the change's actors (services.can_act), checked before the body.
        if acting:
            change = self.get_object()
            if not services.can_act(self.request.user, change):
                raise PermissionDenied(
                    f"Only the requester, the implementer or an Operations Lead acts on "
                    f"{change.number}."
                )
        return super()._run(serializer_class, fn)

    @extend_schema(request=CreateSerializer, responses={201: ChangeDetailSerializer})
    def create(self, request, *args, **kwargs):
        # The role before the body: a role that may not raise changes gets 403.
        if not request.user.has_perm(services.ADD):
            raise PermissionDenied("Your role may not raise change requests.")
        serializer = CreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        template = data.pop("template") or None
        change = services.create(request.user, template=template, **data)
        return self._respond(change, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, number=None):
        return self._run(None, lambda c, d: services.submit(request.user, c.pk))

    @extend_schema(request=ReviewSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, number=None):
        return self._run(
            ReviewSerializer,
            lambda c, d: services.review(
                request.user, c.pk, passed=d["passed"], comment=d["comment"]
            ),
        )

    @extend_schema(request=CommentSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, number=None):
        return self._run(
            CommentSerializer,
            lambda c, d: services.decide(request.user, c.pk, "approve", d["comment"]),
        )

    @extend_schema(request=CommentSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, number=None):
        return self._run(
            CommentSerializer,
            lambda c, d: services.decide(request.user, c.pk, "reject", d["comment"]),
        )

    @extend_schema(request=None, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def revise(self, request, number=None):
        return self._run(None, lambda c, d: services.revise(request.user, c.pk))

    @extend_schema(request=VerbalSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"], url_path="verbal-approval")
    def verbal_approval(self, request, number=None):
        def fn(change, data):
            approver = get_user_model().objects.filter(username=data["approver"]).first()
            if approver is None:
                raise Refused(f"No user named {data['approver']}.", 400)
            services.record_verbal_approval(request.user, change.pk, approver, data["note"])

        return self._run(VerbalSerializer, fn, acting=True)

    @extend_schema(request=ScheduleSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, number=None):
        return self._run(
            ScheduleSerializer,
            lambda c, d: services.schedule(
                request.user, c.pk, d["start"], d["end"], d["override_reason"]
            ),
            acting=True,
        )

    @extend_schema(request=None, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, number=None):
        return self._run(None, lambda c, d: services.start(request.user, c.pk))

    @extend_schema(request=ChangeNoteSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, number=None):
        return self._run(
            ChangeNoteSerializer, lambda c, d: services.complete(request.user, c.pk, d["note"])
        )

    @extend_schema(request=RollbackSerializer, responses=ChangeDetailSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, number=None):
        return self._run(
            RollbackSerializer,
            lambda c, d: services.rollback(
                request.user, c.pk, d["reason"], d["outcome"], d["trigger"]
            ),
            acting=True,
        )
