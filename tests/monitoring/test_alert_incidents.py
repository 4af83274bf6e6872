from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from incidents.models import Incident, TimelineEntry
from monitoring.alerting import evaluate_rule
from monitoring.models import Alert, AlertRule, Silence
from monitoring.promql import MemorySource
from tests.factories import UserFactory
from tests.monitoring.factories import ModuleFactory

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def policy(roles):
    call_command("load_policy", verbosity=0)
    ModuleFactory(name="gamma", kind="gamma")
    oncall = UserFactory(username="oncall")
    oncall.groups.add(roles["On-call Engineer"].group)
    return oncall


def _gamma(at, destination_up=False, breaker=1):
    source = MemorySource()
    labels = {"module": "gamma", "instance": "gamma-1", "destination": "analytics_warehouse"}
    source.add(
        {"__name__": "gamma_destination_status", **labels},
        [(at.timestamp(), 1.0 if destination_up else 0.0)],
    )
    source.add(
        {"__name__": "gamma_circuit_breaker_state", **labels}, [(at.timestamp(), float(breaker))]
    )
    return source


def _evaluate(at, **state):
    source = _gamma(at, **state)
    for name in ("gamma_circuit_breaker_open", "gamma_destination_down"):
        evaluate_rule(AlertRule.objects.get(name=name), at, source)


def test_destination_down_opens_one_incident_with_both_alerts_on_its_timeline(policy):
    _evaluate(T0)
    _evaluate(T0 + timedelta(minutes=1))  # the breaker alert (1 m) fires: P3 incident
    _evaluate(T0 + timedelta(minutes=5))  # destination down (5 m) fires: joins it
    incident = Incident.objects.get()
    assert incident.detection_source == "alert" and incident.commander == policy
    assert incident.declared_by is None and incident.severity == "P3"
    assert list(incident.affected_modules.values_list("name", flat=True)) == ["gamma"]
    alerts = Alert.objects.filter(incident=incident)
    assert set(alerts.values_list("name", flat=True)) == {
        "gamma_circuit_breaker_open",
        "gamma_destination_down",
    }
    notes = list(
        incident.timeline.filter(kind=TimelineEntry.Kind.ALERT).values_list("text", flat=True)
    )
    assert len(notes) == 2
    assert "maps to P2; the incident is P3" in notes[1]
    # The matrix's first step engaged the on-call.
    assert incident.escalations.filter(step=0).exists()


def test_resolution_is_written_on_the_timeline_and_a_new_episode_rejoins(policy):
    _evaluate(T0)
    _evaluate(T0 + timedelta(minutes=1))
    _evaluate(T0 + timedelta(minutes=2), destination_up=True, breaker=0)
    incident = Incident.objects.get()
    assert incident.timeline.filter(
        text__startswith="Alert gamma_circuit_breaker_open resolved"
    ).exists()
    _evaluate(T0 + timedelta(minutes=3))
    _evaluate(T0 + timedelta(minutes=4))
    assert Incident.objects.count() == 1
    assert Alert.objects.filter(incident=incident, state="firing").count() == 1


def test_a_silenced_alert_opens_no_incident(policy):
    Silence.objects.create(
        matchers=[{"name": "module", "value": "gamma", "isRegex": False, "isEqual": True}],
        starts_at=T0 - timedelta(hours=1),
        ends_at=T0 + timedelta(days=1),
        created_by_name="opslead",
        comment="maintenance",
    )
    import time_machine
    from django.utils import timezone

    with time_machine.travel(T0 + timedelta(minutes=1)):
        _evaluate(T0)
        _evaluate(T0 + timedelta(minutes=1))
    assert Alert.objects.filter(state="firing").exists()
    assert not Incident.objects.exists()
    assert timezone is not None


def test_low_severity_alerts_open_nothing(policy):
    AlertRule.objects.filter(name="gamma_circuit_breaker_open").update(severity="low")
    _evaluate(T0)
    _evaluate(T0 + timedelta(minutes=1))
    assert Alert.objects.filter(name="gamma_circuit_breaker_open", state="firing").exists()
    assert not Incident.objects.exists()


def test_an_alertmanager_alert_opens_an_incident_and_redelivery_does_not(policy, client):
    from django.contrib.auth.models import Permission

    from console.models import ApiToken

    robot = UserFactory(username="alertmanager")
    robot.user_permissions.add(Permission.objects.get(codename="add_alert"))
    token = ApiToken.issue(robot)[1]
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "module": "gamma", "severity": "critical"},
                "annotations": {"summary": "disk full"},
                "startsAt": "2026-11-21T10:00:00Z",
                "fingerprint": "00ff00ff00ff00ff",
            }
        ],
    }
    for _ in range(2):
        response = client.post(
            "/api/v1/integrations/alertmanager/",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.severity == "P1"
    body = client.get("/api/v1/alerts/00ff00ff00ff00ff/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert body.status_code == 403  # the robot may post alerts, not read them
    client.force_login(policy)
    assert client.get("/api/v1/alerts/00ff00ff00ff00ff/").json()["incident"] == incident.number
