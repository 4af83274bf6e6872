"""Session lifetime (ASVS 5.0 7.3.1, 7.3.2): an idle timeout and an absolute timeout counted
from sign-in, whatever the activity in between."""

import time_machine
from django.urls import reverse

from console.models import AuditEntry

PASSWORD = "correct horse battery"


def _sign_in(client):
    response = client.post(reverse("login"), {"username": "operator", "password": PASSWORD})
    assert response.status_code == 302


def test_session_ends_at_the_absolute_limit_even_when_active(client, operator, settings):
    settings.SESSION_COOKIE_AGE = 12 * 3600
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel("2026-11-21 08:00:00Z", tick=False) as traveller:
        _sign_in(client)
        # Busy all day: a page every 50 minutes keeps the idle timer from ever firing.
        for _ in range(14):
            traveller.shift(50 * 60)
            assert client.get(reverse("audit")).status_code == 200  # up to 19:40
        traveller.shift(21 * 60)  # 20:01, 12 h 1 min after sign-in
        response = client.get(reverse("audit"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    entry = AuditEntry.objects.get(action="auth.session_expired")
    assert entry.actor_name == "operator" and "12 h after sign-in" in entry.object_repr
    assert client.get(reverse("audit")).status_code == 302


def test_a_new_sign_in_starts_a_new_lifetime(client, operator, settings):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel("2026-11-21 08:00:00Z", tick=False) as traveller:
        _sign_in(client)
        traveller.shift(50 * 60)
        assert client.get(reverse("audit")).status_code == 200
        traveller.shift(11 * 60)
        assert client.get(reverse("audit")).status_code == 302  # 61 min after sign-in
        assert AuditEntry.objects.filter(action="auth.session_expired").count() == 1
        _sign_in(client)
        traveller.shift(50 * 60)
        assert client.get(reverse("audit")).status_code == 200  # 50 min after the new one


def test_expired_session_sends_an_htmx_request_to_the_login_page(client, operator, settings):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel("2026-11-21 08:00:00Z", tick=False) as traveller:
        _sign_in(client)
        traveller.shift(50 * 60)
        client.get(reverse("audit"))  # active: Django's own session expiry moves on
        traveller.shift(11 * 60)
        response = client.get(
            reverse("audit"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/x/"
        )
    assert response.status_code == 204
    assert AuditEntry.objects.filter(action="auth.session_expired").exists()
    assert response["HX-Redirect"] == reverse("login") + "?next=%2Fx%2F"
