"""Pages, the API contract and the public status page."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from changes import maintenance
from changes.models import MaintenanceWindow
from console.models import AuditEntry
from incidents import services as incidents

from .factories import window

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # Monday
SUNDAY = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _monday():
    with time_machine.travel(T0, tick=False):
        yield


# --- pages: the triad ----------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/maintenance/", "/maintenance/?view=week", "/maintenance/new/"])
def test_pages_need_a_sign_in(client, mpolicy, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_outsider_gets_403_and_viewer_reads(client, mpolicy, modules, opslead, outsider, viewer):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    client.force_login(outsider)
    assert client.get("/maintenance/").status_code == 403
    assert client.get(f"/maintenance/{made.pk}/").status_code == 404
    client.force_login(viewer)
    assert client.get("/maintenance/").status_code == 200
    page = client.get(f"/maintenance/{made.pk}/")
    assert page.status_code == 200 and b"approve-window" not in page.content
    assert client.get("/maintenance/new/").status_code == 403
    item = made.checklist.first()
    client.post(f"/maintenance/{made.pk}/checklist/{item.pk}/", {"done": "on"})
    item.refresh_from_db()
    assert item.done_at is None


def test_calendar_month_and_week_show_the_window(
    client, mpolicy, modules, opslead, django_assert_max_num_queries
):
    made = window(opslead, [modules["gamma"]], start=SUNDAY, title="Rotate Gamma certificates")
    client.force_login(opslead)
    with django_assert_max_num_queries(20):
        month = client.get("/maintenance/?date=2026-11-01")
    assert month.status_code == 200
    assert b"Rotate Gamma certificates" in month.content
    assert b"November 2026" in month.content
    week = client.get("/maintenance/?view=week&date=2026-11-18")
    assert b"Rotate Gamma certificates" in week.content
    other_week = client.get(
        "/maintenance/?view=week&date=2026-11-30", headers={"HX-Request": "true"}
    )
    assert b'id="calendar-grid"' in other_week.content
    assert b"Rotate Gamma certificates" not in other_week.content
    fragment = client.get("/maintenance/?date=2026-11-01", headers={"HX-Request": "true"})
    assert b'id="calendar-grid"' in fragment.content and b"<html" not in fragment.content
    assert client.get("/maintenance/?date=garbage").status_code == 200
    assert made.number.encode() in month.content


def test_calendar_events_shape(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    events = maintenance.calendar_events(SUNDAY - timedelta(days=1), SUNDAY + timedelta(days=1))
    assert events == [
        {
            "kind": "maintenance",
            "title": f"{made.number} Patch Gamma",
            "start": made.start,
            "end": made.end,
            "url": f"/maintenance/{made.pk}/",
            "modules": ["gamma"],
            "status": "approved",
            "type": "Standard Weekly",
        }
    ]
    assert maintenance.calendar_events(SUNDAY + timedelta(days=1), SUNDAY + timedelta(days=2)) == []


def test_schedule_from_a_slot_and_refusals_show_as_form_errors(client, mpolicy, modules, opslead):
    client.force_login(opslead)
    page = client.get("/maintenance/new/")
    assert b"Standard Weekly \xc2\xb7 Sun 22 Nov 2026 02:00" in page.content
    slot = f"weekly|{SUNDAY.isoformat()}|{(SUNDAY + timedelta(hours=4)).isoformat()}"
    response = client.post(
        "/maintenance/new/",
        {"slot": slot, "title": "Gamma patches", "modules": [modules["gamma"].pk]},
    )
    made = MaintenanceWindow.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/maintenance/{made.pk}/"
    assert made.status == "approved" and made.end - made.start == timedelta(hours=4)
    again = client.post(
        "/maintenance/new/",
        {"slot": slot, "title": "Again", "modules": [modules["gamma"].pk]},
    )
    assert again.status_code == 400 and "overlaps" in again.content.decode()
    too_soon = client.post(
        "/maintenance/new/",
        {
            "type": "weekly",
            "start": "2026-11-17T02:00",
            "end": "2026-11-17T03:00",
            "title": "Soon",
            "modules": [modules["beta"].pk],
        },
    )
    assert too_soon.status_code == 400 and "emergency path" in too_soon.content.decode()
    assert MaintenanceWindow.objects.count() == 1


def test_actions_on_the_window_page(client, mpolicy, modules, operator, opslead):
    made = window(operator, [modules["gamma"]], start=SUNDAY)
    client.force_login(operator)
    client.post(f"/maintenance/{made.pk}/approve/")
    made.refresh_from_db()
    assert made.status == "requested"  # an Operator cannot approve
    client.force_login(opslead)
    assert client.get(f"/maintenance/{made.pk}/approve/").status_code == 405
    client.post(f"/maintenance/{made.pk}/approve/")
    made.refresh_from_db()
    assert made.status == "approved"
    client.post(
        f"/maintenance/{made.pk}/announcement/",
        {"subject": "Gamma maintenance Sunday", "body": "Deliveries pause 02:00-04:00 UTC."},
    )
    client.post(f"/maintenance/{made.pk}/announcement/send/")
    from incidents.models import Notification

    queued = Notification.objects.get(event="maintenance notice", kind="console")
    assert queued.subject == "Gamma maintenance Sunday" and queued.user == operator  # the owner
    html = client.get(f"/maintenance/{made.pk}/").content.decode()
    assert 'id="announcement-deliveries"' in html
    item = made.checklist.get(phase="pre_48h", position=1)
    client.post(f"/maintenance/{made.pk}/checklist/{item.pk}/", {"done": "on", "note": "ok"})
    item.refresh_from_db()
    assert item.done_by == opslead
    page = client.get(f"/maintenance/{made.pk}/")
    assert b"Done by opslead" in page.content
    client.post(f"/maintenance/{made.pk}/cancel/", {"reason": ""})
    made.refresh_from_db()
    assert made.status == "approved"
    client.post(f"/maintenance/{made.pk}/cancel/", {"reason": "Vendor postponed"})
    made.refresh_from_db()
    assert made.status == "cancelled"
    assert AuditEntry.objects.filter(action="maintenance.cancel", actor=opslead).exists()


def test_banner_on_every_page_and_war_room_while_running(
    client, mpolicy, ipolicy, modules, opslead
):
    made = window(opslead, [modules["gamma"]], start=SUNDAY, title="Gamma patching")
    with time_machine.travel(SUNDAY + timedelta(minutes=1), tick=False):
        client.force_login(opslead)
        assert b"Maintenance in progress" not in client.get("/maintenance/banner/").content
        maintenance.scan_windows()
        # Every page loads the banner (lazily: no query in the page's own render).
        for url in ("/maintenance/", "/incidents/", "/audit/"):
            page = client.get(url)
            assert b'hx-get="/maintenance/banner/" hx-trigger="load, live-refresh"' in page.content
        banner = client.get("/maintenance/banner/", headers={"HX-Request": "true"}).content
        assert b"Maintenance in progress" in banner
        assert b"Gamma until Sun 04:00 UTC" in banner and b"Gamma patching" in banner
        incident = incidents.declare(
            opslead,
            title="Deliveries failing",
            severity="P3",
            summary="Gamma errors",
            affected_modules=["gamma"],
        )
        room = client.get(f"/incidents/{incident.number}/")
        assert room.status_code == 200
        assert f"warroom-maintenance-{made.pk}".encode() in room.content
        other = incidents.declare(
            opslead, title="Ingest slow", severity="P4", summary="x", affected_modules=["alpha"]
        )
        assert b"warroom-maintenance" not in client.get(f"/incidents/{other.number}/").content


# --- API --------------------------------------------------------------------------------------
def test_api_create_list_and_refusals(client, mpolicy, modules, opslead, viewer):
    client.force_login(opslead)
    body = {
        "type": "weekly",
        "start": SUNDAY.isoformat(),
        "end": (SUNDAY + timedelta(hours=3)).isoformat(),
        "modules": ["gamma"],
        "title": "Patch Gamma",
        "impact": "Deliveries delayed",
    }
    created = client.post("/api/v1/maintenance-windows/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["type"] == "weekly" and data["modules"] == ["gamma"]
    assert data["status"] == "approved" and data["owner"] == "opslead"
    assert data["impact"] == "Deliveries delayed"
    listed = client.get("/api/v1/maintenance-windows/").json()
    assert [w["id"] for w in listed["results"]] == [data["id"]]
    assert client.get("/api/v1/maintenance-windows/?active=true").json()["results"] == []
    refusals = [
        ({**body, "title": "overlap"}, "overlaps"),
        (
            {**body, "end": (SUNDAY + timedelta(hours=5)).isoformat(), "modules": ["beta"]},
            "4 h at most",
        ),
        (
            {**body, "end": (SUNDAY - timedelta(hours=1)).isoformat(), "modules": ["beta"]},
            "end after",
        ),
        (
            {
                **body,
                "start": (T0 + timedelta(hours=2)).isoformat(),
                "end": (T0 + timedelta(hours=3)).isoformat(),
                "modules": ["beta"],
            },
            "emergency path",
        ),
        ({**body, "type": "yearly"}, ""),
        ({**body, "modules": ["nope"]}, ""),
    ]
    for payload, reason in refusals:
        response = client.post(
            "/api/v1/maintenance-windows/", payload, content_type="application/json"
        )
        assert response.status_code == 400, payload
        assert reason in response.json()["detail"]
    assert MaintenanceWindow.objects.count() == 1
    client.force_login(viewer)
    assert client.get("/api/v1/maintenance-windows/").status_code == 200
    denied = client.post(
        "/api/v1/maintenance-windows/",
        {**body, "modules": ["alpha"]},
        content_type="application/json",
    )
    assert denied.status_code == 403 and "detail" in denied.json()
    client.logout()
    assert client.get("/api/v1/maintenance-windows/").status_code in (401, 403)


# --- public ------------------------------------------------------------------------------------
def test_status_page_needs_no_sign_in_and_reveals_nothing_internal(
    client, mpolicy, ipolicy, modules, opslead
):
    from monitoring.models import Module

    Module.objects.filter(name="gamma").update(
        base_url="http://gamma-prod-7.internal.example:9100", status="DEGRADED"
    )
    window(
        opslead,
        [modules["gamma"]],
        start=SUNDAY,
        title="Patch gamma-prod-7 secretly",
        activities="ssh root@gamma-prod-7",
        impact="Deliveries may be delayed",
    )
    incident = incidents.declare(
        opslead,
        title="gamma-prod-7 disk full on /var/lib/secret",
        severity="P2",
        summary="internal notes",
        affected_modules=["gamma"],
    )
    response = client.get("/status/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Major issue affecting data delivery" in text
    assert "Standard Weekly maintenance</strong> of data delivery" in text
    assert "Deliveries may be delayed" in text
    assert "Degraded performance" in text
    for secret in (
        "gamma-prod-7",
        "internal.example",
        "opslead",
        incident.number,
        "ssh",
        "secret",
        "INC-",
        "Sign out",
    ):
        assert secret not in text, secret
    feed = client.get("/status/maintenance.ics")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("text/calendar")
    ics = feed.content.decode()
    assert "BEGIN:VEVENT" in ics and "SUMMARY:Standard Weekly maintenance: Data delivery" in ics
    assert "DTSTART:20261122T020000Z" in ics
    assert "gamma-prod-7" not in ics and "opslead" not in ics
