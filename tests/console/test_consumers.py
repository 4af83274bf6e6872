import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from console import audit, live
from console.consumers import LiveConsumer

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(user):
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_anonymous_socket_is_refused():
    communicator, connected, code = await _connect(AnonymousUser())
    assert not connected and code == 4401


async def test_subscribe_then_receive_numbered_messages(operator):
    communicator, connected, _ = await _connect(operator)
    assert connected
    await communicator.send_json_to({"subscribe": ["overview"]})
    reply = await communicator.receive_json_from()
    assert reply["type"] == "subscribed" and reply["topic"] == "overview"
    start = reply["seq"]
    await database_sync_to_async(live.send_now)("overview", "thing.updated", {"id": 1})
    await database_sync_to_async(live.send_now)("overview", "thing.updated", {"id": 2})
    first = await communicator.receive_json_from()
    second = await communicator.receive_json_from()
    assert (first["seq"], second["seq"]) == (start + 1, start + 2)
    assert first["topic"] == "overview" and first["event"] == "thing.updated"
    assert first["html"] == ""
    await communicator.disconnect()


async def test_topics_the_user_may_not_see_are_refused(outsider):
    communicator, _, _ = await _connect(outsider)
    await communicator.send_json_to({"subscribe": ["audit", "no.such.topic!", "overview"]})
    replies = [await communicator.receive_json_from() for _ in range(3)]
    assert [(r["type"], r["topic"]) for r in replies] == [
        ("refused", "audit"),
        ("refused", "no.such.topic!"),
        ("subscribed", "overview"),
    ]
    await communicator.disconnect()


async def test_audit_record_reaches_the_audit_topic_after_commit(viewer):
    communicator, _, _ = await _connect(viewer)
    await communicator.send_json_to({"subscribe": ["audit"]})
    await communicator.receive_json_from()
    entry = await database_sync_to_async(audit.record)("x.live")
    message = await communicator.receive_json_from()
    assert message["event"] == "audit.recorded"
    assert message["type"] == "message"
    assert entry.seq > 0
    await communicator.disconnect()


async def test_pong_carries_the_current_number_of_each_subscribed_topic(operator):
    communicator, _, _ = await _connect(operator)
    await communicator.send_json_to({"subscribe": ["overview"]})
    start = (await communicator.receive_json_from())["seq"]
    await database_sync_to_async(live.send_now)("overview", "x", {})
    await communicator.receive_json_from()
    await communicator.send_json_to({"ping": 1})
    pong = await communicator.receive_json_from()
    assert pong["seqs"] == {"overview": start + 1}
    await communicator.disconnect()


async def test_renderer_sends_html_for_the_user(operator):
    live.register_renderer(
        "test.rendered", lambda user, data: f"<p>{user.username}:{data['n']}</p>"
    )
    try:
        communicator, _, _ = await _connect(operator)
        await communicator.send_json_to({"subscribe": ["overview"]})
        await communicator.receive_json_from()
        await database_sync_to_async(live.send_now)("overview", "test.rendered", {"n": 3})
        message = await communicator.receive_json_from()
        assert message["html"] == "<p>operator:3</p>"
        await communicator.disconnect()
    finally:
        live._renderers.pop("test.rendered")


async def test_ping_pong_and_garbage(operator):
    communicator, _, _ = await _connect(operator)
    await communicator.send_json_to({"ping": 42})
    assert await communicator.receive_json_from() == {"type": "pong", "ping": 42, "seqs": {}}
    await communicator.send_json_to(["not", "an", "object"])
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.disconnect()


@pytest.mark.redis
async def test_messages_cross_processes_through_redis(operator, settings):
    """With REDIS_URL, the channel layer is channels-redis: what one process publishes reaches
    sockets held by another. A second layer instance stands for the other process."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    communicator, _, _ = await _connect(operator)
    await communicator.send_json_to({"subscribe": ["overview"]})
    await communicator.receive_json_from()
    from channels_redis.core import RedisChannelLayer

    other = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    await other.group_send(
        live.group_name("overview"),
        {"type": "live.message", "topic": "overview", "seq": 99, "event": "x", "data": {}},
    )
    message = await communicator.receive_json_from(timeout=5)
    assert message["seq"] == 99
    await communicator.disconnect()
