"""The maintenance policy is the manuals' data, seeded once and then the admin's."""

from changes import maintenance_policy, tasks
from changes.models import (
    MaintenanceChecklistTemplate,
    MaintenanceReminderStep,
    MaintenanceType,
)


def test_types_carry_000s_slots_caps_notices_and_approvers(mpolicy):
    rows = {
        t.key: (
            t.rrule,
            t.slot_start and t.slot_start.strftime("%H:%M"),
            t.max_minutes,
            t.internal_notice_minutes,
            t.external_notice_minutes,
            t.approving_role,
            t.emergency_path,
        )
        for t in MaintenanceType.objects.all()
    }
    assert rows == {
        "weekly": ("FREQ=WEEKLY;BYDAY=SU", "02:00", 240, 1440, 2880, "Operations Lead", False),
        "monthly": (
            "FREQ=MONTHLY;BYDAY=1SU",
            "00:00",
            480,
            10080,
            20160,
            "Engineering Manager",
            False,
        ),
        "emergency": ("", None, None, 0, 240, "Operations Lead", True),
    }
    assert list(MaintenanceReminderStep.objects.values_list("key", "minutes_before")) == [
        ("T-7d", 10080),
        ("T-3d", 4320),
        ("T-1d", 1440),
        ("T-1h", 60),
    ]
    counts = {
        phase: MaintenanceChecklistTemplate.objects.filter(phase=phase).count()
        for phase in ("pre_48h", "pre_24h", "pre_1h", "post_30m", "post_4h", "post_24h", "rollback")
    }
    assert counts == {
        "pre_48h": 7,
        "pre_24h": 6,
        "pre_1h": 6,
        "post_30m": 7,
        "post_4h": 5,
        "post_24h": 7,
        "rollback": 5,
    }


def test_reloading_keeps_an_administrators_edit(mpolicy):
    MaintenanceType.objects.filter(key="weekly").update(max_minutes=180)
    assert "(0 created)" in maintenance_policy.load()
    assert MaintenanceType.objects.get(key="weekly").max_minutes == 180


def test_tasks_call_the_scans(mpolicy):
    assert tasks.scan_maintenance_windows() == {"started": 0, "ended": 0, "cancelled": 0}
    assert tasks.scan_maintenance_reminders() == 0
    assert tasks.generate_maintenance_windows() == 0
