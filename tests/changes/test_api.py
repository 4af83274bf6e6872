"""`/api/v1/changes/` per issue 8's contract, with 400/403/409 JSON details, and concurrent
votes on PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from changes.models import Approval, Change, ChangeEvent
from tests.changes.conftest import FORM

URL = "/api/v1/changes/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _create(client, **overrides):
    body = {
        "title": "Raise Beta queue capacity",
        "type": "normal",
        "impact": "high",
        "likelihood": "medium",
        "affected_modules": ["beta"],
        **FORM,
        **overrides,
    }
    return client.post(URL, body, format="json")


def test_create_returns_the_chg_id_and_computed_risk(policy, modules, people):
    response = _create(client_for(people["operator"]))
    assert response.status_code == 201, response.json()
    body = response.json()
    day = timezone.localdate()
    assert body["id"] == f"CHG-{day:%Y}-{day:%m%d}-001"
    assert body["risk"] == "high_risk"
    assert body["status"] == "draft"
    assert body["affected_modules"] == ["beta"]
    assert body["rollback_plan"] == FORM["rollback_plan"]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"rollback_plan": ""}, "rollback plan"),
        ({"impact": "enormous"}, "Impact and likelihood"),
        ({"type": "sideways"}, "Type must be"),
        ({"affected_modules": ["delta"]}, "Unknown module"),
        ({"type": "standard"}, "catalogue"),
    ],
)
def test_create_bad_input_is_400_with_detail(policy, modules, people, overrides, fragment):
    response = _create(client_for(people["operator"]), **overrides)
    assert response.status_code == 400
    assert fragment in str(response.json())
    assert not Change.objects.exists()


def test_create_by_viewer_is_403(policy, modules, people):
    response = _create(client_for(people["viewer"]))
    assert response.status_code == 403
    assert "detail" in response.json()


def test_anonymous_is_refused(policy):
    assert APIClient().get(URL).status_code in (401, 403)


def test_full_path_through_the_api(policy, modules, people):
    number = _create(client_for(people["operator"])).json()["id"]
    op = client_for(people["operator"])
    assert op.post(f"{URL}{number}/submit/").json()["status"] == "submitted"
    r = client_for(people["senior"]).post(f"{URL}{number}/review/", {"comment": "ok"})
    assert r.json()["status"] == "cab_review"
    for who in ("director", "cab1", "cab2"):
        r = client_for(people[who]).post(f"{URL}{number}/approve/", {"comment": "go"})
        assert r.status_code == 200, r.json()
    assert r.json()["status"] == "approved"
    start = timezone.now() + timedelta(hours=3)
    r = op.post(
        f"{URL}{number}/schedule/",
        {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()},
    )
    assert r.json()["status"] == "scheduled"
    r = op.post(f"{URL}{number}/start/")
    assert r.status_code == 409
    assert "checklist" in r.json()["detail"]
    change = Change.objects.get(number=number)
    change.checklist.update(done_at=timezone.now())
    assert op.post(f"{URL}{number}/start/").json()["status"] == "in_progress"
    r = op.post(f"{URL}{number}/rollback/", {"reason": ""})
    assert r.status_code == 400
    assert op.post(f"{URL}{number}/complete/").json()["status"] == "completed"
    r = op.post(f"{URL}{number}/rollback/", {"reason": "latency up", "outcome": "restored"})
    assert r.json()["status"] == "rolled_back"
    assert r.json()["rollback_outcome"] == "restored"


def test_reject_with_comment_and_refusals(policy, modules, people):
    number = _create(client_for(people["operator"]), impact="low").json()["id"]
    op = client_for(people["operator"])
    op.post(f"{URL}{number}/submit/")
    client_for(people["senior"]).post(f"{URL}{number}/review/")
    # Own change: 403.
    r = op.post(f"{URL}{number}/approve/")
    assert r.status_code == 403 and "own change" in r.json()["detail"]
    # Without the role: 403 naming the role.
    r = client_for(people["opslead"]).post(f"{URL}{number}/approve/")
    assert r.status_code == 403 and "Engineering Manager" in r.json()["detail"]
    # Reject without a comment: 400.
    r = client_for(people["engmanager"]).post(f"{URL}{number}/reject/", {"comment": ""})
    assert r.status_code == 400
    r = client_for(people["engmanager"]).post(f"{URL}{number}/reject/", {"comment": "not now"})
    assert r.json()["status"] == "rejected"
    # Invalid transition: 409.
    r = client_for(people["engmanager"]).post(f"{URL}{number}/approve/")
    assert r.status_code == 409 and "not awaiting approval" in r.json()["detail"]


def test_schedule_in_the_past_is_400_and_conflicts_409(policy, modules, people, approved):
    from incidents import services as incidents

    change = approved()
    op = client_for(people["operator"])
    past = timezone.now() - timedelta(hours=2)
    r = op.post(
        f"{URL}{change.number}/schedule/",
        {"start": past.isoformat(), "end": (past + timedelta(hours=1)).isoformat()},
    )
    assert r.status_code == 400 and "past" in r.json()["detail"]
    incidents.declare(
        people["oncall"], title="Beta down", severity="P1", summary="s", affected_modules=["beta"]
    )
    start = timezone.now() + timedelta(hours=1)
    body = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    r = op.post(f"{URL}{change.number}/schedule/", body)
    assert r.status_code == 409
    assert r.json()["conflicts"][0]["kind"] == "incident"
    r = op.post(f"{URL}{change.number}/schedule/", {**body, "override_reason": "fix"})
    assert r.status_code == 403 and "Operations Lead" in r.json()["detail"]
    r = client_for(people["opslead"]).post(
        f"{URL}{change.number}/schedule/", {**body, "override_reason": "This is the fix."}
    )
    assert r.status_code == 200 and r.json()["override_reason"] == "This is the fix."


def test_unknown_change_is_404(policy, people):
    r = client_for(people["operator"]).post(f"{URL}CHG-2020-0101-999/submit/")
    assert r.status_code == 404


def _rows(body):
    return body["results"] if isinstance(body, dict) else body


def test_list_filters_and_schema(policy, modules, people):
    _create(client_for(people["operator"]))
    _create(client_for(people["operator"]), affected_modules=["gamma"])
    viewer = client_for(people["viewer"])
    assert len(_rows(viewer.get(URL).json())) == 2
    rows = _rows(viewer.get(URL, {"module": "gamma"}).json())
    assert [row["affected_modules"] for row in rows] == [["gamma"]]
    assert _rows(client_for(people["operator"]).get(URL, {"status": "approved"}).json()) == []
    paths = viewer.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "/api/v1/changes/{number}/approve/" in paths


def test_actions_are_audited(policy, modules, people):
    from console.models import AuditEntry

    number = _create(client_for(people["operator"])).json()["id"]
    client_for(people["operator"]).post(f"{URL}{number}/submit/")
    actions = set(
        AuditEntry.objects.filter(object_repr__startswith=number).values_list("action", flat=True)
    )
    assert {"change.created", "change.submitted"} <= actions


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_votes_leave_a_consistent_count(policy, modules, people):
    """Director and both CAB members approve at the same instant: all three votes count, the
    change is approved exactly once."""
    op = client_for(people["operator"])
    number = _create(op).json()["id"]
    op.post(f"{URL}{number}/submit/")
    client_for(people["senior"]).post(f"{URL}{number}/review/")
    voters = [people["director"], people["cab1"], people["cab2"]]
    barrier = threading.Barrier(len(voters))
    results = {}

    def vote(user):
        client = client_for(user)
        barrier.wait()
        try:
            response = client.post(f"{URL}{number}/approve/", {"comment": "go"})
            results[user.username] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(u,)) for u in voters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {code for code, _ in results.values()} == {200}, results
    change = Change.objects.get(number=number)
    assert change.status == "approved"
    assert Approval.objects.filter(change=change).count() == 3
    assert change.events.filter(kind=ChangeEvent.Kind.STATUS, data__to="approved").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_voter_twice_at_once_counts_once(policy, modules, people):
    op = client_for(people["operator"])
    number = _create(op).json()["id"]
    op.post(f"{URL}{number}/submit/")
    client_for(people["senior"]).post(f"{URL}{number}/review/")
    barrier = threading.Barrier(2)
    codes = []

    def vote():
        client = client_for(people["cab1"])
        barrier.wait()
        try:
            response = client.post(f"{URL}{number}/approve/")
            codes.append((response.status_code, response.json().get("detail")))
        finally:
            connection.close()

    threads = [threading.Thread(target=vote) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in codes) == [200, 409], codes
    assert Approval.objects.filter(change__number=number, user=people["cab1"]).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_get_consecutive_ids(policy, modules, people):
    count = 10
    barrier = threading.Barrier(count)
    numbers, errors = [], []

    def create(i):
        client = client_for(people["operator"])
        barrier.wait()
        try:
            response = _create(client, title=f"c{i}")
            (numbers if response.status_code == 201 else errors).append(
                response.json().get("id", response.json())
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, count + 1))
