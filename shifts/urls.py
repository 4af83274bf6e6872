from django.urls import path

from console.pending import pending_page

app_name = "shifts"
urlpatterns = [
    path(
        "",
        pending_page("Shifts", 7, "Shifts, the on-call rota, daily checklists and handoffs."),
        name="index",
    ),
]
