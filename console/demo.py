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
