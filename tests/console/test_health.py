from unittest import mock

import pytest
from django.utils import timezone

from console.models import WorkerHeartbeat
from console.tasks import record_heartbeat


@pytest.mark.django_db
def test_healthz_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_and_worker(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["worker"] == {"ok": False, "last_heartbeat": None}
    record_heartbeat()
    assert client.get("/readyz").json()["checks"]["worker"]["ok"] is True


@pytest.mark.django_db
def test_readyz_flags_a_stale_worker(client, settings):
    WorkerHeartbeat.objects.create(
        name="worker", at=timezone.now() - settings.HEARTBEAT_STALE_AFTER * 2
    )
    assert client.get("/readyz").json()["checks"]["worker"]["ok"] is False


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_fails(client):
    with mock.patch("console.health._check_database", return_value={"ok": False, "error": "down"}):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "down"}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_configured_but_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_checks_a_real_redis(client):
    body = client.get("/readyz").json()
    assert body["checks"]["redis"] == {"ok": True}


@pytest.mark.django_db
def test_metrics_serves_prometheus_text_with_request_counts(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'console_http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert "console_http_request_duration_seconds_bucket" in text
