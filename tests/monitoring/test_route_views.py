"""The routes page, the route tester (page and API), route editing, the alert group page, and
the inbox showing alert notifications that belong to no incident."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from console.models import AuditEntry
from monitoring import routing
from monitoring.models import Route
from tests.monitoring.test_routing import fire

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LABELS = "alertname=gamma_destination_down, severity=critical, module=gamma"


@pytest.fixture
def seeded(roles):
    call_command("load_policy", verbosity=0)


def test_routes_page_needs_sign_in(client, seeded):
    response = client.get(reverse("monitoring:routes"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_routes_page_refused_without_a_role(client, seeded, outsider):
    client.force_login(outsider)
    assert client.get(reverse("monitoring:routes")).status_code == 403
    assert client.get(reverse("monitoring:route_test"), {"labels": LABELS}).status_code == 403


def test_routes_page_lists_the_tree_and_receivers(
    client, seeded, viewer, django_assert_max_num_queries
):
    client.force_login(viewer)
    with django_assert_max_num_queries(15):
        response = client.get(reverse("monitoring:routes"))
    body = response.content.decode()
    assert response.status_code == 200
    for name in (
        "root",
        "critical",
        "pagerduty-critical",
        "slack-info",
        "severity=&quot;critical&quot;",
    ):
        assert name in body
    assert "Edit" not in body  # a viewer may not change routes


def test_routes_page_fragments_for_live_refresh(client, seeded, viewer):
    client.force_login(viewer)
    url = reverse("monitoring:routes")
    for fragment, root_id in (("tree", "route-tree"), ("groups", "alert-groups")):
        response = client.get(url, {"fragment": fragment}, headers={"HX-Request": "true"})
        body = response.content.decode().lstrip()
        assert response.status_code == 200 and body.startswith('<section class="card panel')
        assert f'id="{root_id}"' in body.split(">", 1)[0]


def test_alert_group_page_refused_without_a_role(client, seeded, outsider):
    fire("a", "critical", T0, module="gamma")
    group = routing.AlertGroup.objects.get()
    client.force_login(outsider)
    assert client.get(reverse("monitoring:alert_group", args=[group.pk])).status_code == 403


def test_route_tester_page_shows_the_match(client, seeded, viewer):
    client.force_login(viewer)
    response = client.get(reverse("monitoring:route_test"), {"labels": LABELS})
    body = response.content.decode()
    assert response.status_code == 200
    assert "root → critical" in body and "pagerduty-critical" in body
    assert routing.group_key({"module": "gamma"}) in body


def test_route_tester_htmx_fragment_and_bad_labels(client, seeded, viewer):
    client.force_login(viewer)
    url = reverse("monitoring:route_test")
    response = client.get(url, {"labels": LABELS}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="route-test"')
    response = client.get(url, {"labels": "not a label"}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and "write name=value" in response.content.decode()


def test_route_test_api(client, seeded, viewer, outsider):
    url = reverse("api:route-test")
    client.force_login(viewer)
    response = client.post(
        url, {"labels": {"severity": "high", "module": "beta"}}, content_type="application/json"
    )
    assert response.status_code == 200
    [match] = response.json()["matches"]
    assert match["receiver"] == "pagerduty-high" and match["repeat_interval"] == 900
    assert match["group_labels"] == {"module": "beta"}
    for bad in ({"labels": "x"}, {"labels": {"bad-name": "x"}}, {"labels": {"a": 1}}, {}):
        response = client.post(url, bad, content_type="application/json")
        assert response.status_code == 400 and response.json()["detail"]
    client.force_login(outsider)
    assert (
        client.post(url, {"labels": {"a": "b"}}, content_type="application/json").status_code == 403
    )


def test_routes_api_lists_routes(client, seeded, viewer):
    client.force_login(viewer)
    rows = client.get(reverse("api:route-list")).json()
    critical = next(r for r in rows if r["name"] == "critical")
    assert critical["parent"] == "root" and critical["repeat_interval"] == 300
    assert critical["continue"] is False


def test_route_edit_is_refused_to_an_operator(client, seeded, operator):
    client.force_login(operator)
    route = Route.objects.get(name="critical")
    assert client.get(reverse("monitoring:route_edit", args=[route.pk])).status_code == 403
    assert client.post(reverse("monitoring:route_edit", args=[route.pk]), {}).status_code == 403


def _form(route, **changes):
    data = {
        "name": route.name,
        "parent": route.parent_id or "",
        "position": route.position,
        "receiver": route.receiver_id or "",
        "group_wait": route.group_wait or "",
        "group_interval": route.group_interval or "",
        "repeat_interval": route.repeat_interval or "",
        "matchers_text": 'severity="critical"',
        "group_by_text": "",
        "enabled": "on",
    }
    data.update(changes)
    return data


def test_route_edit_saves_and_audits(client, seeded, opslead):
    client.force_login(opslead)
    route = Route.objects.get(name="critical")
    url = reverse("monitoring:route_edit", args=[route.pk])
    response = client.post(
        url,
        _form(
            route, repeat_interval=600, matchers_text='severity=~"critical|page"\nmodule!="beta"'
        ),
    )
    assert response.status_code == 302
    route.refresh_from_db()
    assert route.repeat_interval == 600
    assert route.matchers == [
        {"name": "severity", "value": "critical|page", "isRegex": True, "isEqual": True},
        {"name": "module", "value": "beta", "isRegex": False, "isEqual": False},
    ]
    entry = AuditEntry.objects.filter(action="route.update").latest("seq")
    assert entry.before["repeat_interval"] == 300 and entry.after["repeat_interval"] == 600
    [match] = routing.test_route({"severity": "page", "module": "gamma"})["matches"]
    assert match["route"] == "critical"


def test_route_edit_bad_input_is_a_form_error(client, seeded, opslead):
    client.force_login(opslead)
    route = Route.objects.get(name="critical")
    url = reverse("monitoring:route_edit", args=[route.pk])
    response = client.post(url, _form(route, matchers_text="severity critical"))
    assert response.status_code == 422 and "Line 1" in response.content.decode()
    response = client.post(url, _form(route, matchers_text='a=~"("'))
    assert response.status_code == 422 and "Invalid regex" in response.content.decode()
    response = client.post(url, _form(route, parent=""))
    assert response.status_code == 422 and "already a root route" in response.content.decode()
    root = Route.objects.get(name="root")
    response = client.post(
        reverse("monitoring:route_edit", args=[root.pk]),
        _form(root, parent=route.pk, matchers_text=""),
    )
    assert response.status_code == 422 and "below itself" in response.content.decode()
    assert Route.objects.get(pk=route.pk).repeat_interval == 300


def test_route_add(client, seeded, opslead):
    client.force_login(opslead)
    root = Route.objects.get(name="root")
    data = _form(
        Route(name="beta-team", parent=root, position=9),
        matchers_text='module="beta"',
        group_by_text="module, instance",
        continue_matching="on",
    )
    assert client.post(reverse("monitoring:route_add"), data).status_code == 302
    route = Route.objects.get(name="beta-team")
    assert route.group_by == ["module", "instance"] and route.continue_matching
    assert AuditEntry.objects.filter(action="route.create").exists()


def test_alert_group_page_and_inbox_without_incident(client, seeded, roles):
    from tests.factories import UserFactory

    oncall = UserFactory(username="oncall")
    oncall.groups.add(roles["On-call Engineer"].group)
    fire("gamma_destination_down", "critical", T0, module="gamma")
    routing.scan_due(T0 + timedelta(seconds=30))
    client.force_login(oncall)
    group = routing.AlertGroup.objects.get()
    response = client.get(reverse("monitoring:alert_group", args=[group.pk]))
    body = response.content.decode()
    assert response.status_code == 200 and "[FIRING:1] gamma_destination_down" in body
    inbox = client.get(reverse("incidents:inbox")).content.decode()
    assert "[FIRING:1] gamma_destination_down (module=gamma)" in inbox
    assert reverse("monitoring:alert_group", args=[group.pk]) in inbox
