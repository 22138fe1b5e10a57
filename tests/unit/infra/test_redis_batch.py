"""RedisBatcher against a real Redis (DB 3): concurrent single commands go out in one batch, each
caller gets its own reply or its own refusal, scripts are loaded when the server lacks them, and
a broken connection fails every caller of the batch."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from csms.infra import redis_batch, redis_wire
from csms.infra.redis_batch import RedisBatcher, Script
from tests.unit.redis_db import flushed_redis

BASE = os.environ.get("CSMS_TEST_REDIS_BASE", "redis://127.0.0.1:6379")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis(f"{BASE}/3") as client:
        yield client


async def test_concurrent_commands_share_one_write_and_each_gets_its_reply(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(300):
        await redis.hset(f"h{i}", mapping={"status": f"s{i}"})
    batches: list[int] = []
    real = redis_wire.replies_of

    async def counted(client: Redis, commands: Any) -> list[object]:
        batches.append(len(commands))
        return await real(client, commands)

    monkeypatch.setattr(redis_batch, "replies_of", counted)
    batcher = RedisBatcher(redis)
    replies = await asyncio.gather(*(batcher.call("HGET", f"h{i}", "status") for i in range(300)))
    assert replies == [f"s{i}" for i in range(300)]
    assert batches == [300]
    assert await batcher.call("HGET", "h7", "status") == "s7"  # a lone command: a batch of one
    assert batches == [300, 1]


async def test_a_refused_command_fails_only_its_caller(redis: Redis) -> None:
    await redis.set("text", "not a hash")
    batcher = RedisBatcher(redis)
    results: tuple[Any, ...] = await asyncio.gather(
        batcher.call("SET", "a", "1"),
        batcher.call("HGET", "text", "f"),  # WRONGTYPE
        batcher.call("GET", "a"),
        return_exceptions=True,
    )
    ok, refused, also_ok = results
    assert ok == "OK"
    assert isinstance(refused, ResponseError) and "WRONGTYPE" in str(refused)
    assert also_ok == "1"


async def test_a_script_the_server_lacks_is_loaded_and_run(redis: Redis) -> None:
    await redis.script_flush()
    batcher = RedisBatcher(redis)
    double = Script("return tonumber(ARGV[1]) * 2 + redis.call('INCR', KEYS[1])")
    assert await batcher.script(double, ["n"], [20]) == 41
    assert await batcher.script(double, ["n"], [20]) == 42  # known now: one EVALSHA


async def test_a_broken_connection_fails_every_caller_of_the_batch() -> None:
    broken = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    batcher = RedisBatcher(broken)
    results = await asyncio.gather(
        batcher.call("GET", "a"), batcher.call("GET", "b"), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await broken.aclose()
