from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import AuditEntry
from monitoring.models import MetricStatus, Module
from tests.monitoring.factories import ModuleFactory, ThresholdFactory


@pytest.fixture
def modules(db):
    now = timezone.now()
    fresh = ModuleFactory(
        name="alpha",
        kind="alpha",
        status="HEALTHY",
        last_success_at=now,
        last_polled_at=now,
        token="secret-token",
    )
    stale = ModuleFactory(
        name="gamma", kind="gamma", status="HEALTHY", last_success_at=now - timedelta(minutes=5)
    )
    return fresh, stale


def test_modules_list_has_the_contract_fields(client, viewer, modules):
    client.force_login(viewer)
    body = client.get("/api/v1/modules/").json()
    rows = {row["name"]: row for row in body["results"]}
    assert set(rows) == {"alpha", "gamma"}
    for key in ("name", "kind", "status", "stale", "last_polled_at"):
        assert key in rows["alpha"]
    assert rows["alpha"]["stale"] is False and rows["gamma"]["stale"] is True
    assert "token" not in rows["alpha"] and rows["alpha"]["has_token"] is True
    assert b"secret-token" not in client.get("/api/v1/modules/alpha/").content


def test_module_detail_adds_its_metric_statuses(client, viewer, modules):
    alpha = modules[0]
    threshold = ThresholdFactory(scope="alpha", name="Buffer", display_scale=100, unit="%")
    now = timezone.now()
    MetricStatus.objects.create(
        threshold=threshold,
        module=alpha,
        value=0.7,
        level="WARNING",
        evaluated_at=now,
        changed_at=now,
    )
    client.force_login(viewer)
    body = client.get("/api/v1/modules/alpha/").json()
    assert body["metrics"] == [
        {
            "key": threshold.key,
            "name": "Buffer",
            "level": "WARNING",
            "value": 0.7,
            "display_value": pytest.approx(70.0),
            "unit": "%",
            "evaluated_at": body["metrics"][0]["evaluated_at"],
            "changed_at": body["metrics"][0]["changed_at"],
        },
    ]
    assert client.get("/api/v1/modules/nope/").status_code == 404


def test_pipeline_status_counts_a_stale_module_as_unknown(client, viewer, modules):
    client.force_login(viewer)
    body = client.get("/api/v1/pipeline/status/").json()
    assert body["status"] == "DEGRADED"
    assert body["modules"] == {"alpha": "HEALTHY", "gamma": "UNKNOWN"}


def test_reading_needs_the_view_permission(client, outsider, modules):
    client.force_login(outsider)
    assert client.get("/api/v1/modules/").status_code == 403
    assert client.get("/api/v1/pipeline/status/").status_code == 403
    client.logout()
    assert client.get("/api/v1/modules/").status_code in (401, 403)


def test_an_ops_lead_adds_a_module_with_a_write_only_token(client, opslead, db):
    client.force_login(opslead)
    response = client.post(
        "/api/v1/modules/",
        {"name": "delta", "kind": "other", "base_url": "http://127.0.0.1:9100/", "token": "t0k"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert "token" not in response.json()
    module = Module.objects.get(name="delta")
    assert module.token == "t0k" and module.base_url == "http://127.0.0.1:9100"
    entry = AuditEntry.objects.get(action="module.create")
    assert "token" not in entry.after and entry.actor_name == "opslead"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "x", "kind": "other", "base_url": "ftp://host"}, "base_url"),
        ({"name": "x", "kind": "other", "base_url": "not a url"}, "base_url"),
        ({"name": "Bad Name", "kind": "other", "base_url": "http://h"}, "name"),
        ({"name": "x", "kind": "delta", "base_url": "http://h"}, "kind"),
        (
            {"name": "x", "kind": "other", "base_url": "http://h", "poll_interval": 0},
            "poll_interval",
        ),
    ],
)
def test_bad_module_input_is_a_400_naming_the_field(client, opslead, payload, field):
    client.force_login(opslead)
    response = client.post("/api/v1/modules/", payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_an_operator_may_not_add_modules(client, operator):
    client.force_login(operator)
    response = client.post(
        "/api/v1/modules/",
        {"name": "x", "kind": "other", "base_url": "http://h"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_a_single_label_host_is_a_valid_module_address(client, opslead):
    """Container and cluster service names have no dots; Django's URLValidator refuses them."""
    client.force_login(opslead)
    response = client.post(
        "/api/v1/modules/",
        {"name": "svc", "kind": "other", "base_url": "http://beta-svc:9100"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
