"""Alert routing in the API (issue 6): the routes, and "which route would this alert take"."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from . import routing
from .api import ModelPermissions
from .models import Route
from .route_forms import LABEL_NAME


class RouteSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    receiver = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    continue_ = serializers.BooleanField(source="continue_matching", read_only=True)

    class Meta:
        model = Route
        fields = [
            "id",
            "name",
            "parent",
            "position",
            "matchers",
            "receiver",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "continue_",
            "enabled",
        ]

    def get_fields(self):
        # `continue` (Alertmanager's name) is a Python keyword: renamed here rather than in
        # to_representation, so that the published schema names it as it is sent.
        return {
            ("continue" if name == "continue_" else name): field
            for name, field in super().get_fields().items()
        }


class RouteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The route tree as rows (`parent` names the parent; empty settings are inherited)."""

    queryset = Route.objects.select_related("parent", "receiver")
    serializer_class = RouteSerializer
    permission_classes = [ModelPermissions]
    pagination_class = None


class RouteTestRequest(serializers.Serializer):
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))


class RouteMatchSerializer(serializers.Serializer):
    route = serializers.CharField()
    route_id = serializers.IntegerField()
    path = serializers.ListField(child=serializers.CharField())
    receiver = serializers.CharField(allow_null=True)
    group_by = serializers.ListField(child=serializers.CharField())
    group_labels = serializers.DictField(child=serializers.CharField())
    group_key = serializers.CharField()
    group_wait = serializers.IntegerField()
    group_interval = serializers.IntegerField()
    repeat_interval = serializers.IntegerField()
    # `continue` in the JSON, as Alertmanager spells it.


class RouteTestResult(serializers.Serializer):
    labels = serializers.DictField(child=serializers.CharField())
    matches = RouteMatchSerializer(many=True)
    silenced_by = serializers.ListField(child=serializers.IntegerField())


class RouteTest(APIView):
    """POST `{"labels": {...}}`: the route(s) an alert with these labels would take, its
    receiver and grouping key, and the silences muting it now. Changes nothing."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=RouteTestRequest, responses={200: RouteTestResult})
    def post(self, request):
        if not request.user.has_perm("monitoring.view_route"):
            return Response({"detail": "You may not see the routes."}, status=403)
        labels = request.data.get("labels") if isinstance(request.data, dict) else None
        if not isinstance(labels, dict):
            return Response(
                {"detail": "`labels` must be an object of label names to values."}, status=400
            )
        try:
            labels = parse_labels_dict(labels)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(routing.test_route(labels))


def parse_labels_dict(labels: dict) -> dict[str, str]:
    if not labels:
        raise ValueError("Give at least one label.")
    for name, value in labels.items():
        if not LABEL_NAME.match(name):
            raise ValueError(f"{name!r} is not a label name.")
        if not isinstance(value, str):
            raise ValueError(f"The value of {name} must be a string.")
    return dict(labels)
