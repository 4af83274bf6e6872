from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monitoring import views as monitoring_views

from . import api, health, views

api_v1 = [
    path("me/", api.MeView.as_view(), name="me"),
    path("audit/", api.AuditList.as_view(), name="audit"),
    path("", include("monitoring.api_urls")),
    path("", include("incidents.api_urls")),
    path("", include("changes.api_urls")),
    path("", include("changes.maintenance_api")),
    path("", include("shifts.api_urls")),
]

urlpatterns = [
    # The home page is the System Overview dashboard (issue 4).
    path("", monitoring_views.overview, name="overview"),
    path(
        "login/",
        login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", views.audit_list, name="audit"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("incidents/", include("incidents.urls")),
    path("changes/", include("changes.urls")),
    path("", include("changes.maintenance_urls")),
    path("shifts/", include("shifts.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("capacity/", include("monitoring.capacity_urls")),
    path("backups/", include("monitoring.backup_urls")),
    path("reports/", include("reports.urls")),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

handler400 = "console.views.bad_request"
handler403 = "console.views.permission_denied"
handler404 = "console.views.page_not_found"
handler500 = "console.views.server_error"
