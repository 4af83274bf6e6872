"""Poll outcomes on the console's /metrics, read from the database at scrape time (polls run
in worker processes, /metrics is served by the web process)."""

from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

WINDOW = timedelta(minutes=5)
STATUS_VALUE = {"HEALTHY": 0, "DEGRADED": 1, "UNHEALTHY": 2, "UNKNOWN": 3}


class PollCollector(Collector):
    def describe(self):
        return []  # registering must not query the database

    def collect(self):
        from django.db.models import Avg, Count, Q
        from django.utils import timezone

        from .models import Module, Poll

        now = timezone.now()
        status = GaugeMetricFamily(
            "monitoring_module_status",
            "Module status: 0 HEALTHY, 1 DEGRADED, 2 UNHEALTHY, 3 UNKNOWN",
            labels=["module"],
        )
        failures = GaugeMetricFamily(
            "monitoring_module_consecutive_failures", "Failed polls in a row", labels=["module"]
        )
        age = GaugeMetricFamily(
            "monitoring_module_last_success_age_seconds",
            "Seconds since the module last answered a poll",
            labels=["module"],
        )
        polls = GaugeMetricFamily(
            "monitoring_polls_recent",
            "Polls in the last 5 minutes, by outcome",
            labels=["module", "outcome"],
        )
        duration = GaugeMetricFamily(
            "monitoring_poll_duration_avg_seconds",
            "Average poll duration over the last 5 minutes",
            labels=["module"],
        )
        recent = {
            row["module_id"]: row
            for row in Poll.objects.filter(started_at__gte=now - WINDOW)
            .values("module_id")
            .annotate(
                n_ok=Count("pk", filter=Q(ok=True)),
                n_failed=Count("pk", filter=Q(ok=False)),
                avg=Avg("duration_ms"),
            )
        }
        for module in Module.objects.filter(enabled=True):
            status.add_metric([module.name], STATUS_VALUE.get(module.status, 3))
            failures.add_metric([module.name], module.consecutive_failures)
            if module.last_success_at is not None:
                age.add_metric([module.name], (now - module.last_success_at).total_seconds())
            row = recent.get(module.pk, {"n_ok": 0, "n_failed": 0, "avg": None})
            polls.add_metric([module.name, "ok"], row["n_ok"])
            polls.add_metric([module.name, "failed"], row["n_failed"])
            if row["avg"] is not None:
                duration.add_metric([module.name], row["avg"] / 1000)
        yield from (status, failures, age, polls, duration)


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        from console.metrics import REGISTRY

        REGISTRY.register(PollCollector())
        _registered = True
