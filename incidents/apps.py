from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self):
        from console import live

        from . import metrics, views

        live.register_topic("incident", _may_watch)
        live.register_renderer("incident.updated", views.pushed_fragments)
        metrics.register()


def _may_watch(user, key: str) -> bool:
    """`incident.<pk>` (and `incident.<pk>-presence`, who is on its war room): whoever may see
    that incident (the same rule as the pages' 404)."""
    from .models import Incident
    from .services import can_view

    key = key.removesuffix("-presence")
    if not key.isdigit():
        return False
    incident = Incident.objects.filter(pk=int(key)).first()
    return incident is not None and can_view(user, incident)
