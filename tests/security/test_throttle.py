"""Sign-in throttling (ASVS 5.0 6.1.1, 6.3.1) covers every door that takes a password: the
console's login page and the admin's. After LOGIN_FAILURE_LIMIT failures the (username,
address) pair waits LOGIN_COOLOFF_MINUTES — then signs in again, never locked for good."""

import pytest
import time_machine

from tests.factories import UserFactory

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("door", ["/login/", "/admin/login/"])
def test_every_password_door_is_throttled_then_cools_off(client, db, settings, door):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    with time_machine.travel("2026-11-21 10:00:00Z", tick=False) as traveller:
        answers = [
            client.post(door, {"username": "root", "password": "wrong"}).status_code
            for _ in range(settings.AXES_FAILURE_LIMIT)
        ]
        # The form says "wrong password" until the limit; the last failure starts the pause.
        assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
        refused = client.post(door, {"username": "root", "password": PASSWORD})
        assert refused.status_code == 429
        assert "_auth_user_id" not in client.session
        traveller.shift(settings.AXES_COOLOFF_TIME.total_seconds() + 1)
        assert client.post(door, {"username": "root", "password": PASSWORD}).status_code == 302
