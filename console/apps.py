from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (login/logout audit: auth only offers signals)
