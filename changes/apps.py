from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changes and maintenance"

    def ready(self):
        from console import live
        from monitoring import actions

        from .action_control import check

        # Change control on disruptive runbook actions (issue 10 item 4); once, however
        # often ready() runs (tests may call it again).
        if check not in actions.PRECHECK_HOOKS:
            actions.PRECHECK_HOOKS.append(check)

        live.register_topic("change", _may_watch)
        live.register_topic("changes", lambda user, key: not key and _may_view(user))
        # `maintenance`: the calendar, the window pages and the banner on every page.
        live.register_topic(
            "maintenance",
            lambda user, key: not key and user.has_perm("changes.view_maintenancewindow"),
        )


def _may_view(user) -> bool:
    from .services import can_view

    return can_view(user)


def _may_watch(user, key: str) -> bool:
    """`change.<pk>`: whoever may read changes (every role does)."""
    return key.isdigit() and _may_view(user)
