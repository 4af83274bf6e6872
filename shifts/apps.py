from django.apps import AppConfig


class ShiftsConfig(AppConfig):
    name = "shifts"

    def ready(self):
        from console import live

        live.register_topic("shifts", _may_watch)
        live.register_topic("handoff", _may_watch_handoff)


def _may_watch(user, key: str) -> bool:
    return not key and user.has_perm("shifts.view_shift")


def _may_watch_handoff(user, key: str) -> bool:
    """`handoff.<pk>`: whoever may see the shift pages (handoffs are shared with the team)."""
    return key.isdigit() and user.has_perm("shifts.view_shift")
