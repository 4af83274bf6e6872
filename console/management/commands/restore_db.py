from django.core.management import BaseCommand, CommandError

from console import audit, backup


class Command(BaseCommand):
    help = (
        "Restore a backup made by backup_db into the configured database (which must be empty "
        "unless --replace), then verify the audit chain."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--replace", action="store_true", help="Overwrite a database that holds data."
        )

    def handle(self, *args, file, replace=False, verbosity=1, **options):
        try:
            backup.restore(file, replace=replace)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        checked, broken = audit.verify()
        if broken is not None:
            raise CommandError(
                f"Restored, but the audit chain is BROKEN at entry #{broken.seq}: {broken.reason}."
            )
        if verbosity:
            rows = sum(backup.table_counts().values())
            self.stdout.write(
                f"Restored {rows} rows from {file}; audit chain OK ({checked} entries)."
            )
