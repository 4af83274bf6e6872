from django.urls import path

from console.pending import pending_page

app_name = "changes"
urlpatterns = [
    path(
        "",
        pending_page("Changes", 8, "Change requests, risk, CAB approvals and the change calendar."),
        name="index",
    ),
]
