from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api, backup_api

router = SimpleRouter()
router.register("modules", api.ModuleViewSet, basename="module")
router.register("alerts", api.AlertViewSet, basename="alert")
router.register("silences", api.SilenceViewSet, basename="silence")

urlpatterns = [
    path("pipeline/status/", api.pipeline_status, name="pipeline-status"),
    path(
        "integrations/alertmanager/",
        api.AlertmanagerIntake.as_view(),
        name="alertmanager-intake",
    ),
    path("backups/runs/", backup_api.BackupRunReport.as_view(), name="backup-runs"),
    *router.urls,
]
