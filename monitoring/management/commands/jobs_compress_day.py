"""Demo time compression for batch jobs: the next 24 hours of slots in a few minutes, once.

    manage.py jobs_compress_day [--minutes 10]

Each active job's next slot within the coming 24 hours is moved to the same fraction of the
next `--minutes` minutes (so the order and spacing of the day are kept, hourly jobs once).
Those runs are real (the module is triggered and the run recorded, late-start alerts are
not raised because the slot is the moved time); after each run the job returns to its own
cron. Audited as `job.compress_day`. Jobs with no slot in the next 24 hours are untouched.
"""

from datetime import timedelta

from django.core.management import BaseCommand
from django.db import transaction
from django.utils import timezone

from console import audit
from monitoring.models import Job

DAY = timedelta(hours=24)


class Command(BaseCommand):
    help = "Move the next 24 hours of batch job slots into the next few minutes (demo)."

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=10.0)

    def handle(self, *args, minutes: float, **options):
        if not 0 < minutes <= 24 * 60:
            self.stderr.write("--minutes must be between 0 and 1440")
            return
        now = timezone.now()
        moved = 0
        with transaction.atomic():
            for job in Job.objects.select_for_update().filter(
                status=Job.Status.ACTIVE, next_run_at__lte=now + DAY
            ):
                fraction = max((job.next_run_at - now) / DAY, 0.0)
                job.next_run_at = now + timedelta(minutes=minutes) * fraction
                job.save(update_fields=["next_run_at"])
                moved += 1
            audit.record(
                "job.compress_day",
                object_type="monitoring.job",
                after={"jobs": moved, "minutes": minutes},
            )
        self.stdout.write(
            f"{moved} jobs: the next 24 hours of slots now fall within {minutes:g} minutes"
        )
