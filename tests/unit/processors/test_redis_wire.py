"""The write-behind's wire path (csms.infra.redis_wire) against a real Redis (DB 3): the bytes are
the ones redis-py would send, a transaction's replies come back, and refusals and broken
connections raise as redis-py's pipeline raises them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from csms.infra.redis_wire import (
    Command,
    apply_atomically,
    multi_exec,
    pack_transaction,
    script_arguments,
    wire,
)
from tests.unit.redis_db import flushed_redis

BASE = os.environ.get("CSMS_TEST_REDIS_BASE", "redis://127.0.0.1:6379")

COMMANDS: list[Command] = [
    ("set", ("s", '{"a":"é"}'), {}),
    ("set", ("t", "v"), {"ex": 60}),
    ("set", ("p", "v"), {"px": 1500}),
    ("delete", ("gone",), {}),
    ("hset", ("h",), {"mapping": {"f": "1", "g": 2}}),
    ("sadd", ("set", "a", "b"), {}),
    ("srem", ("set", "c"), {}),
    ("zadd", ("z", {"m": 1700000000123.0, "n": 2}), {}),
    ("zrem", ("z", "o"), {}),
]


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with flushed_redis(f"{BASE}/3") as client:
        yield client


def test_each_change_is_packed_as_redis_py_packs_it() -> None:
    packer = Connection()
    for name, args, kwargs in COMMANDS:
        words = wire((name, args, kwargs))
        if name == "hset":
            expected = ["HSET", *args, *[x for kv in kwargs["mapping"].items() for x in kv]]
        elif name == "zadd":
            expected = ["ZADD", args[0], *[x for m, s in args[1].items() for x in (s, m)]]
        elif name == "set":
            expected = ["SET", *args, *[x for k, v in kwargs.items() for x in (k.upper(), v)]]
        else:
            expected = [{"delete": "DEL"}.get(name, name.upper()), *args]
        assert pack_transaction([words]) == b"".join(
            [
                *packer.pack_command("MULTI"),
                *packer.pack_command(*expected),
                *packer.pack_command("EXEC"),
            ]
        )


async def test_a_transaction_runs_every_change(redis: Redis) -> None:
    await redis.set("gone", "x")
    await redis.sadd("set", "c")
    replies = await multi_exec(redis, [wire(c) for c in COMMANDS])
    assert len(replies) == len(COMMANDS)
    assert await redis.get("s") == '{"a":"é"}'
    assert 0 < await redis.ttl("t") <= 60
    assert 0 < await redis.pttl("p") <= 1500
    assert await redis.exists("gone") == 0
    assert await redis.hgetall("h") == {"f": "1", "g": "2"}
    assert await redis.smembers("set") == {"a", "b"}
    assert await redis.zrange("z", 0, -1, withscores=True) == [("n", 2.0), ("m", 1700000000123.0)]
    assert await multi_exec(redis, []) == []


async def test_a_refused_command_raises_and_the_connection_stays_usable(redis: Redis) -> None:
    await redis.set("str", "x")
    with pytest.raises(ResponseError):  # wrong type: refused inside EXEC
        await multi_exec(redis, [["SET", "a", "1"], ["SADD", "str", "m"]])
    assert await redis.get("a") == "1"  # a transaction is not rolled back, as in Redis
    with pytest.raises(ResponseError):  # unknown command: refused while queueing (EXECABORT)
        await multi_exec(redis, [["SET", "b", "1"], ["NOSUCHCOMMAND"]])
    assert await redis.get("b") is None
    assert await multi_exec(redis, [["SET", "c", "1"]]) == ["OK"]


async def test_an_unreachable_redis_raises_a_connection_error() -> None:
    broken = Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    with pytest.raises((RedisConnectionError, OSError)):
        await multi_exec(broken, [["SET", "a", "1"]])
    await broken.aclose()


async def test_one_script_call_applies_every_change_and_reloads_after_a_flush(
    redis: Redis,
) -> None:
    await redis.set("gone", "x")
    await redis.script_flush()  # as after a Redis restart: the script is loaded again
    await apply_atomically(redis, [wire(c) for c in COMMANDS])
    assert await redis.get("s") == '{"a":"é"}'
    assert 0 < await redis.ttl("t") <= 60 and 0 < await redis.pttl("p") <= 1500
    assert await redis.exists("gone") == 0
    assert await redis.hgetall("h") == {"f": "1", "g": "2"}
    assert await redis.smembers("set") == {"a", "b"}
    assert await redis.zrange("z", 0, -1, withscores=True) == [("n", 2.0), ("m", 1700000000123.0)]
    await apply_atomically(redis, [])


async def test_a_refused_command_raises_and_a_huge_one_goes_through_multi_exec(
    redis: Redis,
) -> None:
    await redis.set("str", "x")
    with pytest.raises(ResponseError):
        await apply_atomically(redis, [["SET", "a", "1"], ["SADD", "str", "m"]])
    members = [f"m{i}" for i in range(10_000)]  # beyond what the script can unpack
    assert script_arguments([["SADD", "big", *members]]) is None
    await apply_atomically(redis, [["SADD", "big", *members], ["SET", "after", "1"]])
    assert await redis.scard("big") == 10_000 and await redis.get("after") == "1"
