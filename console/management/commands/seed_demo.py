from django.conf import settings
from django.core.management import BaseCommand, CommandError

from console.demo import (
    seed_backups_and_drills,
    seed_capacity_history,
    seed_changes,
    seed_maintenance,
    seed_modules,
    seed_shifts,
    seed_users,
)


class Command(BaseCommand):
    help = "Create the demo users (one per role, password DEMO_PASSWORD or 'demo'). Embedded only."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-non-embedded",
            action="store_true",
            help="Seed even though REDIS_URL is set or the database is not SQLite.",
        )

    def handle(self, *args, allow_non_embedded, verbosity=1, **options):
        engine = settings.DATABASES["default"]["ENGINE"]
        embedded = not settings.REDIS_URL and engine.endswith("sqlite3")
        if not embedded and not allow_non_embedded:
            raise CommandError(
                "This looks like a production set-up (REDIS_URL set or not SQLite): demo users "
                "with a known password are not created there. Use --allow-non-embedded for a "
                "throw-away database."
            )
        users = seed_users()
        seed_modules()
        seed_changes()
        seed_maintenance()
        seed_shifts()
        seed_capacity_history()
        seed_backups_and_drills()
        if verbosity:
            self.stdout.write(f"Demo users ready: {', '.join(u.username for u in users)}")
