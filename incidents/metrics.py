"""Incident metrics on the console's /metrics, read from the database at scrape time: the
watchdog runs in a worker process, /metrics is served by the web process, so a gauge held in
memory would never be seen. Alert on `incidents_watchdog_last_run_timestamp_seconds` older
than a few minutes (its absence means the watchdog stopped)."""

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class IncidentCollector(Collector):
    def describe(self):
        # Declared empty so that registering does not run `collect()` (and query the
        # database) at import time.
        return []

    def collect(self):
        from django.db.models import Count

        from .models import Incident, Status, WatchdogRun

        run = WatchdogRun.objects.filter(name="escalations").first()
        if run is not None:
            yield GaugeMetricFamily(
                "incidents_watchdog_last_run_timestamp_seconds",
                "When the escalation watchdog last ran (Unix time): its heartbeat",
                value=run.at.timestamp(),
            )
            yield GaugeMetricFamily(
                "incidents_watchdog_overdue_escalations",
                "Escalations the watchdog found overdue but not fired on its last run",
                value=run.overdue_found,
            )
        active = GaugeMetricFamily(
            "incidents_active", "Incidents not yet resolved, by severity", labels=["severity"]
        )
        rows = (
            Incident.objects.filter(
                status__in=[Status.OPEN, Status.INVESTIGATING, Status.MITIGATING]
            )
            .values("severity")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            active.add_metric([row["severity"]], row["n"])
        yield active


_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    from console.metrics import REGISTRY

    REGISTRY.register(IncidentCollector())
    _registered = True
