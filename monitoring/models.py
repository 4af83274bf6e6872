"""The pipeline's modules as the console sees them: where to poll them and their last status."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


class Status(models.TextChoices):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class Module(models.Model):
    """A service that serves /health and Prometheus /metrics (Alpha, Beta, Gamma or other)."""

    class Kind(models.TextChoices):
        ALPHA = "alpha", "Alpha (ingestion)"
        BETA = "beta", "Beta (transformation)"
        GAMMA = "gamma", "Gamma (delivery)"
        OTHER = "other", "Other"

    name = models.CharField(
        max_length=50,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_-]*$", "Lower-case letters, digits, - and _.")],
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    base_url = models.URLField(
        help_text="e.g. http://127.0.0.1:8081 — /health and /metrics below it"
    )
    # Write-only in forms and API: never rendered back.
    token = models.CharField(
        max_length=500, blank=True, help_text="Bearer token, if the module wants one"
    )
    poll_interval = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(3600)], help_text="seconds"
    )
    enabled = models.BooleanField(default=True)
    labels = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The poll scan selects enabled modules whose next poll is due; indexed for that query.
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name
