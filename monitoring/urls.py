from django.urls import path

from console.pending import pending_page

app_name = "monitoring"
urlpatterns = [
    path(
        "",
        pending_page(
            "Monitoring", 4, "Module polling, metrics, thresholds and the Plotly dashboards."
        ),
        name="index",
    ),
    path(
        "jobs/",
        pending_page("Jobs", 10, "The batch job catalogue, its runs, and runbook actions."),
        name="jobs",
    ),
]
