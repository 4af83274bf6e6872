"""Backups and DR drills (001 "Backup and Recovery", "Disaster Recovery").

Backup and verification runs arrive through `record_run` (the API endpoint a backup script
calls, and the pipeline's backup job). A good backup moves its class's `next_due_at`; the
due-time scan (`scan_backups`) raises `backup_overdue` for classes past it, a failed run
raises `backup_failed` until the next good one. DR drills are scheduled by type and their
results recorded; `scan_dr_drills` raises `dr_drill_overdue` once the last drill is older than
001 "DR Metrics" allows (90 days).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from console import audit, live

from . import raised
from .models import AlertSeverity, BackupClass, BackupRun, DrDrill, DrillType, DrPolicy

TOPIC = "backups"
OVERDUE = "backup_overdue"
FAILED = "backup_failed"
DRILL_OVERDUE = "dr_drill_overdue"
# 001 "Alert Severity Levels": a missed or failed backup puts the RPO at risk — "within 1 hour"
# (medium); an overdue drill is for the next business day (low).
BACKUP_SEVERITY = AlertSeverity.MEDIUM
DRILL_SEVERITY = AlertSeverity.LOW
# A report from further ahead than this is a clock problem, not a backup.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class BackupError(ValueError):
    """Why a run or a drill cannot be recorded (shown as a form error or a 400)."""


def _changed() -> None:
    transaction.on_commit(lambda: live.publish(TOPIC, "backups.changed"))


# --- backup runs ---------------------------------------------------------------------------


def record_run(
    class_key: str,
    *,
    status: str,
    started_at: datetime,
    finished_at: datetime,
    kind: str = BackupRun.Kind.BACKUP,
    size_bytes: int | None = None,
    location: str = "",
    detail: str = "",
    actor=None,
) -> BackupRun:
    """Record one backup or verification run of a class and raise/resolve its alerts.

    The pipeline's backup job and `POST /api/v1/backups/runs/` both call this.
    """
    if status not in BackupRun.Status.values:
        raise BackupError(f"status must be one of {', '.join(BackupRun.Status.values)}")
    if kind not in BackupRun.Kind.values:
        raise BackupError(f"kind must be one of {', '.join(BackupRun.Kind.values)}")
    if started_at.tzinfo is None or finished_at.tzinfo is None:
        raise BackupError("times need a time zone")
    if finished_at < started_at:
        raise BackupError("finished_at is before started_at")
    now = timezone.now()
    if finished_at > now + MAX_CLOCK_SKEW:
        raise BackupError("finished_at is in the future")
    if size_bytes is not None and size_bytes < 0:
        raise BackupError("size_bytes cannot be negative")
    with transaction.atomic():
        backup_class = BackupClass.objects.select_for_update().filter(key=class_key).first()
        if backup_class is None:
            raise BackupError(f"unknown backup class {class_key!r}")
        run = BackupRun.objects.create(
            backup_class=backup_class,
            kind=kind,
            status=status,
            started_at=started_at,
            finished_at=finished_at,
            size_bytes=size_bytes,
            location=location,
            detail=detail,
            reported_by=actor if getattr(actor, "pk", None) else None,
            reported_at=now,
        )
        good = status == BackupRun.Status.SUCCEEDED
        if good and kind == BackupRun.Kind.BACKUP:
            # Runs may arrive out of order: only a newer good backup moves the clock.
            if backup_class.last_success_at is None or started_at > backup_class.last_success_at:
                backup_class.last_success_at = started_at
                backup_class.next_due_at = _next_due(backup_class)
                backup_class.save(update_fields=["last_success_at", "next_due_at"])
        elif good:
            if backup_class.last_verified_at is None or started_at > backup_class.last_verified_at:
                backup_class.last_verified_at = started_at
                backup_class.save(update_fields=["last_verified_at"])
        audit.record(
            f"backup.{kind}_{status}",
            actor=actor,
            obj=run,
            after={"class": class_key, "started_at": started_at.isoformat(), "detail": detail},
        )
        _sync_failure(backup_class, kind, failed_run=None if good else run)
        if good and kind == BackupRun.Kind.BACKUP and not backup_class.overdue(now):
            raised.sync({OVERDUE}, [], owns=lambda labels: labels.get("backup_class") == class_key)
        _changed()
    return run


def _next_due(backup_class: BackupClass) -> datetime | None:
    if backup_class.interval is None or backup_class.last_success_at is None:
        return None
    return backup_class.last_success_at + backup_class.interval + backup_class.grace


def _sync_failure(backup_class: BackupClass, kind: str, failed_run: BackupRun | None) -> None:
    firing = []
    if failed_run is not None:
        what = "verification" if kind == BackupRun.Kind.VERIFICATION else "backup"
        firing.append(
            raised.alert(
                FAILED,
                BACKUP_SEVERITY,
                f"{backup_class.name}: {what} failed at "
                f"{timezone.localtime(failed_run.finished_at):%Y-%m-%d %H:%M}"
                + (f" — {failed_run.detail[:200]}" if failed_run.detail else ""),
                backup_class=backup_class.key,
                run_kind=kind,
            )
        )
    raised.sync(
        {FAILED},
        firing,
        owns=lambda labels: (
            labels.get("backup_class") == backup_class.key and labels.get("run_kind") == kind
        ),
    )


def set_schedule_start(backup_class: BackupClass, now: datetime) -> None:
    """A class that has never had a good backup is due one interval after it is set up."""
    if backup_class.next_due_at is None and backup_class.interval is not None:
        backup_class.next_due_at = now + backup_class.interval + backup_class.grace
        backup_class.save(update_fields=["next_due_at"])


def scan_backups(now: datetime | None = None) -> dict[str, int]:
    """Due-time scan: raise `backup_overdue` for every class past its `next_due_at`, resolve it
    for those no longer past it. Rows locked by a run being recorded are left to that run."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(BackupClass.objects.select_for_update(skip_locked=True))
        firing = [
            raised.alert(
                OVERDUE,
                BACKUP_SEVERITY,
                f"{c.name}: no good backup since "
                + (
                    f"{timezone.localtime(c.last_success_at):%Y-%m-%d %H:%M}"
                    if c.last_success_at
                    else "it was set up"
                )
                + f" (expected {c.frequency.lower()}; RPO {_duration(c.rpo)})",
                backup_class=c.key,
            )
            for c in rows
            if c.overdue(now)
        ]
        keys = {c.key for c in rows}
        counts = raised.sync(
            {OVERDUE}, firing, owns=lambda labels: labels.get("backup_class") in keys
        )
        if counts["created"] or counts["resolved"]:
            _changed()
    return counts


@dataclass
class ClassStatus:
    backup_class: BackupClass
    last_good: BackupRun | None
    last_run: BackupRun | None
    last_verification: BackupRun | None
    exposure: timedelta | None
    overdue: bool
    failing: bool

    @property
    def exposure_exceeds_rpo(self) -> bool:
        """RPO exposure right now against the class's RPO; a class backed up on every change
        (no interval, RPO 0: configuration in version control) has nothing to miss."""
        c = self.backup_class
        if c.interval is None:
            return False
        return self.exposure is None or self.exposure > c.rpo


def class_statuses(now: datetime | None = None) -> list[ClassStatus]:
    now = now or timezone.now()
    classes = list(BackupClass.objects.filter(enabled=True))
    failing = {a.labels.get("backup_class") for a in raised.firing(FAILED)}
    statuses = []
    for c in classes:
        runs = BackupRun.objects.filter(backup_class=c)
        backups = runs.filter(kind=BackupRun.Kind.BACKUP)
        statuses.append(
            ClassStatus(
                backup_class=c,
                last_good=backups.filter(status=BackupRun.Status.SUCCEEDED).first(),
                last_run=backups.first(),
                last_verification=runs.filter(kind=BackupRun.Kind.VERIFICATION).first(),
                exposure=c.rpo_exposure(now),
                overdue=c.overdue(now),
                failing=c.key in failing,
            )
        )
    return statuses


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


# --- DR drills -----------------------------------------------------------------------------


def schedule_drill(user, drill_type: DrillType, scheduled_for: datetime) -> DrDrill:
    with transaction.atomic():
        drill = DrDrill.objects.create(
            drill_type=drill_type, scheduled_for=scheduled_for, scheduled_by=user
        )
        audit.record(
            "dr_drill.scheduled",
            actor=user,
            obj=drill,
            after={"type": drill_type.key, "scheduled_for": scheduled_for.isoformat()},
        )
        _changed()
    return drill


def record_drill(
    user,
    drill_pk: int,
    *,
    passed: bool,
    performed_at: datetime,
    achieved_rto: timedelta | None,
    achieved_rpo: timedelta | None,
    findings: str,
) -> DrDrill:
    """Record a scheduled drill's result (001 "DR Metrics": achieved RTO and RPO, pass/fail)."""
    if performed_at > timezone.now() + MAX_CLOCK_SKEW:
        raise BackupError("A drill cannot be recorded before it happened.")
    with transaction.atomic():
        drill = DrDrill.objects.select_for_update().get(pk=drill_pk)
        status = DrDrill.Status.PASSED if passed else DrDrill.Status.FAILED
        if drill.status == status:
            return drill
        if not drill.can_move(status):
            raise BackupError(f"This drill is already {drill.status}.")
        before = {"status": drill.status}
        drill.status = status
        drill.performed_at = performed_at
        drill.achieved_rto = achieved_rto
        drill.achieved_rpo = achieved_rpo
        drill.findings = findings
        drill.recorded_by = user
        drill.save(
            update_fields=[
                "status",
                "performed_at",
                "achieved_rto",
                "achieved_rpo",
                "findings",
                "recorded_by",
            ]
        )
        audit.record(
            "dr_drill.recorded",
            actor=user,
            obj=drill,
            before=before,
            after={
                "status": status,
                "achieved_rto": str(achieved_rto),
                "achieved_rpo": str(achieved_rpo),
            },
        )
        _changed()
    scan_dr_drills()
    return drill


def cancel_drill(user, drill_pk: int) -> DrDrill:
    with transaction.atomic():
        drill = DrDrill.objects.select_for_update().get(pk=drill_pk)
        if drill.status == DrDrill.Status.CANCELLED:
            return drill
        if not drill.can_move(DrDrill.Status.CANCELLED):
            raise BackupError(f"This drill is already {drill.status}.")
        drill.status = DrDrill.Status.CANCELLED
        drill.save(update_fields=["status"])
        audit.record("dr_drill.cancelled", actor=user, obj=drill)
        _changed()
    return drill


def last_drill_at() -> datetime | None:
    return DrDrill.objects.filter(
        status__in=[DrDrill.Status.PASSED, DrDrill.Status.FAILED]
    ).aggregate(last=Max("performed_at"))["last"]


def scan_dr_drills(now: datetime | None = None) -> dict[str, int]:
    """Raise `dr_drill_overdue` when the newest drill is older than the policy allows (or
    there has never been one); resolve it after the next."""
    now = now or timezone.now()
    with transaction.atomic():
        policy = DrPolicy.objects.select_for_update(skip_locked=True).first()
        if policy is None:
            return {"created": 0, "updated": 0, "resolved": 0, "unchanged": 0}
        last = last_drill_at()
        firing = []
        if last is None or now - last > policy.max_since_last_drill:
            since = (
                "no drill recorded" if last is None else f"last drill {(now - last).days} days ago"
            )
            firing.append(
                raised.alert(
                    DRILL_OVERDUE,
                    DRILL_SEVERITY,
                    f"DR drill overdue: {since} (target < {policy.max_since_last_drill.days} days)",
                )
            )
        counts = raised.sync({DRILL_OVERDUE}, firing)
        if counts["created"] or counts["resolved"]:
            _changed()
    return counts


@dataclass
class DrillTypeStatus:
    drill_type: DrillType
    last: DrDrill | None
    next_scheduled: DrDrill | None
    due_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.due_at is None or self.due_at <= now


@dataclass
class DrFigures:
    policy: DrPolicy | None
    types: list[DrillTypeStatus]
    completed: int
    passed: int
    last_at: datetime | None
    since_last: timedelta | None
    last_rto: timedelta | None
    last_rpo: timedelta | None
    worst_rto: timedelta | None
    worst_rpo: timedelta | None

    @property
    def success_rate(self) -> float | None:
        return self.passed / self.completed if self.completed else None

    @property
    def rto_ok(self) -> bool | None:
        if self.policy is None or self.worst_rto is None:
            return None
        return self.worst_rto < self.policy.rto_target

    @property
    def rpo_ok(self) -> bool | None:
        if self.policy is None or self.worst_rpo is None:
            return None
        return self.worst_rpo < self.policy.rpo_target

    @property
    def success_ok(self) -> bool | None:
        rate = self.success_rate
        if self.policy is None or rate is None:
            return None
        return rate >= self.policy.success_rate_target

    @property
    def since_ok(self) -> bool | None:
        if self.policy is None:
            return None
        return self.since_last is not None and self.since_last < self.policy.max_since_last_drill


# 001 "DR Metrics" figures are judged over the last year of drills.
DR_WINDOW = timedelta(days=365)


def dr_figures(now: datetime | None = None) -> DrFigures:
    now = now or timezone.now()
    done = list(
        DrDrill.objects.filter(
            status__in=[DrDrill.Status.PASSED, DrDrill.Status.FAILED],
            performed_at__gte=now - DR_WINDOW,
        ).order_by("-performed_at")
    )
    types = []
    for drill_type in DrillType.objects.all():
        last = (
            drill_type.drills.filter(status__in=[DrDrill.Status.PASSED, DrDrill.Status.FAILED])
            .order_by("-performed_at")
            .first()
        )
        upcoming = (
            drill_type.drills.filter(status=DrDrill.Status.SCHEDULED)
            .order_by("scheduled_for")
            .first()
        )
        due = last.performed_at + drill_type.interval if last else None
        types.append(DrillTypeStatus(drill_type, last, upcoming, due))
    last_at = last_drill_at()
    rtos = [d.achieved_rto for d in done if d.achieved_rto is not None]
    rpos = [d.achieved_rpo for d in done if d.achieved_rpo is not None]
    return DrFigures(
        policy=DrPolicy.objects.first(),
        types=types,
        completed=len(done),
        passed=sum(1 for d in done if d.status == DrDrill.Status.PASSED),
        last_at=last_at,
        since_last=now - last_at if last_at else None,
        last_rto=rtos[0] if rtos else None,
        last_rpo=rpos[0] if rpos else None,
        worst_rto=max(rtos) if rtos else None,
        worst_rpo=max(rpos) if rpos else None,
    )
