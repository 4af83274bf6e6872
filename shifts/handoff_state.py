"""The live state a handoff is pre-filled from (000 "Pre-Handoff Preparation": active incidents
and their status, recent changes, upcoming maintenance, items to watch; 000 "Documentation
Requirements": the shift log's open items).

Each section is one function `(since, now) -> Section` listed in `SECTIONS`; the handoff stores
what they returned when it was pre-filled (or refreshed), so a signed handoff keeps the state
that was handed over. Adding a section is one function plus one line in `SECTIONS`. Sections
read other apps through their models and services and never write.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


@dataclass
class Section:
    key: str
    title: str
    items: list[dict] = field(default_factory=list)  # each: text, detail, url
    empty: str = "Nothing."


def _when(at: datetime | None) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else ""


def active_incidents(since: datetime, now: datetime) -> Section:
    """Active incidents with their status and the latest update or note (the next steps)."""
    from incidents.models import ACTIVE_STATUSES, Incident, TimelineEntry

    section = Section("incidents", "Active incidents", empty="No active incidents.")
    incidents = Incident.objects.filter(status__in=ACTIVE_STATUSES).select_related("commander")
    for incident in incidents.order_by("severity", "declared_at"):
        latest = (
            TimelineEntry.objects.filter(
                incident=incident,
                kind__in=[TimelineEntry.Kind.UPDATE, TimelineEntry.Kind.NOTE],
            )
            .order_by("-at")
            .first()
        )
        section.items.append(
            {
                "text": f"{incident.number} {incident.severity} {incident.get_status_display()}: "
                f"{incident.title}",
                "detail": f"Commander {incident.commander.get_username()}. Next steps / latest: "
                + (latest.text[:400] if latest else "none recorded yet"),
                "url": reverse("incidents:detail", args=[incident.number]),
            }
        )
    return section


def firing_alerts(since: datetime, now: datetime) -> Section:
    from monitoring.models import Alert, AlertState

    section = Section("alerts", "Firing alerts", empty="No alert is firing.")
    for alert in Alert.objects.filter(state=AlertState.FIRING).order_by("-fired_at")[:50]:
        summary = alert.annotations.get("summary", "")
        section.items.append(
            {
                "text": f"{alert.name} ({alert.severity or 'no severity'})",
                "detail": f"{summary} since {_when(alert.fired_at or alert.active_since)}".strip(),
                "url": "",
            }
        )
    return section


def annotations(since: datetime, now: datetime) -> Section:
    """Annotations ongoing now or written during the shift (000: dashboard annotation updates)."""
    from monitoring.models import Annotation

    section = Section("annotations", "Dashboard annotations", empty="No current annotations.")
    rows = (
        Annotation.objects.filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=now) | Q(created_at__gte=since)
        )
        .select_related("module", "author")
        .order_by("-starts_at")[:50]
    )
    for note in rows:
        where = note.module.name if note.module else "system"
        if note.metric:
            where += f" / {note.metric}"
        section.items.append(
            {
                "text": f"{where}: {note.text}",
                "detail": f"by {note.author.get_username()} from {_when(note.starts_at)}"
                + (f" to {_when(note.ends_at)}" if note.ends_at else " (ongoing)"),
                "url": reverse("monitoring:module", args=[note.module.name]) if note.module else "",
            }
        )
    return section


def open_log_items(since: datetime, now: datetime) -> Section:
    from .models import LogEntry

    section = Section("log", "Open shift-log items", empty="No open shift-log items.")
    for entry in LogEntry.objects.filter(status=LogEntry.Status.OPEN).select_related("author")[
        :100
    ]:
        section.items.append(
            {
                "text": f"{entry.get_kind_display()}: {entry.text[:200]}",
                "detail": f"{entry.author.get_username()} at {_when(entry.at)}",
                "url": reverse("shifts:log") + f"#log-{entry.pk}",
            }
        )
    return section


def changes(since: datetime, now: datetime) -> Section:
    """Changes in progress or scheduled in the next 12 hours (issue 7; 000 "Pre-Handoff
    Preparation": recent changes)."""
    from changes import services as change_services

    section = Section(
        "changes", "Changes", empty="No change in progress or scheduled in the next 12 hours."
    )
    for change in change_services.in_progress_or_due(now, hours=12):
        modules = ", ".join(sorted(m.name for m in change.affected_modules.all())) or "no module"
        window = (
            f"{_when(change.scheduled_start)} to {_when(change.scheduled_end)}"
            if change.scheduled_start
            else "not scheduled"
        )
        section.items.append(
            {
                "text": f"{change.number} {change.get_status_display()}: {change.title}",
                "detail": f"Modules: {modules}. Window: {window}."
                + (" Needs downtime." if change.requires_downtime else ""),
                "url": reverse("changes:detail", args=[change.number]),
            }
        )
    return section


def upcoming_maintenance(since: datetime, now: datetime) -> Section:
    """Maintenance running now or starting within the next 24 hours (000 "Pre-Handoff
    Preparation": upcoming maintenance)."""
    from changes import maintenance

    section = Section("maintenance", "Maintenance", empty="No maintenance in the next 24 hours.")
    for window in maintenance.upcoming(now, days=1):
        modules = ", ".join(sorted(m.name for m in window.modules.all()))
        running = window.status == window.Status.IN_PROGRESS
        section.items.append(
            {
                "text": f"{window.number} {window.title} ({modules})"
                + (" — in progress" if running else ""),
                "detail": f"{window.type.name}, {_when(window.start)} to {_when(window.end)}. "
                f"Impact: {window.impact or 'not stated'}",
                "url": maintenance.window_url(window),
            }
        )
    return section


def failed_jobs(since: datetime, now: datetime) -> Section:
    """Batch jobs that failed during the shift (000 "Pre-Handoff Preparation"; 000 "Shift
    Log": batch job failures), and jobs suspended now."""
    from monitoring.models import Job, JobRun

    section = Section("jobs", "Batch jobs", empty="No job failed during the shift.")
    runs = (
        JobRun.objects.filter(status=JobRun.Status.FAILED, scheduled_for__gte=since)
        .select_related("job")
        .order_by("-scheduled_for")[:50]
    )
    for run in runs:
        section.items.append(
            {
                "text": f"{run.job.name} ({run.job.module}) failed, "
                f"run of {_when(run.scheduled_for)}",
                "detail": run.error or "no reason given by the module",
                "url": reverse("monitoring:job_detail", args=[run.job.name]),
            }
        )
    for job in Job.objects.filter(status=Job.Status.SUSPENDED).order_by("name")[:50]:
        section.items.append(
            {
                "text": f"{job.name} ({job.module}) is suspended",
                "detail": f"{job.status_reason} (by {job.status_changed_by or 'the console'})",
                "url": reverse("monitoring:job_detail", args=[job.name]),
            }
        )
    return section


# Order = order on the handoff form (000 "Verbal Briefing Contents" order where it gives one).
SECTIONS = [
    active_incidents,
    firing_alerts,
    changes,
    failed_jobs,
    upcoming_maintenance,
    annotations,
    open_log_items,
]


def collect(since: datetime, now: datetime | None = None) -> list[dict]:
    """Every section's current content, as stored on the handoff."""
    now = now or timezone.now()
    return [asdict(section(since, now)) for section in SECTIONS]
