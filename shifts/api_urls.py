from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import HandoffViewSet, LogEntryViewSet, OnCallNow, RotaViewSet, ShiftViewSet

router = SimpleRouter()
router.register("shifts", ShiftViewSet, basename="shift")
router.register("rota", RotaViewSet, basename="rota")
router.register("shift-log", LogEntryViewSet, basename="shift-log")
router.register("handoffs", HandoffViewSet, basename="handoff")
urlpatterns = [path("oncall/now/", OnCallNow.as_view(), name="oncall-now"), *router.urls]
