from rest_framework.routers import SimpleRouter

from .api import ChangeViewSet

router = SimpleRouter()
router.register("changes", ChangeViewSet, basename="change")
urlpatterns = router.urls
