"""The clock crosses a daylight-saving change with the whole job catalogue and a weekly
maintenance window scheduled (console TIME_ZONE Europe/Berlin).

The clock walks from Saturday noon to Monday midnight, local, in 5-minute steps (time-machine),
running the beat's scans at each step: the job claim scan, the maintenance window scan and the
hourly window generator. Expectations are computed here from the cron fields, not from the
product's own next-run code:

- an hourly job (`M * * * *`) runs at minute M of every real hour: 35 runs over the spring
  night (an hour fewer), 37 over the autumn one (an hour more);
- a daily job, and a Sunday job, runs once on Sunday, local — including those whose time does
  not exist (02:00, 02:30 on 29 March run once just after the jump) or exists twice (02:00,
  02:30 on 25 October run once);
- the window (Sunday 02:00–06:00) starts once and ends once, at the local times
  changes/maintenance.py documents for each change.

What was lost = expected runs missing + window transitions missing; duplicates are counted too.
"""

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from changes import maintenance, maintenance_policy
from changes.models import MaintenanceRecurrence, MaintenanceType, MaintenanceWindow
from console.models import AuditEntry
from monitoring import jobs
from monitoring.models import Job, JobRun, Module
from tests.factories import UserFactory
from tests.faults.support import report_lost

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
CATALOGUE = Path(__file__).resolve().parents[2] / "monitoring" / "fixtures" / "jobs.json"
STEP = timedelta(minutes=5)

# (Saturday before the change, the window's expected start and end in UTC)
NIGHTS = {
    # 29 March 2026: 02:00 CET -> 03:00 CEST. The window opens when the clock reaches its slot
    # (03:00 CEST = 01:00 UTC) and closes at 06:00 CEST.
    "spring-forward": (
        datetime(2026, 3, 28),
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 4, tzinfo=UTC),
    ),  # fmt: skip
    # 25 October 2026: 03:00 CEST -> 02:00 CET. The window starts at the second 02:00 (CET).
    "fall-back": (
        datetime(2026, 10, 24),
        datetime(2026, 10, 25, 1, tzinfo=UTC),
        datetime(2026, 10, 25, 5, tzinfo=UTC),
    ),  # fmt: skip
}


def _expected(cron: str, start: datetime, end: datetime) -> int:
    """How many runs a catalogue cron owes in (start, end]; start and end in UTC. The span is
    Saturday 12:00 to Monday 00:00 local, so a daily or Sunday job owes exactly Sunday's run."""
    minute, hour, dom, _, dow = cron.split()
    if hour == "*":  # every real hour; Berlin's offsets are whole hours, so minutes agree
        moment = start.replace(minute=int(minute), second=0)
        moment += timedelta(hours=1) if moment <= start else timedelta(0)
        count = 0
        while moment <= end:
            count += 1
            moment += timedelta(hours=1)
        return count
    sunday = (start.astimezone(BERLIN) + timedelta(days=1)).date()
    if dom != "*":
        return int(sunday.day == int(dom))
    if dow != "*":
        return int(int(dow) % 7 == sunday.isoweekday() % 7)
    return 1


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.mark.parametrize("night", list(NIGHTS))
def test_jobs_and_windows_across_a_dst_change_fire_once_none_skipped(berlin, roles, night):
    saturday, window_start, window_end = NIGHTS[night]
    start = saturday.replace(hour=12, tzinfo=BERLIN).astimezone(UTC)
    end = (saturday + timedelta(days=2)).replace(tzinfo=BERLIN).astimezone(UTC)

    maintenance_policy.load()
    delta = Module.objects.create(name="delta", kind="alpha", base_url="http://127.0.0.1:1/")
    owner = UserFactory(username="opslead")
    owner.groups.add(roles["Operations Lead"].group)
    # A module with no batch jobs, so that the window's job suspension stays out of the counts
    # (tests/changes covers suspension; here each side is counted on its own).
    recurrence = MaintenanceRecurrence.objects.create(
        type=MaintenanceType.objects.get(key="weekly"),
        title="Weekly patching",
        rrule="FREQ=WEEKLY;BYDAY=SU",
        start_time=time(2),
        end_time=time(6),
        owner=owner,
        horizon_days=7,
    )
    recurrence.modules.set([delta])
    with time_machine.travel(start - timedelta(days=3), tick=False):
        maintenance.generate_all()
    with time_machine.travel(start, tick=False):
        jobs.load_catalogue(json.loads(CATALOGUE.read_text())["jobs"])

    moment = start
    while moment < end:
        moment += STEP
        with time_machine.travel(moment, tick=False):
            jobs.claim_due_jobs()
            # Each run ends at once, so that no slot is skipped as "previous run still busy".
            JobRun.objects.filter(status=JobRun.Status.PENDING).update(status=JobRun.Status.SUCCESS)
            maintenance.scan_windows()
            if moment.minute == 0:
                maintenance.generate_all()

    missing, duplicates, runs_total = 0, 0, 0
    for job in Job.objects.all():
        runs = list(
            JobRun.objects.filter(job=job, scheduled_for__gt=start, scheduled_for__lte=end)
            .order_by("scheduled_for")
            .values_list("scheduled_for", flat=True)
        )
        owed = _expected(job.cron, start, end)
        runs_total += len(runs)
        missing += max(0, owed - len(runs))
        duplicates += max(0, len(runs) - owed) + len(runs) - len(set(runs))
        if job.cron.split()[1] == "*":
            gaps = {b - a for a, b in zip(runs, runs[1:], strict=False)}
            assert gaps <= {timedelta(hours=1)}, (job.name, runs)
        elif runs:
            assert {timezone.localtime(r).date().isoweekday() for r in runs} == {7}, job.name
    assert JobRun.objects.exclude(status=JobRun.Status.SUCCESS).count() == 0  # none skipped

    window = MaintenanceWindow.objects.get(recurrence=recurrence, start__lt=end)
    starts = AuditEntry.objects.filter(action="maintenance.start").count()
    ends = AuditEntry.objects.filter(action="maintenance.end").count()
    missing += (starts == 0) + (ends == 0)
    duplicates += max(0, starts - 1) + max(0, ends - 1)
    report_lost(
        f"DST {night}",
        missing,
        duplicates=duplicates,
        job_runs=runs_total,
        window=f"{window.start:%H:%M}-{window.end:%H:%M} UTC",
    )
    assert (window.start, window.end) == (window_start, window_end)
    assert window.status == MaintenanceWindow.Status.COMPLETED
    assert window_start <= window.started_at < window_start + STEP
    assert window_end <= window.ended_at < window_end + STEP
    assert (missing, duplicates) == (0, 0)
