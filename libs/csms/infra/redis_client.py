"""Redis client factory (asyncio)."""

from __future__ import annotations

import redis.asyncio as aioredis

from csms.settings import Settings


def make_redis(settings: Settings) -> aioredis.Redis:
    """A pooled asyncio client; responses decoded as UTF-8 text (every value we store is text)."""
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
