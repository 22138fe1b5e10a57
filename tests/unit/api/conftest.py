"""Fixtures: the API app over a real Redis, on a private DB flushed before every test.

`api` is an admin client (the bootstrap token of Settings.api_token); `anon` sends no token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.settings import Settings
from services.api.app import create_app
from tests.unit.api.api_seed import ADMIN_TOKEN, REDIS_URL
from tests.unit.api.memory_audit import MemoryAudit
from tests.unit.redis_db import flushed_redis


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis(REDIS_URL) as client:
        yield client


@pytest.fixture
async def app(redis: Redis) -> FastAPI:
    # No rate limit: some tests send thousands of requests in seconds from one client
    # (test_api_rate_limit.py builds its own limited app).
    settings = Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN, api_rate_limit_per_s=0)
    app = create_app(settings, redis=redis, audit=MemoryAudit())
    return app


@pytest.fixture
def audit(app: FastAPI) -> MemoryAudit:
    sink: MemoryAudit = app.state.audit
    return sink


def _client(app: FastAPI, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://api.test", headers=headers)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, ADMIN_TOKEN) as client:
        yield client


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, None) as client:
        yield client
