from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from csms.envelope import FrameEnvelope
from csms.projections.pipeline import handle_frame
from csms.settings import Settings, Topics
from services.processors.app import _agent, create_app, kafka_brokers
from tests.unit.domain.builders import Session


def _count(agent: str, outcome: str) -> float:
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

    assert app.conf.id == "proc-test"
    assert [str(url) for url in app.conf.broker] == [
        "kafka://10.0.0.1:9092",
        "kafka://10.0.0.2:9092",
    ]
    assert not app.conf.web_enabled
    subscribed = {name: set(agent.channel.topics) for name, agent in app.agents.items()}
    # One pass per event: one agent on the frames and the policy decisions runs every frame
    # step; the billing downstream of it.
    by_agent = {name.rsplit(".", 1)[-1]: topics for name, topics in subscribed.items()}
    assert by_agent == {
        "frames": {"t-1.ocpp.frames", "t-1.csms.policy"},
        "billing": {"t-1.csms.transactions"},
    }
    assert kafka_brokers("a:1,,b:2") == ["kafka://a:1", "kafka://b:2"]


class _Event:
    def __init__(self, value: bytes) -> None:
        self.value = value


class _Stream:
    """The two calls the agent makes of a faust Stream: noack_take and ack."""

    def __init__(self, batches: list[list[bytes]]) -> None:
        self.batches = batches
        self.acked: list[bytes] = []

    async def noack_take(self, max_: int, within: float) -> Any:
        for batch in self.batches:
            yield [_Event(v) for v in batch]

    async def ack(self, event: _Event) -> bool:
        self.acked.append(event.value)
        return True


async def test_a_batch_is_acked_only_after_its_writes_and_never_when_cut_short() -> None:
    """A stop (cancellation) in the middle of a batch must leave it unacked, so Kafka
    redelivers it: faust's take() acked it in a finally and the writes were lost."""
    handled: list[object] = []
    blocked = asyncio.Event()

    async def handle_one(raw: object) -> None:
        handled.append(raw)
        if raw == b"stop-here":
            blocked.set()
            await asyncio.Event().wait()  # the stop arrives while this frame is folded

    writes = 0

    async def write() -> int:
        nonlocal writes
        writes += 1
        return 0

    stream = _Stream([[b"a", b"b"], [b"c", b"stop-here", b"d"]])
    agent = _agent("transactions", handle_one, write, (10, 0.1))
    task = asyncio.create_task(agent(stream))
    await blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.acked == [b"a", b"b"]  # the first batch, written; the second never acked
    assert writes == 1
    assert handled == [b"a", b"b", b"c", b"stop-here"]
