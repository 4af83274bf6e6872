"""Alertmanager's webhook (payload version 4), so that a team's existing Alertmanager can point
a `webhook_config` at the console. Alerts are keyed by Alertmanager's fingerprint; delivering
the same payload again changes nothing; a resolved status resolves. The whole payload is
checked before anything is stored: one bad alert refuses the lot, with the reason."""

import re
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console import audit, live

from . import alert_incidents, routing
from .alerting import fingerprint as label_fingerprint
from .models import Alert, AlertState

MAX_BYTES = 1024 * 1024
MAX_ALERTS = 1000
# Alertmanager sends 0001-01-01T00:00:00Z as endsAt for firing alerts.
_ZERO_TIME = "0001-01-01T00:00:00Z"
_FINGERPRINT = re.compile(r"^[0-9a-fA-F]{1,64}$")


class PayloadError(ValueError):
    """What is wrong with a payload, for the 400 answer."""


def _time(value, where: str, required: bool) -> datetime | None:
    if value in (None, "", _ZERO_TIME) and not required:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible: 30 February, hour 25, offset +99:00
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{where}: not an RFC 3339 time with a zone: {value!r}")
    # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts (+20:00).
    return parsed.astimezone(UTC)


def _strings(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{where}: must be an object of strings")
    return value


def validate(payload) -> list[dict]:
    """The payload's alerts, checked and normalised; PayloadError says what is wrong."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object")
    if str(payload.get("version")) != "4":
        raise PayloadError(f'unsupported version {payload.get("version")!r}; expected "4"')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("`alerts` must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"{len(alerts)} alerts; at most {MAX_ALERTS} per payload")
    checked = []
    for index, alert in enumerate(alerts):
        where = f"alerts[{index}]"
        if not isinstance(alert, dict):
            raise PayloadError(f"{where}: must be an object")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"{where}.status: must be firing or resolved, not {status!r}")
        labels = _strings(alert.get("labels"), f"{where}.labels")
        if not labels.get("alertname"):
            raise PayloadError(f"{where}.labels: alertname is required")
        annotations = _strings(alert.get("annotations", {}), f"{where}.annotations")
        key = alert.get("fingerprint") or label_fingerprint(labels)
        if not isinstance(key, str) or not _FINGERPRINT.match(key):
            raise PayloadError(f"{where}.fingerprint: must be hexadecimal")
        checked.append(
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "starts_at": _time(alert.get("startsAt"), f"{where}.startsAt", required=True),
                "ends_at": _time(alert.get("endsAt"), f"{where}.endsAt", required=False),
                "fingerprint": key.lower(),
            }
        )
    return checked


def _active(fingerprint: str) -> Alert | None:
    return (
        Alert.objects.select_for_update()
        .filter(fingerprint=fingerprint, state__in=[AlertState.PENDING, AlertState.FIRING])
        .first()
    )


def apply(
    alerts: list[dict], actor=None, source: str = Alert.Source.ALERTMANAGER
) -> dict[str, int]:
    """Store validated alerts; returns counts of what changed. The console's own scans
    (capacity, backups, DR drills) raise and resolve their alerts here too, as `source`."""
    now = timezone.now()
    counts = {"created": 0, "updated": 0, "resolved": 0, "unchanged": 0}
    with transaction.atomic():
        for item in alerts:
            current = _active(item["fingerprint"])
            if item["status"] == "resolved":
                if current is None:
                    counts["unchanged"] += 1
                    continue
                current.state = AlertState.RESOLVED
                current.resolved_at = item["ends_at"] or now
                current.last_evaluated_at = now
                current.save(update_fields=["state", "resolved_at", "last_evaluated_at"])
                audit.record("alert.resolved", actor=actor, obj=current, after={"source": source})
                alert_incidents.on_resolved(current)
                routing.on_resolved(current, now)
                counts["resolved"] += 1
                continue
            created = None
            if current is None:
                try:
                    # A savepoint: Alertmanager retries a webhook it thinks failed, so the same
                    # alert can arrive twice at once. Both see no row (nothing to lock yet);
                    # the second insert hits the one-active-per-fingerprint constraint, waits
                    # for the first to commit and then treats its row as the one it found.
                    with transaction.atomic():
                        created = Alert.objects.create(
                            fingerprint=item["fingerprint"],
                            source=source,
                            name=item["labels"]["alertname"],
                            severity=item["labels"].get("severity", ""),
                            labels=item["labels"],
                            annotations=item["annotations"],
                            state=AlertState.FIRING,
                            active_since=item["starts_at"],
                            fired_at=now,
                            last_evaluated_at=now,
                        )
                except IntegrityError:
                    current = _active(item["fingerprint"])
                    if current is None:
                        raise
            if created is not None:
                audit.record(
                    "alert.fired",
                    actor=actor,
                    obj=created,
                    after={"labels": item["labels"], "source": source},
                )
                alert_incidents.on_fired(created)
                routing.on_fired(created, now)
                counts["created"] += 1
            elif (current.labels, current.annotations) != (item["labels"], item["annotations"]):
                current.labels, current.annotations = item["labels"], item["annotations"]
                current.save(update_fields=["labels", "annotations"])
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        if counts["created"] or counts["updated"] or counts["resolved"]:
            live.publish("alerts", "alerts.changed")
    return counts
