"""The read models' tests: each contract against the real Redis (DB 11, flushed before and after
every test) and against its in-memory implementation."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.unit.redis_db import flushed_redis

# This suite's database (the API's unit tests share it; both flush it around every test).
REDIS_URL = os.environ.get("CSMS_TEST_READMODELS_REDIS_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis(REDIS_URL) as client:
        yield client
