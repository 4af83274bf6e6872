"""The WebSocket handshake checks the Origin (ASVS 5.0 4.4.1, 4.4.2; cross-site WebSocket
hijacking): through the real ASGI stack of console/asgi.py, a page on another site cannot open
a socket with the user's cookie; the console's own origin can."""

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from console.asgi import application

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
