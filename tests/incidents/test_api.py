"""The Contract of issue 5: /api/v1/incidents/, the INC id in URLs, 400/409 with `detail`."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from console.models import ApiToken
from incidents.models import Incident, Review

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"


@pytest.fixture
def api(policy, operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


def _declare(api, **extra):
    body = {"title": "Beta stalled", "severity": "P2", "summary": "Queue not draining", **extra}
    return api.post(URL, body, format="json")


def test_declare_returns_the_incident_with_its_inc_id(api, modules):
    response = _declare(api, affected_modules=["beta"])
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"].startswith("INC-") and len(data["id"]) == len("INC-20260101-0001")
    assert data["status"] == "open" and data["severity"] == "P2"
    assert data["affected_modules"] == ["beta"]
    assert data["timeline"][0]["kind"] == "declared"
    assert "ack" in data["deadlines"]


def test_declare_with_bad_input_is_400_with_detail(api):
    response = api.post(URL, {"title": "x", "severity": "P7", "summary": "y"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid input." and "severity" in response.json()["errors"]
    response = _declare(api, affected_modules=["nope"])
    assert response.status_code == 400
    assert "Unknown module" in response.json()["detail"]


def test_get_one_with_its_timeline(api):
    number = _declare(api).json()["id"]
    response = api.get(f"{URL}{number}/")
    assert response.status_code == 200
    assert response.json()["id"] == number
    assert [e["kind"] for e in response.json()["timeline"]][:2] == ["declared", "escalation"]
    assert api.get(f"{URL}INC-19990101-0001/").status_code == 404


def test_list_and_filter(api):
    _declare(api, severity="P3", title="Alpha source down")
    _declare(api, severity="P1", title="Everything stopped")
    assert len(api.get(URL).json()["results"]) == 2
    assert [i["severity"] for i in api.get(URL, {"severity": "P1"}).json()["results"]] == ["P1"]
    assert api.get(URL, {"q": "alpha"}).json()["results"][0]["title"] == "Alpha source down"
    assert api.get(URL, {"status": "resolved"}).json()["results"] == []


def test_walk_through_every_action(api, opslead):
    number = _declare(api).json()["id"]
    base = f"{URL}{number}/"
    assert api.post(base + "acknowledge/").status_code == 200
    assert api.post(base + "investigate/").json()["status"] == "investigating"
    assert api.post(base + "notes/", {"text": "Beta worker OOM"}).status_code == 200
    response = api.post(base + "escalate/", {"reason": "need the DB team", "trigger": "cross_team"})
    assert response.status_code == 200
    assert response.json()["escalations"][-1]["role"] == "Senior Engineer"
    assert api.post(base + "mitigate/").json()["status"] == "mitigating"
    response = api.post(base + "resolve/", {"resolution_summary": "Raised memory limit"})
    assert response.json()["status"] == "resolved"
    # P2: the review must be complete first.
    response = api.post(base + "close/")
    assert response.status_code == 409
    assert "review must be complete" in response.json()["detail"]
    review = Review.objects.get(incident__number=number)
    for field in Review.REQUIRED_FIELDS:
        setattr(review, field, "done")
    review.state = Review.State.COMPLETE
    review.save()
    assert api.post(base + "close/").json()["status"] == "closed"


def test_refusals_say_why(api):
    number = _declare(api).json()["id"]
    base = f"{URL}{number}/"
    api.post(base + "acknowledge/")
    response = api.post(base + "acknowledge/")
    assert response.status_code == 409
    assert "already acknowledged by operator" in response.json()["detail"]
    response = api.post(base + "resolve/", {})
    assert response.status_code == 400
    assert "resolution summary" in response.json()["detail"]
    response = api.post(base + "escalate/", {})
    assert response.status_code == 400 and "reason" in response.json()["detail"]
    response = api.post(base + "notes/", {"text": ""})
    assert response.status_code == 400
    response = api.post(base + "close/")
    assert response.status_code == 409 and "cannot go from Open to Closed" in response.json()[
        "detail"]  # fmt: skip


def test_viewer_reads_but_cannot_act(api, viewer):
    number = _declare(api).json()["id"]
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get(f"{URL}{number}/").status_code == 200
    response = client.post(f"{URL}{number}/acknowledge/")
    assert response.status_code == 403 and response.json()["detail"]
    assert client.post(URL, {"title": "t", "severity": "P3", "summary": "s"}).status_code == 403


def test_outsider_sees_nothing(api, outsider):
    number = _declare(api).json()["id"]
    client = APIClient()
    client.force_authenticate(outsider)
    assert client.get(URL).json()["results"] == []
    assert client.get(f"{URL}{number}/").status_code == 404
    assert client.post(f"{URL}{number}/acknowledge/").status_code == 404


def test_anonymous_is_refused_and_bearer_tokens_work(api, operator):
    assert APIClient().get(URL).status_code in (401, 403)
    _, raw = ApiToken.issue(operator, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post(URL, {"title": "t", "severity": "P4", "summary": "s"}, format="json")
    assert response.status_code == 201


def test_downgrading_p1_by_operator_is_403(api):
    number = _declare(api, severity="P1").json()["id"]
    response = api.post(f"{URL}{number}/severity/", {"severity": "P3"})
    assert response.status_code == 403
    assert "Operations Lead" in response.json()["detail"]


def test_schema_documents_the_incident_endpoints(api):
    response = api.get("/api/schema/", {"format": "json"})
    paths = response.json()["paths"]
    assert "/api/v1/incidents/{number}/acknowledge/" in paths


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_acknowledges_at_once_one_wins_the_other_is_told(policy, operator, opslead):
    from incidents import services

    incident = services.declare(operator, title="t", severity="P1", summary="s")
    barrier = threading.Barrier(2)
    results = {}

    def ack(user):
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        try:
            response = client.post(f"{URL}{incident.number}/acknowledge/")
            results[user.username] = (response.status_code, response.json().get("detail"))
        finally:
            connection.close()

    threads = [threading.Thread(target=ack, args=(u,)) for u in (operator, opslead)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in results.values())
    assert codes == [200, 409], results
    loser = next(detail for code, detail in results.values() if code == 409)
    winner = next(name for name, (code, _) in results.items() if code == 200)
    assert f"already acknowledged by {winner}" in loser
    assert Incident.objects.get(pk=incident.pk).timeline.filter(kind="acknowledged").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_declarations_get_consecutive_ids(policy, operator):
    count = 20
    barrier = threading.Barrier(count)
    numbers, errors = [], []

    def declare(i):
        client = APIClient()
        client.force_authenticate(operator)
        barrier.wait()
        try:
            response = client.post(
                URL, {"title": f"t{i}", "severity": "P4", "summary": "s"}, format="json"
            )
            if response.status_code != 201:
                errors.append(response.json())
            else:
                numbers.append(response.json()["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=declare, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert sequence == list(range(1, count + 1))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_status_changes_at_once_leave_one_result(policy, operator, opslead):
    from incidents import services

    incident = services.declare(operator, title="t", severity="P2", summary="s")
    barrier = threading.Barrier(2)
    results = {}

    def move(user, action):
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        try:
            response = client.post(f"{URL}{incident.number}/{action}/")
            results[action] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=move, args=(operator, "investigate")),
        threading.Thread(target=move, args=(opslead, "mitigate")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Both moves are allowed from Open and from each other: they serialise on the row lock,
    # the later one wins, and both answers describe a consistent incident.
    assert {code for code, _ in results.values()} == {200}
    final = Incident.objects.get(pk=incident.pk)
    statuses = [body["status"] for _, body in results.values()]
    assert final.status in statuses
    assert final.timeline.filter(kind="status").count() == 2
    assert final.timeline.filter(kind="acknowledged").count() == 0  # acknowledged by the move
    assert final.acknowledged_at is not None
