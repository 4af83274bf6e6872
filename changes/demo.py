"""Demo change data for the embedded mode (console.demo.seed_changes calls `seed`)."""

from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from monitoring.models import Module

from . import services
from .models import Change, Freeze

FORM = {
    "business_justification": "Peak-hour backlog breaches the 60 % queue line.",
    "technical_details": "Configuration reload through the module's admin endpoint.",
    "risk_assessment": "Memory grows with the queue; watched on the module dashboard.",
    "testing_performed": "Soak test in staging at 2x peak for 4 hours.",
    "implementation_plan": "1. Announce start.\n2. Reload the configuration.\n"
    "3. Check the new config version.\n4. Watch 15 minutes.",
    "rollback_plan": "Reload the previous configuration version; verify the version metric.",
    "success_criteria": "Queue below 60 % at peak; no error-rate increase.",
}


def _next_sunday(now: datetime) -> datetime:
    local = timezone.localtime(now)
    days = (6 - local.weekday()) % 7 or 7
    day = (local + timedelta(days=days)).date()
    return timezone.make_aware(datetime.combine(day, time(2, 0)))


def _weekday_freezes(now: datetime) -> list[tuple[str, datetime, datetime, str]]:
    """Monday 08:00 to Friday 20:00 blocks: they never touch a Sunday weekly window."""
    local = timezone.localdate(now)
    monday = local - timedelta(days=local.weekday()) + timedelta(days=14)
    start = timezone.make_aware(datetime.combine(monday, time(8, 0)))
    second = start + timedelta(days=21)
    return [
        ("Month-end close", start, start + timedelta(days=4, hours=12), "Finance reporting runs."),
        ("Partner onboarding", second, second + timedelta(days=2, hours=12), "Gamma destinations."),
    ]


@transaction.atomic
def seed() -> None:
    if Change.objects.exists():
        return
    users = {u.username: u for u in User.objects.filter(username__in=[
        "operator", "oncall", "senior", "opslead", "engmanager", "director", "cab1", "cab2",
    ])}  # fmt: skip
    if (
        len(users) < 8
        or not Module.objects.filter(name__in=["alpha", "beta", "gamma"]).count() == 3
    ):
        return
    now = timezone.now()
    for name, start, end, reason in _weekday_freezes(now):
        Freeze.objects.get_or_create(
            name=name, defaults={"starts_at": start, "ends_at": end, "reason": reason}
        )
    op, senior = users["operator"], users["senior"]

    def raise_(title, impact, likelihood, modules, **extra):
        return services.create(
            op, title=title, impact=impact, likelihood=likelihood, affected_modules=modules,
            description=f"{title}.", **{**FORM, **extra},
        )  # fmt: skip

    # A draft.
    raise_("Enable a new CSV source adapter on Alpha", "medium", "medium", ["alpha"])
    # Awaiting the board (High risk: Director + CAB quorum).
    board = raise_("Upgrade Beta's transformation engine", "high", "medium", ["beta"])
    services.submit(op, board.pk)
    services.review(senior, board.pk, comment="Feasible; rollback rehearsed in staging.")
    # Approved and scheduled into the next Sunday weekly window.
    sunday = _next_sunday(now)
    scheduled = raise_("Raise Alpha buffer capacity", "low", "medium", ["alpha"])
    services.submit(op, scheduled.pk)
    services.review(senior, scheduled.pk, comment="ok")
    services.decide(users["engmanager"], scheduled.pk, "approve", "Go in the weekly window.")
    services.schedule(op, scheduled.pk, sunday, sunday + timedelta(hours=2))
    # Done this week: one completed and reviewed, one rolled back.
    for title, module, outcome in (
        ("Tune Gamma retry backoff", "gamma", "completed"),
        ("Raise Beta cache TTL", "beta", "rolled_back"),
    ):
        change = raise_(title, "low", "medium", [module])
        services.submit(op, change.pk)
        services.review(senior, change.pk, comment="ok")
        services.decide(users["engmanager"], change.pk, "approve", "ok")
        start = now + timedelta(minutes=5)
        services.schedule(users["opslead"], change.pk, start, start + timedelta(hours=1), "Demo.")
        change.checklist.update(done_at=now, done_by=op)
        services.start(op, change.pk)
        services.add_log_entry(op, change.pk, "checkpoint", "Configuration reloaded.")
        if outcome == "completed":
            services.complete(op, change.pk, "Validated.")
            services.record_review(
                op, change.pk, stability="Stable for an hour.", results="As planned."
            )
        else:
            services.rollback(
                op, change.pk, "Cache misses doubled.", "Previous TTL restored.",
                "Unexpected behavior observed",
            )  # fmt: skip
    # An emergency change with its formal request still due.
    emergency = services.create(
        users["oncall"], title="Hotfix Gamma destination timeout", type="emergency",
        impact="high", likelihood="low", affected_modules=["gamma"],
        description="Raise the ack timeout to stop a retry storm.",
    )  # fmt: skip
    services.record_verbal_approval(
        users["oncall"], emergency.pk, users["engmanager"], "By phone on the incident bridge."
    )
