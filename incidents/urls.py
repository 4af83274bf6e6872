from django.urls import path

from console.pending import pending_page

app_name = "incidents"
urlpatterns = [
    path(
        "",
        pending_page(
            "Incidents", 5, "Declare, acknowledge, escalate and review incidents with P1–P4 timers."
        ),
        name="index",
    ),
]
