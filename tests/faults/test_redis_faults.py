"""Redis stopped while the console is in use (README "Fault tolerance").

The production cache and channel layer point at a private Redis, which the test kills
(SIGKILL, no persistence: everything it held is gone) and starts again. Pages must still load,
every change committed meanwhile must still be there, and the timers those changes set must
fire once Redis is back: they are due-time scans over the database, not messages in Redis.
"""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from console import live
from console import roles as role_names
from incidents import services as incidents
from incidents.models import Escalation, Incident
from monitoring.models import Module
from tests.factories import UserFactory
from tests.faults.support import report_lost

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["overview", "incidents:index", "monitoring:alerts", "maintenance:calendar"]


@pytest.fixture
def production_redis(settings, private_redis):
    """The production settings' cache and channel layer, on the private Redis."""
    settings.REDIS_URL = private_redis.url
    settings.CACHES = {
        "default": {
            "BACKEND": "console.cache.ResilientRedisCache",
            "LOCATION": private_redis.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [private_redis.url], "capacity": 1500, "expiry": 30},
        }
    }
    bound = live._server_loop
    live.bind_loop(None)  # sends go through the publisher loop, as in a worker process
    yield private_redis
    live.bind_loop(bound)


@pytest.fixture
def people(roles):
    from incidents import policy

    policy.load()
    for name in ("alpha", "beta", "gamma"):
        Module.objects.create(name=name, kind=name, base_url=f"http://127.0.0.1:1/{name}")
    staff = {}
    for username, role in [
        ("operator", role_names.OPERATOR),
        ("oncall", role_names.ONCALL),
        ("senior", role_names.SENIOR),
    ]:
        staff[username] = UserFactory(username=username)
        staff[username].groups.add(roles[role].group)
    return staff


def _declare(client, title: str):
    return client.post(
        reverse("incidents:declare"),
        {
            "title": title,
            "severity": "P2",
            "summary": "Records stopped flowing",
            "affected_modules": ["gamma"],
            "detection_source": "observation",
        },
    )


def test_redis_outage_pages_load_changes_commit_and_timers_fire_after(
    production_redis, people, client
):
    client.force_login(people["operator"])
    assert _declare(client, "before the outage").status_code == 302
    before = Incident.objects.get(title="before the outage")
    assert cache.get(live._seq_key("overview"), 0) >= 1  # the cache really is Redis

    production_redis.stop()

    # 1. Pages still load (the cache degrades to a miss; the socket is what goes away).
    statuses = {name: client.get(reverse(name)).status_code for name in PAGES}
    statuses["incident"] = client.get(reverse("incidents:detail", args=[before.number])).status_code
    assert set(statuses.values()) == {200}, statuses
    assert client.get("/readyz").status_code == 503  # and the console says Redis is down

    # 2. Changes made during the outage commit (their live push fails quietly).
    committed = []
    response = _declare(client, "during the outage")
    assert response.status_code == 302, response.content[:500]
    committed.append(("declared", "during the outage"))
    response = client.post(reverse("incidents:acknowledge", args=[before.number]))
    assert response.status_code in (200, 302), response.content[:500]
    committed.append(("acknowledged", before.number))

    production_redis.start()

    during = Incident.objects.filter(title="during the outage").first()
    before.refresh_from_db()
    lost = (during is None) + (before.acknowledged_at is None)

    # 3. The timers those changes set fire from the database once Redis is back: the P2's
    # 30-minute step (Senior Engineer) of the incident declared during the outage.
    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=False):
        incidents.scan_due()
        incidents.scan_due()  # a redelivered scan changes nothing
    steps = Escalation.objects.filter(incident=during, key="P2-1").count()
    lost += steps == 0

    # 4. Live pushes work again: a subscriber of the topic hears the next change.
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.group_name("overview"), channel)
    seq = live.send_now("overview", "incident.updated", {"incident": during.pk})
    message = async_to_sync(layer.receive)(channel)
    assert (message["seq"], message["event"]) == (seq, "incident.updated")

    report_lost("redis outage", lost, pages=statuses, committed=len(committed), escalations=steps)
    assert steps == 1
    assert lost == 0


def test_a_publish_with_redis_down_never_fails_the_change(production_redis, people):
    production_redis.stop()
    incident = incidents.declare(
        people["operator"], title="quiet", severity="P3", summary="s", affected_modules=["beta"]
    )
    lost = 0 if Incident.objects.filter(pk=incident.pk).exists() else 1
    report_lost("publish with redis down", lost)
    assert lost == 0
    live.send_now("overview", "x", {})  # logged, never raised


def test_deliveries_claimed_while_the_broker_is_down_are_sent_after_it_returns(
    production_redis, people, mailoutbox
):
    """Redis is also Celery's broker: a scan that claims email deliveries while it is down
    cannot hand them to workers. The claims lapse (notify.LEASE) and a later scan hands them
    out again, so a committed notification is sent late, never lost."""
    from kombu.exceptions import OperationalError

    from incidents import notify, tasks
    from incidents.models import Notification

    incident = incidents.declare(
        people["operator"], title="mails", severity="P2", summary="s", affected_modules=["beta"]
    )
    emails = Notification.objects.filter(incident=incident, kind=Notification.Kind.EMAIL)
    production_redis.stop()
    later = timezone.now() + timedelta(minutes=31)
    down = OperationalError("broker unreachable")  # what .delay raises once retries give up
    with (
        time_machine.travel(later, tick=False),
        mock.patch.object(tasks.deliver_notification, "delay", side_effect=down),
        pytest.raises(OperationalError),
    ):
        tasks.scan_incident_timers()  # the step fires; handing out its emails fails
    claimed_during = emails.filter(attempts__gt=0).count()
    assert claimed_during > 0 and not emails.filter(state=Notification.State.SENT).exists()

    production_redis.start()
    with (
        time_machine.travel(later + notify.LEASE + timedelta(seconds=10), tick=False),
        mock.patch.object(tasks.deliver_notification, "delay", side_effect=notify.deliver),
    ):
        tasks.scan_incident_timers()  # a worker runs what the scan hands out
    lost = emails.exclude(state=Notification.State.SENT).count()
    report_lost(
        "deliveries claimed while the broker was down",
        lost,
        emails=emails.count(),
        claimed_during_outage=claimed_during,
        sent=len(mailoutbox),
    )
    assert lost == 0
    assert len(mailoutbox) == emails.count()
