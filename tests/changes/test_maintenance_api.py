"""`/api/v1/maintenance-windows/`: a refused window answers through the shared exception
handler with its status, its reason and the field at fault."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from changes.models import MaintenanceWindow

URL = "/api/v1/maintenance-windows/"
SUNDAY = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _monday():
    with time_machine.travel(datetime(2026, 11, 16, 9, 0, tzinfo=UTC), tick=False):
        yield


def _post(user, start, hours=2, **overrides):
    client = APIClient()
    client.force_authenticate(user)
    body = {
        "type": "weekly",
        "title": "Gamma upgrade",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=hours)).isoformat(),
        "modules": ["gamma"],
        **overrides,
    }
    return client.post(URL, body, format="json")


def test_a_refused_window_is_a_400_naming_the_field(mpolicy, modules, opslead):
    response = _post(opslead, SUNDAY, hours=5)
    assert response.status_code == 400
    body = response.json()
    assert "lasts 4 h at most" in body["detail"]
    assert body["errors"] == {"end": [body["detail"]]}
    assert not MaintenanceWindow.objects.exists()


def test_a_valid_window_is_created(mpolicy, modules, opslead):
    response = _post(opslead, SUNDAY)
    assert response.status_code == 201, response.json()
    assert response.json()["number"]
