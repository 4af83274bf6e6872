"""Publishing live updates to pages, and the rules for who may subscribe to what.

Server code calls `publish(topic, event, **ids)` from services; the message goes out after the
transaction commits, to the Channels group of the topic, stamped with the topic's next sequence
number. Pages (static/console/live.js) track the last number per topic: a gap or a reconnect
makes them re-fetch their fragments through the ordinary views, so a message that the channel
layer dropped (channels-redis drops past `capacity`) costs a re-fetch, never a stale page.

Topics are `overview`, `audit`, `module.<name>`, `incident.<pk>`, ... . Each topic prefix
registers a check deciding whether a user may subscribe; an event may register a renderer that
turns the message into HTML fragments (`hx-swap-oob`) for one user. Without a renderer the page
re-fetches the elements that declared the topic (`data-live-topic`), which keeps permission
decisions in the views.
"""

import asyncio
import logging
import re
import threading
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)

TOPIC_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[A-Za-z0-9_-]{1,60})?$")

TopicCheck = Callable[[object, str], bool]  # (user, key after the prefix) -> allowed
# (user, message data + its topic and seq) -> HTML fragments; "" for none
Renderer = Callable[[object, dict], str]

# The embedded mode runs Celery's worker in a thread of the web server's process; the in-memory
# channel layer's queues belong to the server's event loop, so sends from other threads are
# handed to that loop (`bind_loop`) instead of running on a private one.
_server_loop: asyncio.AbstractEventLoop | None = None

_topic_checks: dict[str, TopicCheck] = {}
_renderers: dict[str, Renderer] = {}


def register_topic(prefix: str, check: TopicCheck) -> None:
    _topic_checks[prefix] = check


def register_renderer(event: str, renderer: Renderer) -> None:
    _renderers[event] = renderer


def group_name(topic: str) -> str:
    return f"live.{topic}"


def split(topic: str) -> tuple[str, str]:
    prefix, _, key = topic.partition(".")
    return prefix, key


def may_subscribe(user, topic: str) -> bool:
    if not user.is_authenticated or not TOPIC_RE.match(topic):
        return False
    prefix, key = split(topic)
    check = _topic_checks.get(prefix)
    return bool(check and check(user, key))


def renderer_for(event: str) -> Renderer | None:
    return _renderers.get(event)


def _seq_key(topic: str) -> str:
    return f"live:seq:{topic}"


def current_seq(topic: str) -> int:
    return cache.get(_seq_key(topic), 0)


def next_seq(topic: str) -> int:
    key = _seq_key(topic)
    cache.add(key, 0, timeout=None)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: start again; pages see a gap and resync
        cache.set(key, 1, timeout=None)
        return 1


def bind_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    global _server_loop
    _server_loop = loop


_publisher: asyncio.AbstractEventLoop | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """A long-lived loop in a daemon thread for sends from worker threads: async_to_sync would
    build and tear down a loop (and a Redis connection) for every message."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or not _publisher.is_running():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-publisher", daemon=True).start()
            _publisher = loop
        return _publisher


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    loop = _server_loop
    if loop is None and not isinstance(layer, InMemoryChannelLayer):
        # In-memory queues belong to the loop that reads them; only a cross-process layer
        # may be written from a loop of our own.
        loop = _publisher_loop()
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(5)
            return
    async_to_sync(layer.group_send)(group, message)


def send_now(topic: str, event: str, data: dict) -> int:
    """Send immediately (outside any transaction); returns the sequence number used."""
    seq = 0
    try:  # the sequence number lives in the cache: Redis may be away as well
        seq = next_seq(topic)
        message = {"type": "live.message", "topic": topic, "seq": seq, "event": event, "data": data}
        _group_send(group_name(topic), message)
    except Exception:  # a live push must never undo, or fail, the change it reports
        log.exception("live publish to %s failed; pages will resync on the gap", topic)
    return seq


def publish(topic: str, event: str, **data) -> None:
    """Push `event` to pages showing `topic` once the current transaction commits."""
    transaction.on_commit(lambda: send_now(topic, event, data))


def _authenticated(user, key: str) -> bool:
    return not key


register_topic("overview", _authenticated)
register_topic("audit", lambda user, key: not key and user.has_perm("console.view_auditentry"))
