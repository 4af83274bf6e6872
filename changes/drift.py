"""Configuration drift (001 "Configuration Drift Detection": compare deployed config against
source, alert on any differences, investigate, remediate through the change process).

Each module reports its running configuration as the info metric
`<module>_config_info{version,checksum} 1` (simulator/README.md, Metrics), which the monitoring
poller stores like any series. `scan_config_versions` (beat) reads the newest of those series
per module through monitoring's store and records a `ConfigVersion` row whenever the version
moves. A move while a change is in progress on the module is attributed to that change; a move
with none is drift, and raises a `ConfigDrift` alert through monitoring's alert intake (the
same path an Alertmanager alert takes: fingerprinted, audited, routed to incidents by the
alert policy).
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from console import audit, live
from monitoring.alerting import fingerprint
from monitoring.models import Alert, Module
from monitoring.promql import Matcher, Selector
from monitoring.store import DbSource

from .models import Change, ChangeEvent, ConfigVersion, Status

# How far back to look for the newest config_info sample: a few poll intervals.
LOOKBACK = timedelta(minutes=5)
ALERT_NAME = "ConfigDrift"
# "warning" is below the alert→incident policy's severities (critical/high/medium): drift is
# investigated, it does not page.
ALERT_SEVERITY = "warning"


def running_version(module: Module, now: datetime, source=None) -> tuple[str, str] | None:
    """(version, checksum) of the newest `<module>_config_info` sample, or None."""
    source = source or DbSource()
    selector = Selector(f"{module.name}_config_info", (Matcher("module", "=", module.name),))
    newest, found = None, None
    for labels, points in source.select(selector, (now - LOOKBACK).timestamp(), now.timestamp()):
        if not points:
            continue
        ts = points[-1][0]
        if newest is None or ts > newest:
            as_dict = dict(labels)
            newest, found = ts, (as_dict.get("version", ""), as_dict.get("checksum", ""))
    return found if found and found[0] else None


def in_progress_change(module: Module) -> Change | None:
    return (
        Change.objects.filter(status=Status.IN_PROGRESS, affected_modules=module)
        .order_by("-started_at")
        .first()
    )


def record_config_versions(now: datetime | None = None, source=None) -> dict:
    """One scan over every enabled module; returns counts (seen, new, drift)."""
    now = now or timezone.now()
    source = source or DbSource()
    counts = {"seen": 0, "new": 0, "drift": 0}
    for module in Module.objects.filter(enabled=True).order_by("name"):
        current = running_version(module, now, source)
        if current is None:
            continue
        counts["seen"] += 1
        outcome = _record(module, current[0], current[1], now)
        if outcome:
            counts["new"] += 1
            counts["drift"] += outcome == "drift"
    return counts


def _record(module: Module, version: str, checksum: str, now: datetime) -> str:
    with transaction.atomic():
        # Lock the module row: two scans at once record one version change, not two.
        Module.objects.select_for_update().filter(pk=module.pk).first()
        last = ConfigVersion.objects.filter(module=module).order_by("-first_seen_at", "-pk").first()
        if last is not None and last.version == version:
            if last.last_seen_at < now:
                last.last_seen_at = now
                last.save(update_fields=["last_seen_at"])
            return ""
        if last is None:
            ConfigVersion.objects.create(
                module=module, version=version, checksum=checksum,
                first_seen_at=now, last_seen_at=now, baseline=True,
            )  # fmt: skip
            return "baseline"
        change = in_progress_change(module)
        row = ConfigVersion.objects.create(
            module=module, version=version, checksum=checksum,
            first_seen_at=now, last_seen_at=now, change=change,
        )  # fmt: skip
        after = {"module": module.name, "from": last.version, "to": version}
        if change is not None:
            change.log(
                ChangeEvent.Kind.NOTE,
                f"{module.name} config version {last.version} → {version} (recorded from its "
                "metrics).",
            )
            audit.record(
                "config.version_changed", obj=row, after={**after, "change": change.number}
            )
            live.publish(f"change.{change.pk}", "change.updated", pk=change.pk)
            resolve_drift_alerts(module, now)
            return "change"
        row.alert_fingerprint = raise_drift_alert(module, last.version, version, checksum, now)
        row.save(update_fields=["alert_fingerprint"])
        audit.record("config.drift", obj=row, after=after)
        return "drift"


def raise_drift_alert(module: Module, old: str, new: str, checksum: str, now: datetime) -> str:
    """A firing ConfigDrift alert through monitoring's intake service; returns its
    fingerprint. One alert per (module, version): the same drift is never raised twice."""
    from monitoring import intake

    labels = {
        "alertname": ALERT_NAME,
        "severity": ALERT_SEVERITY,
        "module": module.name,
        "version": new,
    }
    key = fingerprint(labels)
    intake.apply(
        [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {
                    "summary": f"{module.name} config changed {old} → {new} with no change "
                    "request in progress",
                    "checksum": checksum,
                    "runbook": '001 "Configuration Drift Detection": investigate, then remediate '
                    "through the change process.",
                },
                "starts_at": now,
                "ends_at": None,
                "fingerprint": key,
            }
        ],
        # The console found the drift itself (its metrics scan), as for capacity and backup
        # alerts; `alertmanager` would claim a Prometheus sent it.
        source=Alert.Source.CONSOLE,
    )
    return key


def resolve_drift_alerts(module: Module, now: datetime) -> int:
    """A version deployed through a change remediates earlier drift on the module (001 step
    4): resolve its firing ConfigDrift alerts through the same intake."""
    from monitoring import intake

    keys = [
        k
        for k in ConfigVersion.objects.filter(module=module)
        .exclude(alert_fingerprint="")
        .values_list("alert_fingerprint", flat=True)
    ]
    if not keys:
        return 0
    items = [
        {"status": "resolved", "labels": {"alertname": ALERT_NAME}, "annotations": {},
         "starts_at": now, "ends_at": now, "fingerprint": key}
        for key in keys
    ]  # fmt: skip
    return intake.apply(items, source=Alert.Source.CONSOLE)["resolved"]
