"""Recurring windows across daylight-saving changes (000 "Standard Maintenance Windows")."""

from datetime import UTC, datetime, time

import pytest
import time_machine

from changes import maintenance
from changes.models import MaintenanceRecurrence, MaintenanceType, MaintenanceWindow


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"


def test_weekly_slot_keeps_local_time_across_the_spring_change(berlin):
    found = maintenance.occurrences(
        "FREQ=WEEKLY;BYDAY=SU", time(2), time(6), 240, utc(2026, 3, 20), utc(2026, 4, 6)
    )
    assert found == [
        (utc(2026, 3, 22, 1), utc(2026, 3, 22, 5)),  # CET: 02:00-06:00 = 01:00-05:00 UTC
        # 29 March: the clocks jump 02:00 -> 03:00; the window opens when the clock reaches
        # the slot (03:00 CEST) and still closes at 06:00 local: three hours.
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 4)),
        (utc(2026, 4, 5, 0), utc(2026, 4, 5, 4)),  # CEST: 02:00-06:00 = 00:00-04:00 UTC
    ]


def test_weekly_slot_across_the_autumn_change_starts_at_the_second_two_oclock(berlin):
    found = maintenance.occurrences(
        "FREQ=WEEKLY;BYDAY=SU", time(2), time(6), 240, utc(2026, 10, 17), utc(2026, 11, 2)
    )
    assert found == [
        (utc(2026, 10, 18, 0), utc(2026, 10, 18, 4)),
        # 25 October: 02:00-03:00 happens twice; starting at the later 02:00 (CET) keeps the
        # window inside 02:00-06:00 local and inside its 4 h cap.
        (utc(2026, 10, 25, 1), utc(2026, 10, 25, 5)),
        (utc(2026, 11, 1, 1), utc(2026, 11, 1, 5)),
    ]


def test_monthly_first_sunday_is_clipped_to_its_cap_when_the_night_has_an_extra_hour(new_york):
    found = maintenance.occurrences(
        "FREQ=MONTHLY;BYDAY=1SU", time(0), time(8), 480, utc(2026, 10, 1), utc(2026, 12, 31)
    )
    assert found == [
        (utc(2026, 10, 4, 4), utc(2026, 10, 4, 12)),  # EDT 00:00-08:00
        # 1 November: 00:00 EDT to 08:00 EST is nine hours; the cap (8 h) ends it 07:00 EST.
        (utc(2026, 11, 1, 4), utc(2026, 11, 1, 12)),
        (utc(2026, 12, 6, 5), utc(2026, 12, 6, 13)),  # EST 00:00-08:00
    ]


def test_recurrence_generates_windows_across_the_change_once(berlin, mpolicy, modules, opslead):
    recurrence = MaintenanceRecurrence.objects.create(
        type=MaintenanceType.objects.get(key="weekly"),
        title="Weekly patching",
        rrule="FREQ=WEEKLY;BYDAY=SU",
        start_time=time(2),
        end_time=time(6),
        owner=opslead,
        horizon_days=21,
    )
    recurrence.modules.set([modules["gamma"]])
    with time_machine.travel(utc(2026, 3, 16, 9), tick=False):
        made = maintenance.generate(recurrence)
        again = maintenance.generate(recurrence)
    assert [(w.start, w.end) for w in made] == [
        (utc(2026, 3, 22, 1), utc(2026, 3, 22, 5)),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 4)),
        (utc(2026, 4, 5, 0), utc(2026, 4, 5, 4)),
    ]
    assert again == []
    assert MaintenanceWindow.objects.count() == 3
    # The owner holds the approving role: generated windows are approved, reminders queued.
    assert {w.status for w in made} == {MaintenanceWindow.Status.APPROVED}
    assert made[0].reminders.count() == 4


def test_generation_skips_occurrences_inside_the_notice_period(mpolicy, modules, opslead):
    recurrence = MaintenanceRecurrence.objects.create(
        type=MaintenanceType.objects.get(key="monthly"),
        title="Monthly",
        rrule="FREQ=MONTHLY;BYDAY=1SU",
        start_time=time(0),
        end_time=time(8),
        owner=opslead,
        horizon_days=70,
    )
    recurrence.modules.set([modules["beta"]])
    # 2026-11-22: the first Sunday of December (6th) is inside the 2-week external notice.
    with time_machine.travel(utc(2026, 11, 22, 9), tick=False):
        made = maintenance.generate(recurrence)
    assert [w.start.date().isoformat() for w in made] == ["2027-01-03"]
    # An Operations Lead is below the Monthly approver (Engineering Manager): awaits approval.
    assert made[0].status == MaintenanceWindow.Status.REQUESTED
