from django.urls import path

from . import backup_views

app_name = "backups"
urlpatterns = [
    path("", backup_views.index, name="index"),
    path("drills/schedule/", backup_views.drill_schedule, name="drill_schedule"),
    path("drills/<int:pk>/record/", backup_views.drill_record, name="drill_record"),
    path("drills/<int:pk>/cancel/", backup_views.drill_cancel, name="drill_cancel"),
]
