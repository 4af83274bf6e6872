from django.urls import path

from . import maintenance_views as views

app_name = "maintenance"
urlpatterns = [
    path("maintenance/", views.calendar, name="calendar"),
    path("maintenance/new/", views.schedule, name="schedule"),
    path("maintenance/banner/", views.banner, name="banner"),
    path("maintenance/<int:pk>/", views.detail, name="detail"),
    path("maintenance/<int:pk>/approve/", views.approve, name="approve"),
    path("maintenance/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("maintenance/<int:pk>/reschedule/", views.reschedule, name="reschedule"),
    path("maintenance/<int:pk>/end/", views.end, name="end"),
    path("maintenance/<int:pk>/announcement/", views.announcement, name="announcement"),
    path("maintenance/<int:pk>/announcement/send/", views.send, name="send"),
    path("maintenance/<int:pk>/checklist/<int:item>/", views.tick, name="tick"),
    path("maintenance/<int:pk>/rollback/", views.rollback, name="rollback"),
    path("status/", views.status, name="status"),
    path("status/maintenance.ics", views.feed, name="feed"),
]
