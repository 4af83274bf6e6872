from django.urls import path

from console.pending import pending_page

from . import route_views, views

app_name = "monitoring"
urlpatterns = [
    path("", views.index, name="index"),
    path("modules/add/", views.module_add, name="module_add"),
    path("modules/<slug:name>/", views.module_dashboard, name="module"),
    path("modules/<slug:name>/edit/", views.module_edit, name="module_edit"),
    path("annotations/add/", views.annotation_add, name="annotation_add"),
    path("annotations/<int:pk>/end/", views.annotation_end, name="annotation_end"),
    path("charts/<slug:key>.json", views.chart_data, name="chart"),
    path("routes/", route_views.routes, name="routes"),
    path("routes/test/", route_views.route_test, name="route_test"),
    path("routes/add/", route_views.route_add, name="route_add"),
    path("routes/<int:pk>/edit/", route_views.route_edit, name="route_edit"),
    path("routes/groups/<int:pk>/", route_views.alert_group, name="alert_group"),
    path(
        "jobs/",
        pending_page("Jobs", 10, "The batch job catalogue, its runs, and runbook actions."),
        name="jobs",
    ),
]
