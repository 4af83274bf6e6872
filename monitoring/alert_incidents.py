"""Alert → incident (issue 6): a firing alert at or above the policy's severities opens an
incident, or joins the open incident that already covers its module; the same alert firing
again never opens a second one; its resolution is written on the incident's timeline.

Silenced and inhibited alerts open nothing (they notify no one). The incident's commander is
the first member of the On-call Engineer role until the on-call rota exists (issue 7); the
matrix's step 0 then pages the on-call as for any incident.
"""

import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction

from console import audit, live, roles

from .alerting import annotate
from .models import Alert, AlertIncidentPolicy, Module

log = logging.getLogger(__name__)


def _open_statuses():
    from incidents.models import Status

    return [Status.OPEN, Status.INVESTIGATING, Status.MITIGATING]


def covering_incident(alert: Alert):
    """The open incident this alert belongs to: one holding an alert of the same module (or,
    for pipeline-wide alerts, of the same name)."""
    linked = Alert.objects.filter(incident__status__in=_open_statuses()).exclude(pk=alert.pk)
    module = alert.labels.get("module")
    if module:
        linked = linked.filter(labels__module=module)
    else:
        linked = linked.filter(name=alert.name)
    found = linked.select_related("incident").order_by("-incident__declared_at").first()
    return found.incident if found else None


def _commander():
    """The primary on call now (the rota), else the first On-call Engineer or Operations Lead."""
    from shifts.services import on_call_now

    primary = on_call_now().primary
    if primary is not None and primary.is_active:
        return primary
    users = get_user_model().objects.filter(
        is_active=True, groups__name__in=[roles.ONCALL, roles.OPS_LEAD]
    )
    return users.order_by("groups__role__rank", "username").first()


def _describe(alert: Alert) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    summary = alert.annotations.get("summary", "")
    return f"{summary} ({labels})" if summary else labels


def on_fired(alert: Alert) -> None:
    """Link a newly firing alert to an incident, opening one if needed. Never raises: an alert
    must fire even if no incident can be opened (the reason is logged)."""
    try:
        with transaction.atomic():
            _on_fired(alert)
    except PermissionDenied as exc:  # an expected gap in set-up, not a fault: no traceback
        log.warning("alert %s fired but no incident was opened: %s", alert.name, exc)
    except Exception:
        log.exception("alert %s fired but no incident could be opened or linked", alert.pk)


def _on_fired(alert: Alert) -> None:
    from incidents import services as incidents
    from incidents.models import TimelineEntry

    if alert.incident_id:
        return
    policy = AlertIncidentPolicy.objects.filter(pk=1).first()
    severity = policy.mapping.get(alert.severity) if policy and policy.enabled else None
    if severity is None:
        return
    annotate([alert])
    if alert.silenced_by or alert.inhibited:
        return
    incident = covering_incident(alert)
    text = f"Alert {alert.name} firing ({alert.severity}): {_describe(alert)}"
    if incident is None:
        commander = _commander()
        if commander is None:
            raise PermissionDenied("nobody holds the On-call Engineer or Operations Lead role")
        module = alert.labels.get("module")
        incident = incidents.declare(
            None,
            title=f"{alert.name}: {alert.annotations.get('summary') or alert.name}"[:200],
            severity=severity,
            summary=f"Opened by the console from a firing alert. {_describe(alert)}",
            affected_modules=[module]
            if module and Module.objects.filter(name=module).exists()
            else [],
            detection_source="alert",
            commander=commander,
            detected_at=alert.active_since,
        )
    elif severity < incident.severity:  # "P1" < "P3": this alert maps above the incident
        text += f". It maps to {severity}; the incident is {incident.severity}."
    Alert.objects.filter(pk=alert.pk).update(incident=incident)
    alert.incident = incident
    incidents.add_note(None, incident.pk, text, kind=TimelineEntry.Kind.ALERT)


def on_resolved(alert: Alert) -> None:
    if not alert.incident_id:
        return
    try:
        from incidents import services as incidents
        from incidents.models import TimelineEntry

        incidents.add_note(
            None,
            alert.incident_id,
            f"Alert {alert.name} resolved: {_describe(alert)}",
            kind=TimelineEntry.Kind.ALERT,
        )
    except Exception:
        log.exception("alert %s resolved but the incident timeline could not say so", alert.pk)


class LinkRefused(ValueError):
    """A link or unlink that cannot be done, with the reason for the user."""


def link(by, alert: Alert, incident) -> None:
    """An operator links an alert to an incident by hand. The alert row is locked: of two people
    linking the same alert to different incidents at once, the second is refused."""
    from incidents import services as incidents
    from incidents.models import TimelineEntry

    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.incident_id == incident.pk:
            return
        if locked.incident_id is not None:
            raise LinkRefused(f"Alert {locked.name} is already linked to another incident.")
        Alert.objects.filter(pk=alert.pk).update(incident=incident)
        alert.incident = incident
        incidents.add_note(
            by,
            incident.pk,
            f"Alert {alert.name} linked: {_describe(alert)}",
            kind=TimelineEntry.Kind.ALERT,
        )
        audit.record("alert.link", actor=by, obj=alert, after={"incident": incident.number})
        live.publish("alerts", "alerts.changed")


def unlink(by, alert: Alert, incident=None) -> None:
    """Unlink an alert from its incident (from `incident` only, when given: a stale page must
    not unlink it from another one it was linked to meanwhile)."""
    from incidents import services as incidents
    from incidents.models import TimelineEntry

    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.incident_id is None or (
            incident is not None and locked.incident_id != incident.pk
        ):
            return
        number = locked.incident.number
        incidents.add_note(
            by, locked.incident_id, f"Alert {alert.name} unlinked", kind=TimelineEntry.Kind.ALERT
        )
        Alert.objects.filter(pk=alert.pk).update(incident=None)
        alert.incident = None
        audit.record("alert.unlink", actor=by, obj=alert, before={"incident": number})
        live.publish("alerts", "alerts.changed")
