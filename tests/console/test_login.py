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


def test_idle_session_signs_out_after_the_timeout(client, operator, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel("2026-11-21 10:00:00Z", tick=False) as traveller:
        _login(client, "operator", GOOD)
        assert client.get(reverse("audit")).status_code == 200
        traveller.shift(59 * 60)
        assert client.get(reverse("audit")).status_code == 200  # a page load is activity
        traveller.shift(61 * 60)
        response = client.get(reverse("audit"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert AuditEntry.objects.filter(action="auth.idle_timeout", actor_name="operator").exists()


def test_activity_stamp_is_written_at_most_once_a_minute(client, operator, settings):
    # Stamping on every request made every page load a session write (a DB UPDATE).
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel("2026-11-21 10:00:00Z", tick=False) as traveller:
        _login(client, "operator", GOOD)
        client.get(reverse("audit"))
        first = client.session["last_activity"]
        traveller.shift(59)
        client.get(reverse("audit"))
        assert client.session["last_activity"] == first
        traveller.shift(1)
        client.get(reverse("audit"))
        assert client.session["last_activity"] == first + 60


def test_live_refreshes_do_not_count_as_activity(client, operator, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel("2026-11-21 10:00:00Z", tick=False) as traveller:
        _login(client, "operator", GOOD)
        client.get(reverse("audit"))
        for _ in range(6):
            traveller.shift(10 * 60)
            client.get(reverse("audit"), HTTP_HX_REQUEST="true")
        traveller.shift(60)
        response = client.get(
            reverse("audit"),
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL="http://testserver/audit/?actor=x",
        )
    # The fragment request is told to load the login page whole, coming back to the page.
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("login") + "?next=%2Faudit%2F"
    assert client.get(reverse("audit")).status_code == 302


def test_idle_timeout_zero_turns_it_off(client, operator, settings):
    settings.SESSION_IDLE_TIMEOUT = 0
    with time_machine.travel("2026-11-21 10:00:00Z", tick=False) as traveller:
        _login(client, "operator", GOOD)
        traveller.shift(10 * 3600)
        assert client.get(reverse("audit")).status_code == 200


def test_wsgi_takes_the_client_address_the_proxy_appended():
    from console.wsgi import ForwardedFor

    seen = {}

    def app(environ, start_response):
        seen["addr"] = environ["REMOTE_ADDR"]
        return []

    wrapped = ForwardedFor(app)
    wrapped({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7"}, None)
    assert seen["addr"] == "198.51.100.7"  # the client's own "6.6.6.6" is not believed
    wrapped({"REMOTE_ADDR": "10.0.0.2"}, None)
    assert seen["addr"] == "10.0.0.2"
