from django.urls import path

from . import action_views, alert_views, job_views, route_views, views

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
    path("routes/", route_views.routes, name="routes"),
    path("routes/test/", route_views.route_test, name="route_test"),
    path("routes/add/", route_views.route_add, name="route_add"),
    path("routes/<int:pk>/edit/", route_views.route_edit, name="route_edit"),
    path("routes/groups/<int:pk>/", route_views.alert_group, name="alert_group"),
    path(
        "actions/<slug:module>/degraded/", action_views.degraded_activate, name="degraded_activate"
    ),
    # Alerts, silences, rules, runbooks, the war room's alerts panel (issue 6).
    path("alerts/", alert_views.alerts, name="alerts"),
    path("alerts/<int:pk>/", alert_views.alert_detail, name="alert"),
    path("silences/", alert_views.silence_list, name="silences"),
    path("silences/add/", alert_views.silence_add, name="silence_add"),
    path("silences/<int:pk>/expire/", alert_views.silence_expire, name="silence_expire"),
    path("rules/", alert_views.rule_list, name="rules"),
    path("rules/<slug:name>/", alert_views.rule_detail, name="rule"),
    path("rules/<slug:name>/enabled/", alert_views.rule_enabled, name="rule_enabled"),
    path("rules/<slug:name>/test/", alert_views.rule_test, name="rule_test"),
    path("runbooks/", alert_views.runbook_list, name="runbooks"),
    path("runbooks/<slug:slug>/", alert_views.runbook_detail, name="runbook"),
    path("incidents/<str:number>/alerts/", alert_views.incident_alerts, name="incident_alerts"),
    path(
        "incidents/<str:number>/alerts/link/",
        alert_views.incident_alert_link,
        name="incident_alert_link",
    ),
    path(
        "incidents/<str:number>/alerts/<int:pk>/unlink/",
        alert_views.incident_alert_unlink,
        name="incident_alert_unlink",
    ),
    path("actions/<slug:module>/degraded/end/", action_views.degraded_end, name="degraded_end"),
    path("actions/<slug:module>/<slug:key>/", action_views.action_page, name="action"),
    path("actions/<slug:module>/<slug:key>/run/", action_views.action_run, name="action_run"),
]
