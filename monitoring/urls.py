from django.urls import path

from . import action_views, job_views, views

app_name = "monitoring"
urlpatterns = [
    path("", views.index, name="index"),
    path("modules/add/", views.module_add, name="module_add"),
    path("modules/<slug:name>/", views.module_dashboard, name="module"),
    path("modules/<slug:name>/edit/", views.module_edit, name="module_edit"),
    path("annotations/add/", views.annotation_add, name="annotation_add"),
    path("annotations/<int:pk>/end/", views.annotation_end, name="annotation_end"),
    path("charts/<slug:key>.json", views.chart_data, name="chart"),
    # Batch jobs (Runbook F) and runbook actions (A-E): issue 10.
    path("jobs/", job_views.jobs_page, name="jobs"),
    path("jobs/suspend-all/", job_views.jobs_suspend_all, name="jobs_suspend_all"),
    path("jobs/resume-all/", job_views.jobs_resume_all, name="jobs_resume_all"),
    path("jobs/<slug:name>/", job_views.job_detail, name="job_detail"),
    path("jobs/<slug:name>/trigger/", job_views.job_trigger, name="job_trigger"),
    path("jobs/<slug:name>/suspend/", job_views.job_suspend, name="job_suspend"),
    path("jobs/<slug:name>/resume/", job_views.job_resume, name="job_resume"),
    path("actions/", action_views.actions_page, name="actions"),
    path("actions/runs/<int:pk>/", action_views.action_result, name="action_result"),
    path(
        "actions/<slug:module>/degraded/", action_views.degraded_activate, name="degraded_activate"
    ),
    path("actions/<slug:module>/degraded/end/", action_views.degraded_end, name="degraded_end"),
    path("actions/<slug:module>/<slug:key>/", action_views.action_page, name="action"),
    path("actions/<slug:module>/<slug:key>/run/", action_views.action_run, name="action_run"),
]
