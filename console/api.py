from rest_framework import generics, serializers, status
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


class ServiceActionsMixin:
    """For a viewset whose POST actions each call one service on the object: `_run` validates
    the body, calls the service and answers with the object read again through
    `detail_serializer_class`. A refusal answers through `exception_handler`."""

    detail_serializer_class: type[serializers.Serializer]

    def _respond(self, obj, code=status.HTTP_200_OK) -> Response:
        # Read again: the service saved through its own (locked) copy of the row.
        obj = type(obj)._default_manager.get(pk=obj.pk)
        return Response(self.detail_serializer_class(obj).data, status=code)

    def _run(self, serializer_class, fn) -> Response:
        obj = self.get_object()
        data = {}
        if serializer_class is not None:
            serializer = serializer_class(data=self.request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        fn(obj, data)
        return self._respond(obj)


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
