import os

from django.conf import settings
from django.core.management import BaseCommand, call_command

from console.embedded import serve


class Command(BaseCommand):
    help = "Set up and start the whole console in one process (the embedded mode of `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-simulator", action="store_true")
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo data")

    def handle(self, *args, host, port, no_simulator, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_policy", verbosity=0)
        if not no_demo:
            call_command("seed_demo", verbosity=0)
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"
        password = os.environ.get("DEMO_PASSWORD", "demo")
        self.stdout.write(
            self.style.SUCCESS(f"\nPipeline Ops Console (embedded mode) at {url}\n")
            + ("" if no_demo else self._logins(password))
            + f"Database: {settings.DATABASES['default']['NAME']}\nCtrl-C stops everything.\n"
        )
        serve(host, port, with_simulator=not no_simulator)

    def _logins(self, password: str) -> str:
        from console.demo import DEMO_USERS

        names = ", ".join(username for username, _ in DEMO_USERS)
        return f"Demo logins (password '{password}'): {names}\n"
