"""Maintenance windows (issue 9; 000 "Maintenance Windows", 004 "Maintenance Window Process").

Policy is data (seeded by `changes.maintenance_policy.load()`, editable in the admin):
`MaintenanceType` (000 "Standard Maintenance Windows" and "Pre-Maintenance Notification
Requirements"), `MaintenanceReminderStep` (004 "Notification Process": T-7d, T-3d, T-1d, T-1h)
and `MaintenanceChecklistTemplate` (000 "Pre-Maintenance Procedures", "Post-Maintenance
Procedures", "Rollback Decision Criteria"). A `MaintenanceWindow` is one dated window; a
`MaintenanceRecurrence` generates them from an RFC 5545 rule in the console's time zone.
Due times are columns scanned by beat tasks: the window's `start`/`end` (start and end it),
`MaintenanceReminder.due_at` (send it) and `MaintenanceChecklistItem.due_at` (overdue, derived
on read).
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class MaintenanceType(models.Model):
    """A kind of window with its slot, cap, notice periods and approving role (000)."""

    class Key(models.TextChoices):
        WEEKLY = "weekly", "Standard Weekly"
        MONTHLY = "monthly", "Monthly"
        EMERGENCY = "emergency", "Emergency"

    key = models.CharField(max_length=20, choices=Key.choices, unique=True)
    name = models.CharField(max_length=60)
    # The designated slot as an RFC 5545 RRULE in local time, e.g. "FREQ=WEEKLY;BYDAY=SU";
    # blank for "as needed" (Emergency).
    rrule = models.CharField(max_length=200, blank=True)
    slot_start = models.TimeField(null=True, blank=True, help_text="Local wall-clock time")
    slot_end = models.TimeField(null=True, blank=True, help_text="Local wall-clock time")
    max_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Duration cap; empty means as required"
    )
    internal_notice_minutes = models.PositiveIntegerField(
        default=0, help_text="0 means best effort"
    )
    external_notice_minutes = models.PositiveIntegerField(default=0)
    # Skipping the notice period is what the emergency path is for (it needs a reason).
    emergency_path = models.BooleanField(
        default=False, help_text="This type may be scheduled inside the notice periods"
    )
    approving_role = models.CharField(
        max_length=80, help_text="Role (group) name; that role or above approves"
    )
    approver_title = models.CharField(
        max_length=80, blank=True, help_text="The manual's name for the approver"
    )
    # The manuals do not say whether moving an approved window needs a new approval; the
    # console's default is that it does (the approver approved those times), editable here.
    reschedule_resets_approval = models.BooleanField(
        default=True, help_text="Moving an approved window sends it back for approval"
    )
    scope = models.TextField(blank=True)
    availability_target = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def notice_minutes(self) -> int:
        """The notice a window of this type needs: the longer of internal and external."""
        return max(self.internal_notice_minutes, self.external_notice_minutes)


class MaintenanceRecurrence(models.Model):
    """A recurring definition that generates dated windows (e.g. every Sunday 02:00-06:00)."""

    type = models.ForeignKey(MaintenanceType, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    rrule = models.CharField(
        max_length=200, help_text='RFC 5545 rule in local time, e.g. "FREQ=WEEKLY;BYDAY=SU"'
    )
    start_time = models.TimeField(help_text="Local wall-clock time")
    end_time = models.TimeField(help_text="Local wall-clock time (next day if before the start)")
    modules = models.ManyToManyField("monitoring.Module", related_name="+")
    activities = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    horizon_days = models.PositiveIntegerField(
        default=56, help_text="How far ahead windows are generated"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title


class MaintenanceWindow(models.Model):
    """One dated maintenance window: scope, plan, approval, and its life while it runs."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Awaiting approval"
        APPROVED = "approved", "Approved"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.REQUESTED, Status.APPROVED, Status.IN_PROGRESS)

    type = models.ForeignKey(MaintenanceType, on_delete=models.PROTECT, related_name="windows")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    start = models.DateTimeField()
    end = models.DateTimeField()
    modules = models.ManyToManyField("monitoring.Module", related_name="maintenance_windows")
    activities = models.TextField(blank=True, help_text="Maintenance activities planned")
    impact = models.TextField(blank=True, help_text="Expected impact")
    availability_target = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="maintenance_windows"
    )
    contact = models.CharField(max_length=200, blank=True, help_text="Operations contact")
    emergency_reason = models.TextField(blank=True)
    recurrence = models.ForeignKey(
        MaintenanceRecurrence,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="windows",
    )

    requested_by = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    approving_role = models.CharField(max_length=80, blank=True)
    approved_by = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True)
    cancel_reason = models.TextField(blank=True)

    # The silence made at start and expired at end (001 "Silences and Inhibition").
    silence = models.ForeignKey(
        "monitoring.Silence", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # 000 "Maintenance Announcement Template", rendered at scheduling, editable until sent.
    announcement_subject = models.CharField(max_length=300, blank=True)
    announcement = models.TextField(blank=True)
    announcement_sent_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "pk"]
        indexes = [
            # The start/end scans: `status = approved AND start <= now`,
            # `status = in_progress AND end <= now`.
            models.Index(fields=["status", "start"]),
            models.Index(fields=["status", "end"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="mw_end_after_start"
            ),
            # A recurrence generates at most one window per occurrence, however often it runs.
            models.UniqueConstraint(
                fields=["recurrence", "start"],
                condition=Q(recurrence__isnull=False),
                name="mw_one_per_occurrence",
            ),
        ]
        permissions = [("approve_maintenancewindow", "Can approve maintenance windows")]

    def __str__(self) -> str:
        return f"MW-{self.pk} {self.title}"

    @property
    def number(self) -> str:
        return f"MW-{self.pk}"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def is_running(self, now=None) -> bool:
        return self.status == self.Status.IN_PROGRESS

    def short_notice(self) -> bool:
        """Scheduled inside its type's notice period (only the emergency path allows it)."""
        return self.start - self.requested_at < timedelta(minutes=self.type.notice_minutes)


class MaintenanceReminderStep(models.Model):
    """One step of the notification timeline (004 "Notification Process")."""

    class Audience(models.TextChoices):
        INTERNAL = "internal", "Internal teams"
        USERS = "users", "Users and stakeholders"

    key = models.CharField(max_length=10, unique=True, help_text='e.g. "T-7d"')
    minutes_before = models.PositiveIntegerField()
    audience = models.CharField(max_length=10, choices=Audience.choices)
    label = models.CharField(max_length=120)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-minutes_before"]

    def __str__(self) -> str:
        return f"{self.key}: {self.label}"


class MaintenanceReminder(models.Model):
    """A scheduled reminder of one window; sent once by the due-time scan."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    window = models.ForeignKey(
        MaintenanceWindow, on_delete=models.CASCADE, related_name="reminders"
    )
    key = models.CharField(max_length=10)
    label = models.CharField(max_length=120)
    audience = models.CharField(max_length=10, choices=MaintenanceReminderStep.Audience.choices)
    # The reminder scan's query is `state = pending AND due_at <= now`.
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    recipients = models.TextField(blank=True, help_text="Where it went (channels, addresses)")
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [models.Index(fields=["state", "due_at"])]
        constraints = [
            models.UniqueConstraint(fields=["window", "key"], name="mw_one_reminder_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.window.number} {self.key}"


class Phase(models.TextChoices):
    """Checklist phases and where their due time is anchored (000)."""

    PRE_48H = "pre_48h", "48 hours before"
    PRE_24H = "pre_24h", "24 hours before"
    PRE_1H = "pre_1h", "1 hour before"
    POST_30M = "post_30m", "Immediate post-maintenance (within 30 minutes)"
    POST_4H = "post_4h", "Short-term verification (within 4 hours)"
    POST_24H = "post_24h", "Documentation and closeout (within 24 hours)"
    ROLLBACK = "rollback", "Rollback decision criteria"


class Evidence(models.TextChoices):
    """What the console can show live beside an item."""

    NONE = "", "None"
    HEALTHY = "healthy", "Module statuses"
    METRICS = "metrics", "Monitoring receiving metrics"
    ERRORS = "errors", "Error rates"
    THROUGHPUT = "throughput", "Throughput"
    RESOURCES = "resources", "Resource utilisation"


class MaintenanceChecklistTemplate(models.Model):
    """One checklist item as the manual lists it, and when it falls due."""

    phase = models.CharField(max_length=10, choices=Phase.choices)
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    # Due at the window's start minus this (pre phases) or its end plus this (post phases);
    # empty for the rollback criteria, which have no due time.
    offset_minutes = models.IntegerField(null=True, blank=True)
    evidence = models.CharField(max_length=12, choices=Evidence.choices, blank=True)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["phase", "position"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "position"], name="mw_template_position")
        ]

    def __str__(self) -> str:
        return f"{self.get_phase_display()} {self.position}. {self.text}"


class MaintenanceChecklistItem(models.Model):
    """One item of one window's checklist: due time, who ticked it and when."""

    window = models.ForeignKey(
        MaintenanceWindow, on_delete=models.CASCADE, related_name="checklist"
    )
    phase = models.CharField(max_length=10, choices=Phase.choices)
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    evidence = models.CharField(max_length=12, choices=Evidence.choices, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["due_at", "phase", "position"]
        constraints = [
            models.UniqueConstraint(fields=["window", "phase", "position"], name="mw_item_position")
        ]

    def __str__(self) -> str:
        return self.text

    def overdue(self, now=None) -> bool:
        now = now or timezone.now()
        return self.done_at is None and self.due_at is not None and now > self.due_at


class MaintenanceRollback(models.Model):
    """The record of a rollback taken during a window (000 "Rollback Execution")."""

    window = models.OneToOneField(
        MaintenanceWindow, on_delete=models.CASCADE, related_name="rollback"
    )
    criteria = models.JSONField(default=list, help_text="The decision criteria that were met")
    reason = models.TextField()
    steps = models.TextField(help_text="Rollback steps taken")
    verification = models.TextField(help_text="How the pre-maintenance state was verified")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Rollback of {self.window.number}"
