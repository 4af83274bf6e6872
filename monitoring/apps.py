from django.apps import AppConfig


def _may_watch_module(user, key: str) -> bool:
    """`module.<name>`: any signed-in user who may view modules (the views decide the rest)."""
    return bool(key) and user.has_perm("monitoring.view_module")


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from console import live

        live.register_topic("module", _may_watch_module)
        live.register_topic(
            "backups", lambda user, key: not key and user.has_perm("monitoring.view_backupclass")
        )
        live.register_topic(
            "alerts", lambda user, key: not key and user.has_perm("monitoring.view_alert")
        )

        live.register_topic(
            "jobs", lambda user, key: not key and user.has_perm("monitoring.view_job")
        )
        live.register_topic(
            "actions", lambda user, key: not key and user.has_perm("monitoring.view_actionrun")
        )

        from . import metrics

        metrics.register()
