"""Notification messages and their delivery: in the console, email, JSON and Slack webhooks.

Rows are queued inside the transaction that decided to notify (so an escalation and its
notifications commit or roll back together); delivery happens later, driven by the due-time
scan over `Notification.next_attempt_at`. Console notifications are delivered by existing.
"""

import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from console import live
from console.secrets import without

from .models import (
    CommunicationTemplate,
    Incident,
    Notification,
    NotificationChannel,
    TimelineEntry,
)

log = logging.getLogger(__name__)

# A claimed delivery that has not reported back by then (worker killed mid-send) is
# claimed again by a later scan: at-least-once, never lost.
LEASE = timedelta(minutes=2)
WEBHOOK_TIMEOUT = 5  # seconds; a slow hook must not hold a worker thread for long


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min between attempts (bounded by Notification.MAX_ATTEMPTS)."""
    return timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


def incident_url(incident: Incident) -> str:
    return reverse("incidents:detail", args=[incident.number])


def template_context(incident: Incident, **extra) -> dict:
    """Variables the templates may use: incident (all its fields), updates_url, duration,
    and whatever the caller adds (actions, eta, current, progress, next_steps, follow_up)."""
    end = incident.resolved_at or timezone.now()
    minutes = int((end - incident.declared_at).total_seconds() // 60)
    return {
        "incident": incident,
        "updates_url": incident.channel_url or incident_url(incident),
        "duration": f"{minutes // 60} h {minutes % 60} min",
        **extra,
    }


def render(kind: str, incident: Incident, **extra) -> tuple[str, str]:
    template = CommunicationTemplate.objects.get(kind=kind)
    context = Context(template_context(incident, **extra), autoescape=False)
    subject = Template(template.subject).render(context).strip()
    body = Template(template.body).render(context).strip()
    return " ".join(subject.split())[:300], body


def queue_channels(incident: Incident, event: str, subject: str, body: str, audience: str) -> int:
    """Queue one delivery per enabled channel that wants this severity and event."""
    channels = [
        channel
        for channel in NotificationChannel.objects.filter(enabled=True).order_by("pk")
        if channel.wants(incident.severity, event)
    ]
    return len(queue_on(channels, event, subject, body, audience, incident=incident))


def queue_on(channels, event: str, subject: str, body: str, audience: str, **extra) -> list:
    """Queue one delivery on each of `channels`; `extra` sets the other fields (`incident`, or
    `alert_group`, `link` and `payload` for a message that belongs to no incident)."""
    now = timezone.now()
    rows = [
        Notification(
            kind=channel.kind,
            audience=audience,
            event=event,
            channel=channel,
            target=channel.target,
            subject=subject,
            body=body,
            next_attempt_at=now,
            **extra,
        )
        for channel in channels
    ]
    return Notification.objects.bulk_create(rows)


def queue_users(
    incident: Incident | None,
    users,
    event: str,
    subject: str,
    body: str,
    audience: str,
    email=True,
    **extra,
):
    """In the console (delivered at once: the row is the message) and, with `email`, by email
    when the user has an address. `incident` may be None (see `queue_on` for `extra`)."""
    now = timezone.now()
    rows = []
    for user in users:
        rows.append(
            Notification(
                incident=incident,
                kind=Notification.Kind.CONSOLE,
                audience=audience,
                event=event,
                user=user,
                target=user.get_username(),
                subject=subject,
                body=body,
                state=Notification.State.SENT,
                sent_at=now,
                attempts=1,
                **extra,
            )
        )
        if email and user.email:
            rows.append(
                Notification(
                    incident=incident,
                    kind=Notification.Kind.EMAIL,
                    audience=audience,
                    event=event,
                    user=user,
                    target=user.email,
                    subject=subject,
                    body=body,
                    next_attempt_at=now,
                    **extra,
                )
            )
    Notification.objects.bulk_create(rows)
    if users:
        # The badge and toast of each recipient: the page re-fetches its own count.
        live.publish(
            "overview", "incident.notification", incident=incident.pk if incident else None
        )
    return rows


def role_members(role_name: str):
    """Who holds a role. For the On-call Engineer role that is the rota's primary (then
    secondary) on call now when a rota covers now, else the role's members."""
    from console import roles

    if role_name == roles.ONCALL:
        from shifts.services import on_call_now

        now = on_call_now()
        if now.covered:
            return [u for u in (now.primary, now.secondary) if u is not None and u.is_active]
    return list(
        get_user_model()
        .objects.filter(groups__name=role_name, is_active=True)
        .order_by("username")
        .distinct()
    )


def _send(notification: Notification) -> None:
    """One attempt; raises on failure."""
    incident = notification.incident
    if notification.kind == Notification.Kind.EMAIL:
        targets = [t.strip() for t in notification.target.split(",") if t.strip()]
        send_mail(notification.subject, notification.body, settings.DEFAULT_FROM_EMAIL, targets)
        return
    if notification.kind == Notification.Kind.WEBHOOK and notification.payload is not None:
        payload = notification.payload
    elif notification.kind == Notification.Kind.WEBHOOK:
        payload = {
            "incident": incident.number,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "event": notification.event,
            "subject": notification.subject,
            "text": notification.body,
            "url": incident_url(incident),
        }
    elif notification.kind == Notification.Kind.SLACK:
        # Slack's incoming-webhook format: `text` is required, mrkdwn by default.
        payload = {"text": f"*{notification.subject}*\n{notification.body}"}
    else:
        return
    request = urllib.request.Request(
        notification.target,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "pipeline-ops-console"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
        if response.status >= 300:
            raise urllib.error.HTTPError(
                notification.target, response.status, "unexpected status", response.headers, None
            )


def claim_due(now=None, limit: int = 50) -> list[tuple[int, int]]:
    """Claim pending deliveries that are due: (pk, attempt) fencing pairs for the workers."""
    now = now or timezone.now()
    claimed = []
    with transaction.atomic():
        due = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(state=Notification.State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        for row in due:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            row.save(update_fields=["attempts", "next_attempt_at"])
            claimed.append((row.pk, row.attempts))
    return claimed


def deliver(pk: int, attempt: int) -> str:
    """Send one claimed delivery and record the outcome (only if the claim still holds)."""
    row = Notification.objects.select_related("incident").filter(pk=pk).first()
    if row is None or row.state != Notification.State.PENDING or row.attempts != attempt:
        return "stale"
    try:
        _send(row)
    except Exception as exc:  # any failure of the far end is a failed attempt
        error = f"{type(exc).__name__}: {exc}"
        # Kept on the row and shown on pages: never with the hook's URL in it.
        return _failed(row, attempt, without(error, row.target, row.display_target)[:500])
    return _sent(row, attempt)


def _sent(row: Notification, attempt: int) -> str:
    from . import services

    now = timezone.now()
    with transaction.atomic():
        updated = Notification.objects.filter(
            pk=row.pk, state=Notification.State.PENDING, attempts=attempt
        ).update(state=Notification.State.SENT, sent_at=now, next_attempt_at=None, last_error="")
        if not updated:
            return "stale"
        if row.incident_id is None:  # an alert group's or a silence's message: no timeline
            return "sent"
        incident = Incident.objects.select_for_update().get(pk=row.incident_id)
        incident.log(
            TimelineEntry.Kind.NOTIFICATION,
            f"{row.get_kind_display()} to {row.display_target} sent: {row.subject}",
            None,
            notification=row.pk,
        )
        services.mark_notified(incident, row.audience, now)
        services.changed(incident)
    return "sent"


def _failed(row: Notification, attempt: int, error: str) -> str:
    from . import services

    now = timezone.now()
    final = attempt >= Notification.MAX_ATTEMPTS
    with transaction.atomic():
        updated = Notification.objects.filter(
            pk=row.pk, state=Notification.State.PENDING, attempts=attempt
        ).update(
            state=Notification.State.FAILED if final else Notification.State.PENDING,
            next_attempt_at=None if final else now + backoff(attempt),
            last_error=error,
        )
        if not updated:
            return "stale"
        if final and row.incident_id is not None:
            incident = Incident.objects.get(pk=row.incident_id)
            incident.log(
                TimelineEntry.Kind.NOTIFICATION,
                f"{row.get_kind_display()} to {row.display_target} failed after {attempt} "
                f"attempts: {error}",
                None,
                notification=row.pk,
            )
            services.changed(incident)
    log.warning("notification %s attempt %s failed: %s", row.pk, attempt, error)
    return "failed" if final else "retry"
