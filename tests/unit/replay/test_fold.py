"""The replay's fold on the live stores: folded in memory and written to Redis at the end, the
read model is exactly the one folding straight into Redis writes, with the same outputs."""

from __future__ import annotations

import fnmatch

import orjson
import pytest
from redis.asyncio import Redis

from csms.domain import transactions as txp
from csms.domain.model import Transaction
from csms.envelope import FrameEnvelope
from csms.infra import redis_keys
from csms.infra.memory_redis import MemoryRedis, write_to
from csms.infra.redis_dump import snapshot
from csms.projections.wiring import build_processors
from services.replay.fold import Fold, PolicyInterleave, Record, fold_all
from tests.unit.domain.builders import T0, Session, transaction_event
from tests.unit.replay.corpus import corpus
from tests.unit.replay.folding import SETTINGS, TOPICS, ListOutputs, fold_into, records


def open_session(station: str) -> tuple[list[FrameEnvelope], FrameEnvelope]:
    """A 2.0.1 transaction the station never ends, and the policy's close of it."""
    s = Session(station, "ocpp2.0.1")
    started = transaction_event("Started", "open-1", 0, T0, trigger="CablePluggedIn", evse=(1, 1))
    envs = [s.connect(), s.call("TransactionEvent", started)]
    tx = Transaction(
        key=f"{station}/open-1", station=station, transaction_id="open-1", proto=s.proto
    )
    return envs, txp.policy_close(tx, "Idle", T0 + 72 * 3_600_000, "policy-1")


async def test_memory_fold_writes_what_the_redis_fold_writes(redis: Redis) -> None:
    zombie, close = open_session("CPZ-unit")
    envs = corpus("unit", stations=3) + zombie
    live_outputs, live_fold = await fold_into(redis, envs, (close,))
    live = await snapshot(redis)
    assert live_fold.stats.fatal == [] and not live_fold.stats.failed
    assert {k.split(":")[1] for k in live} >= {"tx", "txs", "station", "stations", "dm", "inf16"}
    closed = orjson.loads(live["csms:tx:CPZ-unit/open-1"][1])
    assert (closed["state"], closed["policy_reason"]) == ("ended", "Idle")

    await redis.flushdb()
    memory = MemoryRedis()
    mem_outputs, mem_fold = await fold_into(memory, envs, (close,))
    await write_to(memory, redis, batch=7, chunk=2)  # small batches: chunking is exercised

    assert mem_fold.stats == live_fold.stats
    assert await snapshot(redis) == live
    assert mem_outputs.sent == live_outputs.sent
    topics = {t for t, _, _ in live_outputs.sent}
    assert topics == {TOPICS.transactions, TOPICS.status}


async def test_every_key_the_fold_writes_is_a_read_model_key(redis: Redis) -> None:
    await fold_into(redis, corpus("keys", stations=1))
    written = [k async for k in redis.scan_iter(count=1000)]
    assert written
    unmatched = [
        k
        for k in written
        if not any(fnmatch.fnmatchcase(k, p) for p in redis_keys.READ_MODEL_PATTERNS)
    ]
    assert unmatched == []


def test_policy_records_are_released_per_station_in_time_order() -> None:
    def rec(key: bytes, ts: int, offset: int) -> Record:
        return Record("policy", key, ts, offset, b"")

    a1, a2, b1 = rec(b"A", 100, 0), rec(b"A", 50, 1), rec(b"B", 10, 2)
    interleave = PolicyInterleave([a1, a2, b1])
    assert list(interleave.due(b"A", 60)) == [a2]
    assert list(interleave.due(b"C", 1_000)) == []
    assert list(interleave.due(b"A", 99)) == []
    assert interleave.held == 2
    assert list(interleave.rest()) == [b1, a1]
    assert interleave.held == 0


async def test_policy_decisions_fold_between_the_frames_of_their_station() -> None:
    seen: list[str] = []

    class Recording(Fold):
        async def feed(self, record: Record) -> None:
            seen.append(record.value.decode())

    memory = MemoryRedis()
    fold = Recording(build_processors(SETTINGS, ListOutputs(), lambda _: memory))
    frames = [Record("f", b"A", ts, ts, f"f{ts}".encode()) for ts in (10, 20, 30)]
    policy = PolicyInterleave([Record("p", b"A", 25, 0, b"p25"), Record("p", b"Z", 5, 1, b"pz")])
    await fold_all(fold, iter([frames[:2], frames[2:]]), policy)
    assert seen == ["f10", "f20", "p25", "f30", "pz"]


async def test_an_unknown_redis_command_stops_the_fold() -> None:
    class Odd:
        def __init__(self, redis: MemoryRedis) -> None:
            self.redis = redis

        async def step(self, env: FrameEnvelope) -> bool:
            await self.redis.lpush("csms:dm:x", "1")
            return True

    memory = MemoryRedis()
    fold = Fold(build_processors(SETTINGS, ListOutputs(), lambda _: memory))
    fold._steps["odd"] = fold._guarded("odd", Odd(memory).step)
    stats = await fold_all(fold, iter([records(corpus("odd", stations=1))]), PolicyInterleave([]))
    assert stats.records[TOPICS.frames] == 1  # stopped at the first record
    assert stats.fatal and "lpush" in stats.fatal[0]


@pytest.mark.parametrize("value, text", [(b"x", "x"), ("y", "y"), (3, "3"), (1.5, "1.5")])
async def test_values_are_stored_as_redis_returns_them(value: object, text: str) -> None:
    memory = MemoryRedis()
    await memory.set("k", value)
    assert await memory.get("k") == text
