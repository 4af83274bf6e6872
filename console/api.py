from rest_framework import generics, serializers
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import roles
from .errors import Refused
from .filters import AuditFilter
from .models import AuditEntry


class RefusedError(APIException):
    """A service's refusal (`console.errors.Refused`) as a JSON error with its status."""

    default_detail = "Refused."

    def __init__(self, refused: Refused):
        super().__init__(refused.detail)
        self.status_code = refused.code
        self.conflicts = refused.conflicts
        self.field = refused.field


def exception_handler(exc, context):
    """DRF's handler, plus: a refusal raised anywhere below a view answers with its status (so
    views and viewsets need not catch it), every error body has a `detail` string, a refusal
    that names its conflicts lists them and one that names a field says so in `errors`."""
    if isinstance(exc, Refused):
        exc = RefusedError(exc)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, RefusedError) and response is not None:
        if exc.conflicts:
            response.data["conflicts"] = exc.conflicts
        if exc.field:
            response.data["errors"] = {exc.field: [exc.detail]}
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "Invalid input.", "errors": response.data}
    elif response is not None and isinstance(response.data, list):
        response.data = {"detail": "; ".join(str(item) for item in response.data)}
    return response


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    primary_role = serializers.CharField()


class MeView(APIView):
    """Who the caller is and which roles they hold."""

    serializer_class = MeSerializer

    def get(self, request):
        user = request.user
        data = {
            "username": user.get_username(),
            "roles": roles.role_names(user),
            "primary_role": roles.primary_role(user),
        }
        return Response(MeSerializer(data).data)


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")

    class Meta:
        model = AuditEntry
        fields = [
            "seq",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "request_id",
            "source_ip",
            "prev_hash",
            "hash",
        ]


class CanViewAudit:
    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm("console.view_auditentry")

    def has_object_permission(self, request, view, obj):
        return self.has_permission(request, view)


class AuditList(generics.ListAPIView):
    """The audit trail, newest first; filters as on the Audit page."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilter
    permission_classes = [CanViewAudit]
