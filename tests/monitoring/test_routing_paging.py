"""One page per problem (issue 6): a critical or high alert that opened (or joined) an incident
whose escalation engaged the on-call does not page them again through its route; the route's
chat and email targets are still told, naming the incident."""

from datetime import timedelta

import pytest
import time_machine

from incidents.models import Escalation, Notification
from monitoring import alert_incidents, routing
from monitoring.models import Alert, AlertGroup, Module
from tests.monitoring.test_routing import T0, fire, pages, scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(roles):
    """001's routes and receivers and one on-call engineer (as in test_routing)."""
    from django.core.management import call_command

    from tests.factories import UserFactory

    call_command("load_policy", verbosity=0)
    oncall = UserFactory(username="oncall", email="oncall@example.com")
    oncall.groups.add(roles["On-call Engineer"].group)
    return oncall


@pytest.fixture
def gamma(db):
    return Module.objects.create(name="gamma", kind="gamma", base_url="http://127.0.0.1:9")


def _fire_as_evaluation_does(name, severity, at, **labels) -> Alert:
    """alerting.evaluate_rule's order: alert → incident first, then routing."""
    with time_machine.travel(at, tick=False):
        alert = fire(name, severity, at, **labels)  # routes it
        alert_incidents.on_fired(alert)
    alert.refresh_from_db()
    return alert


def _escalation_pages(user) -> list[str]:
    return list(
        Notification.objects.filter(
            user=user, kind="console", audience=Notification.Audience.ESCALATION
        ).values_list("subject", flat=True)
    )


def test_an_alert_that_opened_an_incident_pages_the_on_call_once(seeded, gamma):
    alert = _fire_as_evaluation_does("gamma_destination_down", "critical", T0, module="gamma")
    assert alert.incident is not None and alert.incident.severity == "P1"
    assert Escalation.objects.filter(incident=alert.incident, role="On-call Engineer").exists()
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        scan(T0, 31)
    assert len(_escalation_pages(seeded)) == 1  # the incident's page, which escalates if unacked
    assert pages(seeded) == []  # the route's page is not sent on top of it
    # The flush is on the audit trail, saying why the on-call was not paged by the route.
    from console.models import AuditEntry

    entry = AuditEntry.objects.filter(action="alert_group.notify").latest("pk")
    assert entry.after["oncall_paged_by_incident"] is True
    # Messages to the route's other targets name and link the incident.
    group = AlertGroup.objects.get()
    _, body, _ = routing.message(group, group.route.receiver, [alert], [])
    assert f"incident {alert.incident.number} /incidents/{alert.incident.number}/" in body
    # Nor does the repeat interval page again while the incident is open.
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        scan(T0, 6 * 60)
    assert pages(seeded) == []


def test_an_alert_without_an_incident_still_pages_through_its_route(seeded, gamma):
    from monitoring.models import AlertIncidentPolicy

    AlertIncidentPolicy.objects.update(enabled=False)
    alert = _fire_as_evaluation_does("gamma_destination_down", "critical", T0, module="gamma")
    assert alert.incident is None
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        scan(T0, 31)
    assert len(pages(seeded)) == 1 and _escalation_pages(seeded) == []


def test_one_uncovered_alert_in_the_group_pages_for_the_group(seeded, gamma):
    covered = _fire_as_evaluation_does("gamma_destination_down", "critical", T0, module="gamma")
    assert covered.incident is not None
    # Fired without the alert → incident step (an external alert the policy left alone).
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        fire("gamma_other", "critical", T0 + timedelta(seconds=5), module="gamma")
        scan(T0, 31)
    [page] = pages(seeded)
    assert "gamma_other" in page


def test_an_incident_resolved_while_its_alert_fires_lets_the_route_page_again(seeded, gamma):
    from incidents import services as incidents

    alert = _fire_as_evaluation_does("gamma_destination_down", "critical", T0, module="gamma")
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        scan(T0, 31)
    assert pages(seeded) == []
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        incidents.move(
            alert.incident.commander, alert.incident.pk, "resolved", resolution_summary="thought so"
        )
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        scan(T0, 6 * 60)  # past the critical route's 5 min repeat interval
    assert len(pages(seeded)) == 1


def test_paged_by_incident_needs_an_on_call_escalation(seeded, gamma):
    alert = _fire_as_evaluation_does("gamma_destination_down", "critical", T0, module="gamma")
    assert routing.paged_by_incident([alert])
    Escalation.objects.filter(incident=alert.incident).delete()
    assert not routing.paged_by_incident([alert])
    assert not routing.paged_by_incident([])
