"""Shifts, the weekly on-call rota and its overrides, daily checklists, the shift log and
handoffs (000 "Operator Responsibilities", "On-Call Responsibilities", "Daily Operations
Checklist", "Shift Handoff Procedures")."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from console import audit
from console.errors import Refused

USER = settings.AUTH_USER_MODEL


class Slot(models.TextChoices):
    PRIMARY = "primary", "Primary"
    SECONDARY = "secondary", "Secondary"


def _check_span(starts_at, ends_at) -> None:
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError({"ends_at": "The end must be after the start."})


class Shift(models.Model):
    """An operating shift with its primary and secondary operator (000 "Primary/Secondary
    Operator Duties")."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    primary = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="primary_shifts")
    secondary = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="secondary_shifts"
    )
    notes = models.CharField(max_length=300, blank=True)
    # 000 "Pre-Handoff Preparation (15 minutes before shift end)": the reminder scan's query is
    # `reminder_due_at <= now` (cleared once sent), hence the index.
    reminder_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["starts_at", "ends_at"])]

    def __str__(self) -> str:
        return f"Shift {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"

    def clean(self):
        _check_span(self.starts_at, self.ends_at)
        if self.secondary_id and self.secondary_id == self.primary_id:
            raise ValidationError({"secondary": "Primary and secondary must be two people."})

    def people(self) -> list:
        return [u for u in (self.primary, self.secondary) if u is not None]


class RotaWeek(models.Model):
    """One week of the on-call rotation: primary and secondary on call (000 "On-Call Rotation
    Structure": primary rotates weekly)."""

    starts_at = models.DateTimeField(unique=True)
    ends_at = models.DateTimeField()
    primary = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="primary_oncall")
    secondary = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="secondary_oncall"
    )
    created_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"On-call week from {timezone.localtime(self.starts_at):%Y-%m-%d}"

    def clean(self):
        _check_span(self.starts_at, self.ends_at)
        if self.secondary_id and self.secondary_id == self.primary_id:
            raise ValidationError({"secondary": "Primary and secondary must be two people."})


class Override(models.Model):
    """Someone covers a slot for a while: on the on-call rota (no shift) or on one shift."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    slot = models.CharField(max_length=10, choices=Slot.choices, default=Slot.PRIMARY)
    user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="overrides")
    replaces = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shift = models.ForeignKey(
        Shift, on_delete=models.CASCADE, null=True, blank=True, related_name="overrides"
    )
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["starts_at", "ends_at"])]

    def __str__(self) -> str:
        start = timezone.localtime(self.starts_at)
        return f"{self.user} covers {self.slot} from {start:%Y-%m-%d %H:%M}"


class EscalationContact(models.Model):
    """Management escalation contacts completing the chain (000 "On-Call Rotation Structure")."""

    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=120)
    title = models.CharField(max_length=120)
    user = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.title})"


class RotaGap(models.Model):
    """An hour range of the coming two weeks with nobody primary on call, found by the scan."""

    starts_at = models.DateTimeField(unique=True)  # one raise per gap, however often scanned
    ends_at = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"Rota gap {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"


class Notice(models.Model):
    """A message from the shifts app to one person: rota gaps, handoff reminders and the test
    notification of a handoff's knowledge-transfer verification."""

    class Kind(models.TextChoices):
        GAP = "gap", "Rota gap"
        REMINDER = "reminder", "Handoff reminder"
        TEST = "test", "Test notification"

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="shift_notices")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user}"


class ChecklistTemplate(models.Model):
    """One of 000's daily checklists with its time window (policy data)."""

    key = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    window_start = models.TimeField()
    window_end = models.TimeField()
    source = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class Evidence(models.TextChoices):
    NONE = "", "None (the operator checks)"
    MODULES = "modules", "Module statuses"
    BREAKERS = "breakers", "Circuit breakers"
    QUEUES = "queues", "Queue depths"
    DLQ = "dlq", "Dead letter queues"
    ERRORS = "errors", "Error rates"
    ALERTS = "alerts", "Alerts"
    THROUGHPUT = "throughput", "Throughput against baseline"
    SUCCESS = "success", "Transform and delivery success"
    QUALITY = "quality", "Quality score"
    INCIDENTS = "incidents", "Active incidents"
    ONCALL = "oncall", "On call tonight"
    JOBS = "jobs", "Batch job results since the previous evening"
    JOB_SCHEDULE = "job_schedule", "Batch jobs scheduled"


class ChecklistItem(models.Model):
    """One item of a checklist, with the evidence the console can show next to it."""

    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    key = models.SlugField()
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    description = models.TextField()
    evidence = models.CharField(max_length=20, choices=Evidence.choices, blank=True)

    class Meta:
        ordering = ["template", "position"]
        constraints = [
            models.UniqueConstraint(fields=["template", "key"], name="shifts_item_unique_key")
        ]

    def __str__(self) -> str:
        return self.title


class ChecklistRun(models.Model):
    """A checklist for one day; not complete by `window_end_at` means flagged on the shift."""

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        COMPLETED = "completed", "Completed"

    template = models.ForeignKey(ChecklistTemplate, on_delete=models.PROTECT, related_name="runs")
    day = models.DateField()
    shift = models.ForeignKey(
        Shift, on_delete=models.SET_NULL, null=True, blank=True, related_name="checklists"
    )
    window_start_at = models.DateTimeField()
    window_end_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    started_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-day", "template__position"]
        constraints = [
            models.UniqueConstraint(fields=["template", "day"], name="shifts_run_once_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.template} {self.day}"

    def late(self, now=None) -> bool:
        """Not completed by the end of its window (derived, never stored)."""
        now = now or timezone.now()
        if self.status == self.Status.COMPLETED:
            return self.completed_at > self.window_end_at
        return now > self.window_end_at

    def complete(self, by):
        if self.status == self.Status.COMPLETED:
            return None
        self.status = self.Status.COMPLETED
        self.completed_at = timezone.now()
        self.completed_by = by
        self.save(update_fields=["status", "completed_at", "completed_by"])
        return audit.record(
            "checklist.complete",
            actor=by,
            obj=self,
            after={"late": self.completed_at > self.window_end_at},
        )


class ChecklistTick(models.Model):
    """An item ticked: who, when, the evidence shown at that moment, and a note on deviation."""

    class Result(models.TextChoices):
        OK = "ok", "OK"
        DEVIATION = "deviation", "Deviation"

    run = models.ForeignKey(ChecklistRun, on_delete=models.CASCADE, related_name="ticks")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    result = models.CharField(max_length=10, choices=Result.choices)
    note = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "item"], name="shifts_tick_once"),
        ]

    def __str__(self) -> str:
        return f"{self.item} {self.result}"

    def clean(self):
        if self.result == self.Result.DEVIATION and not self.note.strip():
            raise ValidationError({"note": "A deviation needs a note saying what was found."})


class LogEntry(models.Model):
    """One entry of the shift log (000 "Documentation Requirements")."""

    class Kind(models.TextChoices):
        INCIDENT = "incident", "Incident"
        MANUAL = "manual", "Manual intervention"
        JOB_FAILURE = "job_failure", "Batch job failure"
        EXTERNAL = "external", "External communication"
        ANOMALY = "anomaly", "Anomaly"
        NOTE = "note", "Note"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    # Fields each kind must fill (000 "Documentation Requirements").
    REQUIRED = {
        Kind.MANUAL: ["justification", "actions", "verification", "side_effects"],
        Kind.JOB_FAILURE: ["job_ref", "root_cause", "remediation"],
        Kind.EXTERNAL: ["counterpart"],
        Kind.INCIDENT: ["incident"],
    }

    shift = models.ForeignKey(
        Shift, on_delete=models.SET_NULL, null=True, blank=True, related_name="log_entries"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    text = models.TextField()
    justification = models.TextField(blank=True)
    actions = models.TextField(blank=True)
    verification = models.TextField(blank=True)
    side_effects = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    remediation = models.TextField(blank=True)
    counterpart = models.CharField(max_length=200, blank=True, help_text="Who was contacted")
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    change_ref = models.CharField(max_length=40, blank=True, help_text="Change request id")
    job_ref = models.CharField(max_length=120, blank=True, help_text="Batch job name or run id")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    author = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "log entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"

    def clean(self):
        errors = {}
        for field in self.REQUIRED.get(self.kind, []):
            value = getattr(self, f"{field}_id" if field == "incident" else field)
            if not value or (isinstance(value, str) and not value.strip()):
                errors[field] = f"Required for a {self.get_kind_display().lower()} entry."
        if errors:
            raise ValidationError(errors)

    def close(self, by):
        if self.status == self.Status.CLOSED:
            return None
        self.status = self.Status.CLOSED
        self.closed_at = timezone.now()
        self.closed_by = by
        self.save(update_fields=["status", "closed_at", "closed_by"])
        return audit.record("shift_log.close", actor=by, obj=self)


class Handoff(models.Model):
    """A shift (or weekly on-call) handoff: written by the outgoing operator from live state,
    verified and signed by both (000 "Shift Handoff Procedures", "On-Call Handoff Procedure").
    """

    class Kind(models.TextChoices):
        SHIFT = "shift", "Shift handoff"
        ONCALL = "oncall", "On-call handoff"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        HANDED_OVER = "handed_over", "Signed by the outgoing operator"
        ACCEPTED = "accepted", "Signed by both"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SHIFT)
    shift = models.ForeignKey(
        Shift, on_delete=models.SET_NULL, null=True, blank=True, related_name="handoffs"
    )
    rota = models.ForeignKey(
        RotaWeek, on_delete=models.SET_NULL, null=True, blank=True, related_name="handoffs"
    )
    outgoing = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="handoffs_given")
    incoming = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="handoffs_taken")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    state = models.JSONField(default=list, blank=True, help_text="Live state when pre-filled")
    state_at = models.DateTimeField(null=True, blank=True)
    # The outgoing operator's part (000 "Pre-Handoff Preparation").
    system_health = models.TextField(blank=True)
    items_to_watch = models.TextField(blank=True)
    briefing_points = models.TextField(blank=True)
    # The incoming operator's knowledge-transfer verification (000 "Handoff Meeting").
    incidents_summary = models.TextField(blank=True)
    dashboard_confirmed_at = models.DateTimeField(null=True, blank=True)
    contacts_confirmed_at = models.DateTimeField(null=True, blank=True)
    test_notice = models.ForeignKey(
        Notice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    test_sent_at = models.DateTimeField(null=True, blank=True)
    test_received_at = models.DateTimeField(null=True, blank=True)
    outgoing_signed_at = models.DateTimeField(null=True, blank=True)
    incoming_signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    OUTGOING_FIELDS = ["system_health", "items_to_watch", "briefing_points"]
    INCOMING_FIELDS = ["incidents_summary"]

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def missing_verification(self) -> list[str]:
        """What the incoming operator has yet to do before signing."""
        missing = []
        if not self.incidents_summary.strip():
            missing.append("summarise the active incidents in your own words")
        if self.dashboard_confirmed_at is None:
            missing.append("confirm dashboard access")
        if self.test_received_at is None:
            missing.append("receive the test notification")
        if self.contacts_confirmed_at is None:
            missing.append("confirm the escalation contacts")
        return missing

    def sign(self, by):
        """The outgoing operator signs first, then the incoming one after the verification;
        anyone else, or the same person twice, is refused."""
        now = timezone.now()
        if by.pk not in (self.outgoing_id, self.incoming_id):
            raise Refused(
                "Only the outgoing or the incoming operator of this handoff signs it.", 403
            )
        if by.pk == self.outgoing_id and self.outgoing_signed_at is None:
            self.outgoing_signed_at = now
            self.status = self.Status.HANDED_OVER
            fields = ["outgoing_signed_at", "status", "updated_at"]
        elif by.pk == self.incoming_id and self.outgoing_id != by.pk:
            if self.incoming_signed_at is not None:
                raise Refused("You have already signed this handoff.")
            if self.outgoing_signed_at is None:
                raise Refused("The outgoing operator signs first.")
            missing = self.missing_verification()
            if missing:
                raise Refused("Before signing, " + "; ".join(missing) + ".", 400)
            self.incoming_signed_at = now
            self.status = self.Status.ACCEPTED
            fields = ["incoming_signed_at", "status", "updated_at"]
        else:
            raise Refused("You have already signed this handoff.")
        self.updated_at = now
        self.save(update_fields=fields)
        return audit.record(
            "handoff.sign",
            actor=by,
            obj=self,
            after={"as": "outgoing" if by.pk == self.outgoing_id else "incoming"},
        )

    @property
    def read_only(self) -> bool:
        return self.status == self.Status.ACCEPTED
