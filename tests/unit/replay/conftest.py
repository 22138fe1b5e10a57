"""Replay unit tests use a real Redis, database 9 (flushed before and after each test)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.unit.redis_db import flushed_redis

REDIS_URL = os.environ.get("CSMS_TEST_REPLAY_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis(REDIS_URL) as client:
        yield client
