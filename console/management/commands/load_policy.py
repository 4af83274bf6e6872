from importlib import import_module

from django.apps import apps
from django.core.management import BaseCommand

from console.policy import load_roles


class Command(BaseCommand):
    help = "Load the policy data seeded from the manuals (roles, and each app's policy.load())."

    def handle(self, *args, verbosity=1, **options):
        lines = [f"Roles: {len(load_roles())}"]
        for config in apps.get_app_configs():
            if config.name == "console":
                continue
            try:
                module = import_module(f"{config.name}.policy")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.policy":
                    raise
                continue
            lines.append(f"{config.label}: {module.load()}")
        if verbosity:
            self.stdout.write("\n".join(lines))
