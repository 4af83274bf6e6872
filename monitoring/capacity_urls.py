from django.urls import path

from . import capacity_views

app_name = "capacity"
urlpatterns = [
    path("", capacity_views.index, name="index"),
    path("calculator/", capacity_views.calculator, name="calculator"),
    path("charts/<slug:kind>.json", capacity_views.chart, name="chart"),
]
