"""A type-aware dump of Redis keys, to compare a rebuilt read model with the live one (the
replay tests, and the fault runner of loadtests.faults)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from csms.infra.redis_keys import READ_MODEL_PATTERNS


async def snapshot(redis: Redis, patterns: Iterable[str] = READ_MODEL_PATTERNS) -> dict[str, Any]:
    """key -> (type, content, expires?) for every key matching `patterns` (a client with
    decode_responses=True). Sorted sets keep their scores; TTLs only as "has one"."""
    keys = sorted({k for p in patterns async for k in redis.scan_iter(match=p, count=1000)})
    dump: dict[str, Any] = {}
    for key in keys:
        kind = await redis.type(key)
        content: Any
        if kind == "string":
            content = await redis.get(key)
        elif kind == "hash":
            content = await redis.hgetall(key)
        elif kind == "zset":
            content = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            content = sorted(await redis.smembers(key))
        else:
            content = "<" + str(kind) + ">"
        dump[key] = (kind, content, await redis.ttl(key) > 0)
    return dump
