"""Fixtures: the API app over a real Redis, on a private DB flushed before every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from services.api.app import create_app

from csms.settings import Settings
from tests.unit.api.api_seed import REDIS_URL


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"the API unit tests need redis-server at {REDIS_URL}: {exc}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def api(redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(redis_url=REDIS_URL), redis=redis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client
