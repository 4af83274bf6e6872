"""The same Alertmanager webhook delivered three times (Alertmanager retries whatever it thinks
failed): one after the other, and three at once. Each alert must be stored once, open one
incident, join its group once and page once; and no delivery may be refused or answer 500."""

import json
import threading
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection

from console.models import ApiToken, AuditEntry
from incidents.models import Incident, TimelineEntry
from monitoring.models import Alert, AlertGroupMember
from tests.factories import UserFactory
from tests.faults.support import report_lost
from tests.monitoring.factories import ModuleFactory

URL = "/api/v1/integrations/alertmanager/"
FINGERPRINTS = ["0a0a0a0a0a0a0a01", "0a0a0a0a0a0a0a02"]


@pytest.fixture
def token(roles):
    call_command("load_policy", verbosity=0)
    ModuleFactory(name="gamma", kind="gamma")
    oncall = UserFactory(username="oncall")
    oncall.groups.add(roles["On-call Engineer"].group)
    robot = UserFactory(username="alertmanager")
    robot.user_permissions.add(Permission.objects.get(codename="add_alert"))
    return ApiToken.issue(robot, name="alertmanager")[1]


def _payload(status: str) -> str:
    alerts = [
        {
            "status": status,
            "labels": {"alertname": name, "module": "gamma", "severity": "critical"},
            "annotations": {"summary": f"{name} on gamma"},
            "startsAt": "2026-11-21T10:00:00Z",
            "endsAt": "2026-11-21T10:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint,
        }
        for name, fingerprint in zip(("DiskFull", "QueueStuck"), FINGERPRINTS, strict=True)
    ]
    return json.dumps({"version": "4", "status": status, "alerts": alerts})


def _deliver(client, token, status="firing"):
    return client.post(
        URL, _payload(status), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def _figures() -> dict:
    return {
        "alerts": Alert.objects.count(),
        "incidents": Incident.objects.count(),
        "group memberships": AlertGroupMember.objects.count(),
        "fired audits": AuditEntry.objects.filter(action="alert.fired").count(),
        "alert notes": TimelineEntry.objects.filter(kind=TimelineEntry.Kind.ALERT).count(),
    }


@pytest.mark.django_db
def test_webhook_delivered_three_times_in_a_row_is_one_alert_and_one_incident(client, token):
    answers = [_deliver(client, token).json() for _ in range(3)]
    assert [a["created"] for a in answers] == [2, 0, 0]
    assert [a["unchanged"] for a in answers] == [0, 2, 2]
    figures = _figures()
    resolved = [_deliver(client, token, "resolved").json()["resolved"] for _ in range(3)]
    assert resolved == [2, 0, 0]
    lost = 2 - Alert.objects.filter(state="resolved").count()
    duplicates = (
        figures["alerts"]
        - 2
        + figures["incidents"]
        - 1
        + figures["fired audits"]
        - 2
        + figures["group memberships"]
        - 2
    )
    report_lost("webhook x3 in a row", lost, duplicates=duplicates, **figures)
    assert (lost, duplicates) == (0, 0)
    assert figures["alert notes"] == 2  # one line per alert on the incident's timeline


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhook_delivered_three_times_at_once_is_one_alert_and_one_incident(token):
    """Three deliveries race: each reaches the insert before any has committed (a barrier
    inside their transactions), so two of them meet the unique constraint."""
    from django.test import Client

    real_create = Alert.objects.create
    barrier = threading.Barrier(3, timeout=20)
    waited = threading.local()

    def racing_create(**fields):
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return real_create(**fields)

    statuses: list = []

    def deliver():
        try:
            statuses.append(_deliver(Client(), token).status_code)
        except Exception as exc:  # the test client re-raises a view's exception (a 500)
            statuses.append(type(exc).__name__)
        finally:
            connection.close()

    with mock.patch.object(Alert.objects, "create", side_effect=racing_create):
        threads = [threading.Thread(target=deliver) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    figures = _figures()
    lost = 2 - figures["alerts"] if figures["alerts"] < 2 else 0
    duplicates = (
        max(0, figures["alerts"] - 2)
        + max(0, figures["incidents"] - 1)
        + max(0, figures["group memberships"] - 2)
    )
    report_lost("webhook x3 at once", lost, duplicates=duplicates, statuses=statuses, **figures)
    assert sorted(statuses) == [200, 200, 200]
    assert (lost, duplicates) == (0, 0)
    assert figures["fired audits"] == 2 and figures["alert notes"] == 2
