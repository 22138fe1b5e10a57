from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from csms.envelope import FrameEnvelope
from csms.projections.pipeline import handle_frame, publish_counts
from csms.settings import Settings, Topics
from services.processors.app import create_app, kafka_brokers
from services.processors.batch_consumer import BatchConsumer
from tests.unit.domain.builders import Session


def _count(agent: str, outcome: str) -> float:
    publish_counts()  # what the steps tallied since the last batch
    value = REGISTRY.get_sample_value(
        "csms_processor_events_total", {"agent": agent, "outcome": outcome}
    )
    return value or 0.0


async def test_a_bad_envelope_is_counted_and_skipped() -> None:
    agent = f"t-{uuid.uuid4().hex[:6]}"
    seen: list[FrameEnvelope] = []

    async def step(env: FrameEnvelope) -> bool:
        seen.append(env)
        return True

    for raw in [b"not json", b"[]", b'{"v": 1}', b"", None]:
        await handle_frame({agent: step}, raw)

    assert seen == []
    assert _count(agent, "bad_envelope") == 5


async def test_a_projection_bug_is_counted_and_the_other_steps_and_the_stream_go_on() -> None:
    agent = f"t-{uuid.uuid4().hex[:6]}"
    other = f"{agent}-other"
    env = Session().connect()
    seen: list[str] = []

    async def broken(env: FrameEnvelope) -> bool:
        raise KeyError("bug")

    async def fine(env: FrameEnvelope) -> bool:
        seen.append(env.id)
        return False

    await handle_frame({agent: broken, other: fine}, env.encode())
    await handle_frame({agent: fine}, env.encode())

    assert (_count(agent, "failed"), _count(agent, "unchanged")) == (1, 1)
    assert _count(other, "unchanged") == 1
    assert seen == [env.id, env.id]


async def test_an_unreachable_redis_is_waited_for_not_skipped() -> None:
    agent = f"t-{uuid.uuid4().hex[:6]}"
    env = Session().connect()
    calls: list[str] = []

    async def flaky(got: FrameEnvelope) -> bool:
        calls.append(got.id)
        if len(calls) < 3:
            raise RedisConnectionError("connection refused")
        return True

    await handle_frame({agent: flaky}, env.encode())

    assert calls == [env.id] * 3
    assert (_count(agent, "changed"), _count(agent, "failed")) == (1, 0)


def test_the_app_follows_the_settings() -> None:
    settings = Settings(
        kafka_bootstrap="10.0.0.1:9092, 10.0.0.2:9092",
        topics=Topics(prefix="t-1."),
        processors_app_id="proc-test",
        processors_web_port=0,
    )
    app = create_app(settings)

    assert app.conf.id == "proc-test-faust"  # the frames agent's group is proc-test
    assert [str(url) for url in app.conf.broker] == [
        "kafka://10.0.0.1:9092",
        "kafka://10.0.0.2:9092",
    ]
    assert not app.conf.web_enabled
    # The agents consume outside faust's streams (BatchConsumer, ADR 0023): faust has none.
    assert dict(app.agents) == {}
    assert kafka_brokers("a:1,,b:2") == ["kafka://a:1", "kafka://b:2"]


class _Record:
    def __init__(self, value: bytes, offset: int) -> None:
        self._value, self._offset = value, offset

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return b"CP-1"

    def topic(self) -> str:
        return "frames"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class _Consumer:
    def __init__(self) -> None:
        self.commits: list[list[tuple[str, int, int]]] = []

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


async def test_a_batch_is_committed_only_after_its_writes_and_never_when_cut_short() -> None:
    """A stop (cancellation) in the middle of a batch must leave its offsets uncommitted, so
    Kafka redelivers it (faust's take() once acked such a batch and its writes were lost)."""
    handled: list[object] = []
    blocked = asyncio.Event()
    writes = 0

    async def handle_one(raw: object) -> None:
        handled.append(raw)
        if raw == b"stop-here":
            blocked.set()
            await asyncio.Event().wait()  # the stop arrives while this frame is folded

    async def write() -> int:
        nonlocal writes
        writes += 1
        return 0

    batches = BatchConsumer("frames", Settings(), ["frames"], "g", handle_one, write, lambda: None)
    consumer = _Consumer()
    first = [_Record(b"a", 10), _Record(b"b", 11)]
    await batches.fold_and_commit(consumer, first)  # type: ignore[arg-type]
    second = [_Record(b"c", 12), _Record(b"stop-here", 13), _Record(b"d", 14)]
    task = asyncio.create_task(batches.fold_and_commit(consumer, second))  # type: ignore[arg-type]
    await blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert consumer.commits == [[("frames", 0, 12)]]  # the first batch only, after its write
    assert writes == 1
    assert handled == [b"a", b"b", b"c", b"stop-here"]
