from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changes and maintenance"

    def ready(self):
        from console import live

        # `maintenance`: the calendar, the window pages and the banner on every page.
        live.register_topic(
            "maintenance",
            lambda user, key: not key and user.has_perm("changes.view_maintenancewindow"),
        )
