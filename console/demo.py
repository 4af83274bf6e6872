"""Demo data for the embedded mode: one user per role, named after it."""

import os

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import transaction

from . import audit, roles

DEMO_USERS = [
    ("operator", roles.OPERATOR),
    ("oncall", roles.ONCALL),
    ("senior", roles.SENIOR),
    ("opslead", roles.OPS_LEAD),
    ("engmanager", roles.ENG_MANAGER),
    ("director", roles.DIRECTOR),
    ("vp", roles.VP),
    ("cab1", roles.CAB),
    ("cab2", roles.CAB),
    ("viewer", roles.VIEWER),
]


@transaction.atomic
def seed_users(password: str | None = None) -> list[User]:
    """Create the demo users (idempotent: existing ones get their role and password back)."""
    password = password or os.environ.get("DEMO_PASSWORD", "demo")
    # One hash for all: a password hash costs ~0.3 s on purpose, and make run does this each time.
    hashed = make_password(password)
    users = []
    for username, role_name in DEMO_USERS:
        group = Group.objects.get(name=role_name)
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": username.capitalize(), "email": f"{username}@example.com"},
        )
        user.password = hashed
        user.save(update_fields=["password"])
        user.groups.add(group)
        if created:
            audit.record("demo.user_created", obj=user, after={"role": role_name})
        users.append(user)
    admin, created = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    admin.password = hashed
    admin.save(update_fields=["password"])
    if created:
        audit.record("demo.user_created", obj=admin, after={"role": "superuser"})
    users.append(admin)
    return users


def seed_modules() -> None:
    """Register the simulator's three modules (`python -m simulator`, started by make run)."""
    from monitoring.services import register_module

    host = os.environ.get("SIMULATOR_HOST", "127.0.0.1")
    for name, port in (("alpha", 8081), ("beta", 8082), ("gamma", 8083)):
        port = int(os.environ.get(f"SIMULATOR_{name.upper()}_PORT", port))
        register_module(name, name, f"http://{host}:{port}", labels={"demo": "simulator"})


def seed_changes() -> None:
    """Change management demo data (issue 8): freezes that leave every Sunday 02:00-06:00
    weekly window free (000 "Weekly Maintenance Window"), and a few changes in various states.
    Only when there are no changes yet (re-running make run keeps what was done by hand)."""
    from changes.demo import seed

    seed()


def seed_maintenance() -> None:
    """Recurring maintenance (000 "Standard Maintenance Windows"): a weekly window for Alpha and
    Beta (Sunday 02:00-06:00, owned by the Operations Lead) and a monthly one for all modules
    (first Sunday 00:00-08:00, owned by the Engineering Manager, its approver), generating their
    upcoming windows. Idempotent."""
    from datetime import time

    from changes import maintenance
    from changes.models import MaintenanceRecurrence, MaintenanceType
    from monitoring.models import Module

    owner = User.objects.filter(username="opslead").first()
    monthly_owner = User.objects.filter(username="engmanager").first() or owner
    if owner is None or not MaintenanceType.objects.exists():
        return
    # Monthly first: on a first Sunday it covers the weekly slot, which generation then skips
    # (overlap). The weekly plan leaves Gamma free for scheduling a window by hand.
    plans = [
        (
            "monthly",
            "Monthly infrastructure maintenance",
            "FREQ=MONTHLY;BYDAY=1SU",
            time(0),
            time(8),
            ["alpha", "beta", "gamma"],
            "Database index rebuild, certificate rotation",
            "Planned downtime of up to 2 hours; data is buffered and delivered afterwards",
            monthly_owner,
        ),
        (
            "weekly",
            "Weekly patching (Alpha, Beta)",
            "FREQ=WEEKLY;BYDAY=SU",
            time(2),
            time(6),
            ["alpha", "beta"],
            "OS patches and minor updates",
            "Ingestion may slow down for a few minutes; nothing is lost",
            owner,
        ),
    ]
    for key, title, rule, start, end, modules, activities, impact, plan_owner in plans:
        recurrence, created = MaintenanceRecurrence.objects.get_or_create(
            title=title,
            defaults={
                "type": MaintenanceType.objects.get(key=key),
                "rrule": rule,
                "start_time": start,
                "end_time": end,
                "activities": activities,
                "impact": impact,
                "owner": plan_owner,
            },
        )
        if created:
            recurrence.modules.set(Module.objects.filter(name__in=modules))
            audit.record("demo.maintenance_recurrence", obj=recurrence, after={"title": title})
        maintenance.generate(recurrence)


def seed_shifts(days: int = 14) -> None:
    """A rota and shifts for the demo users (idempotent: only what is missing is added).

    On call, weekly from Monday 09:00 (000 "On-Call Rotation Structure"): oncall and senior
    alternate as primary/secondary over the next four weeks. Shifts, from yesterday for `days`
    days: 06:00-14:00 operator/senior, 14:00-22:00 oncall/opslead, 22:00-06:00 engmanager.
    """
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from shifts.models import EscalationContact, RotaWeek, Shift
    from shifts.services import add_rota_week, create_shift

    users = {u.username: u for u in User.objects.filter(username__in=[n for n, _ in DEMO_USERS])}
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(9), tz)
    start = monday - timedelta(days=7)
    pairs = [("oncall", "senior"), ("senior", "oncall")]
    # Continue from the last week already there (the rota refuses gaps), up to four weeks on.
    latest = RotaWeek.objects.order_by("-ends_at").first()
    cursor = latest.ends_at if latest else start
    while cursor < monday + timedelta(days=28):
        primary, secondary = pairs[((cursor - start).days // 7) % 2]
        add_rota_week(None, starts_at=cursor, primary=users[primary], secondary=users[secondary])
        cursor += timedelta(days=7)
    plan = [
        (time(6), 8, "operator", "senior"),
        (time(14), 8, "oncall", "opslead"),
        (time(22), 8, "engmanager", None),
    ]
    for offset in range(-1, days):
        day = today + timedelta(days=offset)
        for at, hours, primary, secondary in plan:
            starts_at = datetime.combine(day, at, tz)
            if Shift.objects.filter(starts_at=starts_at).exists():
                continue
            create_shift(
                None,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=hours),
                primary=users[primary],
                secondary=users[secondary] if secondary else None,
            )
    for position, (username, title) in enumerate(
        [
            ("opslead", "Operations Lead"),
            ("engmanager", "Engineering Manager"),
            ("director", "Director"),
        ],
        start=1,
    ):
        EscalationContact.objects.get_or_create(
            name=users[username].get_full_name() or username.capitalize(),
            defaults={
                "position": position,
                "title": title,
                "user": users[username],
                "email": users[username].email,
            },
        )


# --- capacity history, backups and DR drills (issue 11) ---------------------------------------

# DEMO HISTORY, NOT MEASURED DATA: six months of hourly roll-ups with 001's growth ("Historical
# Growth Analysis": peaks 3,500 → 5,000 rec/s over six months) so that the capacity page has a
# trend to fit and project on a fresh `make run`. The series carry the label demo="history".
DEMO_HISTORY_DAYS = 183
DEMO_PEAKS = {  # module kind: (peak six months ago, peak now), rec/s — 001 "Capacity Metrics"
    "alpha": (3500.0, 5000.0),
    "beta": (2800.0, 4000.0),
    "gamma": (2800.0, 4000.0),
}


def seed_capacity_history(now=None) -> int:
    """Write the demo history (idempotent: skipped once its series have rows)."""
    import math
    import random
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.models import CapacityPlan, Module, Rollup1h, RollupWatermark, Series
    from monitoring.store import labels_key

    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DEMO_HISTORY_DAYS)
    rng = random.Random(11)
    written = 0
    for plan in CapacityPlan.objects.all():
        module = Module.objects.filter(kind=plan.kind).first()
        if module is None or plan.kind not in DEMO_PEAKS:
            continue
        labels = {"demo": "history", "module": module.name}
        series, _ = Series.objects.get_or_create(
            module=module,
            name=plan.throughput_metric,
            labels_key=labels_key(labels),
            defaults={"labels": labels, "kind": "counter"},
        )
        if Rollup1h.objects.filter(series=series).exists():
            continue
        then, current = DEMO_PEAKS[plan.kind]
        hours = int((end - start).total_seconds() // 3600)
        counter = 0.0
        rows = []
        for i in range(hours):
            at = start + timedelta(hours=i)
            peak = then * (current / then) ** (i / hours)
            # A daily cycle peaking mid-afternoon, a quieter weekend, a little noise.
            cycle = 0.55 + 0.45 * max(0.0, math.cos((at.hour - 14) / 24 * 2 * math.pi))
            weekend = 0.8 if at.weekday() >= 5 else 1.0
            rate = peak * cycle * weekend * rng.uniform(0.95, 1.0)
            before = counter
            counter += rate * 3600
            rows.append(
                Rollup1h(
                    series=series,
                    ts=at,
                    min=before,
                    max=counter,
                    sum=(before + counter) / 2 * 720,
                    count=720,
                    last=counter,
                )
            )
        Rollup1h.objects.bulk_create(rows, batch_size=1000)
        written += len(rows)
    if written:
        # The dashboards read hourly roll-ups only up to the 1h watermark.
        mark, created = RollupWatermark.objects.get_or_create(
            resolution="1h", defaults={"upto": end}
        )
        if not created and mark.upto < end:
            mark.upto = end
            mark.save(update_fields=["upto"])
    return written


def seed_backups_and_drills(now=None) -> None:
    """Demo backup runs (the state snapshot left overdue, so its alert shows) and DR drills.
    Reported through the same service the API calls; idempotent (skipped once runs exist)."""
    from datetime import timedelta

    from django.utils import timezone

    from monitoring import backups
    from monitoring.models import BackupRun, DrDrill, DrillType

    now = now or timezone.now()
    if BackupRun.objects.exists():
        return
    hour = timedelta(hours=1)
    demo = [
        ("configuration", now - 3 * hour, "succeeded", "git push after change CR-demo"),
        ("database-full", now - 20 * hour, "succeeded", "pg_dump --format=custom"),
        ("database-incremental", now - 2 * hour, "failed", "pg_basebackup: connection refused"),
        ("database-incremental", now - 40 * timedelta(minutes=1), "succeeded", "WAL archive"),
        ("audit-log", now - 10 * hour, "succeeded", "daily export"),
        # Overdue: every 4 hours, last good one 9 hours ago.
        ("state", now - 9 * hour, "succeeded", "alpha/beta/gamma state tarballs"),
        ("state", now - 5 * hour, "failed", "beta cache snapshot: disk full"),
    ]
    for key, started, status, detail in demo:
        backups.record_run(
            key,
            status=status,
            started_at=started,
            finished_at=started + timedelta(minutes=12),
            size_bytes=3_200_000_000 if status == "succeeded" else None,
            location=f"/backup/{key}/demo" if status == "succeeded" else "",
            detail=f"demo: {detail}",
        )
    backups.record_run(
        "database-full",
        kind=BackupRun.Kind.VERIFICATION,
        status="succeeded",
        started_at=now - 18 * hour,
        finished_at=now - 17 * hour,
        detail="demo: pg_restore --list",
    )
    types = {t.key: t for t in DrillType.objects.all()}
    if types and not DrDrill.objects.exists():
        for key, days_ago, passed, rto, rpo in (
            ("full", 100, True, 200, 45),
            ("tabletop", 20, True, None, None),
            ("component", 25, False, 290, 70),
        ):
            drill = backups.schedule_drill(None, types[key], now - timedelta(days=days_ago))
            backups.record_drill(
                None,
                drill.pk,
                passed=passed,
                performed_at=now - timedelta(days=days_ago),
                achieved_rto=timedelta(minutes=rto) if rto else None,
                achieved_rpo=timedelta(minutes=rpo) if rpo else None,
                findings="demo: "
                + ("restored within target" if passed else "beta cache restore took too long"),
            )
        backups.schedule_drill(None, types["component"], now + timedelta(days=5))
    backups.scan_backups(now)
