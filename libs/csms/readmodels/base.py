"""What every read model shares: the key prefix, lenient parsing of stored values, and the
decoded-object cache of the processors' write-behind copy.

Decoders built on these never raise to a reader: a value another process wrote badly (an older
writer, a bug, a hand edit) is logged and read as absent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

import orjson
from redis.asyncio import Redis

log = logging.getLogger(__name__)

PREFIX = "csms"

T = TypeVar("T")


def json_object(raw: str | bytes, what: str) -> dict[str, Any] | None:
    """The JSON object stored in `raw`; None (logged) when it is not JSON or not an object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        log.warning("%s is not a JSON object: ignored", what)
        return None
    return value


def parse_ms(raw: object) -> int | None:
    """An epoch-ms value as stored in a hash ("1700000000000", maybe "1.7e12") or in JSON."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    try:
        if isinstance(raw, float):
            return int(raw)
        if isinstance(raw, str) and raw:
            return int(raw) if raw.isdigit() else int(float(raw))
    except (ValueError, OverflowError):
        return None
    return None


def int_or_none(raw: object) -> int | None:
    """An id stored as a JSON integer or as digits; None for anything else (bools included)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


class ObjectCache(Protocol):
    """What the processors' write-behind copy (csms.projections.write_behind) adds to Redis: a
    key's value decoded once per batch and encoded once at the flush, however many frames of the
    batch read and write it."""

    async def get_object(self, key: str, decode: Callable[[str | bytes], T | None]) -> T | None: ...

    def set_object(self, key: str, value: Any, encode: Callable[[Any], bytes]) -> None: ...

    async def get_hash_object(
        self, key: str, decode: Callable[[dict[str, str]], T | None]
    ) -> T | None: ...

    def set_hash_object(
        self, key: str, value: Any, to_fields: Callable[[Any], Mapping[str, str]]
    ) -> None: ...

    def retire(self, key: str) -> None: ...


def object_cache(redis: object) -> ObjectCache | None:
    """The client's object cache when it keeps one (asked once, when a store is built: the type
    is looked at, not the instance, whose unknown attributes may raise)."""
    return cast(ObjectCache, redis) if callable(getattr(type(redis), "set_object", None)) else None


class RedisReadModel:
    """A read model's Redis implementation: its client, and the client's object cache when it
    keeps one (the processors' write-behind copy)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._cache = object_cache(redis)


async def load_object(
    redis: Redis, cache: ObjectCache | None, key: str, decode: Callable[[str | bytes], T | None]
) -> T | None:
    """A string key's value as its object: once per batch through the cache, else at each read."""
    if cache is not None:
        return await cache.get_object(key, decode)
    raw = await redis.get(key)
    return None if raw is None else decode(raw)


async def save_object(
    redis: Redis, cache: ObjectCache | None, key: str, value: T, encode: Callable[[T], bytes]
) -> None:
    """SET key to the object's encoding: at the flush through the cache, at once elsewhere."""
    if cache is not None:
        cache.set_object(key, value, encode)
    else:
        await redis.set(key, encode(value))
