import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from console.consumers import LiveConsumer
from incidents import services

pytestmark = pytest.mark.django_db(transaction=True)


async def _subscribe(user, *topics):
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"subscribe": list(topics)})
    replies = [await communicator.receive_json_from() for _ in topics]
    return communicator, {r["topic"]: r["type"] for r in replies}


async def test_incident_topic_follows_who_may_see_it(declare, viewer, outsider):
    incident = await database_sync_to_async(declare)("P3")
    topics = (f"incident.{incident.pk}", f"incident.{incident.pk}-presence", "incident.999999")
    communicator, replies = await _subscribe(viewer, *topics)
    assert replies == {topics[0]: "subscribed", topics[1]: "subscribed", topics[2]: "refused"}
    await communicator.disconnect()
    communicator, replies = await _subscribe(outsider, *topics[:2])
    assert set(replies.values()) == {"refused"}
    await communicator.disconnect()


async def test_an_action_reaches_the_war_room_topic(declare, operator, viewer):
    incident = await database_sync_to_async(declare)("P3")
    communicator, _ = await _subscribe(viewer, f"incident.{incident.pk}")
    await database_sync_to_async(services.add_note)(operator, incident.pk, "hello")
    message = await communicator.receive_json_from()
    assert message["event"] == "incident.updated"
    assert message["topic"] == f"incident.{incident.pk}"
    await communicator.disconnect()


async def test_war_room_fragments_are_pushed_with_the_message(declare, operator, viewer):
    # 50 open war rooms each re-fetching five fragments per update lagged 30-54 s
    # (bench/war_room.py): the timeline, people and delivery log now ride on the message.
    incident = await database_sync_to_async(declare)("P3")
    communicator, _ = await _subscribe(viewer, f"incident.{incident.pk}", "overview")
    await database_sync_to_async(services.add_note)(operator, incident.pk, "pushed note")
    messages = [await communicator.receive_json_from() for _ in range(2)]
    by_topic = {m["topic"]: m for m in messages}
    html = by_topic[f"incident.{incident.pk}"]["html"]
    for fragment_id in ("timeline", "people", "deliveries"):
        assert f'id="{fragment_id}"' in html
    assert html.count('hx-swap-oob="true"') == 3 and "pushed note" in html
    # The head carries the user's actions and CSRF token: never pushed, it re-fetches.
    assert 'id="incident-head"' not in html
    # The same event on the overview topic carries nothing: the lists re-fetch themselves.
    assert by_topic["overview"]["html"] == ""
    await communicator.disconnect()
