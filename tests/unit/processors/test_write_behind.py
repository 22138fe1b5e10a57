"""The write-behind Redis of the processor agents against a real Redis (DBs 2 and 3): folding a
corpus through it, flushed per batch, leaves exactly what direct writes leave."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from csms.domain.model import Transaction
from csms.infra.redis_dump import snapshot
from csms.projections.device_models import RedisDeviceModelStore
from csms.projections.inference import RedisInferenceStore
from csms.projections.pipeline import Processors, prefetch_stations
from csms.projections.stores import RedisStationStore, RedisTransactionStore, as_redis
from csms.projections.write_behind import WriteBehindRedis
from csms.readmodels.bills import RedisBills
from csms.settings import Topics
from tests.unit.redis_db import flushed_redis
from tests.unit.replay.corpus import corpus

BASE = os.environ.get("CSMS_TEST_REDIS_BASE", "redis://127.0.0.1:6379")


@pytest.fixture
async def direct() -> AsyncIterator[Redis]:
    async with flushed_redis(f"{BASE}/2") as client:
        yield client


@pytest.fixture
async def behind() -> AsyncIterator[Redis]:
    async with flushed_redis(f"{BASE}/3") as client:
        yield client


class NoOutputs:
    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        pass


def processors(redis: Redis | WriteBehindRedis) -> Processors:
    return Processors(
        Topics(),
        NoOutputs(),
        transactions=RedisTransactionStore(redis),
        stations=RedisStationStore(redis),
        device_models=RedisDeviceModelStore(redis),
        inference=RedisInferenceStore(redis),
    )


@pytest.mark.parametrize(
    ("batch", "max_keys"), [(1, 20_000), (7, 20_000), (10_000, 20_000), (7, 2)]
)
async def test_batched_write_behind_leaves_what_direct_writes_leave(
    direct: Redis, behind: Redis, batch: int, max_keys: int
) -> None:
    frames = corpus("wb", stations=3)
    frames += frames[:20]  # redelivered
    plain = processors(direct)
    # max_keys=2: the copies evict all along (tests below show what an eviction keeps).
    caches = {name: WriteBehindRedis(behind, max_keys=max_keys) for name in plain.steps}
    per_agent = {
        name: processors(caches[name]).steps[name] for name in plain.steps
    }  # one copy per agent, as the app wires them
    for start in range(0, len(frames), batch):
        for env in frames[start : start + batch]:
            for name, step in plain.steps.items():
                assert await step(env) == await per_agent[name](env)
        for cache in caches.values():
            await cache.flush()
    assert await snapshot(behind) == await snapshot(direct)
    assert sum(c.pending for c in caches.values()) == 0
    assert max_keys > 2 or any(c.evictions > 1 for c in caches.values())


async def test_reads_see_unflushed_writes_and_a_miss_flushes_logged_keys_first(
    behind: Redis,
) -> None:
    cache = WriteBehindRedis(behind)
    await cache.set("k", "v", ex=60)
    assert await cache.get("k") == "v" and await behind.get("k") is None
    # A partial write to a key never read is only logged ...
    await cache.hset("h", mapping={"a": "1"})
    await behind.hset("h", mapping={"b": "2"})  # (someone else wrote before: the load sees it)
    # ... and reading it flushes the log before loading the whole hash.
    assert await cache.hgetall("h") == {"a": "1", "b": "2"}
    assert await behind.get("k") == "v" and 0 < await behind.ttl("k") <= 60
    await cache.sadd("s", "x")
    async with cache.pipeline() as pipe:
        pipe.srem("s", "x")
        pipe.zadd("z", {"m": 5})
        await pipe.execute()
    assert await cache.smembers("s") == set()
    assert await cache.zrangebyscore("z", "-inf", 10) == ["m"]  # flushed, then asked Redis


async def test_a_loaded_key_keeps_its_ttl_and_reset_forgets_only_the_copy(behind: Redis) -> None:
    await behind.set("t", "old", ex=100)
    cache = WriteBehindRedis(behind)
    assert await cache.get("t") == "old"
    await behind.set("t", "changed-elsewhere", ex=100)
    assert await cache.get("t") == "old"  # served from memory while we own it
    await cache.hset("h2", "f", "1")
    cache.reset()  # partitions revoked
    assert await cache.get("t") == "changed-elsewhere"
    assert await cache.hgetall("h2") == {"f": "1"}  # the logged write was not lost
    assert cache.pending == 0


async def test_a_failed_flush_keeps_the_whole_log_for_the_retry(behind: Redis) -> None:
    broken = Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    cache = WriteBehindRedis(broken)
    await cache.set("a", "1")
    await cache.zadd("z", {"m": 1})
    with pytest.raises((RedisConnectionError, OSError)):
        await cache.flush()
    await cache.zadd("z", {"n": 2})  # written while Redis was away
    assert cache.pending == 2  # keys
    cache._redis = behind  # Redis is back (the agent retries the same flush)
    assert await cache.flush() == 2  # one SET, one ZADD with both members
    assert await behind.get("a") == "1"
    assert await behind.zrange("z", 0, -1, withscores=True) == [("m", 1.0), ("n", 2.0)]
    await broken.aclose()


async def test_objects_are_encoded_once_at_the_flush_and_readable_as_text_before(
    behind: Redis,
) -> None:
    encoded: list[dict[str, int]] = []

    def encode(value: dict[str, int]) -> bytes:
        encoded.append(value)
        return orjson.dumps(value)

    def to_fields(value: dict[str, int]) -> dict[str, str]:
        return {k: str(v) for k, v in value.items()}

    cache = WriteBehindRedis(behind)
    for n in range(5):  # one key written at every frame of a batch
        cache.set_object("o", {"n": n}, encode)
    assert await cache.get_object("o", orjson.loads) == {"n": 4}
    assert encoded == []  # nothing encoded per frame
    assert orjson.loads(await cache.get("o") or "") == {"n": 4}  # the text, when asked for
    cache.set_object("o", {"n": 5}, encode)
    await behind.hset("h", mapping={"other": "x"})
    assert await cache.get_hash_object("h", dict) == {"other": "x"}
    cache.set_hash_object("h", {"a": 1}, to_fields)
    cache.set_hash_object("h", {"a": 2, "b": 3}, to_fields)
    await cache.hset("h", "c", "4")  # a plain write after the object keeps both
    assert await cache.hgetall("h") == {"other": "x", "a": "2", "b": "3", "c": "4"}
    await cache.flush()
    assert orjson.loads(await behind.get("o") or "") == {"n": 5}
    assert await behind.hgetall("h") == {"other": "x", "a": "2", "b": "3", "c": "4"}
    # A failed flush keeps the objects for the retry; a reset forgets the copy, not the log.
    broken = Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    cache.set_hash_object("h", {"a": 7}, to_fields)
    cache._redis = broken
    with pytest.raises((RedisConnectionError, OSError)):
        await cache.flush()
    cache.reset()
    cache._redis = behind
    assert await cache.hget("h", "a") == "7"  # flushed before loading
    assert await cache.get_object("o", orjson.loads) == {"n": 5}
    await broken.aclose()


async def test_prefetch_loads_a_batchs_keys_in_one_round_trip(behind: Redis) -> None:
    await behind.set("s", "v", ex=100)
    await behind.hset("h", mapping={"f": "1", "g": "2"})
    await behind.sadd("set", "a", "b")
    cache = WriteBehindRedis(behind)
    cache.set_object("written", {"n": 1}, orjson.dumps)  # pending: left to the usual path
    loaded = await cache.prefetch(
        strings=["s", "absent", "written"], hashes=["h", "no-hash"], sets=["set"]
    )
    assert loaded == 5
    await behind.set("s", "changed-elsewhere")  # memory answers from now on, with no miss
    assert (await cache.get("s"), await cache.get("absent")) == ("v", None)
    assert await cache.hgetall("h") == {"f": "1", "g": "2"}
    assert await cache.hgetall("no-hash") == {}
    assert await cache.smembers("set") == {"a", "b"}
    assert cache.misses == 0
    assert await cache.prefetch(strings=["s"]) == 0  # already in memory
    assert 0 < await cache._mem.pttl("s") <= 100_000  # the loaded string kept its TTL


async def test_prefetching_each_batchs_stations_leaves_the_same_redis_with_fewer_misses(
    direct: Redis, behind: Redis
) -> None:
    frames = corpus("pf", stations=4)
    frames += frames[:20]  # redelivered
    plain, cache = processors(direct), WriteBehindRedis(behind)
    cached = processors(cache)
    misses = {}
    for prefetch in (False, True):
        await behind.flushdb()
        cache.reset()
        cache.misses = 0
        for start in range(0, len(frames), 25):
            batch = frames[start : start + 25]
            if prefetch:
                await prefetch_stations(cache, {env.station for env in batch})
            for env in batch:
                for step in cached.steps.values():
                    await step(env)
            await cache.flush()
        misses[prefetch] = cache.misses
    for env in frames:
        for step in plain.steps.values():
            await step(env)
    assert await snapshot(behind) == await snapshot(direct)
    # Only keys no station names up front (a transaction, a pending CALL) still miss.
    assert misses[True] < misses[False] / 2


class FullIndexWrites(RedisTransactionStore):
    """Rewrites every index entry at each save, as before saves knew what they replace."""

    async def save(self, tx: Transaction, previous: Transaction | None = None) -> None:
        await super().save(tx)


async def test_index_writes_of_changes_only_leave_what_full_index_writes_leave(
    direct: Redis, behind: Redis
) -> None:
    frames = corpus("ix", stations=4)
    frames += frames[:30]  # redelivered
    full = processors(direct)
    full.transactions = FullIndexWrites(direct)
    cache = WriteBehindRedis(behind)
    changes_only = processors(cache)
    for start in range(0, len(frames), 10):
        for env in frames[start : start + 10]:
            await full.steps["transactions"](env)
            await changes_only.steps["transactions"](env)
        await cache.flush()
        # After every batch, not only at the end: the sessions end, and an ended session's
        # entries leave the active indexes.
        assert await snapshot(behind) == await snapshot(direct)


async def test_a_full_copy_evicts_the_keys_unused_since_the_last_eviction(behind: Redis) -> None:
    cache = WriteBehindRedis(behind, max_keys=4)
    for n in range(4):  # transactions that end: written, never used again
        await cache.set(f"tx:{n}", f"done-{n}")
    await cache.set("station", "s0")
    await cache.flush()  # 5 keys: all used since the start, none evicted; next above 5 + 2
    assert cache.evictions == 1
    await cache.get("station")  # the working set is used again ...
    for n in range(5):
        await cache.set(f"tx:new{n}", "open")
    await cache.get("missing")  # (a known absence is a key of the copy too)
    await cache.flush()  # ... 11 keys: the four ended transactions are evicted
    assert cache.evictions == 2
    misses = cache.misses
    assert await cache.get("station") == "s0" and await cache.get("tx:new4") == "open"
    assert cache.misses == misses  # kept: served from memory
    assert await cache.get("tx:3") == "done-3"  # evicted: read again from Redis
    assert cache.misses == misses + 1
    assert await behind.get("tx:3") == "done-3"  # its write had been flushed before


async def test_the_next_eviction_waits_for_half_the_bound_in_new_keys(
    behind: Redis,
) -> None:
    cache = WriteBehindRedis(behind, max_keys=4)
    hot = [f"station:{n}" for n in range(6)]  # a working set above the bound
    for rounds in range(5):
        for key in hot:
            await cache.set(key, str(rounds))
        await cache.flush()
    assert cache.evictions == 1  # evicted nothing the first time, then waits for 6 + 2 keys
    misses = cache.misses
    assert [await cache.get(key) for key in hot] == ["4"] * 6
    assert cache.misses == misses  # the working set was never thrown away
    for n in range(3):  # new keys: the copy passes what was kept + max_keys / 2 (8)
        await cache.set(f"tx:{n}", "x")
    await cache.flush()
    assert cache.evictions == 2


async def test_a_retired_key_is_written_then_forgotten_at_the_flush(behind: Redis) -> None:
    cache = WriteBehindRedis(behind)  # far below the bound: no eviction involved
    cache.set_object("tx:1", {"state": "ended"}, orjson.dumps)
    cache.retire("tx:1")
    await cache.set("station", "s0")
    assert await cache.get_object("tx:1", orjson.loads) == {"state": "ended"}  # until the flush
    await cache.flush()
    assert await behind.get("tx:1") == '{"state":"ended"}'  # written first ...
    misses = cache.misses
    assert await cache.get("station") == "s0" and cache.misses == misses
    assert await cache.get_object("tx:1", orjson.loads) == {"state": "ended"}
    assert cache.misses == misses + 1  # ... then forgotten: a late event reads it from Redis
    assert cache.evictions == 0


async def test_the_stores_retire_ended_transactions_and_issued_bills(behind: Redis) -> None:
    """What the 2-hour soak found: every ended session stayed in the processors' copy until an
    eviction (≈ 9,000 transactions and bills after an hour at 3,000 stations)."""
    cache = WriteBehindRedis(behind)
    store = RedisTransactionStore(cache)
    active = Transaction(
        key="CP/1", station="CP", transaction_id="1", proto="ocpp1.6", evse=1, connector=1,
        state="active", started_ms=1,
    )  # fmt: skip
    await store.save(active)
    await cache.flush()
    misses = cache.misses
    assert await store.load("CP/1") == active and cache.misses == misses  # running: kept
    ended = Transaction.from_dict({**active.to_dict(), "state": "ended"})
    await store.save(ended, active)
    await cache.flush()
    assert await store.load("CP/1") == ended
    assert cache.misses == misses + 1  # ended: loaded again from Redis, once
    bills = RedisBills(as_redis(cache))
    await bills.save_bill("CP/1", {"station": "CP", "ended": False})
    await bills.save_bill("CP/2", {"station": "CP", "ended": True})
    await cache.flush()
    misses = cache.misses
    assert (await bills.load_bill("CP/1") or {}).get("ended") is False
    assert cache.misses == misses
    assert (await bills.load_bill("CP/2") or {}).get("ended") is True
    assert cache.misses == misses + 1
