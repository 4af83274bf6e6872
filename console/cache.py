"""The production cache: Django's Redis cache that degrades to a miss when Redis is away.

The cache only holds what can be lost (live sequence numbers, who is looking at an incident),
so a Redis outage must not turn every page into a 500: reads answer the default, writes do
nothing, `incr` behaves as for a missing key. Each failure is logged; pages keep loading, and
live.js polls until the socket (which needs Redis) is back (README "Fault tolerance")."""

import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError, TimeoutError

log = logging.getLogger(__name__)

UNAVAILABLE = (ConnectionError, TimeoutError)


def _missed(operation: str, exc: Exception) -> None:
    log.warning("cache %s skipped, Redis unavailable: %s", operation, exc)


class ResilientRedisCache(RedisCache):
    """RedisCache whose connection failures are misses, never exceptions."""

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNAVAILABLE as exc:
            _missed("add", exc)
            return False

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNAVAILABLE as exc:
            _missed("get", exc)
            return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNAVAILABLE as exc:
            _missed("set", exc)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except UNAVAILABLE as exc:
            _missed("touch", exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNAVAILABLE as exc:
            _missed("delete", exc)
            return False

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNAVAILABLE as exc:
            _missed("get_many", exc)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except UNAVAILABLE as exc:
            _missed("has_key", exc)
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNAVAILABLE as exc:
            _missed("incr", exc)
            raise ValueError(f"Key '{key}' not found (Redis unavailable)") from exc

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except UNAVAILABLE as exc:
            _missed("set_many", exc)
            return list(data)

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except UNAVAILABLE as exc:
            _missed("delete_many", exc)

    def clear(self):
        try:
            return super().clear()
        except UNAVAILABLE as exc:
            _missed("clear", exc)
            return False
