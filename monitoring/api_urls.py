from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("modules", api.ModuleViewSet, basename="module")

urlpatterns = [
    path("pipeline/status/", api.pipeline_status, name="pipeline-status"),
    *router.urls,
]
