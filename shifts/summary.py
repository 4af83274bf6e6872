"""The daily operations summary (000 "End of Day Procedures": records processed, error counts
by category, queue high-water marks, threshold violations; 002 "Daily Operations Report":
incidents, manual interventions). Read-only over monitoring, incidents and the shift log."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max
from django.utils import timezone

# (label, counter) pairs; the day's increase is the figure.
RECORDS = [
    ("Records ingested (Alpha)", "alpha_records_ingested_total"),
    ("Records transformed (Beta)", "beta_records_transformed_total"),
    ("Records delivered (Gamma)", "gamma_records_delivered_total"),
]
ERRORS = [
    ("Parse errors (Alpha)", "alpha_parse_errors_total"),
    ("Validation failures (Alpha)", "alpha_validation_failures_total"),
    ("Transform errors (Beta)", "beta_transform_errors_total"),
    ("Dead-lettered records (Gamma)", "gamma_dlq_entries_total"),
    ("Acknowledgment timeouts (Gamma)", "gamma_ack_timeouts_total"),
]
QUEUES = [
    ("Alpha input buffer", "alpha_buffer_depth"),
    ("Beta transformation queue", "beta_queue_depth"),
    ("Gamma delivery queue", "gamma_delivery_queue_depth"),
    ("Gamma dead letter queue", "gamma_dlq_size"),
]


@dataclass
class Summary:
    day: date
    start: datetime
    end: datetime
    records: list[tuple[str, float | None]] = field(default_factory=list)
    errors: list[tuple[str, float | None]] = field(default_factory=list)
    queues: list[tuple[str, float | None]] = field(default_factory=list)
    violations: list = field(default_factory=list)
    incidents: list = field(default_factory=list)
    interventions: list = field(default_factory=list)
    log_entries: list = field(default_factory=list)
    checklists: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    job_counts: dict = field(default_factory=dict)

    def rows(self) -> list[list[str]]:
        """Flat rows for the CSV download: section, item, value."""
        out = [["section", "item", "value"]]
        for section, pairs in (
            ("records", self.records),
            ("errors", self.errors),
            ("queue high-water", self.queues),
        ):
            out += [[section, label, "" if v is None else f"{v:.0f}"] for label, v in pairs]
        for change in self.violations:
            out.append(
                [
                    "threshold violation",
                    f"{change.threshold.name if change.threshold else ''} "
                    f"{change.module.name if change.module else 'system'}".strip(),
                    f"{change.from_status}→{change.to_status} "
                    f"at {timezone.localtime(change.at):%H:%M}",
                ]
            )
        for incident in self.incidents:
            out.append(
                [
                    "incident",
                    incident.number,
                    f"{incident.severity} {incident.status} {incident.title}",
                ]
            )
        for entry in self.interventions:
            out.append(["manual intervention", entry.author.username, entry.text])
        for run in self.checklists:
            out.append(["checklist", run.template.name, run.get_status_display()])
        for run in self.jobs:
            out.append(
                [
                    "job run",
                    run.job.name,
                    f"{run.get_status_display()} at {timezone.localtime(run.scheduled_for):%H:%M}"
                    + (f": {run.error}" if run.error else ""),
                ]
            )
        return out


def _increase(series: str, start: datetime, end: datetime) -> float | None:
    """How much a counter grew over the day: summed per series from the 1-minute roll-ups'
    and raw samples' values (a counter reset counts from zero, as rate() does)."""
    from monitoring.models import Rollup1m, Sample

    values: dict[int, list[tuple[datetime, float]]] = {}
    for model, column in ((Rollup1m, "last"), (Sample, "value")):
        rows = model.objects.filter(series__name=series, ts__gte=start, ts__lt=end)
        for sid, ts, value in rows.values_list("series_id", "ts", column):
            values.setdefault(sid, []).append((ts, value))
    if not values:
        return None
    total = 0.0
    for points in values.values():
        points.sort()
        previous = None
        for _, value in points:
            if previous is not None:
                total += value - previous if value >= previous else value
            previous = value
    return total


def _high_water(series: str, start: datetime, end: datetime) -> float | None:
    from monitoring.models import Rollup1m, Sample

    best = [
        Rollup1m.objects.filter(series__name=series, ts__gte=start, ts__lt=end).aggregate(
            m=Max("max")
        )["m"],
        Sample.objects.filter(series__name=series, ts__gte=start, ts__lt=end).aggregate(
            m=Max("value")
        )["m"],
    ]
    found = [v for v in best if v is not None]
    return max(found) if found else None


def build(day: date) -> Summary:
    from incidents.models import Incident
    from monitoring.models import JobRun, StatusChange

    from .models import ChecklistRun, LogEntry

    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tz)
    end = min(start + timedelta(days=1), timezone.now())
    summary = Summary(day, start, end)
    summary.records = [(label, _increase(name, start, end)) for label, name in RECORDS]
    summary.errors = [(label, _increase(name, start, end)) for label, name in ERRORS]
    summary.queues = [(label, _high_water(name, start, end)) for label, name in QUEUES]
    summary.violations = list(
        StatusChange.objects.filter(
            subject=StatusChange.Subject.METRIC,
            to_status__in=["WARNING", "CRITICAL"],
            at__gte=start,
            at__lt=end,
        )
        .select_related("threshold", "module")
        .order_by("at")[:500]
    )
    summary.incidents = list(
        Incident.objects.filter(declared_at__lt=end)
        .exclude(resolved_at__lt=start)
        .select_related("commander")
        .order_by("declared_at")
    )
    entries = LogEntry.objects.filter(at__gte=start, at__lt=end).select_related("author")
    summary.log_entries = list(entries.order_by("at"))
    summary.interventions = [e for e in summary.log_entries if e.kind == LogEntry.Kind.MANUAL]
    summary.checklists = list(
        ChecklistRun.objects.filter(day=day).select_related("template", "completed_by")
    )
    # 000 "End of Day Procedures": batch job results. Every run but the successes (those are
    # counted), so a day's failures, skips and runs still going are listed.
    runs = JobRun.objects.filter(scheduled_for__gte=start, scheduled_for__lt=end)
    summary.job_counts = dict(
        runs.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    summary.jobs = list(
        runs.exclude(status=JobRun.Status.SUCCESS).select_related("job").order_by("scheduled_for")
    )
    return summary


def report(end: datetime):
    """The day before `end` as a report of the reports index (reports/registry.py)."""
    from reports.registry import ReportData, Table

    day = (timezone.localtime(end) - timedelta(seconds=1)).date()
    summary = build(day)
    header, *rows = summary.rows()
    return ReportData(
        "Daily operations summary",
        summary.start,
        summary.end,
        tables=[Table(f"Operations on {day:%A %d %B %Y}", header, rows)],
    )
