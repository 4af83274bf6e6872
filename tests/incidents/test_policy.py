import pytest
from django.core.management import call_command

from incidents import policy
from incidents.models import CommunicationTemplate, EscalationStep, SeverityPolicy

pytestmark = pytest.mark.django_db


def test_policy_seeds_the_manuals_numbers(roles):
    summary = policy.load()
    assert "4 severities" in summary and "3 templates" in summary
    p1 = SeverityPolicy.objects.get(severity="P1")
    # 000 "Response Time Requirements" and 001 "Incident Severity Levels".
    assert (p1.ack_minutes, p1.response_minutes, p1.update_minutes, p1.executive_minutes) == (
        5, 15, 15, 30,
    )  # fmt: skip
    assert SeverityPolicy.objects.get(severity="P2").stakeholder_minutes == 60
    assert SeverityPolicy.objects.get(severity="P3").update_minutes == 120
    assert SeverityPolicy.objects.get(severity="P4").resolution_minutes == 7 * 24 * 60
    matrix = {
        s: list(EscalationStep.objects.filter(severity=s).values_list("after_minutes", "role"))
        for s in ("P1", "P4")
    }
    assert matrix["P1"] == [
        (0, "On-call Engineer"),
        (30, "Engineering Manager"),
        (60, "Director"),
        (240, "VP/CTO"),
    ]
    assert matrix["P4"] == [(0, "Operator"), (30, "Operations Lead")]
    assert CommunicationTemplate.objects.get(kind="initial").body.startswith("INCIDENT ALERT:")


def test_policy_load_is_idempotent_and_keeps_admin_edits(roles):
    policy.load()
    SeverityPolicy.objects.filter(severity="P1").update(ack_minutes=3)
    summary = policy.load()
    assert "(0 created)" in summary
    assert SeverityPolicy.objects.get(severity="P1").ack_minutes == 3
    assert SeverityPolicy.objects.count() == 4


def test_load_policy_command_includes_incidents(db, capsys):
    call_command("load_policy")
    assert "incidents: 4 severities" in capsys.readouterr().out


def test_matrix_roles_exist(roles):
    policy.load()
    from django.contrib.auth.models import Group

    names = set(Group.objects.values_list("name", flat=True))
    assert set(EscalationStep.objects.values_list("role", flat=True)) <= names


ADMIN_PAGES = [
    "severitypolicy",
    "escalationstep",
    "communicationtemplate",
    "notificationchannel",
    "incident",
    "notification",
    "review",
    "breach",
    "watchdogrun",
]


@pytest.mark.parametrize("model", ADMIN_PAGES)
def test_admin_pages(admin_client, declare, model):
    incident = declare("P2")
    assert admin_client.get(f"/admin/incidents/{model}/").status_code == 200
    if model == "incident":
        page = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/")
        assert page.status_code == 200 and "Declared P2" in page.content.decode()
