"""A silence about to expire tells its author beforehand, once (issue 6)."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from incidents import notify
from incidents.models import Notification
from monitoring import silences, tasks
from monitoring.models import Silence

pytestmark = pytest.mark.django_db

MATCHERS = [{"name": "module", "value": "gamma"}]


def _make(by, start, minutes):
    with time_machine.travel(start, tick=False):
        return silences.create_silence(
            by, MATCHERS, start, start + timedelta(minutes=minutes), "Weekly maintenance window"
        )


def test_silence_author_is_warned_once_before_expiry(operator, settings):
    settings.SILENCE_EXPIRY_WARNING = timedelta(minutes=15)
    operator.email = "operator@example.com"
    operator.save()
    start = timezone.now().replace(microsecond=0)
    silence = _make(operator, start, 60)
    with time_machine.travel(start + timedelta(minutes=44, seconds=59), tick=False):
        assert tasks.scan_expiring_silences() == 0
    with time_machine.travel(start + timedelta(minutes=45), tick=False):
        assert tasks.scan_expiring_silences() == 1
    with time_machine.travel(start + timedelta(minutes=50), tick=False):
        assert tasks.scan_expiring_silences() == 0
    rows = Notification.objects.filter(user=operator, audience=Notification.Audience.SILENCE)
    assert sorted(rows.values_list("kind", flat=True)) == ["console", "email"]
    console = rows.get(kind="console")
    assert console.incident is None
    assert console.subject == f'Silence {silence.pk} (module="gamma") expires in 15 min'
    assert Silence.objects.get(pk=silence.pk).expiry_warned_at is not None
    # The email goes out through the delivery scan.
    with time_machine.travel(start + timedelta(minutes=46), tick=False):
        for pk, attempt in notify.claim_due():
            notify.deliver(pk, attempt)
    assert [m.to for m in mail.outbox] == [["operator@example.com"]]


def test_lead_time_is_a_setting(operator, settings):
    settings.SILENCE_EXPIRY_WARNING = timedelta(minutes=30)
    start = timezone.now().replace(microsecond=0)
    _make(operator, start, 120)
    with time_machine.travel(start + timedelta(minutes=89), tick=False):
        assert silences.warn_expiring() == 0
    with time_machine.travel(start + timedelta(minutes=90), tick=False):
        assert silences.warn_expiring() == 1


def test_no_warning_for_short_expired_or_console_silences(operator):
    start = timezone.now().replace(microsecond=0)
    _make(operator, start, 10)  # made with less than the lead time left: its author knows
    expired = _make(operator, start, 60)
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        silences.expire_silence(operator, expired)
    with time_machine.travel(start, tick=False):
        silences.create_silence(
            None,
            MATCHERS,
            start,
            start + timedelta(hours=1),
            "maintenance window",
            created_by_name="maintenance",
        )
    for minutes in (1, 46, 59):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert silences.warn_expiring() == 0
    assert not Notification.objects.filter(audience=Notification.Audience.SILENCE).exists()


def test_warning_shows_in_the_inbox(client, operator):
    start = timezone.now().replace(microsecond=0)
    silence = _make(operator, start, 60)
    with time_machine.travel(start + timedelta(minutes=46), tick=False):
        silences.warn_expiring()
    client.force_login(operator)
    body = client.get("/incidents/inbox/").content.decode()
    assert f"Silence {silence.pk}" in body
