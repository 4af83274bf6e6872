from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from console import backup


class Command(BaseCommand):
    help = (
        "Back up the console's database in the mode it runs in: an SQLite snapshot (embedded) "
        "or a pg_dump custom-format archive (PostgreSQL)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            help="File to write (never overwritten); default var/backups/console-<time><suffix>",
        )

    def handle(self, *args, output=None, verbosity=1, **options):
        if output:
            path = Path(output)
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = settings.VAR_DIR / "backups" / f"console-{stamp}{backup.default_suffix()}"
        try:
            backup.backup(path)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        rows = sum(backup.table_counts().values())
        if verbosity:
            self.stdout.write(f"Backed up {rows} rows ({backup.vendor()}) to {path}")
