"""Change requests (001 "Change Management"): the record, its transitions, its timeline, its
checklist, its approvals and its links to incidents."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from console import audit
from console.errors import Refused

from .policy import Level, Risk


def actor_name(user) -> str:
    return user.get_username() if user is not None else audit.SYSTEM


class ChangeType(models.TextChoices):
    # 001 "Change Types".
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    EMERGENCY = "emergency", "Emergency"


class Priority(models.TextChoices):
    # 001 change request form: "Priority: [Low/Medium/High]".
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    TECHNICAL_REVIEW = "technical_review", "Technical Review"
    CAB_REVIEW = "cab_review", "CAB Review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In Progress"
    COMPLETED = "completed", "Completed"
    ROLLED_BACK = "rolled_back", "Rolled Back"
    FAILED = "failed", "Failed"
    REVIEWED = "reviewed", "Reviewed"
    CLOSED = "closed", "Closed"


S = Status
# The allowed moves (issue 8; 001 "Change Request Process"). Standard changes go Submitted →
# Approved (pre-approved); emergency ones Draft → Approved on a recorded verbal approval and
# may start unscheduled. A rejected change is revised (back to Draft) and resubmitted. A
# scheduled change may be re-scheduled by going back to Approved.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.APPROVED}),
    S.SUBMITTED: frozenset({S.TECHNICAL_REVIEW, S.APPROVED, S.REJECTED}),
    S.TECHNICAL_REVIEW: frozenset({S.CAB_REVIEW, S.REJECTED}),
    S.CAB_REVIEW: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.SCHEDULED, S.IN_PROGRESS}),
    S.REJECTED: frozenset({S.DRAFT}),
    S.SCHEDULED: frozenset({S.IN_PROGRESS, S.APPROVED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.ROLLED_BACK, S.FAILED}),
    S.COMPLETED: frozenset({S.REVIEWED, S.ROLLED_BACK}),
    S.ROLLED_BACK: frozenset({S.REVIEWED}),
    S.FAILED: frozenset({S.REVIEWED}),
    S.REVIEWED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
# Awaiting a decision; counted against nothing on the calendar.
PENDING = (S.SUBMITTED, S.TECHNICAL_REVIEW, S.CAB_REVIEW)
# Holding a slot on the calendar (conflict checks compare against these).
BOOKED = (S.APPROVED, S.SCHEDULED, S.IN_PROGRESS)
FINISHED = (S.COMPLETED, S.ROLLED_BACK, S.FAILED)
STAMPS = {
    S.SUBMITTED: "submitted_at",
    S.APPROVED: "approved_at",
    S.REJECTED: "rejected_at",
    S.SCHEDULED: "scheduled_at",
    S.IN_PROGRESS: "started_at",
    S.COMPLETED: "finished_at",
    S.ROLLED_BACK: "finished_at",
    S.FAILED: "finished_at",
    S.REVIEWED: "reviewed_at",
    S.CLOSED: "closed_at",
}


class ChangeDayCounter(models.Model):
    """The last CHG sequence number used on one day, locked while a number is taken (as
    incidents' DayCounter): unique and without gaps however many are raised at once."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.last}"


class Change(models.Model):
    """One change request (001 "Normal Change Process", Step 1: the change request form)."""

    number = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=ChangeType.choices, default=ChangeType.NORMAL)
    template = models.ForeignKey(
        "changes.StandardTemplate", null=True, blank=True, on_delete=models.PROTECT
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_changes"
    )
    implementer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="implemented_changes",
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    # The form's sections (001 "CHANGE REQUEST").
    description = models.TextField(blank=True)
    business_justification = models.TextField(blank=True)
    technical_details = models.TextField(blank=True)
    affected_modules = models.ManyToManyField(
        "monitoring.Module", blank=True, related_name="changes"
    )
    affected_systems = models.TextField(
        blank=True, help_text="Other components affected, beyond the pipeline modules"
    )
    risk_assessment = models.TextField(blank=True, help_text="Identified risks and mitigations")
    testing_performed = models.TextField(blank=True)
    implementation_plan = models.TextField(blank=True)
    rollback_plan = models.TextField(blank=True)
    success_criteria = models.TextField(blank=True)
    impact = models.CharField(max_length=10, choices=Level.choices, default=Level.LOW)
    likelihood = models.CharField(max_length=10, choices=Level.choices, default=Level.LOW)
    risk = models.CharField(max_length=10, choices=Risk.choices, editable=False)
    requires_downtime = models.BooleanField(
        default=False, help_text="Needs an approved maintenance window covering its modules"
    )
    # "Scheduled Window": proposed on the form, fixed by scheduling.
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    scheduled_start = models.DateTimeField(null=True, blank=True, db_index=True)
    scheduled_end = models.DateTimeField(null=True, blank=True)
    schedule_conflicts = models.JSONField(default=list, blank=True, editable=False)
    override_reason = models.TextField(blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Submission round: 1 at the first submission, +1 at each resubmission after a rejection.
    round = models.PositiveIntegerField(default=0)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Emergency changes (001 "Emergency Change Process").
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="remediating_changes",
        help_text="The incident an emergency change remediates (reviewed in its review)",
    )
    verbal_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verbal_approval_note = models.TextField(blank=True)
    formal_due_at = models.DateTimeField(null=True, blank=True)
    formal_completed_at = models.DateTimeField(null=True, blank=True)
    # Rollback record (001 "Rollback Execution").
    rollback_trigger = models.CharField(max_length=200, blank=True)
    rollback_reason = models.TextField(blank=True)
    rollback_outcome = models.TextField(blank=True)
    failure_reason = models.TextField(blank=True)
    # Post-implementation review (001 "Immediate Review (within 24 hours)").
    review_due_at = models.DateTimeField(null=True, blank=True)
    review_stability = models.TextField(blank=True)
    review_issues = models.TextField(blank=True)
    review_monitoring = models.TextField(blank=True)
    review_lessons = models.TextField(blank=True)
    review_results = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The earliest of formal_due_at / review_due_at not yet noted as overdue: the due-time
    # scan's query `next_due_at <= now` is served by its index.
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    formal_overdue_noted_at = models.DateTimeField(null=True, blank=True)
    review_overdue_noted_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("act_change", "Can implement a change (requester, implementer)")]
        indexes = [models.Index(fields=["status", "scheduled_start"])]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    # --- derived ----------------------------------------------------------------------------
    def can_move(self, to: str) -> bool:
        return to in ALLOWED_MOVES[self.status]

    @property
    def is_emergency(self) -> bool:
        return self.type == ChangeType.EMERGENCY

    @property
    def formal_overdue(self) -> bool:
        return (
            self.formal_due_at is not None
            and self.formal_completed_at is None
            and self.formal_due_at <= timezone.now()
        )

    @property
    def review_overdue(self) -> bool:
        return (
            self.review_due_at is not None
            and self.reviewed_at is None
            and self.review_due_at <= timezone.now()
        )

    @property
    def window(self) -> tuple:
        return self.scheduled_start, self.scheduled_end

    def missing_form_fields(self) -> list[str]:
        """The form's sections still empty (a formal request needs all of them)."""
        names = [
            "description",
            "business_justification",
            "technical_details",
            "risk_assessment",
            "testing_performed",
            "implementation_plan",
            "rollback_plan",
        ]
        return [
            Change._meta.get_field(n).verbose_name for n in names if not getattr(self, n).strip()
        ]

    def recompute_due(self) -> list[str]:
        candidates = []
        if self.formal_due_at and not self.formal_completed_at and not self.formal_overdue_noted_at:
            candidates.append(self.formal_due_at)
        if self.review_due_at and not self.reviewed_at and not self.review_overdue_noted_at:
            candidates.append(self.review_due_at)
        due = min(candidates, default=None)
        if due != self.next_due_at:
            self.next_due_at = due
            return ["next_due_at"]
        return []

    # --- transitions --------------------------------------------------------------------------
    def log(self, kind: str, text: str, by=None, **data) -> "ChangeEvent":
        return ChangeEvent.objects.create(
            change=self,
            kind=kind,
            actor=by,
            actor_name=actor_name(by),
            text=text,
            data=data,
            round=self.round,
        )

    def move_to(self, to: str, by, note: str = "", fields: list[str] | None = None, now=None):
        """Move along ALLOWED_MOVES, stamp the time, save, audit and log it. Moving to the
        current status is a no-op (returns None)."""
        if to == self.status:
            return None
        if not self.can_move(to):
            raise Refused(
                f"{self.number} cannot go from {self.get_status_display()} to {Status(to).label}."
            )
        now = now or timezone.now()
        before = {"status": self.status}
        old = self.get_status_display()
        self.status, self.status_changed_at = to, now
        update = ["status", "status_changed_at", "updated_at"] + list(fields or [])
        stamp = STAMPS.get(Status(to))
        if stamp:
            setattr(self, stamp, now)
            update.append(stamp)
        update += self.recompute_due()
        self.save(update_fields=sorted(set(update)))
        audit.record(f"change.{to}", actor=by, obj=self, before=before, after={"status": to})
        text = f"Status {old} → {self.get_status_display()}."
        if note:
            text += f" {note}"
        return self.log(ChangeEvent.Kind.STATUS, text, by, frm=before["status"], to=to)

    def review_window_from(self, now, hours: int) -> None:
        self.review_due_at = now + timedelta(hours=hours)


class ChangeEvent(models.Model):
    """The change's append-only timeline: transitions, approvals, votes, the implementation
    log (checkpoints, deviations), overrides, rollback and review."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        EDITED = "edited", "Edited"
        STATUS = "status", "Status"
        REVIEW = "review", "Technical review"
        APPROVAL = "approval", "Approval"
        VOTE = "vote", "CAB vote"
        VERBAL = "verbal", "Verbal approval"
        SCHEDULE = "schedule", "Scheduled"
        OVERRIDE = "override", "Conflict override"
        CHECKLIST = "checklist", "Checklist"
        CHECKPOINT = "checkpoint", "Checkpoint"
        DEVIATION = "deviation", "Deviation"
        NOTE = "note", "Note"
        ROLLBACK = "rollback", "Rollback"
        OVERDUE = "overdue", "Overdue"
        FORMAL = "formal", "Formal request"
        INCIDENT = "incident", "Incident link"
        ACTION = "action", "Runbook action"

    LOG_KINDS = (Kind.CHECKPOINT, Kind.DEVIATION, Kind.NOTE)

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    round = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.change_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Revision(models.Model):
    """The form as it stood at each submission: a resubmitted change keeps its history."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="revisions")
    round = models.PositiveIntegerField()
    submitted_at = models.DateTimeField()
    data = models.JSONField()

    class Meta:
        ordering = ["round"]
        constraints = [
            models.UniqueConstraint(fields=["change", "round"], name="uniq_change_revision")
        ]

    def __str__(self) -> str:
        return f"{self.change_id} round {self.round}"


class ChecklistItem(models.Model):
    """One line of the change's pre-implementation checklist (copied from the template)."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="checklist")
    section = models.CharField(max_length=20)
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=200)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["section", "position", "pk"]

    def __str__(self) -> str:
        return self.text


class IncidentLink(models.Model):
    """ "Caused by this change": a responder marks an incident as caused by a change."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="incident_links")
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="change_links"
    )
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    marked_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["change", "incident"], name="uniq_change_incident")
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} caused by {self.change_id}"
