"""Fixtures of the commands API tests: a flushed Redis DB 4, the scripted gateway, an in-memory
audit and the API app over them (no default credentials: each test says who it is)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from csms.settings import Settings
from services.api.app import create_app
from tests.unit.api.memory_audit import MemoryAudit
from tests.unit.api_commands.scripted import ADMIN_TOKEN, REDIS_URL, ScriptedGateway
from tests.unit.redis_db import flushed_redis


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis(REDIS_URL) as client:
        yield client


@pytest.fixture
async def gateway(redis: Redis) -> AsyncIterator[ScriptedGateway]:
    gw = ScriptedGateway(redis)
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
async def api(redis: Redis, audit: MemoryAudit) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN, api_command_timeout_s=5)
    app = create_app(settings, redis=redis, audit=audit)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client
