from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api, backup_api, jobs_api, route_api

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
    path("backups/runs/", backup_api.BackupRunReport.as_view(), name="backup-runs"),
    path("jobs/", jobs_api.job_list, name="job-list"),
    path("jobs/<slug:name>/", jobs_api.job_detail, name="job-detail"),
    path("jobs/<slug:name>/runs/", jobs_api.job_runs, name="job-runs"),
    *(
        path(f"jobs/<slug:name>/{op}/", jobs_api.job_operation, {"operation": op}, name=f"job-{op}")
        for op in ("trigger", "suspend", "resume")
    ),
    path("actions/", jobs_api.action_list, name="action-list"),
    *router.urls,
]
