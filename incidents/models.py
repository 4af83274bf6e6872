"""Incidents: the record, its timeline, its clocks, escalations, notifications and review.

Numbers and rules come from the manuals and are kept as data (`SeverityPolicy`,
`EscalationStep`, `CommunicationTemplate`, `NotificationChannel`, seeded by `policy.load()`).
When an incident is declared the whole policy is copied onto it (`Incident.policy`), so that
editing the policy later never changes the clocks of incidents already running.
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone

from console import audit
from console.errors import Refused
from console.secrets import masked_url


def actor_name(user) -> str:
    return user.get_username() if user is not None else audit.SYSTEM


class Severity(models.TextChoices):
    P1 = "P1", "P1 – Critical"
    P2 = "P2", "P2 – High"
    P3 = "P3", "P3 – Medium"
    P4 = "P4", "P4 – Low"


SEVERITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


class Status(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    MITIGATING = "mitigating", "Mitigating"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# The allowed moves (001 "Incident Response Workflow": Open → Investigating → Mitigating →
# Resolved, then Closed after the review). Mitigating may fall back to Investigating when a
# mitigation does not hold; Resolved may be reopened into Investigating. Closed is final.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.INVESTIGATING, Status.MITIGATING, Status.RESOLVED}),
    Status.INVESTIGATING: frozenset({Status.MITIGATING, Status.RESOLVED}),
    Status.MITIGATING: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.INVESTIGATING}),
    Status.CLOSED: frozenset(),
}
ACTIVE_STATUSES = (Status.OPEN, Status.INVESTIGATING, Status.MITIGATING)


class DetectionSource(models.TextChoices):
    # 001 "Phase 1: Detection and Triage", Detection Sources.
    ALERT = "alert", "Monitoring alert"
    USER_REPORT = "user_report", "User or customer report"
    OBSERVATION = "observation", "Operator observation"
    HEALTH_CHECK = "health_check", "Scheduled health check"
    EXTERNAL = "external", "External notice"


class SeverityPolicy(models.Model):
    """The clocks of one severity (000 "Response Time Requirements"; 001 "Incident Severity
    Levels"). Minutes left empty mean the manuals set no such clock for this severity."""

    severity = models.CharField(max_length=2, choices=Severity.choices, unique=True)
    name = models.CharField(max_length=40)
    definition = models.TextField()
    examples = models.TextField(blank=True)
    ack_minutes = models.PositiveIntegerField(help_text="Acknowledgement deadline")
    response_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Response (investigation started) deadline"
    )
    mitigation_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="000's Escalation column: mitigate within, or escalate"
    )
    update_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Status-update cadence"
    )
    executive_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Executive notification deadline"
    )
    stakeholder_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Stakeholder notification deadline"
    )
    resolution_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Resolution deadline"
    )
    review_required = models.BooleanField(default=False)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "severity policies"

    def __str__(self) -> str:
        return f"{self.severity} – {self.name}"

    def snapshot(self) -> dict:
        return {
            "name": self.name,
            "ack_minutes": self.ack_minutes,
            "response_minutes": self.response_minutes,
            "mitigation_minutes": self.mitigation_minutes,
            "update_minutes": self.update_minutes,
            "executive_minutes": self.executive_minutes,
            "stakeholder_minutes": self.stakeholder_minutes,
            "resolution_minutes": self.resolution_minutes,
            "review_required": self.review_required,
        }


class EscalationStep(models.Model):
    """One cell of the escalation matrix (001 "Escalation Matrix"): at `after_minutes` from
    declaration, engage the holders of `role`."""

    severity = models.CharField(max_length=2, choices=Severity.choices)
    step = models.PositiveSmallIntegerField()
    after_minutes = models.PositiveIntegerField()
    role = models.CharField(max_length=80, help_text="A role (group) name, e.g. Director")
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["severity", "step"]
        constraints = [
            models.UniqueConstraint(fields=["severity", "step"], name="uniq_matrix_cell"),
        ]

    def __str__(self) -> str:
        return f"{self.severity} step {self.step}: {self.role} at {self.after_minutes} min"


class CommunicationTemplate(models.Model):
    """A message template (001 "Communication Templates"), rendered with Django's engine."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial notification"
        UPDATE = "update", "Status update"
        RESOLUTION = "resolution", "Resolution notification"

    kind = models.CharField(max_length=20, choices=Kind.choices, unique=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    source = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return self.get_kind_display()


class NotificationChannel(models.Model):
    """Where stakeholder messages go: an email list, a JSON webhook, a Slack-compatible hook."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "JSON webhook"
        SLACK = "slack", "Slack-compatible webhook"

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(
        max_length=500, help_text="Comma-separated addresses (email) or the hook's URL"
    )
    enabled = models.BooleanField(default=True)
    severities = models.JSONField(
        default=list, blank=True, help_text='e.g. ["P1", "P2"]; empty means all'
    )
    events = models.JSONField(
        default=list,
        blank=True,
        help_text='any of "initial", "update", "resolution", "escalation"; empty means all',
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_hook(self) -> bool:
        return self.kind in (self.Kind.WEBHOOK, self.Kind.SLACK)

    @property
    def display_target(self) -> str:
        """What pages, the API and the audit trail show: a hook's URL is its secret."""
        return masked_url(self.target) if self.is_hook else self.target

    def wants(self, severity: str, event: str) -> bool:
        return (not self.severities or severity in self.severities) and (
            not self.events or event in self.events
        )


class DayCounter(models.Model):
    """The last sequence number used on one day; locked while a number is taken so that
    numbers are unique and without gaps (a rolled-back declaration rolls back its number)."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.last}"


class Incident(models.Model):
    """One incident, from declaration to close."""

    number = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    summary = models.TextField()
    impact = models.TextField(blank=True)
    affected_modules = models.ManyToManyField(
        "monitoring.Module", blank=True, related_name="incidents"
    )
    detection_source = models.CharField(
        max_length=20, choices=DetectionSource.choices, default=DetectionSource.OBSERVATION
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commanded_incidents"
    )
    # Empty when the console declared it itself (a firing alert, issue 6).
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="declared_incidents",
        null=True,
        blank=True,
    )
    channel_url = models.URLField(blank=True, help_text="Communication channel (chat, bridge)")
    resolution_summary = models.TextField(blank=True)
    data_loss_confirmed = models.BooleanField(default=False)

    detected_at = models.DateTimeField()
    declared_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    investigating_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_update_at = models.DateTimeField(null=True, blank=True)
    executive_notified_at = models.DateTimeField(null=True, blank=True)
    stakeholder_notified_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField()
    status_changed_by = models.CharField(max_length=150, blank=True)

    # The whole policy when declared: {"severities": {P1: {...}}, "matrix": {P1: [...]}}.
    policy = models.JSONField(default=dict, editable=False)

    # Deadlines, derived by `recompute_deadlines()` and stored so the scan can find them.
    ack_due_at = models.DateTimeField(null=True, blank=True)
    response_due_at = models.DateTimeField(null=True, blank=True)
    mitigation_due_at = models.DateTimeField(null=True, blank=True)
    update_due_at = models.DateTimeField(null=True, blank=True)
    executive_due_at = models.DateTimeField(null=True, blank=True)
    stakeholder_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    # The earliest of the above not yet handled: the scan's query is
    # `next_timer_at <= now`, served by this index.
    next_timer_at = models.DateTimeField(null=True, blank=True, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-declared_at"]
        permissions = [("act_incident", "Can act on an incident (commander, responder)")]
        indexes = [
            models.Index(fields=["status", "severity"]),
            models.Index(fields=["next_escalation_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    # --- derived values ----------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def rules(self, severity: str | None = None) -> dict:
        return self.policy.get("severities", {}).get(severity or self.severity, {})

    def matrix(self, severity: str | None = None) -> list[dict]:
        return self.policy.get("matrix", {}).get(severity or self.severity, [])

    def can_move(self, to: str) -> bool:
        return to in ALLOWED_MOVES[self.status]

    TIMERS = (
        ("ack", "ack_due_at", "Acknowledge"),
        ("response", "response_due_at", "Start investigating"),
        ("mitigation", "mitigation_due_at", "Mitigate"),
        ("update", "update_due_at", "Next status update"),
        ("executive", "executive_due_at", "Notify executives"),
        ("stakeholder", "stakeholder_due_at", "Notify stakeholders"),
        ("resolution", "resolution_due_at", "Resolve"),
        ("escalation", "next_escalation_at", "Next escalation"),
    )

    def countdowns(self) -> list[dict]:
        """The running clocks, soonest first, for pages (the JS ticks them)."""
        now = timezone.now()
        found = []
        for key, field, label in self.TIMERS:
            due = getattr(self, field)
            if due is None:
                continue
            item = {"key": key, "label": label, "due": due, "overdue": due <= now}
            if key == "escalation":
                # The step is the one due at that offset: no query, so lists stay O(1).
                minutes = round((due - self.declared_at).total_seconds() / 60)
                roles = [s["role"] for s in self.matrix() if s["after_minutes"] == minutes]
                item["label"] = f"Escalate to {roles[0]}" if roles else label
            found.append(item)
        return sorted(found, key=lambda item: item["due"])

    def fired_keys(self) -> set[str]:
        if self.pk is None:
            return set()
        return set(self.escalations.values_list("key", flat=True))

    def next_step(self, fired: set[str] | None = None) -> dict | None:
        """The first matrix step of the current severity that has not fired."""
        fired = self.fired_keys() if fired is None else fired
        for step in self.matrix():
            if step_key(self.severity, step["step"]) not in fired:
                return step
        return None

    # --- transitions ----------------------------------------------------------------------
    def log(self, kind: str, text: str, by=None, **data) -> "TimelineEntry":
        return TimelineEntry.objects.create(
            incident=self, kind=kind, actor=by, actor_name=actor_name(by), text=text, data=data
        )

    def _save_moved(self, fields: list[str], by, action: str, before: dict) -> None:
        fields += self.recompute_deadlines()
        self.save(update_fields=sorted(set(fields + ["updated_at"])))
        after = {k: getattr(self, k) for k in before}
        audit.record(action, actor=by, obj=self, before=before, after=after)

    def acknowledge(self, by) -> "TimelineEntry":
        """Stop the acknowledgement clock. Acknowledging twice is refused, saying by whom."""
        if not self.is_active:
            raise Refused(f"{self.number} is {self.get_status_display()}; nothing to acknowledge.")
        if self.acknowledged_at is not None:
            who = self.acknowledged_by.get_username() if self.acknowledged_by else "someone"
            raise Refused(
                f"{self.number} was already acknowledged by {who} at "
                f"{timezone.localtime(self.acknowledged_at):%H:%M:%S}."
            )
        now = timezone.now()
        before = {"acknowledged_at": None}
        self.acknowledged_at, self.acknowledged_by = now, by
        self._save_moved(
            ["acknowledged_at", "acknowledged_by"], by, "incident.acknowledged", before
        )
        return self.log(TimelineEntry.Kind.ACKNOWLEDGED, "Acknowledged.", by)

    def move_to(self, to: str, by, note: str = "") -> "TimelineEntry | None":
        """Move the status along the table of allowed moves; the same status is a no-op
        (returns None). Sets the phase's timestamp; reaching Resolved stops every clock."""
        if to == self.status:
            return None
        if not self.can_move(to):
            raise Refused(
                f"{self.number} cannot go from {self.get_status_display()} to {Status(to).label}."
            )
        now = timezone.now()
        before = {"status": self.status}
        fields = ["status", "status_changed_at", "status_changed_by"]
        if self.acknowledged_at is None and to != Status.RESOLVED:
            # Starting work on an incident acknowledges it (001 Phase 1: acknowledgement
            # "establishes clear ownership").
            self.acknowledged_at, self.acknowledged_by = now, by
            fields += ["acknowledged_at", "acknowledged_by"]
        stamp = {
            Status.INVESTIGATING: "investigating_at",
            Status.MITIGATING: "mitigated_at",
            Status.RESOLVED: "resolved_at",
            Status.CLOSED: "closed_at",
        }[Status(to)]
        if to == Status.INVESTIGATING and self.status == Status.RESOLVED:
            self.resolved_at = None  # reopened: the resolution clock runs again
            fields.append("resolved_at")
        if getattr(self, stamp) is None or to in (Status.RESOLVED, Status.CLOSED):
            setattr(self, stamp, now)
            fields.append(stamp)
        old = self.get_status_display()
        self.status, self.status_changed_at, self.status_changed_by = to, now, actor_name(by)
        self._save_moved(fields, by, f"incident.{to}", before)
        text = f"Status {old} → {self.get_status_display()}."
        if note:
            text += f" {note}"
        return self.log(TimelineEntry.Kind.STATUS, text, by, frm=before["status"], to=to)

    def set_severity(self, to: str, by, reason: str = "") -> "TimelineEntry | None":
        """Change severity: the clocks switch to the copied policy of the new severity."""
        if to == self.severity:
            return None
        if not self.is_active:
            raise Refused(f"{self.number} is {self.get_status_display()}; severity is fixed.")
        before = {"severity": self.severity}
        self.severity = to
        self._save_moved(["severity"], by, "incident.severity_changed", before)
        text = f"Severity {before['severity']} → {to}."
        if reason:
            text += f" {reason}"
        return self.log(TimelineEntry.Kind.SEVERITY, text, by, frm=before["severity"], to=to)

    def recompute_deadlines(self) -> list[str]:
        """Derive every deadline from the times and the copied policy; return changed fields.

        1. Acknowledgement, response and mitigation run from declaration until the event.
        2. The update clock runs from the last update (or declaration) at the cadence.
        3. Executive and stakeholder clocks run until a notification was delivered.
        4. Escalation: the next unfired matrix step of the current severity.
        5. Resolving stops them all (a resolved or closed incident has no clocks).
        6. `next_timer_at` is the earliest deadline not yet recorded as breached.
        """
        rules = self.rules()
        base = self.declared_at

        def after(minutes, start=None):
            return (start or base) + timedelta(minutes=minutes) if minutes else None

        dues: dict[str, datetime | None] = dict.fromkeys(f for _, f, _ in self.TIMERS)
        if self.is_active:
            if self.acknowledged_at is None:
                dues["ack_due_at"] = after(rules.get("ack_minutes"))
            if self.investigating_at is None and self.mitigated_at is None:
                dues["response_due_at"] = after(rules.get("response_minutes"))
            if self.mitigated_at is None:
                dues["mitigation_due_at"] = after(rules.get("mitigation_minutes"))
            dues["update_due_at"] = after(
                rules.get("update_minutes"), self.last_update_at or self.declared_at
            )
            if self.executive_notified_at is None:
                dues["executive_due_at"] = after(rules.get("executive_minutes"))
            if self.stakeholder_notified_at is None:
                dues["stakeholder_due_at"] = after(rules.get("stakeholder_minutes"))
            dues["resolution_due_at"] = after(rules.get("resolution_minutes"))
            step = self.next_step()
            dues["next_escalation_at"] = after(step["after_minutes"]) if step else None
        breached = set(self.breaches.values_list("timer", "due_at")) if self.pk else set()
        pending = []
        for key, field, _ in self.TIMERS:
            due = dues[field]
            if due is None:
                continue
            if key == "escalation" or (key, due) not in breached:
                pending.append(due)
        dues["next_timer_at"] = min(pending) if pending else None
        changed = [f for f, v in dues.items() if getattr(self, f) != v]
        for field, value in dues.items():
            setattr(self, field, value)
        return changed


def step_key(severity: str, step: int) -> str:
    return f"{severity}-{step}"


class Responder(models.Model):
    """A person working the incident, and in what capacity."""

    class Role(models.TextChoices):
        RESPONDER = "responder", "Responder"
        SCRIBE = "scribe", "Scribe"
        LIAISON = "liaison", "Communications liaison"
        SME = "sme", "Subject-matter expert"
        ESCALATION = "escalation", "Engaged by escalation"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="responders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.RESPONDER)
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["added_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "user"], name="uniq_responder"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) on {self.incident.number}"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied("Timeline entries are never edited; add a correction instead.")

    def delete(self):
        raise PermissionDenied("Timeline entries are never removed.")


class TimelineEntry(models.Model):
    """One event on an incident's timeline. Append-only: a correction is a new entry."""

    class Kind(models.TextChoices):
        DECLARED = "declared", "Declared"
        STATUS = "status", "Status change"
        SEVERITY = "severity", "Severity change"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ESCALATION = "escalation", "Escalation"
        BREACH = "breach", "Deadline breached"
        NOTIFICATION = "notification", "Notification"
        UPDATE = "update", "Status update posted"
        NOTE = "note", "Note"
        RESPONDER = "responder", "Responder"
        MODULES = "modules", "Affected modules"
        ALERT = "alert", "Linked alert"
        CHANGE = "change", "Linked change"
        RUNBOOK = "runbook", "Runbook action"
        REVIEW = "review", "Review"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.actor_name}: {self.text[:60]}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionDenied("Timeline entries are never edited; add a correction instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("Timeline entries are never removed.")


class Breach(models.Model):
    """A deadline that passed unmet; unique per (timer, deadline) so a breach is recorded once
    however many scans see it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="breaches")
    timer = models.CharField(max_length=15)
    due_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    severity = models.CharField(max_length=2, choices=Severity.choices)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "timer", "due_at"], name="uniq_breach"),
        ]

    def __str__(self) -> str:
        return f"{self.incident.number} {self.timer} due {self.due_at:%H:%M}"


class Escalation(models.Model):
    """One fired step of the escalation matrix. The unique key makes firing do-once: two
    workers, a redelivered task or a restarted scan cannot fire the same step twice."""

    class Trigger(models.TextChoices):
        # 001 "Escalation Triggers": automatic ...
        TIME = "time", "Matrix time reached"
        RESPONSE = "response", "Response window exceeded"
        MITIGATION = "mitigation", "Mitigation window exceeded"
        SCOPE = "scope", "Impact scope expanded"
        DATA_LOSS = "data_loss", "Data loss confirmed"
        # ... and manual, with a reason.
        EXPERTISE = "expertise", "Additional expertise needed"
        OVERWHELMED = "overwhelmed", "Responders overwhelmed or unavailable"
        CROSS_TEAM = "cross_team", "Cross-team coordination needed"
        EXECUTIVE = "executive", "Executive decision needed"

    MANUAL = (Trigger.EXPERTISE, Trigger.OVERWHELMED, Trigger.CROSS_TEAM, Trigger.EXECUTIVE)

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    key = models.CharField(max_length=10, help_text="<severity>-<step>")
    severity = models.CharField(max_length=2, choices=Severity.choices)
    step = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=80)
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    reason = models.TextField(blank=True)
    due_at = models.DateTimeField(help_text="When the matrix said this step was due")
    fired_at = models.DateTimeField(default=timezone.now)
    actor_name = models.CharField(max_length=150)
    notified = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["fired_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "key"], name="uniq_escalation_step"),
        ]

    def __str__(self) -> str:
        return f"{self.incident.number} → {self.role} ({self.get_trigger_display()})"


class Notification(models.Model):
    """One message to one recipient through one channel, and its delivery log.

    Deliveries are driven by the due-time scan over `next_attempt_at` (never by countdown
    tasks): a failed attempt moves it forward with backoff, up to `MAX_ATTEMPTS`."""

    MAX_ATTEMPTS = 5

    class Kind(models.TextChoices):
        CONSOLE = "console", "In the console"
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "JSON webhook"
        SLACK = "slack", "Slack-compatible webhook"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Audience(models.TextChoices):
        STAKEHOLDERS = "stakeholders", "Stakeholders"
        EXECUTIVES = "executives", "Executives"
        ESCALATION = "escalation", "Escalation"
        RESPONDERS = "responders", "Responders"
        ALERTS = "alerts", "Alert receiver"
        SILENCE = "silence", "Silence author"
        CHANGES = "changes", "Change approvers and requester"

    # Empty for messages that belong to no incident: an alert group's notification (issue 6,
    # `alert_group`) or a silence about to expire; `link` then says where the inbox points.
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="notifications", null=True, blank=True
    )
    alert_group = models.ForeignKey(
        "monitoring.AlertGroup",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    link = models.CharField(max_length=300, blank=True)
    # A webhook's JSON body when it is not the incident's (an alert group's is Alertmanager's).
    payload = models.JSONField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    audience = models.CharField(max_length=15, choices=Audience.choices)
    event = models.CharField(max_length=20)
    channel = models.ForeignKey(
        NotificationChannel, null=True, blank=True, on_delete=models.SET_NULL
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="incident_notifications",
    )
    target = models.CharField(max_length=500, blank=True)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The delivery scan's query is `state = pending AND next_attempt_at <= now`.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.display_target or self.user} ({self.state})"

    @property
    def display_target(self) -> str:
        """The target as shown anywhere: a hook's URL is its secret (console.secrets)."""
        if self.kind in (self.Kind.WEBHOOK, self.Kind.SLACK):
            return masked_url(self.target)
        return self.target


def add_business_days(start: date, days: int) -> date:
    current = start
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


class Review(models.Model):
    """Post-incident review (001 "Phase 5: Post-Incident Activities")."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        COMPLETE = "complete", "Complete"

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    required = models.BooleanField(default=False)
    due_on = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    timeline_reconstruction = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    response_effectiveness = models.TextField(blank=True)
    improvements = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=150, blank=True)

    REQUIRED_FIELDS = (
        "timeline_reconstruction",
        "root_cause",
        "contributing_factors",
        "response_effectiveness",
        "improvements",
    )

    def __str__(self) -> str:
        return f"Review of {self.incident.number}"

    @property
    def is_complete(self) -> bool:
        return self.state == self.State.COMPLETE

    @property
    def overdue(self) -> bool:
        return bool(self.due_on and not self.is_complete and timezone.localdate() > self.due_on)

    def missing(self) -> list[str]:
        return [f for f in self.REQUIRED_FIELDS if not getattr(self, f).strip()]


class ActionItem(models.Model):
    """An improvement from a review, with an owner and a deadline."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="action_items")
    description = models.CharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)

    class Meta:
        ordering = ["due_on", "pk"]

    def __str__(self) -> str:
        return self.description


class WatchdogRun(models.Model):
    """The watchdog's heartbeat: its last run and what it found (exposed on /metrics)."""

    name = models.CharField(max_length=40, unique=True)
    at = models.DateTimeField()
    overdue_found = models.PositiveIntegerField(default=0)
    refired = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.at}"
