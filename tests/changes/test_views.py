"""Pages: the permission triad, HTMX fragments, actions through the pages, the war room panel."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from changes import services
from changes.models import Change, Status
from tests.changes.conftest import FORM

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def change(raise_change):
    return raise_change(impact="high", likelihood="medium")


PAGES = [
    ("changes:index", False),
    ("changes:cab", False),
    ("changes:weekly", False),
    ("changes:freezes", False),
    ("changes:detail", True),
]


@pytest.mark.parametrize(("name", "needs_change"), PAGES)
def test_pages_triad(client, change, people, outsider, name, needs_change):
    url = reverse(name, args=[change.number] if needs_change else [])
    assert client.get(url).status_code == 302  # anonymous → login
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(people["viewer"])
    response = client.get(url)
    assert response.status_code == 200
    if needs_change:
        assert change.number in response.content.decode()


def test_index_htmx_returns_the_table(client, change, people):
    client.force_login(people["viewer"])
    response = client.get(reverse("changes:index"), {"risk": "high_risk"}, **HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith("<section") and change.number in body
    response = client.get(reverse("changes:index"), {"risk": "critical"}, **HTMX)
    assert change.number not in response.content.decode()


def test_index_query_count_is_bounded(client, raise_change, people, django_assert_max_num_queries):
    for _ in range(5):
        raise_change()
    client.force_login(people["viewer"])
    with django_assert_max_num_queries(20):
        client.get(reverse("changes:index"))


def test_detail_fragments(client, change, people):
    client.force_login(people["viewer"])
    for fragment, marker in (
        ("head", "change-head"),
        ("timeline", "timeline"),
        ("side", "change-side"),
    ):
        response = client.get(
            reverse("changes:detail", args=[change.number]), {"fragment": fragment}, **HTMX
        )
        assert f'id="{marker}"' in response.content.decode()


def test_raise_a_change_through_the_form(client, policy, modules, people):
    client.force_login(people["operator"])
    assert client.get(reverse("changes:create")).status_code == 200
    data = {
        "title": "Add source",
        "type": "normal",
        "priority": "medium",
        "impact": "medium",
        "likelihood": "high",
        "affected_modules": ["alpha"],
        **FORM,
    }
    response = client.post(reverse("changes:create"), data)
    change = Change.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/changes/{change.number}/")
    assert change.risk == "high_risk"


def test_form_shows_the_rollback_plan_refusal(client, policy, modules, people):
    client.force_login(people["operator"])
    data = {"title": "x", "type": "normal", "priority": "low", "impact": "low",
            "likelihood": "medium", **FORM, "rollback_plan": ""}  # fmt: skip
    response = client.post(reverse("changes:create"), data)
    assert response.status_code == 200
    assert "needs a rollback plan" in response.content.decode()
    assert not Change.objects.exists()


def test_viewer_may_not_raise(client, policy, people):
    client.force_login(people["viewer"])
    assert client.get(reverse("changes:create")).status_code == 403


def test_actions_through_the_pages(client, change, people):
    client.force_login(people["operator"])
    r = client.post(reverse("changes:submit", args=[change.number]), **HTMX)
    assert "submitted" in r.content.decode() and r["HX-Trigger"] == "change-refresh"
    client.force_login(people["senior"])
    client.post(reverse("changes:review", args=[change.number]), {"passed": "1", "comment": "ok"})
    client.force_login(people["cab1"])
    r = client.post(reverse("changes:cab_vote", args=[change.number]), {"decision": "approve"})
    assert r.status_code == 302
    page = client.get(reverse("changes:cab")).content.decode()
    assert "You voted: Approve" in page
    client.force_login(people["operator"])
    r = client.post(
        reverse("changes:decide", args=[change.number]), {"decision": "approve"}, **HTMX
    )
    assert r["X-Refused-Status"] == "403" and "own change" in r.content.decode()


def test_get_never_changes_data(client, change, people):
    client.force_login(people["operator"])
    assert client.get(reverse("changes:submit", args=[change.number])).status_code == 405
    change.refresh_from_db()
    assert change.status == Status.DRAFT


def test_conflict_preview(client, approved, people):
    from incidents import services as incidents

    change = approved()
    incidents.declare(
        people["oncall"], title="down", severity="P1", summary="s", affected_modules=["beta"]
    )
    client.force_login(people["operator"])
    start = timezone.localtime() + timedelta(hours=2)
    params = {
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    body = client.get(reverse("changes:conflicts", args=[change.number]), params).content.decode()
    assert 'data-conflict="incident"' in body
    r = client.post(reverse("changes:schedule", args=[change.number]), params, **HTMX)
    assert r["X-Refused-Status"] == "409"
    change.refresh_from_db()
    assert change.status == Status.APPROVED


def test_cab_minutes(client, change, people):
    client.force_login(people["cab1"])
    r = client.post(
        reverse("changes:cab_minutes"),
        {"held_at": "2026-01-05T10:00", "minutes": "Discussed the queue change.",
         "attendees": [people["cab1"].pk, people["cab2"].pk], "changes": [change.pk]},
    )  # fmt: skip
    assert r.status_code == 302
    assert "Discussed the queue change." in client.get(reverse("changes:cab")).content.decode()
    client.force_login(people["operator"])
    client.post(reverse("changes:cab_minutes"), {"held_at": "2026-01-05T10:00", "minutes": "x"})
    from changes.models import CabMeeting

    assert CabMeeting.objects.count() == 1


def test_war_room_lists_recent_changes_and_marks_cause(client, approved, people):
    from incidents import services as incidents

    change = approved()
    start = timezone.now() + timedelta(hours=1)
    services.schedule(people["operator"], change.pk, start, start + timedelta(hours=1))
    change.checklist.update(done_at=timezone.now())
    services.start(people["operator"], change.pk)
    services.complete(people["operator"], change.pk)
    incident = incidents.declare(
        people["oncall"], title="Beta errors", severity="P2", summary="s", affected_modules=["beta"]
    )
    client.force_login(people["oncall"])
    war_room = client.get(reverse("incidents:detail", args=[incident.number])).content.decode()
    assert reverse("changes:incident_changes", args=[incident.number]) in war_room
    panel = client.get(reverse("changes:incident_changes", args=[incident.number])).content.decode()
    assert change.number in panel and "Caused by this change" in panel
    client.post(
        reverse("changes:mark_caused", args=[change.number]), {"incident": incident.number}, **HTMX
    )
    panel = client.get(reverse("changes:incident_changes", args=[incident.number])).content.decode()
    assert "Caused this incident" in panel
    page = client.get(reverse("changes:detail", args=[change.number])).content.decode()
    assert "caused by this change" in page


def test_weekly_review_and_chart(client, approved, people):
    change = approved()
    start = timezone.now() + timedelta(hours=1)
    services.schedule(people["operator"], change.pk, start, start + timedelta(hours=1))
    change.checklist.update(done_at=timezone.now())
    services.start(people["operator"], change.pk)
    services.complete(people["operator"], change.pk)
    client.force_login(people["viewer"])
    page = client.get(reverse("changes:weekly")).content.decode()
    assert 'id="fig-total">1<' in page and change.number in page
    chart = client.get(reverse("changes:weekly_chart")).json()
    assert chart["outcomes"]["data"][0]["y"][-1] == 1
    assert chart["rates"]["data"][0]["y"][-1] == 100.0
