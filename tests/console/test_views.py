import pytest
from django.urls import reverse

from console import audit

PAGES = [
    "overview",
    "audit",
    "incidents:index",
    "changes:index",
    "maintenance:calendar",
    "shifts:index",
    "monitoring:index",
    "monitoring:jobs",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_page_anonymous_is_sent_to_login(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", PAGES)
def test_page_permitted_shows_navigation_and_role(client, operator, name):
    client.force_login(operator)
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    for label in (
        "Overview",
        "Incidents",
        "Changes",
        "Maintenance",
        "Shifts",
        "Monitoring",
        "Jobs",
        "Audit",
    ):
        assert f">{label}</a>" in html
    assert 'id="user-role">Operator<' in html
    assert 'id="live-indicator"' in html
    assert '"X-CSRFToken"' in html


def test_audit_page_without_permission_is_forbidden(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("audit")).status_code == 403
    assert client.get(reverse("audit"), HTTP_HX_REQUEST="true").status_code == 403


def test_audit_page_lists_and_filters_entries(client, viewer):
    audit.record(
        "incident.acknowledge",
        actor=viewer,
        object_type="incidents.incident",
        object_id="7",
        object_repr="INC-1",
    )
    audit.record("change.approve", object_type="changes.change", object_id="9", object_repr="CHG-1")
    client.force_login(viewer)
    html = client.get(reverse("audit"), {"action": "incident"}).content.decode()
    assert "incident.acknowledge" in html and "change.approve" not in html
    html = client.get(reverse("audit"), {"actor": "system"}).content.decode()
    assert "change.approve" in html and "incident.acknowledge" not in html
    html = client.get(reverse("audit"), {"object_type": "changes.change", "object_id": "9"})
    assert "CHG-1" in html.content.decode()


def test_audit_page_htmx_request_gets_only_the_table(client, viewer):
    audit.record("x.y", object_repr="thing")
    client.force_login(viewer)
    response = client.get(reverse("audit"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card panel" id="audit-table"')
    assert "<nav" not in html


def test_audit_page_bad_time_filter_is_an_error_on_the_page(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("audit"), {"since": "not-a-date"})
    assert response.status_code == 200
    assert "Some filters are invalid" in response.content.decode()


def test_audit_list_query_count_is_flat(client, viewer, django_assert_max_num_queries):
    for i in range(60):
        audit.record("x.y", actor=viewer, after={"i": i})
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("audit")).status_code == 200


def test_overview_activity_fragment_is_served_to_htmx(client, operator):
    audit.record("x.visible", object_repr="shown on the overview")
    client.force_login(operator)
    response = client.get(reverse("overview"), {"fragment": "activity"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel" id="activity-panel"')
    assert "shown on the overview" in html


@pytest.mark.django_db
def test_unknown_url_is_a_404_page_for_browsers_and_json_for_the_api(client, operator):
    client.force_login(operator)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and b"Not found" in response.content
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_logout_needs_post(client, operator):
    client.force_login(operator)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("overview")).status_code == 302


@pytest.mark.django_db
def test_admin_shows_audit_entries_read_only(admin_client):
    entry = audit.record("x.y")
    response = admin_client.get(reverse("admin:console_auditentry_change", args=[entry.pk]))
    assert response.status_code == 200
    assert b'name="action"' not in response.content
    assert admin_client.get(reverse("admin:console_auditentry_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:console_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_admin_edits_are_audited(admin_client, admin_user):
    from django.contrib.auth.models import User

    target = User.objects.create(username="target")
    url = reverse("admin:auth_user_change", args=[target.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {
        k: v
        for k, v in form.initial.items()
        if v is not None and k not in ("groups", "user_permissions", "password", "last_login")
    }
    data.update(
        {
            "username": "target",
            "first_name": "Renamed",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    from console.models import AuditEntry

    entry = AuditEntry.objects.filter(action="auth.user.update").latest("seq")
    assert entry.actor_name == admin_user.username
    assert entry.after["first_name"] == "Renamed"
    assert "password" not in entry.after


def test_every_page_loads_the_notification_inbox_lazily(client, operator):
    client.force_login(operator)
    html = client.get(reverse("shifts:index")).content.decode()
    assert f'hx-get="{reverse("incidents:inbox")}"' in html
    inbox = client.get(reverse("incidents:inbox"), HTTP_HX_REQUEST="true")
    assert inbox.status_code == 200 and b'id="incident-badge"' in inbox.content
    # The loaded copy refreshes on live messages only: a `load` trigger on it would make
    # htmx fetch it again on every swap, forever.
    assert b'hx-trigger="live-refresh"' in inbox.content


def test_audit_pages_link_onwards_keeping_the_filters(client, viewer):
    for i in range(55):
        audit.record("x.y", after={"i": i})
    client.force_login(viewer)
    html = client.get(reverse("audit"), {"action": "x."}).content.decode()
    assert 'aria-label="Audit pages"' in html and "55 entries" in html
    assert "?action=x.&amp;page=2" in html
