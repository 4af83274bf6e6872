"""Every page and action: anonymous → login, no permission → 403/404, permitted → OK, and
the HTMX variant."""

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Incident, Notification, Review, Status

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def incident(declare, modules):
    return declare("P2", affected_modules=["beta"])


def _login_redirect(response, url):
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- pages ---------------------------------------------------------------------------------
PAGES = ["incidents:index", "incidents:declare", "incidents:figures"]


@pytest.mark.parametrize("name", PAGES)
def test_page_anonymous_goes_to_login(client, policy, name):
    url = reverse(name)
    _login_redirect(client.get(url), url)


@pytest.mark.parametrize("name", PAGES)
def test_page_outsider_is_403(client, policy, outsider, name):
    client.force_login(outsider)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_page_operator_ok(client, policy, operator, name):
    client.force_login(operator)
    assert client.get(reverse(name)).status_code == 200


def test_viewer_reads_the_list_but_cannot_declare(client, incident, viewer):
    client.force_login(viewer)
    response = client.get(reverse("incidents:index"))
    assert incident.number in response.content.decode()
    assert "Declare an incident" not in response.content.decode()
    assert client.get(reverse("incidents:declare")).status_code == 403


def test_list_filters_search_and_htmx_fragment(client, declare, operator, modules,
                                               django_assert_max_num_queries):  # fmt: skip
    declare("P1", title="Alpha stopped", affected_modules=["alpha"])
    declare("P3", title="Gamma slow", affected_modules=["gamma"])
    client.force_login(operator)
    url = reverse("incidents:index")
    with django_assert_max_num_queries(25):
        html = client.get(url).content.decode()
    assert "Alpha stopped" in html and "Gamma slow" in html
    html = client.get(url, {"severity": "P1"}).content.decode()
    assert "Alpha stopped" in html and "Gamma slow" not in html
    html = client.get(url, {"module": "gamma"}).content.decode()
    assert "Gamma slow" in html and "Alpha stopped" not in html
    html = client.get(url, {"q": "gamma"}).content.decode()
    assert "Gamma slow" in html and "Alpha stopped" not in html
    response = client.get(url, {"status": "open"}, **HTMX)
    assert (
        response.content.decode()
        .lstrip()
        .startswith('<section class="card panel" id="incident-table"')
    )


def test_declare_form_shows_definitions_and_declares(client, policy, operator, modules):
    client.force_login(operator)
    html = client.get(reverse("incidents:declare")).content.decode()
    assert "Complete system failure" in html  # 001 P1 definition
    assert "Acknowledge within 5 min" in html
    response = client.post(
        reverse("incidents:declare"),
        {
            "title": "Gamma deliveries failing",
            "severity": "P2",
            "summary": "Two destinations time out",
            "affected_modules": ["gamma"],
            "detection_source": "alert",
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:detail", args=[incident.number])
    assert incident.detection_source == "alert"


def test_declare_form_errors_are_shown(client, policy, operator):
    client.force_login(operator)
    response = client.post(reverse("incidents:declare"), {"title": "", "severity": "P9"})
    assert response.status_code == 200
    assert Incident.objects.count() == 0


# --- war room ------------------------------------------------------------------------------
def test_detail_triad(client, incident, outsider, viewer, operator):
    url = reverse("incidents:detail", args=[incident.number])
    _login_redirect(client.get(url), url)
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(viewer)
    html = client.get(url).content.decode()
    assert incident.number in html and 'id="timeline"' in html
    assert 'id="action-acknowledge"' not in html  # read only
    client.force_login(operator)
    html = client.get(url).content.decode()
    assert 'id="action-acknowledge"' in html
    assert 'data-countdown-due="' in html  # running countdowns, rendered server-side
    assert 'data-slot="recent-changes"' in html and 'data-slot="alerts"' in html
    assert f'data-live-topic="incident.{incident.pk}"' in html


@pytest.mark.parametrize("fragment", ["head", "timeline", "people", "deliveries", "modules"])
def test_detail_fragments(client, incident, operator, fragment, django_assert_max_num_queries):
    client.force_login(operator)
    url = reverse("incidents:detail", args=[incident.number])
    with django_assert_max_num_queries(20):
        response = client.get(url, {"fragment": fragment}, **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith("<section")


ACTIONS = [
    ("incidents:acknowledge", {}),
    ("incidents:investigate", {}),
    ("incidents:mitigate", {}),
    ("incidents:resolve", {"resolution_summary": "restarted"}),
    ("incidents:add_note", {"text": "looking at Beta"}),
    ("incidents:severity", {"severity": "P1", "reason": "spreading"}),
    ("incidents:escalate", {"trigger": "expertise", "reason": "need a DBA"}),
    ("incidents:confirm_data_loss", {"detail": "records lost"}),
    ("incidents:update_modules", {"modules": ["beta", "gamma"]}),
]


@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_action_triad(client, incident, outsider, viewer, operator, name, data):
    url = reverse(name, args=[incident.number])
    _login_redirect(client.post(url, data), url)
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    client.force_login(viewer)
    assert client.post(url, data).status_code == 403
    client.force_login(operator)
    assert client.get(url).status_code == 405  # never change data on GET
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:detail", args=[incident.number])


@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_action_htmx_returns_the_result_message(client, incident, operator, name, data):
    client.force_login(operator)
    response = client.post(reverse(name, args=[incident.number]), data, **HTMX)
    assert response.status_code == 200
    assert "alert-success" in response.content.decode()
    assert response["HX-Trigger"] == "incident-refresh"


def test_refused_action_says_why(client, incident, operator):
    client.force_login(operator)
    url = reverse("incidents:resolve", args=[incident.number])
    response = client.post(url, {"resolution_summary": ""}, **HTMX)
    assert "alert-danger" in response.content.decode()
    assert "resolution summary" in response.content.decode()
    response = client.post(url, {"resolution_summary": ""}, follow=True)
    assert "resolution summary" in response.content.decode()


def test_close_and_reopen_and_add_responder(client, incident, operator, opslead, roles):
    from tests.factories import UserFactory

    helper = UserFactory(username="helper")
    client.force_login(operator)
    response = client.post(
        reverse("incidents:add_responder", args=[incident.number]),
        {"user": "helper", "role": "scribe"},
        **HTMX,
    )
    assert "helper added" in response.content.decode()
    assert incident.responders.filter(user=helper, role="scribe").exists()
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    client.post(reverse("incidents:reopen", args=[incident.number]))
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")
    response = client.post(reverse("incidents:close", args=[incident.number]), **HTMX)
    assert "review must be complete" in response.content.decode()
    client.force_login(opslead)
    client.post(reverse("incidents:close", args=[incident.number]), {"reason": "test drill"})
    incident.refresh_from_db()
    assert incident.status == Status.CLOSED


def test_post_update_renders_the_template_and_sends(client, incident, operator, viewer):
    url = reverse("incidents:post_update", args=[incident.number])
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    client.force_login(operator)
    html = client.get(url).content.decode()
    assert f"INCIDENT UPDATE: {incident.number} - P2" in html
    response = client.post(url, {"subject": "Update 1", "body": "Beta draining, ETA 20 min"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.last_update_at is not None
    assert incident.timeline.filter(kind="update", text__contains="ETA 20 min").exists()


def test_presence_lists_who_is_on_the_page(client, incident, operator, viewer, outsider):
    url = reverse("incidents:presence", args=[incident.number])
    assert client.get(url).status_code == 302  # login first
    client.force_login(outsider)
    assert client.post(url, **HTMX).status_code == 404
    client.force_login(operator)
    assert client.get(url).status_code == 405
    client.post(url, **HTMX)
    client.force_login(viewer)
    html = client.post(url, **HTMX).content.decode()
    assert 'data-user="operator"' in html and 'data-user="viewer"' in html


def test_inbox_badge_and_mark_read(client, declare, roles):
    from tests.factories import UserFactory

    oncall = UserFactory(username="oncall")
    oncall.groups.add(roles["On-call Engineer"].group)
    declare("P1")
    client.force_login(oncall)
    html = client.get(reverse("incidents:inbox"), **HTMX).content.decode()
    assert 'id="incident-badge">1<' in html and "data-toast-id" in html
    client.post(reverse("incidents:mark_read"), **HTMX)
    assert not Notification.objects.filter(
        user=oncall, kind="console", read_at__isnull=True
    ).exists()


# --- review --------------------------------------------------------------------------------
@pytest.fixture
def resolved(incident, operator):
    return services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="fixed")


def test_review_triad_and_prefill(client, resolved, outsider, viewer, operator):
    url = reverse("incidents:review", args=[resolved.number])
    _login_redirect(client.get(url), url)
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(viewer)
    assert client.get(url).status_code == 200
    assert client.post(url, {"root_cause": "x"}).status_code == 403
    client.force_login(operator)
    html = client.get(url).content.decode()
    assert "Declared P2 by operator" in html  # timeline reconstruction pre-filled
    data = {name: "written" for name in Review.REQUIRED_FIELDS}
    client.post(url, {**data, "complete": "1"})
    assert Review.objects.get(incident=resolved).is_complete
    report = client.get(reverse("incidents:review_report", args=[resolved.number]))
    assert "Post-incident report" in report.content.decode()


def test_review_action_items(client, resolved, operator):
    client.force_login(operator)
    url = reverse("incidents:add_action_item", args=[resolved.number])
    client.post(url, {"description": "Alert on DLQ", "owner": "operator", "due_on": "2030-01-01"})
    item = Review.objects.get(incident=resolved).action_items.get()
    client.post(
        reverse("incidents:set_action_item", args=[resolved.number, item.pk]), {"state": "done"}
    )
    item.refresh_from_db()
    assert item.state == "done"


def test_start_optional_review(client, declare, operator):
    incident = declare("P3")
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="ok")
    client.force_login(operator)
    assert client.get(reverse("incidents:review", args=[incident.number])).status_code == 404
    client.post(reverse("incidents:start_review", args=[incident.number]))
    assert client.get(reverse("incidents:review", args=[incident.number])).status_code == 200


# --- figures -------------------------------------------------------------------------------
@pytest.mark.parametrize("chart", ["ack", "resolve", "breaches"])
def test_figures_chart_fragments(client, declare, operator, outsider, chart):
    incident = declare("P3")
    services.acknowledge(operator, incident.pk)
    services.move(operator, incident.pk, Status.RESOLVED, resolution_summary="ok")
    url = reverse("incidents:figures_chart", args=[chart])
    _login_redirect(client.get(url), url)
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(operator)
    response = client.get(url, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    if chart == "breaches":
        assert "No data yet." in html
    else:
        assert 'data-plotly-figure="figure-data-' in html and '"data": [{"name": "P3"' in html


def test_figures_page_loads_charts_lazily(client, policy, operator):
    client.force_login(operator)
    html = client.get(reverse("incidents:figures")).content.decode()
    assert 'hx-trigger="load"' in html and "plotly-3.7.0.min.js" in html
    assert client.get(reverse("incidents:figures_chart", args=["nope"])).status_code == 404


def test_war_room_query_count_does_not_grow_with_the_timeline(
    client, incident, operator, django_assert_max_num_queries
):
    for i in range(20):
        services.add_note(operator, incident.pk, f"note {i}")
    client.force_login(operator)
    with django_assert_max_num_queries(30):
        response = client.get(reverse("incidents:detail", args=[incident.number]))
    assert response.content.decode().count('data-kind="note"') == 20


def test_list_query_count_does_not_grow_with_rows(
    client, declare, operator, django_assert_max_num_queries
):
    for i in range(15):
        declare("P2", title=f"incident {i}")
    client.force_login(operator)
    with django_assert_max_num_queries(25):
        response = client.get(reverse("incidents:index"))
    assert response.content.decode().count("data-incident=") == 15
