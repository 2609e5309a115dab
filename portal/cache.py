"""The Redis cache, tolerant of Redis being down.

The cache only speeds things up (README renders) or counts failures (login
rate limits); with Redis stopped, pages must still answer. Reads then miss and
writes are dropped, with a warning in the log. Rate limiting fails open while
Redis is down: refusing every login would be worse."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)


def _down(operation: str, exc: Exception) -> None:
    log.warning("cache %s skipped, Redis unreachable: %s", operation, type(exc).__name__)


class TolerantRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        try:
            return super().get(key, default, version)
        except redis.RedisError as exc:
            _down("get", exc)
            return default

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except redis.RedisError as exc:
            _down("get_many", exc)
            return {}

    def set(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except redis.RedisError as exc:
            _down("set", exc)

    def add(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            _down("add", exc)
            return False

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        try:
            return super().incr(key, delta, version)
        except redis.RedisError as exc:
            _down("incr", exc)
            return delta

    def delete(self, key: Any, version: Any = None) -> bool:
        try:
            return super().delete(key, version)
        except redis.RedisError as exc:
            _down("delete", exc)
            return False

    def has_key(self, key: Any, version: Any = None) -> bool:
        try:
            return super().has_key(key, version)
        except redis.RedisError as exc:
            _down("has_key", exc)
            return False
