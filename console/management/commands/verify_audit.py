from django.core.management import BaseCommand, CommandError

from console.audit import verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; report the first broken link (exit 1) if any."

    def handle(self, *args, **options):
        checked, broken = verify()
        if broken is not None:
            raise CommandError(
                f"Audit chain BROKEN at entry #{broken.seq}: {broken.reason} "
                f"({checked} entries before it verified)."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain OK: {checked} entries verified."))
