from django.urls import path

from . import views

app_name = "shifts"
urlpatterns = [
    path("", views.index, name="index"),
    path("notices/read/", views.notices_read, name="notices_read"),
    path("oncall-now/", views.oncall_badge, name="oncall_badge"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/shifts/add/", views.shift_add, name="shift_add"),
    path("calendar/shifts/swap/", views.shift_swap, name="shift_swap"),
    path("calendar/rota/add/", views.rota_add, name="rota_add"),
    path("calendar/overrides/add/", views.override_add, name="override_add"),
    path("ical/<str:token>.ics", views.ical_feed, name="ical"),
    path("checklists/<slug:key>/", views.checklist, name="checklist"),
    path("checklists/<slug:key>/tick/", views.checklist_tick, name="checklist_tick"),
    path("ticks/<int:pk>/incident/", views.tick_incident, name="tick_incident"),
    path("log/", views.log, name="log"),
    path("log/add/", views.log_add, name="log_add"),
    path("log/<int:pk>/close/", views.log_close, name="log_close"),
    path("handoff/", views.handoff_start, name="handoff_start"),
    path("oncall/", views.oncall_log, name="oncall_log"),
    path("handoffs/<int:pk>/", views.handoff, name="handoff"),
    path("handoffs/<int:pk>/draft/", views.handoff_draft, name="handoff_draft"),
    path("handoffs/<int:pk>/refresh/", views.handoff_refresh, name="handoff_refresh"),
    path("handoffs/<int:pk>/confirm/<slug:what>/", views.handoff_confirm, name="handoff_confirm"),
    path("handoffs/<int:pk>/test/", views.handoff_test, name="handoff_test"),
    path(
        "handoffs/<int:pk>/test/<int:notice>/received/",
        views.handoff_received,
        name="handoff_received",
    ),
    path("handoffs/<int:pk>/sign/", views.handoff_sign, name="handoff_sign"),
    path("summary/", views.summary, name="summary"),
]
