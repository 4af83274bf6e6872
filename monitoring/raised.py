"""Alerts the console raises itself (capacity thresholds, overdue or failed backups, DR drills).

They go through the same intake as Alertmanager's webhook (`intake.apply`), so they are
audited, silenced, inhibited, routed to incidents and shown live like every other alert. A
scan states what should be firing now; `sync` fires what is new and resolves what stopped.
"""

from collections.abc import Callable

from django.utils import timezone

from . import intake
from .alerting import fingerprint
from .models import Alert, AlertState


def alert(name: str, severity: str, summary: str, **labels: str) -> dict:
    """One firing alert in intake's shape; the labels (with the severity) key it."""
    labels = {"alertname": name, "severity": severity, "origin": "console", **labels}
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": summary},
        "starts_at": timezone.now(),
        "ends_at": None,
        "fingerprint": fingerprint(labels),
    }


def sync(
    names: set[str], firing: list[dict], owns: Callable[[dict], bool] = lambda labels: True
) -> dict[str, int]:
    """Fire `firing`; resolve the console's active alerts named in `names` that are not in it
    and that `owns` (labels → bool) says this scan decided on (a scan that skipped a locked
    row must not resolve that row's alert)."""
    wanted = {item["fingerprint"] for item in firing}
    stale = Alert.objects.filter(
        source=Alert.Source.CONSOLE,
        name__in=names,
        state__in=[AlertState.PENDING, AlertState.FIRING],
    ).exclude(fingerprint__in=wanted)
    resolved = [
        {
            "status": "resolved",
            "labels": a.labels,
            "annotations": a.annotations,
            "starts_at": a.active_since,
            "ends_at": None,
            "fingerprint": a.fingerprint,
        }
        for a in stale
        if owns(a.labels)
    ]
    items = firing + resolved
    if not items:
        return {"created": 0, "updated": 0, "resolved": 0, "unchanged": 0}
    return intake.apply(items, source=Alert.Source.CONSOLE)


def firing(name: str, **labels: str) -> list[Alert]:
    """The console's firing alerts of this name whose labels include `labels`."""
    rows = Alert.objects.filter(
        source=Alert.Source.CONSOLE, name=name, state=AlertState.FIRING
    ).order_by("-active_since")
    return [a for a in rows if all(a.labels.get(k) == v for k, v in labels.items())]
