"""The WebSocket handshake checks the Origin (ASVS 5.0 4.4.1, 4.4.2; cross-site WebSocket
hijacking): through the real ASGI stack of console/asgi.py, a page on another site cannot open
a socket with the user's cookie; the console's own origin can."""

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connections

from console.asgi import application
from console.consumers import SESSION_CHECK_SECONDS

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(client, user) -> bytes:
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def _handshake(headers):
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, code = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected, code


@pytest.fixture
def cookie(client, operator):
    return _session_cookie(client, operator)


async def test_own_origin_with_a_session_is_accepted(cookie):
    host = settings.ALLOWED_HOSTS[0]
    connected, _ = await _handshake([(b"origin", f"https://{host}".encode()), (b"cookie", cookie)])
    assert connected


@pytest.mark.parametrize(
    "origin",
    [b"https://evil.example", b"http://localhost.evil.example", b"null", None],
    ids=["foreign", "look-alike", "null", "missing"],
)
async def test_foreign_or_missing_origin_is_refused_even_with_the_users_cookie(cookie, origin):
    headers = [(b"cookie", cookie)] + ([(b"origin", origin)] if origin else [])
    connected, _ = await _handshake(headers)
    assert not connected


async def test_own_origin_without_a_session_is_refused_by_the_consumer():
    host = settings.ALLOWED_HOSTS[0]
    connected, code = await _handshake([(b"origin", f"https://{host}".encode())])
    assert not connected and code == 4401


async def test_a_session_past_its_lifetime_cannot_open_a_socket(client, operator, settings):
    """The database still holds the session (Django's own expiry moves with activity); the
    absolute lifetime counted from sign-in refuses it."""
    with time_machine.travel("2026-11-21 08:00:00Z", tick=False) as traveller:
        cookie = await database_sync_to_async(_session_cookie)(client, operator)
        origin = f"https://{settings.ALLOWED_HOSTS[0]}".encode()
        settings.SESSION_COOKIE_AGE = 3600
        traveller.shift(3601)
        connected, code = await _handshake([(b"origin", origin), (b"cookie", cookie)])
    assert not connected and code == 4401


async def test_an_open_socket_closes_once_its_session_has_ended(client, operator, settings):
    with time_machine.travel("2026-11-21 08:00:00Z", tick=False) as traveller:
        cookie = await database_sync_to_async(_session_cookie)(client, operator)
        origin = f"https://{settings.ALLOWED_HOSTS[0]}".encode()
        communicator = WebsocketCommunicator(
            application, "/ws/live/", headers=[(b"origin", origin), (b"cookie", cookie)]
        )
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"ping": 1})
        assert (await communicator.receive_json_from())["type"] == "pong"
        # Signed out in another tab: the session is gone from the store.
        await database_sync_to_async(Session.objects.all().delete)()
        traveller.shift(SESSION_CHECK_SECONDS + 1)
        await communicator.send_json_to({"ping": 2})
        closed = await communicator.receive_output()
        await communicator.wait()
    # The socket's database thread opened its connection under the travelled clock, so its
    # close-at time lies ahead of the real clock and Django would keep it: close it here.
    await database_sync_to_async(connections.close_all)()
    assert closed == {"type": "websocket.close", "code": 4401}
