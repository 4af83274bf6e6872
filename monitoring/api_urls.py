from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api, route_api

router = SimpleRouter()
router.register("modules", api.ModuleViewSet, basename="module")
router.register("alerts", api.AlertViewSet, basename="alert")
router.register("silences", api.SilenceViewSet, basename="silence")
router.register("routes", route_api.RouteViewSet, basename="route")

urlpatterns = [
    path("routes/test/", route_api.RouteTest.as_view(), name="route-test"),
    path("pipeline/status/", api.pipeline_status, name="pipeline-status"),
    path(
        "integrations/alertmanager/",
        api.AlertmanagerIntake.as_view(),
        name="alertmanager-intake",
    ),
    *router.urls,
]
