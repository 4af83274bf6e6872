"""Emergency changes are reviewed in the linked incident's review (001 "Emergency Change
Process"; issue 8): the review page and its report list them."""

import pytest
from django.urls import reverse

from changes import services


@pytest.fixture
def reviewed_incident(policy, modules, people):
    from incidents import services as incidents

    incident = incidents.declare(
        people["oncall"], title="Gamma down", severity="P1", summary="s", affected_modules=["gamma"]
    )
    return incident


def _emergency(raise_change, people, incident, **kwargs):
    change = raise_change(
        type="emergency", by=people["oncall"], modules_=("gamma",), incident=incident, **kwargs
    )
    services.record_verbal_approval(people["oncall"], change.pk, people["engmanager"], "go")
    return change


def _resolve(incident, people):
    from incidents import services as incidents

    incidents.move(people["opslead"], incident.pk, "resolved", resolution_summary="fixed")
    incident.refresh_from_db()
    assert incident.review is not None  # P1: the review is required and opened


def test_emergency_changes_for_lists_only_this_incidents_emergency_changes(
    raise_change, people, reviewed_incident
):
    from incidents import services as incidents

    fix = _emergency(raise_change, people, reviewed_incident, title="Reroute Gamma")
    other = incidents.declare(
        people["oncall"], title="Beta slow", severity="P2", summary="s", affected_modules=["beta"]
    )
    _emergency(raise_change, people, other, title="Elsewhere")
    raise_change(title="A normal change", incident=reviewed_incident)  # not an emergency
    assert services.emergency_changes_for(reviewed_incident) == [fix]
    assert services.emergency_changes_for(reviewed_incident, people["viewer"]) == [fix]


def test_review_page_and_report_list_the_emergency_changes(
    client, raise_change, people, reviewed_incident
):
    fix = _emergency(raise_change, people, reviewed_incident, title="Reroute Gamma")
    _resolve(reviewed_incident, people)
    client.force_login(people["oncall"])
    page = client.get(reverse("incidents:review", args=[reviewed_incident.number]))
    body = page.content.decode()
    assert page.status_code == 200 and 'id="emergency-changes"' in body
    assert f'data-change="{fix.number}"' in body and "Reroute Gamma" in body
    assert "verbal approval engmanager" in body and "Formal request due" in body
    report = client.get(reverse("incidents:review_report", args=[reviewed_incident.number]))
    assert f'data-change="{fix.number}"' in report.content.decode()


def test_review_page_says_when_there_was_no_emergency_change(client, people, reviewed_incident):
    _resolve(reviewed_incident, people)
    client.force_login(people["oncall"])
    body = client.get(reverse("incidents:review", args=[reviewed_incident.number])).content
    assert b"No emergency change was made for this incident." in body
    report = client.get(reverse("incidents:review_report", args=[reviewed_incident.number]))
    assert b'id="emergency-changes"' not in report.content
