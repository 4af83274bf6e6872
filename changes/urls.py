from django.urls import path

from console.pending import pending_page

app_name = "changes"
urlpatterns = [
    path(
        "",
        pending_page("Changes", 8, "Change requests, risk, CAB approvals and the change calendar."),
        name="index",
    ),
    path(
        "maintenance/",
        pending_page(
            "Maintenance", 9, "Maintenance windows with notices, checklists and automatic silences."
        ),
        name="maintenance",
    ),
]
