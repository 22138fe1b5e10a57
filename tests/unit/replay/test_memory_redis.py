"""The in-memory Redis behaves like Redis for what the stores do, and writes the same keys."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from csms.infra.memory_redis import MemoryRedis, UnsupportedCommand, write_to
from csms.infra.redis_dump import snapshot


async def apply(client: object) -> None:
    """The same commands on either client (both follow redis-py's signatures)."""
    c: object = client
    await c.set("csms:tx:a", b'{"k": 1}')  # type: ignore[attr-defined]
    await c.set("csms:pending:a", "p", ex=3600)  # type: ignore[attr-defined]
    await c.hset("csms:station:a", mapping={"online": "1", "n": 2})  # type: ignore[attr-defined]
    await c.hset("csms:station:a:connectors", "1/1", "{}")  # type: ignore[attr-defined]
    async with c.pipeline(transaction=True) as pipe:  # type: ignore[attr-defined]
        pipe.zadd("csms:txs", {"a/1": 5, "a/2": 7})
        pipe.sadd("csms:stations", "a", "b")
        pipe.sadd("csms:station:a:active_txs", "a/1")
        pipe.srem("csms:station:a:active_txs", "a/1")  # emptied: the key is gone
        pipe.zadd("csms:txs:active", {"a/1": 1})
        pipe.zrem("csms:txs:active", "a/1")
        await pipe.execute()
    await c.set("csms:dm:a", "x")  # type: ignore[attr-defined]
    await c.delete("csms:dm:a")  # type: ignore[attr-defined]


async def test_written_keys_equal_those_redis_holds_after_the_same_commands(redis: Redis) -> None:
    await apply(redis)
    direct = await snapshot(redis)
    await redis.flushdb()
    memory = MemoryRedis()
    await apply(memory)
    assert await memory.hgetall("csms:station:a") == {"online": "1", "n": "2"}
    assert await memory.zscore("csms:txs", "a/2") == 7.0
    assert await write_to(memory, redis) == 6  # one command per key here
    assert await snapshot(redis) == direct
    assert "csms:station:a:active_txs" not in direct and "csms:txs:active" not in direct
    assert 3500 < await redis.ttl("csms:pending:a") <= 3600


async def test_expired_keys_are_neither_read_nor_written(redis: Redis) -> None:
    memory = MemoryRedis()
    await memory.set("csms:pending:gone", "x", px=1)
    await asyncio.sleep(0.01)
    assert await memory.get("csms:pending:gone") is None
    await memory.set("csms:pending:late", "x", px=1)
    await asyncio.sleep(0.01)
    assert await write_to(memory, redis) == 0
    assert await redis.dbsize() == 0


def test_an_unknown_command_is_refused_not_ignored() -> None:
    with pytest.raises(UnsupportedCommand, match="lpush"):
        MemoryRedis().lpush("k", "v")
    with pytest.raises(UnsupportedCommand, match="expire"):
        MemoryRedis().pipeline().expire("k", 1)
