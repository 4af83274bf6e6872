"""The pipeline's modules as the console sees them: where to poll them and their last status."""

import re

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from .validators import module_url


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
    base_url = models.CharField(
        max_length=200,
        validators=[module_url],
        help_text="e.g. http://127.0.0.1:8081 — /health and /metrics below it",
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


class Poll(models.Model):
    """One poll of one module: what came back, how long it took, or why it failed."""

    module = models.ForeignKey(Module, on_delete=models.DB_CASCADE, related_name="polls")
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    ok = models.BooleanField()
    health_status = models.CharField(max_length=10, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    samples = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["module", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.module} at {self.started_at:%H:%M:%S} {'ok' if self.ok else 'failed'}"


class Series(models.Model):
    """One time series: a metric name plus its labels (the module's name among them)."""

    module = models.ForeignKey(Module, on_delete=models.DB_CASCADE, related_name="series")
    name = models.CharField(max_length=200)
    labels = models.JSONField(default=dict)
    # Canonical `k="v",…` text of the labels: the uniqueness key, cheap to compare.
    labels_key = models.CharField(max_length=1000)
    kind = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["module", "name", "labels_key"], name="series_unique")
        ]
        indexes = [models.Index(fields=["name"])]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"{self.name}{{{self.labels_key}}}"


class Sample(models.Model):
    """A raw sample. Narrow on purpose (series, time, value): the (series, ts) primary key is
    the index every range query uses. Kept RAW_RETENTION (7 days by default)."""

    pk = models.CompositePrimaryKey("series_id", "ts")
    # No index of its own: the primary key (series_id, ts) already leads with it.
    series = models.ForeignKey(Series, on_delete=models.DB_CASCADE, db_index=False)
    ts = models.DateTimeField()
    value = models.FloatField()

    def __str__(self) -> str:
        return f"{self.series_id}@{self.ts:%Y-%m-%d %H:%M:%S}={self.value}"


class RollupBase(models.Model):
    pk = models.CompositePrimaryKey("series_id", "ts")
    series = models.ForeignKey(Series, on_delete=models.DB_CASCADE, db_index=False)
    ts = models.DateTimeField(help_text="Start of the bucket")
    min = models.FloatField()
    max = models.FloatField()
    sum = models.FloatField()
    count = models.PositiveIntegerField()
    last = models.FloatField(help_text="Value of the bucket's latest sample")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.series_id}@{self.ts:%Y-%m-%d %H:%M}"


class Rollup1m(RollupBase):
    """One-minute buckets of raw samples."""


class Rollup1h(RollupBase):
    """One-hour buckets of the one-minute buckets."""


class RollupWatermark(models.Model):
    """How far each resolution has been rolled up; the roll-up task locks this row."""

    resolution = models.CharField(max_length=4, unique=True)
    upto = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.resolution} up to {self.upto}"


class MetricLevel(models.TextChoices):
    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    UNKNOWN = "UNKNOWN"


class Threshold(models.Model):
    """A row of 000 "Operational Metrics and Thresholds": a PromQL value and its bands.

    Bands are in the expression's units: `warn_below`/`warn_above` and `crit_below`/
    `crit_above` (either side may be empty), so two-sided rows such as "<500 or >7500" are
    one threshold. With `relative_to_baseline` the bands are fractions of the baseline
    (`baseline` if set, otherwise the expression's average over the previous 7 days).
    """

    SYSTEM = "system"
    SCOPES = [*Module.Kind.choices, (SYSTEM, "System-wide")]

    key = models.SlugField(max_length=80, unique=True)
    scope = models.CharField(max_length=10, choices=SCOPES)
    name = models.CharField(max_length=120)
    expr = models.TextField(help_text='PromQL; module-scoped rows get module="<name>" added')
    unit = models.CharField(max_length=20, blank=True)
    display_scale = models.FloatField(default=1.0, help_text="Shown value = value × scale")
    normal_text = models.CharField(max_length=60, blank=True)
    warning_text = models.CharField(max_length=60, blank=True)
    critical_text = models.CharField(max_length=60, blank=True)
    warn_below = models.FloatField(null=True, blank=True)
    warn_above = models.FloatField(null=True, blank=True)
    crit_below = models.FloatField(null=True, blank=True)
    crit_above = models.FloatField(null=True, blank=True)
    relative_to_baseline = models.BooleanField(default=False)
    baseline = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["scope", "position"]

    def __str__(self) -> str:
        return f"{self.get_scope_display()}: {self.name}"

    def level(self, value: float | None, baseline: float | None = None) -> str:
        """The band `value` falls in; UNKNOWN without a value (or a needed baseline)."""
        if value is None:
            return MetricLevel.UNKNOWN
        if self.relative_to_baseline:
            if not baseline:
                return MetricLevel.UNKNOWN
            value = value / baseline
        if (self.crit_below is not None and value < self.crit_below) or (
            self.crit_above is not None and value > self.crit_above
        ):
            return MetricLevel.CRITICAL
        if (self.warn_below is not None and value < self.warn_below) or (
            self.warn_above is not None and value > self.warn_above
        ):
            return MetricLevel.WARNING
        return MetricLevel.OK


class MetricStatus(models.Model):
    """The current value and band of one threshold for one module (or the system)."""

    threshold = models.ForeignKey(Threshold, on_delete=models.CASCADE, related_name="statuses")
    module = models.ForeignKey(Module, on_delete=models.CASCADE, null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    baseline = models.FloatField(null=True, blank=True)
    level = models.CharField(
        max_length=10, choices=MetricLevel.choices, default=MetricLevel.UNKNOWN
    )
    evaluated_at = models.DateTimeField()
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per (threshold, module), and one system-wide row per threshold
            # (two partial constraints: SQLite has no NULLS NOT DISTINCT).
            models.UniqueConstraint(
                fields=["threshold", "module"],
                condition=models.Q(module__isnull=False),
                name="metric_status_unique_module",
            ),
            models.UniqueConstraint(
                fields=["threshold"],
                condition=models.Q(module__isnull=True),
                name="metric_status_unique_system",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.threshold.key} {self.module or 'system'} {self.level}"


class StatusChange(models.Model):
    """History: every change of a module's, a metric's or the pipeline's status."""

    class Subject(models.TextChoices):
        MODULE = "module"
        METRIC = "metric"
        PIPELINE = "pipeline"

    subject = models.CharField(max_length=10, choices=Subject.choices)
    module = models.ForeignKey(Module, on_delete=models.CASCADE, null=True, blank=True)
    threshold = models.ForeignKey(Threshold, on_delete=models.CASCADE, null=True, blank=True)
    from_status = models.CharField(max_length=10)
    to_status = models.CharField(max_length=10)
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["module", "-at"])]

    def __str__(self) -> str:
        return f"{self.subject} {self.module or ''} {self.from_status}→{self.to_status}"


class PipelineState(models.Model):
    """The overall status (001 "Pipeline Status Indicator"); one row."""

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.status


class Annotation(models.Model):
    """An operator's note on a module or metric for a time span, shown on charts and handoffs."""

    module = models.ForeignKey(Module, on_delete=models.CASCADE, null=True, blank=True)
    metric = models.CharField(max_length=200, blank=True, help_text="Metric name, if specific")
    text = models.CharField(max_length=500)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    author = models.ForeignKey("auth.User", on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["starts_at"])]

    def __str__(self) -> str:
        return self.text[:60]


class AlertSeverity(models.TextChoices):
    """001 "Alert Severity Levels"."""

    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"


class AlertRule(models.Model):
    """One rule of 001 "Alert Definitions": a PromQL condition that must hold for a duration."""

    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", "Lower-case letters, digits and _.")],
    )
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    expr = models.TextField(help_text="PromQL; every series it returns is an alert")
    for_seconds = models.PositiveIntegerField(
        default=0, help_text="How long the condition must hold before the alert fires"
    )
    summary = models.CharField(max_length=300, help_text="May use {{$labels.name}} and {{$value}}")
    runbook = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="Added to every alert")
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class AlertState(models.TextChoices):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(models.Model):
    """One alert instance: a rule's series (or an Alertmanager alert) from pending to resolved.

    Resolved rows stay as history; at most one pending/firing row exists per fingerprint.
    """

    class Source(models.TextChoices):
        RULE = "rule"
        ALERTMANAGER = "alertmanager"
        CONSOLE = "console"  # raised by the console's own scans (capacity, backups, DR)

    fingerprint = models.CharField(max_length=64, db_index=True)
    rule = models.ForeignKey(AlertRule, on_delete=models.SET_NULL, null=True, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.RULE)
    name = models.CharField(max_length=200, db_index=True)
    severity = models.CharField(max_length=10, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=AlertState.choices)
    value = models.FloatField(null=True, blank=True)
    active_since = models.DateTimeField(help_text="When the condition started holding")
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField()
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
    )

    class Meta:
        ordering = ["-active_since"]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=models.Q(state__in=["pending", "firing"]),
                name="alert_one_active_per_fingerprint",
            )
        ]
        indexes = [models.Index(fields=["state", "-active_since"])]

    def __str__(self) -> str:
        return f"{self.name} {self.state}"


class Silence(models.Model):
    """Alertmanager-style silence: label matchers and a time span. Expiring sets the end to now;
    expired silences are kept for history."""

    matchers = models.JSONField(help_text='[{"name": …, "value": …, "isRegex": …, "isEqual": …}]')
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(db_index=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField(max_length=150)
    comment = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"silence {self.pk}: {self.comment[:40]}"

    def state(self, now) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def matches(self, labels: dict[str, str]) -> bool:
        for matcher in self.matchers:
            actual = labels.get(matcher["name"], "")
            if matcher.get("isRegex"):
                hit = re.fullmatch(matcher["value"], actual) is not None
            else:
                hit = actual == matcher["value"]
            if hit != matcher.get("isEqual", True):
                return False
        return True


class InhibitRule(models.Model):
    """001 "Inhibition Rules": a firing source alert mutes target alerts sharing `equal` labels."""

    source_match = models.JSONField(help_text="Labels the muting alert must have")
    target_match = models.JSONField(help_text="Labels the muted alerts must have")
    equal = models.JSONField(default=list, help_text="Labels both must share")
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return f"{self.source_match} mutes {self.target_match} on {self.equal}"


class AlertIncidentPolicy(models.Model):
    """Which firing alerts open incidents, and at which severity (issue 6: critical → P1,
    high → P2, medium → P3 by default); one row, editable in the admin."""

    mapping = models.JSONField(default=dict, help_text='e.g. {"critical": "P1", "high": "P2"}')
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return ", ".join(f"{k} → {v}" for k, v in self.mapping.items())


# --- runbooks (issue 6, 001 "Runbook Appendix" and "Common Incident Scenarios") ----------------


class Runbook(models.Model):
    """A runbook page: one of 001's Runbook Appendix A–F or one of its incident scenarios.

    `body` is the manual's text (Markdown-ish: `####` headings, **bold** labels, numbered and
    bulleted steps, fenced code); it is rendered escaped, block by block. `aliases` maps the
    runbook names alert rules use (001 "Alert Definitions": `runbook-gamma-dlq-growth`) to this
    page, optionally to one of its sections: {"runbook-gamma-dlq-growth": "c-2"}.
    """

    class Kind(models.TextChoices):
        PROCEDURE = "procedure", "Runbook"
        SCENARIO = "scenario", "Incident scenario"

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    summary = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    aliases = models.JSONField(
        default=dict, blank=True, help_text='Alert runbook names → section, e.g. {"runbook-x": ""}'
    )
    source = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "position", "title"]

    def __str__(self) -> str:
        return self.title


# --- capacity, backups and DR drills (issue 11) -----------------------------------------------


class CapacityPlan(models.Model):
    """One module kind's capacity inputs (001 "Capacity Metrics", "Scaling Calculations").

    Throughput is read from the metric store: the rate of `throughput_metric` (a counter)
    summed over the modules of this kind.
    """

    kind = models.CharField(max_length=10, choices=Module.Kind.choices, unique=True)
    throughput_metric = models.CharField(max_length=200, help_text="Counter of records handled")
    sustained_max = models.FloatField(
        validators=[MinValueValidator(0.001)], help_text="Sustained maximum, rec/s"
    )
    instances = models.PositiveIntegerField(default=1, help_text="Instances running now")
    capacity_per_instance = models.FloatField(
        validators=[MinValueValidator(0.001)], help_text="rec/s one instance sustains"
    )
    target_utilization = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.01), MaxValueValidator(1.0)]
    )
    growth_factor = models.FloatField(
        default=1.5, validators=[MinValueValidator(0.01)], help_text="Calculator default"
    )
    source = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"capacity of {self.get_kind_display()}"


class CapacityThreshold(models.Model):
    """A row of 001 "Capacity Thresholds": a warning and a critical level for one resource.

    `headroom` rows are evaluated per capacity plan from the throughput; `promql` rows run
    their expression, and every series it returns (labelled by module) is compared.
    """

    class Measure(models.TextChoices):
        HEADROOM = "headroom", "Throughput headroom"
        PROMQL = "promql", "PromQL expression"

    class Direction(models.TextChoices):
        BELOW = "below", "Alert below the level"
        ABOVE = "above", "Alert above the level"

    key = models.SlugField(max_length=80, unique=True)
    resource = models.CharField(max_length=120)
    measure = models.CharField(max_length=10, choices=Measure.choices)
    expr = models.TextField(blank=True, help_text="PromQL, for promql rows")
    direction = models.CharField(max_length=5, choices=Direction.choices)
    warning = models.FloatField(help_text="In the expression's units (ratios 0-1)")
    critical = models.FloatField()
    display_scale = models.FloatField(default=100.0, help_text="Shown value = value × scale")
    unit = models.CharField(max_length=20, default="%", blank=True)
    warning_action = models.CharField(max_length=120, blank=True)
    critical_action = models.CharField(max_length=120, blank=True)
    warning_severity = models.CharField(
        max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.LOW
    )
    critical_severity = models.CharField(
        max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.HIGH
    )
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.resource

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.measure == self.Measure.PROMQL and self.enabled and not self.expr.strip():
            raise ValidationError({"expr": "An enabled PromQL threshold needs an expression."})
        worse = self.critical < self.warning
        if self.direction == self.Direction.BELOW and not worse and self.critical != self.warning:
            raise ValidationError({"critical": "Alerting below: critical must be under warning."})
        if self.direction == self.Direction.ABOVE and worse:
            raise ValidationError({"critical": "Alerting above: critical must be over warning."})

    def level(self, value: float | None) -> str:
        if value is None:
            return MetricLevel.UNKNOWN
        below = self.direction == self.Direction.BELOW
        if (value < self.critical) if below else (value > self.critical):
            return MetricLevel.CRITICAL
        if (value < self.warning) if below else (value > self.warning):
            return MetricLevel.WARNING
        return MetricLevel.OK


class BackupClass(models.Model):
    """A backup of 001 "Backup Classifications" and "Scheduled Backups", with its targets.

    `interval` is the longest expected gap between good backups (empty: taken on every
    change, so no schedule to miss). `next_due_at` = last good backup + interval + grace,
    indexed for the due-time scan; "overdue" is derived from it when read.
    """

    class Category(models.TextChoices):
        CONFIGURATION = "configuration"
        STATE = "state"
        DATABASE = "database"
        AUDIT_LOG = "audit_log", "Audit log"

    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    category = models.CharField(max_length=20, choices=Category.choices)
    content = models.CharField(max_length=300, blank=True)
    frequency = models.CharField(max_length=120, help_text="As the manual says it")
    interval = models.DurationField(null=True, blank=True)
    grace = models.DurationField(help_text="Expected duration: how late a backup may finish")
    retention = models.CharField(max_length=120)
    rto = models.DurationField(help_text="Recovery time objective")
    rpo = models.DurationField(help_text="Recovery point objective")
    last_success_at = models.DateTimeField(
        null=True, blank=True, help_text="Start of the newest good backup: the data it holds"
    )
    last_verified_at = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]
        verbose_name_plural = "backup classes"

    def __str__(self) -> str:
        return self.name

    def overdue(self, now) -> bool:
        return self.enabled and self.next_due_at is not None and now >= self.next_due_at

    def rpo_exposure(self, now):
        """How much data would be lost if everything failed now."""
        return None if self.last_success_at is None else now - self.last_success_at


class BackupRun(models.Model):
    """One backup or verification run, as the backup script or the job reported it."""

    class Kind(models.TextChoices):
        BACKUP = "backup"
        VERIFICATION = "verification"

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    backup_class = models.ForeignKey(BackupClass, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.BACKUP)
    status = models.CharField(max_length=10, choices=Status.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    size_bytes = models.BigIntegerField(null=True, blank=True)
    location = models.CharField(max_length=500, blank=True)
    detail = models.TextField(blank=True)
    reported_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["backup_class", "kind", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.backup_class} {self.kind} {self.status} at {self.started_at:%Y-%m-%d %H:%M}"


class DrillType(models.Model):
    """A row of 001 "DR Testing Schedule"."""

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    frequency = models.CharField(max_length=40)
    interval = models.DurationField(help_text="Monthly ≈ 30 days, quarterly ≈ 91, yearly 365")
    duration = models.DurationField()
    scope = models.CharField(max_length=120)
    position = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class DrPolicy(models.Model):
    """001 "DR Metrics" targets; one row, editable in the admin."""

    rto_target = models.DurationField()
    rpo_target = models.DurationField()
    success_rate_target = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    max_since_last_drill = models.DurationField()
    source = models.CharField(max_length=120, blank=True)

    class Meta:
        verbose_name_plural = "DR policy"

    def __str__(self) -> str:
        return "DR targets"


class DrDrill(models.Model):
    """One DR drill: scheduled, then recorded as passed or failed (or cancelled)."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        PASSED = "passed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    MOVES = {
        Status.SCHEDULED: {Status.PASSED, Status.FAILED, Status.CANCELLED},
        Status.PASSED: set(),
        Status.FAILED: set(),
        Status.CANCELLED: set(),
    }

    drill_type = models.ForeignKey(DrillType, on_delete=models.PROTECT, related_name="drills")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_for = models.DateTimeField(db_index=True)
    performed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    achieved_rto = models.DurationField(null=True, blank=True)
    achieved_rpo = models.DurationField(null=True, blank=True)
    findings = models.TextField(blank=True)
    scheduled_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-scheduled_for"]

    def __str__(self) -> str:
        return f"{self.drill_type} {self.scheduled_for:%Y-%m-%d} {self.status}"

    @property
    def completed(self) -> bool:
        return self.status in (self.Status.PASSED, self.Status.FAILED)

    def can_move(self, to: str) -> bool:
        return to == self.status or to in self.MOVES[self.status]


# --- Batch jobs and runbook actions (issue 10) ------------------------------------------------


class Job(models.Model):
    """One batch job of 000 "Batch Processing Schedules": where it runs and when (cron, in the
    console's time zone). The console is its scheduler: `next_run_at` is the due-time column
    the beat scan claims."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    class Cadence(models.TextChoices):
        HOURLY = "hourly"
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"

    name = models.CharField(
        max_length=80,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", "Lower-case letters, digits and _.")],
    )
    # The module's name (a Module row may be registered after the catalogue is seeded).
    module = models.CharField(max_length=50, db_index=True)
    cadence = models.CharField(max_length=10, choices=Cadence.choices)
    schedule_text = models.CharField(max_length=20, help_text='As the manual writes it: ":05"')
    cron = models.CharField(max_length=60, help_text="Five-field cron, console's time zone")
    description = models.CharField(max_length=200)
    expected_min_minutes = models.FloatField()
    expected_max_minutes = models.FloatField()
    start_grace_seconds = models.PositiveIntegerField(
        default=60, help_text="A run not started this long after its time is late"
    )
    source = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    # Who suspended it ("maintenance:<id>" from a window, else blank); resume_module_jobs
    # resumes only what the same key suspended.
    suspension_key = models.CharField(max_length=80, blank=True)
    status_changed_by = models.CharField(max_length=150, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # The scan: active jobs whose next run is due. Indexed with status for that query.
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(
        "JobRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A backup job reports each finished run to its backup class (issue 11: backups reported
    # "through the jobs of the pipeline"). A key, not a foreign key, like `module`: the job
    # catalogue and the backup classes are seeded from separate fixtures.
    backup_class = models.SlugField(
        max_length=60, blank=True, help_text="Key of the backup class its runs report to"
    )
    backup_kind = models.CharField(
        max_length=12,
        blank=True,
        choices=BackupRun.Kind.choices,
        help_text="What its runs are for that class (blank: backup)",
    )

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status", "next_run_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from cronsim import CronSim, CronSimError
        from django.core.exceptions import ValidationError
        from django.utils import timezone

        try:
            CronSim(self.cron, timezone.localtime())
        except CronSimError as exc:
            raise ValidationError({"cron": f"Not a cron expression: {exc}"}) from None
        if self.expected_min_minutes > self.expected_max_minutes:
            raise ValidationError({"expected_max_minutes": "Must be at least the minimum."})

    @property
    def suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED


class JobRun(models.Model):
    """One run of a job: when it was due, when the module started and ended it, and how."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # claimed by the scan, trigger not yet acknowledged
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"  # its slot came while the previous run was busy

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"

    IN_FLIGHT = (Status.PENDING, Status.RUNNING)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    triggered_by = models.CharField(max_length=150, blank=True)
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    triggered_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    records_processed = models.PositiveIntegerField(null=True, blank=True)
    records_failed = models.PositiveIntegerField(null=True, blank=True)
    module_run_id = models.PositiveIntegerField(null=True, blank=True)
    log_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    # The result scan: in-flight runs whose next look at the module is due.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    check_failures = models.PositiveSmallIntegerField(default=0)
    late_alerted_at = models.DateTimeField(null=True, blank=True)
    overrun_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-scheduled_for", "-pk"]
        constraints = [
            # A slot fires once, whichever worker claims it.
            models.UniqueConstraint(
                fields=["job", "scheduled_for"],
                condition=models.Q(trigger="schedule"),
                name="jobrun_one_per_slot",
            ),
            # One run in flight per job: a second trigger (a double-click) is refused.
            models.UniqueConstraint(
                fields=["job"],
                condition=models.Q(status__in=["pending", "running"]),
                name="jobrun_one_in_flight",
            ),
        ]
        indexes = [models.Index(fields=["job", "-scheduled_for"])]

    def __str__(self) -> str:
        return f"{self.job} @ {self.scheduled_for:%Y-%m-%d %H:%M} {self.status}"

    @property
    def expected_seconds(self) -> tuple[float, float]:
        return self.job.expected_min_minutes * 60, self.job.expected_max_minutes * 60

    @property
    def start_delay_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.started_at - self.scheduled_for).total_seconds()

    @property
    def versus_expected(self) -> str:
        """ "within", "under" or "over" the expected duration, or "" while unknown."""
        if self.duration_seconds is None:
            return ""
        low, high = self.expected_seconds
        if self.duration_seconds > high:
            return "over"
        return "under" if self.duration_seconds < low else "within"


class ActionRole(models.Model):
    """Who may run a runbook action (data: monitoring/fixtures/actions.json, editable here)."""

    action = models.CharField(max_length=40, unique=True)
    min_role = models.CharField(max_length=60, help_text="The lowest role that may run it")
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["action"]

    def __str__(self) -> str:
        return f"{self.action}: {self.min_role} or above"


class ActionRun(models.Model):
    """One runbook action against a module: its pre-check, the call, the post-validation."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"  # the module refused, errored, or did not answer
        REFUSED = "refused", "Refused by pre-check"
        UNVERIFIED = "unverified", "Done, post-validation failed"

    action = models.CharField(max_length=40, db_index=True)
    module = models.CharField(max_length=50)
    target = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    idempotency_key = models.CharField(max_length=80, unique=True)
    requested_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    precheck = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    postcheck = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            # One run of an action on a module at a time: a double-click waits its turn.
            models.UniqueConstraint(
                fields=["action", "module"],
                condition=models.Q(status="running"),
                name="actionrun_one_in_flight",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.module} {self.status}"


class DegradedMode(models.Model):
    """000 "Degraded Mode Operations": a module running without a partner, buffering at its
    boundary. Open while `ended_at` is empty; one open record per module."""

    module = models.CharField(max_length=50)
    reason = models.TextField()
    started_at = models.DateTimeField()
    started_by = models.CharField(max_length=150)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=150, blank=True)
    end_note = models.TextField(blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["module"],
                condition=models.Q(ended_at__isnull=True),
                name="degraded_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.module} degraded since {self.started_at:%Y-%m-%d %H:%M}"


# --- Alert routing and notification (issue 6; 001 "Alert Routing") ---------------------------


class Receiver(models.Model):
    """A route's destination (001 "Alert Routing", receivers): the on-call's pager (console
    and email to whoever holds the on-call role) and/or incident notification channels (email
    list, JSON webhook, Slack-compatible webhook)."""

    name = models.CharField(max_length=80, unique=True)
    page_oncall = models.BooleanField(
        default=False, help_text="Page the on-call: in the console and by email"
    )
    channels = models.ManyToManyField(
        "incidents.NotificationChannel",
        blank=True,
        related_name="receivers",
        help_text="Incident notification channels this receiver posts to",
    )
    send_resolved = models.BooleanField(
        default=False, help_text="Also tell when alerts it was told about resolve"
    )
    description = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Route(models.Model):
    """One node of the routing tree, as Alertmanager's `route`.

    An alert enters at the root (no parent, no matchers) and goes down the first child whose
    matchers all match, depth first; with `continue` the next siblings are tried as well. A
    node none of whose children match is itself the match. Empty receiver, group_by and timers
    are inherited from the parent.
    """

    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order among siblings")
    name = models.CharField(max_length=80, unique=True)
    matchers = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"name": "severity", "value": "critical", "isRegex": false, "isEqual": true}]',
    )
    receiver = models.ForeignKey(
        Receiver, on_delete=models.PROTECT, null=True, blank=True, related_name="routes"
    )
    group_by = models.JSONField(
        null=True, blank=True, help_text='Label names, e.g. ["module"]; ["..."] groups by all'
    )
    group_wait = models.PositiveIntegerField(
        null=True, blank=True, help_text="seconds before a new group's first notification"
    )
    group_interval = models.PositiveIntegerField(
        null=True, blank=True, help_text="seconds before notifying about changes in a group"
    )
    repeat_interval = models.PositiveIntegerField(
        null=True, blank=True, help_text="seconds before repeating an unchanged notification"
    )
    continue_matching = models.BooleanField(
        "continue", default=False, help_text="Go on to the next siblings after matching"
    )
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name


class AlertGroup(models.Model):
    """Alerts that took one route and share its group_by labels: notified together
    (Alertmanager's aggregation group), with what the receiver was last told and when the next
    flush is due. The row outlives its alerts; `next_flush_at` is empty while it holds none."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="groups")
    key = models.CharField(max_length=64, help_text="Hash of the group labels")
    labels = models.JSONField(default=dict, help_text="The group_by labels and their values")
    created_at = models.DateTimeField()
    # The notification scan's query is `next_flush_at <= now`.
    next_flush_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_flush_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    # Fingerprints the receiver was told are firing and has not been told resolved.
    notified_firing = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["route", "key"], name="alert_group_unique_key")
        ]

    def __str__(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.route}: {{{labels}}}"


class AlertGroupMember(models.Model):
    """An alert in a group, from its firing until its resolution has been flushed."""

    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="members")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="group_memberships")
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "alert"], name="alert_group_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.alert} in {self.group}"
