import time_machine
from django.urls import reverse

from console.models import AuditEntry

GOOD = "correct horse battery"


def _login(client, username, password, ip="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_login_with_right_password_lands_on_the_overview(client, operator):
    response = _login(client, "operator", GOOD)
    assert response.status_code == 302 and response["Location"] == reverse("overview")
    assert AuditEntry.objects.filter(action="auth.login", actor_name="operator").exists()


def test_login_with_wrong_password_shows_an_error(client, operator):
    response = _login(client, "operator", "wrong")
    assert response.status_code == 200
    assert b'id="login-error"' in response.content
    assert b"correct username and password" in response.content
    assert AuditEntry.objects.filter(action="auth.login_failed").exists()


def test_login_with_missing_fields_shows_field_errors(client, operator):
    response = client.post(reverse("login"), {"username": ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content


def test_failed_logins_pause_that_account_from_that_address_then_cool_off(
    client, operator, settings
):
    with time_machine.travel("2026-11-21 10:00:00Z", tick=False) as traveller:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _login(client, "operator", "wrong")
        response = _login(client, "operator", GOOD)
        assert response.status_code == 429
        assert b'id="lockout-message"' in response.content
        # Another address is not affected: nobody can lock an on-call engineer out remotely.
        assert _login(client, "operator", GOOD, ip="10.0.0.2").status_code == 302
        client.logout()
        traveller.shift(settings.AXES_COOLOFF_TIME.total_seconds() + 1)
        assert _login(client, "operator", GOOD).status_code == 302


def test_login_page_is_served_to_anonymous_users(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    # No inline script anywhere: the CSP forbids it.
    assert b"<script>" not in response.content
    assert "script-src 'self'" in response["Content-Security-Policy"]
