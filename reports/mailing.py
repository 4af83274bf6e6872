"""Scheduled mailing of reports: a due-time scan over ReportMailing.next_send_at."""

import calendar
from datetime import datetime, timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from console import audit

from .export import to_csv
from .models import ReportMailing
from .registry import get


def next_time(when: datetime, cadence: str) -> datetime:
    if cadence == ReportMailing.Cadence.DAILY:
        return when + timedelta(days=1)
    if cadence == ReportMailing.Cadence.WEEKLY:
        return when + timedelta(days=7)
    month = when.month % 12 + 1
    year = when.year + (when.month == 12)
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def send(mailing: ReportMailing, now: datetime) -> None:
    report = get(mailing.report)
    if report is None:
        return
    data = report.build(now)
    context = {"report": report, "data": data, "mail": True}
    message = EmailMultiAlternatives(
        subject=f"{report.title} — {timezone.localtime(data.end):%Y-%m-%d}",
        body=render_to_string("reports/mail.txt", context),
        to=mailing.addresses(),
    )
    message.attach_alternative(render_to_string("reports/report_body.html", context), "text/html")
    message.attach(f"{report.key}-{timezone.localtime(now):%Y-%m-%d}.csv", to_csv(data), "text/csv")
    message.send()


def scan_report_mailings(now: datetime | None = None) -> int:
    """Send every mailing that is due, once: the row is locked (skip_locked) while it is sent
    and its next time moved on in the same transaction; missed periods are not sent twice."""
    now = now or timezone.now()
    sent = 0
    due = ReportMailing.objects.filter(enabled=True, next_send_at__lte=now)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            mailing = (
                ReportMailing.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, enabled=True, next_send_at__lte=now)
                .first()
            )
            if mailing is None:
                continue
            send(mailing, now)
            following = mailing.next_send_at
            while following <= now:
                following = next_time(following, mailing.cadence)
            mailing.next_send_at, mailing.last_sent_at = following, now
            mailing.save(update_fields=["next_send_at", "last_sent_at"])
            audit.record(
                "report.mailed",
                obj=mailing,
                after={"report": mailing.report, "to": mailing.addresses()},
            )
            sent += 1
    return sent
