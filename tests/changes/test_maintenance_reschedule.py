"""Moving a window (issue 9): the rules of scheduling again, approval reset by policy,
reminders and checklist re-anchored, audited and pushed; and the changes a window carries."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from changes import maintenance
from changes.models import MaintenanceType, MaintenanceWindow
from console import roles as role_names
from console.errors import Refused
from console.models import AuditEntry
from tests.factories import UserFactory

from .factories import window

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
SUNDAY = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
NEXT_SUNDAY = SUNDAY + timedelta(days=7)

Status = MaintenanceWindow.Status


@pytest.fixture(autouse=True)
def _monday():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def pushes(monkeypatch):
    sent = []
    monkeypatch.setattr(
        maintenance.live, "publish", lambda topic, event, **ids: sent.append((topic, event, ids))
    )
    return sent


def test_moving_an_approved_window_resets_approval_and_re_anchors_everything(
    mpolicy, modules, operator, opslead, pushes
):
    made = window(operator, [modules["gamma"]], start=SUNDAY)
    maintenance.approve_window(opslead, made.pk)
    assert made.reminders.count() == 4
    old_announcement = MaintenanceWindow.objects.get(pk=made.pk).announcement
    pushes.clear()

    moved = maintenance.reschedule_window(
        operator, made.pk, NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=3), reason="Vendor late"
    )

    assert (moved.start, moved.end) == (NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=3))
    # The approver approved other times: an Operator's move needs a new approval (policy).
    assert moved.status == Status.REQUESTED and moved.approved_by == "" and not moved.approved_at
    assert moved.reminders.count() == 0  # queued again when approved
    pre = moved.checklist.get(phase="pre_48h", position=1)
    post = moved.checklist.get(phase="post_30m", position=1)
    assert pre.due_at == NEXT_SUNDAY - timedelta(hours=48)
    assert post.due_at == NEXT_SUNDAY + timedelta(hours=3, minutes=30)
    assert moved.announcement != old_announcement and "05:00" in moved.announcement
    entry = AuditEntry.objects.filter(action="maintenance.reschedule").get()
    assert entry.actor == operator and entry.actor_name == "operator"
    assert entry.before["start"] == SUNDAY.isoformat()
    assert entry.after["start"] == NEXT_SUNDAY.isoformat()
    assert entry.after["reason"] == "Vendor late" and entry.after["approval_reset"] is True
    assert ("maintenance", "maintenance.changed", {"window": made.pk}) in pushes

    maintenance.approve_window(opslead, made.pk)
    due = dict(moved.reminders.values_list("key", "due_at"))
    assert due["T-7d"] == NEXT_SUNDAY - timedelta(days=7)
    assert due["T-1h"] == NEXT_SUNDAY - timedelta(hours=1)


def test_an_approver_moving_it_approves_the_new_times(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    with time_machine.travel(SUNDAY - timedelta(days=3), tick=False):
        maintenance.scan_reminders()  # T-7d (skipped: past at approval) and T-3d sent
    assert made.reminders.get(key="T-3d").state == "sent"
    with time_machine.travel(SUNDAY - timedelta(days=3, hours=-1), tick=False):
        moved = maintenance.reschedule_window(
            opslead, made.pk, NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=2)
        )
    assert moved.status == Status.APPROVED and moved.approved_by == "opslead"
    states = dict(moved.reminders.values_list("key", "state"))
    # Regenerated for the new date: every step is ahead again, the announcement unsent.
    assert states == {"T-7d": "pending", "T-3d": "pending", "T-1d": "pending", "T-1h": "pending"}
    assert moved.announcement_sent_at is None


def test_an_edited_announcement_is_kept_and_may_be_sent_again(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    maintenance.edit_announcement(opslead, made.pk, "Gamma work", "Sunday 02:00, our words")
    maintenance.send_announcement(opslead, made.pk)
    moved = maintenance.reschedule_window(
        opslead, made.pk, NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=2)
    )
    assert moved.announcement == "Sunday 02:00, our words" and moved.announcement_sent_at is None
    entry = AuditEntry.objects.get(action="maintenance.reschedule")
    assert entry.after["announcement_edited_kept"] is True
    maintenance.edit_announcement(opslead, made.pk, "Gamma work", "Sunday 29th, 02:00")


def test_a_type_that_keeps_approval_keeps_it(mpolicy, modules, operator, opslead):
    MaintenanceType.objects.filter(key="weekly").update(reschedule_resets_approval=False)
    made = window(operator, [modules["gamma"]], start=SUNDAY)
    maintenance.approve_window(opslead, made.pk)
    moved = maintenance.reschedule_window(
        operator, made.pk, NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=2)
    )
    assert moved.status == Status.APPROVED and moved.approved_by == "opslead"
    assert moved.reminders.get(key="T-7d").due_at == NEXT_SUNDAY - timedelta(days=7)
    assert moved.reminders.get(key="T-7d").state == "pending"


@pytest.mark.parametrize(
    ("start", "hours", "field", "reason"),
    [
        (NEXT_SUNDAY, 5, "end", "lasts 4 h at most"),
        (T0 + timedelta(hours=30), 2, "start", "48 h external notice"),
        (T0 - timedelta(days=1), 2, "start", "cannot start in the past"),
        (NEXT_SUNDAY, -1, "end", "end after it starts"),
        (NEXT_SUNDAY + timedelta(hours=1), 2, "start", "overlaps"),
    ],
)
def test_moving_rechecks_the_rules_of_scheduling(
    mpolicy, modules, opslead, start, hours, field, reason
):
    other = window(opslead, [modules["gamma"]], start=NEXT_SUNDAY, title="Other")
    made = window(opslead, [modules["gamma"], modules["beta"]], start=SUNDAY)
    with pytest.raises(Refused, match=reason) as exc:
        maintenance.reschedule_window(opslead, made.pk, start, start + timedelta(hours=hours))
    assert exc.value.field == field
    made.refresh_from_db()
    assert made.start == SUNDAY and made.status == Status.APPROVED
    assert other.pk != made.pk


def test_moving_over_its_own_old_times_is_no_overlap(mpolicy, modules, opslead):
    made = window(opslead, [modules["gamma"]], start=SUNDAY, hours=2)
    moved = maintenance.reschedule_window(
        opslead, made.pk, SUNDAY + timedelta(hours=1), SUNDAY + timedelta(hours=3)
    )
    assert moved.start == SUNDAY + timedelta(hours=1)


def test_emergency_window_keeps_its_reason_inside_the_notice(mpolicy, modules, opslead):
    made = window(
        opslead,
        [modules["gamma"]],
        type="emergency",
        start=T0 + timedelta(hours=5),
        emergency_reason="CVE",
    )
    moved = maintenance.reschedule_window(
        opslead, made.pk, T0 + timedelta(hours=6), T0 + timedelta(hours=7)
    )
    assert moved.start == T0 + timedelta(hours=6) and moved.emergency_reason == "CVE"


def test_only_the_owner_or_an_approver_moves_a_window_not_yet_started(
    mpolicy, modules, operator, opslead, roles
):
    other = UserFactory(username="operator2")
    other.groups.add(roles[role_names.OPERATOR].group)
    made = window(operator, [modules["gamma"]], start=SUNDAY)
    with pytest.raises(PermissionDenied):
        maintenance.reschedule_window(other, made.pk, NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=1))
    maintenance.approve_window(opslead, made.pk)
    with time_machine.travel(SUNDAY, tick=False):
        maintenance.scan_windows()
        with pytest.raises(Refused, match="only a window that has not started") as exc:
            maintenance.reschedule_window(
                opslead, made.pk, NEXT_SUNDAY, NEXT_SUNDAY + timedelta(hours=1)
            )
    assert exc.value.code == 409


# --- page and API ----------------------------------------------------------------------------
def test_reschedule_from_the_window_page(client, mpolicy, modules, opslead, viewer):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    client.force_login(opslead)
    page = client.get(f"/maintenance/{made.pk}/").content.decode()
    assert 'id="reschedule-window"' in page
    url = f"/maintenance/{made.pk}/reschedule/"
    assert client.get(url).status_code == 405
    response = client.post(url, {"start": "2026-11-29T02:00"}, follow=True)
    assert response.status_code == 200 and "Give the new start and end" in response.content.decode()
    response = client.post(
        url, {"start": "2026-11-29T02:00", "end": "2026-11-29T07:00"}, follow=True
    )
    assert "lasts 4 h at most" in response.content.decode()
    client.post(url, {"start": "2026-11-29T02:00", "end": "2026-11-29T04:00", "reason": "x"})
    made.refresh_from_db()
    assert made.start == NEXT_SUNDAY and made.status == Status.APPROVED
    client.force_login(viewer)
    assert 'id="reschedule-window"' not in client.get(f"/maintenance/{made.pk}/").content.decode()
    client.post(url, {"start": "2026-11-22T02:00", "end": "2026-11-22T04:00"})
    made.refresh_from_db()
    assert made.start == NEXT_SUNDAY  # a Viewer cannot move it


def test_reschedule_through_the_api(client, mpolicy, modules, opslead, viewer):
    made = window(opslead, [modules["gamma"]], start=SUNDAY)
    url = f"/api/v1/maintenance-windows/{made.pk}/reschedule/"
    client.force_login(opslead)
    ok = client.post(
        url,
        {"start": NEXT_SUNDAY.isoformat(), "end": (NEXT_SUNDAY + timedelta(hours=2)).isoformat()},
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["start"].startswith("2026-11-29T02:00") and ok.json()["changes"] == []
    refused = client.post(
        url,
        {"start": NEXT_SUNDAY.isoformat(), "end": (NEXT_SUNDAY + timedelta(hours=9)).isoformat()},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "at most" in refused.json()["detail"]
    assert client.post(url, {"start": "soon"}, content_type="application/json").status_code == 400
    client.force_login(viewer)
    denied = client.post(
        url,
        {"start": SUNDAY.isoformat(), "end": (SUNDAY + timedelta(hours=2)).isoformat()},
        content_type="application/json",
    )
    assert denied.status_code == 403


# --- the changes a window carries ------------------------------------------------------------
def test_window_page_and_api_list_the_changes_it_carries(
    client, mpolicy, approved, raise_change, people
):
    from changes import services
    from monitoring.models import Module

    beta = Module.objects.get(name="beta")
    made = window(people["opslead"], [beta], start=SUNDAY, hours=4)
    carried = approved(requires_downtime=True, title="Needs Beta down")
    services.schedule(
        people["operator"], carried.pk, SUNDAY + timedelta(hours=1), SUNDAY + timedelta(hours=2)
    )
    elsewhere = approved(title="On Alpha", modules_=("alpha",))
    services.schedule(
        people["operator"], elsewhere.pk, SUNDAY + timedelta(hours=1), SUNDAY + timedelta(hours=2)
    )
    proposed = raise_change(
        title="Proposed inside",
        planned_start=SUNDAY + timedelta(hours=2),
        planned_end=SUNDAY + timedelta(hours=3),
    )
    services.submit(people["operator"], proposed.pk)
    draft = raise_change(
        title="Still a draft",
        planned_start=SUNDAY + timedelta(hours=2),
        planned_end=SUNDAY + timedelta(hours=3),
    )
    later = approved(title="Next week")
    services.schedule(
        people["operator"],
        later.pk,
        NEXT_SUNDAY + timedelta(hours=1),
        NEXT_SUNDAY + timedelta(hours=2),
    )
    numbers = [c.number for c in maintenance.carried_changes(made)]
    assert numbers == [carried.number, proposed.number]

    client.force_login(people["viewer"])
    html = client.get(f"/maintenance/{made.pk}/").content.decode()
    row = html[html.index(f'id="carried-{carried.number}"') :][:800]
    assert "needs downtime" in row and "Scheduled" in row and "beta" in row
    assert f'id="carried-{proposed.number}"' in html and "proposed" in html
    for absent in (elsewhere, draft, later):
        assert f'id="carried-{absent.number}"' not in html
    detail = client.get(f"/api/v1/maintenance-windows/{made.pk}/").json()
    assert [c["number"] for c in detail["changes"]] == numbers
    assert detail["changes"][0]["requires_downtime"] is True
    assert detail["changes"][0]["modules"] == ["beta"]
    listed = client.get("/api/v1/maintenance-windows/").json()["results"]
    assert "changes" not in listed[0]  # the list does not look them up per window
