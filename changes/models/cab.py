"""Approvals (by role and CAB votes) and CAB meetings (001 "Step 3: Change Approval")."""

from django.conf import settings
from django.db import models

from .change import Change


class Approval(models.Model):
    """One decision on one submission round of a change: by the level's approver role or a
    CAB member's vote. One per person per round (separation of duties: nobody counts twice)."""

    class Kind(models.TextChoices):
        ROLE = "role", "Approver"
        CAB = "cab", "CAB vote"

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="approvals")
    round = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    role = models.CharField(max_length=80, help_text="The role the decision was made in")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["round", "at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["change", "round", "user"], name="uniq_approval_per_person_round"
            )
        ]

    def __str__(self) -> str:
        return f"{self.change_id} r{self.round} {self.user_id} {self.decision}"


class CabMeeting(models.Model):
    """A CAB meeting's minutes: who attended, which changes were discussed, what was said."""

    held_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    changes = models.ManyToManyField(Change, blank=True, related_name="cab_meetings")
    minutes = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-held_at"]

    def __str__(self) -> str:
        return f"CAB {self.held_at:%Y-%m-%d %H:%M}"
