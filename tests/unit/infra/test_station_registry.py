"""StationRegistry against a real Redis (DB 10)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from csms.infra.station_registry import StationRegistry
from tests.unit.redis_db import flushed_redis


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis("redis://127.0.0.1:6379/10") as client:
        yield client


async def test_concurrent_first_boots_all_see_one_registration(redis: Redis) -> None:
    registry = StationRegistry(redis, clock=lambda: 1_000)
    results = await asyncio.gather(
        *(registry.register_if_unknown("CP-STORM", "Pending") for _ in range(50))
    )
    assert {(r.status, r.created_ms) for r in results} == {("Pending", 1_000)}


async def test_an_operators_decision_is_never_overwritten(redis: Redis) -> None:
    registry = StationRegistry(redis, clock=lambda: 2_000)
    await registry.set_status("CP-1", "Rejected")
    registration = await registry.register_if_unknown("CP-1", "Accepted")
    assert registration.status == "Rejected"
    await registry.set_password("CP-1", "p" * 16)
    stored = await registry.get("CP-1")
    assert stored is not None
    assert stored.password_matches("p" * 16)
    assert not stored.password_matches("q" * 16)
