"""The one WebSocket endpoint: pages subscribe to topics and receive fragments or cues."""

from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from . import live
from .middleware import IdleTimeoutMiddleware

MAX_TOPICS = 50
# How often a socket re-reads its session (on a ping) to close when the session has ended:
# signed out, idle or past its absolute lifetime. Pages ping every 3 s; one read a minute is
# enough and keeps the database out of the ping path.
SESSION_CHECK_SECONDS = 60


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        # A scope without a session: a socket opened in-process (tests) with a user given.
        self.session = self.scope.get("session")
        self.session_checked = timezone.now().timestamp()
        if self.session is not None and IdleTimeoutMiddleware.ended(
            self.session, self.session_checked
        ):
            await self.close(code=4401)
            return
        self.topics: set[str] = set()
        await self.accept()

    async def disconnect(self, code):
        for topic in getattr(self, "topics", ()):
            await self.channel_layer.group_discard(live.group_name(topic), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "detail": "expected a JSON object"})
            return
        if "ping" in content and not await self.session_alive():
            await self.close(code=4401)
            return
        if "ping" in content:
            # The pong carries each subscribed topic's current number: a page that missed the
            # last message of a burst (nothing after it to reveal the gap) notices here.
            seqs = await database_sync_to_async(_current_seqs)(sorted(self.topics))
            await self.send_json({"type": "pong", "ping": content["ping"], "seqs": seqs})
        for topic in _topic_list(content.get("subscribe")):
            await self.subscribe(topic)
        for topic in _topic_list(content.get("unsubscribe")):
            if topic in self.topics:
                self.topics.discard(topic)
                await self.channel_layer.group_discard(live.group_name(topic), self.channel_name)

    async def session_alive(self) -> bool:
        now = timezone.now().timestamp()
        if self.session is None or now - self.session_checked < SESSION_CHECK_SECONDS:
            return True
        self.session_checked = now
        store = import_module(settings.SESSION_ENGINE).SessionStore(self.session.session_key)
        data = await database_sync_to_async(store.load)()
        return SESSION_KEY in data and IdleTimeoutMiddleware.ended(data, now) is None

    async def subscribe(self, topic: str):
        if len(self.topics) >= MAX_TOPICS and topic not in self.topics:
            await self.send_json({"type": "refused", "topic": topic, "detail": "too many topics"})
            return
        if not await database_sync_to_async(live.may_subscribe)(self.user, topic):
            await self.send_json({"type": "refused", "topic": topic, "detail": "not allowed"})
            return
        # Join first, then read the number: a message racing the join is either counted in
        # the number (and re-fetched by the page's resync) or delivered after it.
        await self.channel_layer.group_add(live.group_name(topic), self.channel_name)
        self.topics.add(topic)
        seq = await database_sync_to_async(live.current_seq)(topic)
        await self.send_json({"type": "subscribed", "topic": topic, "seq": seq})

    async def live_message(self, message):
        html = ""
        renderer = live.renderer_for(message["event"])
        if renderer is not None:
            data = {**message["data"], "topic": message["topic"], "seq": message["seq"]}
            html = await database_sync_to_async(renderer)(self.user, data)
        await self.send_json(
            {
                "type": "message",
                "topic": message["topic"],
                "seq": message["seq"],
                "event": message["event"],
                "html": html,
            }
        )


def _current_seqs(topics: list[str]) -> dict[str, int]:
    return {topic: live.current_seq(topic) for topic in topics}


def _topic_list(value) -> list[str]:
    if not isinstance(value, list):
        return []
    return [t for t in value if isinstance(t, str)][:MAX_TOPICS]
