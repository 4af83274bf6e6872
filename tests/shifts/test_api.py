import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from shifts import services
from shifts.models import Handoff

from .factories import RotaWeekFactory

pytestmark = pytest.mark.django_db


def _api(user=None):
    client = APIClient()
    if user:
        client.force_authenticate(user)
    return client


def test_oncall_now_contract(operator, oncall, senior):
    week = RotaWeekFactory(
        starts_at=timezone.now() - timedelta(hours=1), primary=oncall, secondary=senior
    )
    body = _api(operator).get("/api/v1/oncall/now/").json()
    assert body == {
        "primary": "oncall",
        "secondary": "senior",
        "until": week.ends_at.isoformat().replace("+00:00", "Z"),
    }


def test_oncall_now_uncovered_and_anonymous(operator, outsider):
    assert _api(operator).get("/api/v1/oncall/now/").json() == {
        "primary": None,
        "secondary": None,
        "until": None,
    }
    assert _api().get("/api/v1/oncall/now/").status_code in (401, 403)
    assert _api(outsider).get("/api/v1/oncall/now/").status_code == 403


def test_shifts_create_and_overlap_refused(opslead, operator):
    start = timezone.now().replace(microsecond=0)
    payload = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=8)).isoformat(),
        "primary": "operator",
    }
    created = _api(opslead).post("/api/v1/shifts/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["primary"] == "operator"
    again = _api(opslead).post("/api/v1/shifts/", payload, format="json")
    assert again.status_code == 400
    assert "may not overlap" in again.json()["detail"]
    assert _api(operator).post("/api/v1/shifts/", payload, format="json").status_code == 403
    bad = _api(opslead).post("/api/v1/shifts/", {**payload, "primary": "nobody"}, format="json")
    assert bad.status_code == 400
    listed = _api(operator).get("/api/v1/shifts/").json()
    assert [s["primary"] for s in listed["results"]] == ["operator"]


def test_rota_gap_refused_through_the_api(opslead, oncall, senior):
    start = timezone.now().replace(microsecond=0)
    ok = _api(opslead).post(
        "/api/v1/rota/", {"starts_at": start.isoformat(), "primary": "oncall"}, format="json"
    )
    assert ok.status_code == 201, ok.json()
    gap = _api(opslead).post(
        "/api/v1/rota/",
        {"starts_at": (start + timedelta(days=9)).isoformat(), "primary": "senior"},
        format="json",
    )
    assert gap.status_code == 400 and "leaves a gap" in gap.json()["detail"]


def test_shift_log_create_list_close(operator, viewer):
    created = _api(operator).post(
        "/api/v1/shift-log/",
        {"kind": "external", "text": "Told partner X about the delay", "counterpart": "X ops"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["author"] == "operator" and body["status"] == "open"
    missing = _api(operator).post(
        "/api/v1/shift-log/", {"kind": "external", "text": "t"}, format="json"
    )
    assert missing.status_code == 400 and "counterpart" in missing.json()["detail"]
    assert _api(viewer).post("/api/v1/shift-log/", {"kind": "note", "text": "t"}).status_code == 403
    closed = _api(operator).post(f"/api/v1/shift-log/{body['id']}/close/")
    assert closed.json()["status"] == "closed"


def test_handoff_create_and_dual_sign(operator, oncall, opslead):
    created = _api(operator).post("/api/v1/handoffs/", {"incoming": "oncall"}, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["status"] == "draft"
    assert [s["key"] for s in created.json()["state"]][0] == "incidents"
    refused = _api(opslead).post(f"/api/v1/handoffs/{pk}/sign/")
    assert (
        refused.status_code == 403
        and "Only the outgoing or the incoming" in refused.json()["detail"]
    )
    assert (
        _api(operator)
        .patch(f"/api/v1/handoffs/{pk}/", {"items_to_watch": "beta"}, format="json")
        .json()["items_to_watch"]
        == "beta"
    )
    assert _api(operator).post(f"/api/v1/handoffs/{pk}/sign/").json()["status"] == "handed_over"
    twice = _api(operator).post(f"/api/v1/handoffs/{pk}/sign/")
    assert twice.status_code == 409 and "already signed" in twice.json()["detail"]
    early = _api(oncall).post(f"/api/v1/handoffs/{pk}/sign/")
    assert early.status_code == 400 and "Before signing" in early.json()["detail"]
    services.save_draft(oncall, pk, {"incidents_summary": "none active"})
    services.confirm(oncall, pk, "dashboard")
    services.confirm(oncall, pk, "contacts")
    notice = services.send_test_notification(oncall, pk)
    services.confirm_test_received(oncall, pk, notice.pk)
    signed = _api(oncall).post(f"/api/v1/handoffs/{pk}/sign/")
    assert signed.status_code == 200 and signed.json()["status"] == "accepted"
    assert (
        _api(oncall)
        .patch(f"/api/v1/handoffs/{pk}/", {"incidents_summary": "x"}, format="json")
        .status_code
        == 409
    )


def test_handoff_bad_input(operator):
    response = _api(operator).post("/api/v1/handoffs/", {"incoming": "ghost"}, format="json")
    assert response.status_code == 400
    response = _api(operator).post("/api/v1/handoffs/", {"incoming": "operator"}, format="json")
    assert response.status_code == 400 and "someone else" in response.json()["detail"]


def test_schema_lists_the_shift_endpoints(operator):
    paths = _api(operator).get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "/api/v1/oncall/now/" in paths and "/api/v1/handoffs/{id}/sign/" in paths


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_leaves_one_result(roles, operator, oncall):
    """The outgoing operator signing twice at once (two tabs): one wins, one is refused."""
    handoff = services.start_handoff(operator, incoming=oncall)
    barrier = threading.Barrier(2)
    codes = []

    def sign():
        client = _api(operator)
        barrier.wait()
        try:
            codes.append(client.post(f"/api/v1/handoffs/{handoff.pk}/sign/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    from console.models import AuditEntry

    assert AuditEntry.objects.filter(action="handoff.sign").count() == 1
    assert Handoff.objects.get(pk=handoff.pk).status == Handoff.Status.HANDED_OVER


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_shifts_one_is_refused(roles, opslead, operator):
    start = timezone.now().replace(microsecond=0)
    barrier = threading.Barrier(2)
    codes = []

    def create(offset):
        client = _api(opslead)
        barrier.wait()
        try:
            response = client.post(
                "/api/v1/shifts/",
                {
                    "starts_at": (start + timedelta(hours=offset)).isoformat(),
                    "ends_at": (start + timedelta(hours=offset + 8)).isoformat(),
                    "primary": "operator",
                },
                format="json",
            )
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(o,)) for o in (0, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 400]


def test_unknown_kinds_are_refused(operator):
    response = _api(operator).post("/api/v1/handoffs/", {"incoming": "operator", "kind": "x"})
    assert response.status_code == 400
    response = _api(operator).post("/api/v1/shift-log/", {"kind": "x", "text": "t"})
    assert response.status_code == 400 and "kind" in response.json()["detail"]
