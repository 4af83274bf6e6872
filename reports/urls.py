from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:key>/", views.detail, name="detail"),
    path("<slug:key>.csv", views.download, name="download"),
]
