"""Change policy kept as data (seeded by `changes.policy.load()` from changes/fixtures/,
editable in the admin): the risk matrix, the approval levels with their CAB quorum, the
standard-change catalogue, the pre-implementation checklist, freezes and the timers."""

from django.db import models


class Level(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Risk(models.TextChoices):
    # 001 "Risk Assessment Matrix": the four outcomes of impact × likelihood.
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    HIGH_RISK = "high_risk", "High Risk"
    CRITICAL = "critical", "Critical"


RISK_ORDER = {Risk.STANDARD: 0, Risk.NORMAL: 1, Risk.HIGH_RISK: 2, Risk.CRITICAL: 3}


class RiskCell(models.Model):
    """One cell of 001 "Risk Assessment Matrix" (impact × likelihood → risk)."""

    impact = models.CharField(max_length=10, choices=Level.choices)
    likelihood = models.CharField(max_length=10, choices=Level.choices)
    risk = models.CharField(max_length=10, choices=Risk.choices)

    class Meta:
        ordering = ["impact", "likelihood"]
        constraints = [
            models.UniqueConstraint(fields=["impact", "likelihood"], name="uniq_risk_cell")
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_impact_display()} impact × {self.get_likelihood_display()} likelihood"
            f" → {self.get_risk_display()}"
        )


class ApprovalLevel(models.Model):
    """Who approves a change of one risk (001 "Approval levels": Low → Operations Lead,
    Medium → Engineering Manager, High → Director + CAB, Critical → VP + Full CAB). The
    matrix's four risks map onto the table's four levels in order."""

    class Cab(models.TextChoices):
        NONE = "none", "No CAB vote"
        QUORUM = "quorum", "CAB quorum"
        FULL = "full", "Full CAB"

    risk = models.CharField(max_length=10, choices=Risk.choices, unique=True)
    label = models.CharField(max_length=20, help_text="The manual's level name (Low … Critical)")
    approver_role = models.CharField(
        max_length=80, help_text="Role (group) whose holder, or a higher rank, approves"
    )
    cab = models.CharField(max_length=10, choices=Cab.choices, default=Cab.NONE)
    quorum_percent = models.PositiveSmallIntegerField(
        default=50,
        help_text="CAB quorum: approvals from MORE than this share of the CAB's members "
        "(50 = a majority). Ignored for Full CAB (every member) and No CAB.",
    )
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["risk"]

    def __str__(self) -> str:
        return f"{self.label}: {self.approver_role} + {self.get_cab_display()}"

    def votes_needed(self, members: int) -> int:
        """CAB approvals needed out of `members` (0 when no CAB vote is required)."""
        if self.cab == self.Cab.NONE:
            return 0
        if self.cab == self.Cab.FULL:
            return max(members, 1)
        return min(max(members * self.quorum_percent // 100 + 1, 1), max(members, 1))


class StandardTemplate(models.Model):
    """A pre-approved standard change (001 "Change Types", Standard Changes)."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField()
    implementation_plan = models.TextField()
    rollback_plan = models.TextField()
    impact = models.CharField(max_length=10, choices=Level.choices, default=Level.LOW)
    likelihood = models.CharField(max_length=10, choices=Level.choices, default=Level.LOW)
    active = models.BooleanField(default=True)
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChecklistTemplateItem(models.Model):
    """One line of 001 "Pre-Implementation Checklist"; copied onto every change."""

    class Section(models.TextChoices):
        TECHNICAL = "technical", "Technical readiness"
        RESOURCES = "resources", "Resource availability"
        DOCUMENTATION = "documentation", "Documentation"

    section = models.CharField(max_length=20, choices=Section.choices)
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["section", "position"]
        constraints = [
            models.UniqueConstraint(fields=["section", "text"], name="uniq_checklist_line")
        ]

    def __str__(self) -> str:
        return self.text


class ChangePolicy(models.Model):
    """The numbers and roles of the change process (one row, pk=1)."""

    formal_request_hours = models.PositiveIntegerField(
        default=24, help_text='001 "Emergency Change Process": formal request within 24 hours'
    )
    review_hours = models.PositiveIntegerField(
        default=24, help_text='001 "Immediate Review (within 24 hours)"'
    )
    incident_lookback_hours = models.PositiveIntegerField(
        default=24, help_text="War room: changes implemented this long before detection"
    )
    incident_after_hours = models.PositiveIntegerField(
        default=24, help_text="Change page: incidents opened this long after it finished"
    )
    incident_conflict_hours = models.PositiveIntegerField(
        default=24,
        help_text="An open P1/P2 on a module clashes with windows starting within this many "
        "hours (its end is unknown); starting work re-checks it",
    )
    verbal_approver_role = models.CharField(
        max_length=80,
        default="Engineering Manager",
        help_text='001 "Emergency Change Process": verbal approval from the on-call manager',
    )
    reviewer_role = models.CharField(
        max_length=80,
        default="Senior Engineer",
        help_text='001 "Step 2: Technical Review": the technical team (this rank or above)',
    )
    override_role = models.CharField(
        max_length=80, default="Operations Lead", help_text="May override scheduling conflicts"
    )
    rollback_triggers = models.JSONField(
        default=list, blank=True, help_text='001 "Rollback Triggers"'
    )

    class Meta:
        verbose_name_plural = "change policy"

    def __str__(self) -> str:
        return "Change policy"

    @classmethod
    def current(cls) -> "ChangePolicy":
        policy = cls.objects.filter(pk=1).first()
        return policy or cls(pk=1)


class Freeze(models.Model):
    """A change freeze (blackout period): no change may be scheduled into it. No modules
    means every module."""

    name = models.CharField(max_length=120)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    modules = models.ManyToManyField("monitoring.Module", blank=True, related_name="freezes")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["starts_at", "ends_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "A freeze must end after it starts."})
