"""A real Redis database for a unit test: flushed before and after, a clear failure without one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@contextlib.asynccontextmanager
async def flushed_redis(url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(url, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        pytest.fail(f"these tests need redis-server at {url}: {exc}")
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()
