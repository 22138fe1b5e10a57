"""FramePublisher's in-flight bound: exact accounting, waiting for room, and the bounded wait."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber
from prometheus_client import REGISTRY
from services.gateway.publisher import AckFuture, FramePublisher, PublishTimeout

from csms.envelope import FrameEnvelope


class FakeProducer:
    """Stands in for AIOKafkaProducer: each send() returns a future the test resolves; `block`
    makes send() wait (a full producer buffer) and `refuse` makes it raise."""

    def __init__(self) -> None:
        self.acks: list[AckFuture] = []
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.block: asyncio.Event | None = None
        self.refuse: Exception | None = None

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> AckFuture:
        if self.block is not None:
            await self.block.wait()
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((topic, key, value))
        fut: AckFuture = asyncio.get_running_loop().create_future()
        self.acks.append(fut)
        return fut


def _env(uid: str = "1") -> FrameEnvelope:
    return FrameEnvelope(
        id=f"e{uid}",
        ts=1,
        station="CP-1",
        gw="gw",
        conn="c",
        proto="ocpp1.6",
        dir="in",
        kind="call",
        uid=uid,
        action="Heartbeat",
        frame=f'[2,"{uid}","Heartbeat",{{}}]',
    )


def _metric(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, name
    return value


def _inflight_gauge() -> float:
    return _metric("csms_gateway_kafka_inflight")


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_inflight_is_exact_through_ack_failure_and_cancel() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames", max_inflight=10)
    gauge0 = _inflight_gauge()
    failures0 = _metric("csms_gateway_kafka_failures_total")

    acks = [await publisher.publish(_env(str(i))) for i in range(3)]
    assert publisher.inflight == 3
    assert _inflight_gauge() == gauge0 + 3
    assert [s[0] for s in producer.sent] == ["frames"] * 3
    assert producer.sent[0][1] == b"CP-1"

    producer.acks[0].set_result("offset")
    producer.acks[1].set_exception(RuntimeError("not stored"))
    producer.acks[2].cancel()
    await _settle()
    assert publisher.inflight == 0
    assert _inflight_gauge() == gauge0
    assert _metric("csms_gateway_kafka_failures_total") == failures0 + 2
    # What the caller awaits mirrors Kafka's answer.
    assert await acks[0] == "offset"
    with pytest.raises(RuntimeError, match="not stored"):
        await acks[1]
    assert acks[2].cancelled()


async def test_a_caller_giving_up_on_its_ack_keeps_the_frame_counted() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames", max_inflight=1, room_timeout_s=0.05)
    ack = await publisher.publish(_env("1"))
    ack.cancel()  # e.g. the session's writer was cancelled while awaiting it
    await _settle()
    assert publisher.inflight == 1, "still in the producer's buffer, so still in flight"
    with pytest.raises(PublishTimeout):
        await publisher.publish(_env("2"))
    producer.acks[0].set_result(None)
    await _settle()
    assert publisher.inflight == 0


async def test_publish_waits_for_room_and_resumes_on_ack() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames", max_inflight=2, room_timeout_s=30)
    waits0 = _metric("csms_gateway_kafka_publish_waits_total")
    await publisher.publish(_env("1"))
    await publisher.publish(_env("2"))

    third = asyncio.create_task(publisher.publish(_env("3")))
    await _settle()
    assert not third.done(), "a third frame must wait while two are unacknowledged"
    assert len(producer.sent) == 2
    assert publisher.inflight == 2
    assert _metric("csms_gateway_kafka_publish_waits_total") == waits0 + 1

    producer.acks[0].set_result(None)
    await asyncio.wait_for(third, 5)
    assert len(producer.sent) == 3
    assert publisher.inflight == 2
    for ack in producer.acks[1:]:
        ack.set_result(None)
    await _settle()
    assert publisher.inflight == 0


async def test_wait_for_room_is_bounded_by_the_timeout() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames", max_inflight=1, room_timeout_s=0.05)
    timeouts0 = _metric("csms_gateway_kafka_publish_timeouts_total")
    gauge0 = _inflight_gauge()
    await publisher.publish(_env("1"))

    with pytest.raises(PublishTimeout):
        await publisher.publish(_env("2"))
    assert _metric("csms_gateway_kafka_publish_timeouts_total") == timeouts0 + 1
    assert len(producer.sent) == 1, "a frame that timed out never reaches the producer"
    assert publisher.inflight == 1
    assert _inflight_gauge() == gauge0 + 1

    producer.acks[0].set_result(None)
    await _settle()
    await publisher.publish(_env("3"))  # room is back once Kafka acknowledged
    producer.acks[-1].set_result(None)
    await _settle()
    assert publisher.inflight == 0
    assert _inflight_gauge() == gauge0


async def test_a_blocked_producer_buffer_counts_against_the_same_timeout() -> None:
    producer = FakeProducer()
    producer.block = asyncio.Event()  # never set: the producer's batch stays full
    publisher = FramePublisher(producer, "frames", max_inflight=5, room_timeout_s=0.05)
    gauge0 = _inflight_gauge()
    with pytest.raises(PublishTimeout):
        await publisher.publish(_env("1"))
    assert publisher.inflight == 0, "the slot taken for a send that timed out is given back"
    assert _inflight_gauge() == gauge0


async def test_a_refused_send_gives_its_slot_back_and_raises() -> None:
    producer = FakeProducer()
    producer.refuse = RuntimeError("producer closed")
    publisher = FramePublisher(producer, "frames", max_inflight=1)
    with pytest.raises(RuntimeError, match="producer closed"):
        await publisher.publish(_env("1"))
    assert publisher.inflight == 0
    producer.refuse = None
    await publisher.publish(_env("2"))  # the single slot is free again
    producer.acks[-1].set_result(None)
    await _settle()
    assert publisher.inflight == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames", max_inflight=1, room_timeout_s=30)
    await publisher.publish(_env("1"))
    waiter = asyncio.create_task(publisher.publish(_env("2")))
    await _settle()
    waiter.cancel()  # e.g. the session ended while waiting for room
    with pytest.raises(asyncio.CancelledError):
        await waiter
    producer.acks[0].set_result(None)
    await _settle()
    assert publisher.inflight == 0
    await asyncio.wait_for(publisher.publish(_env("3")), 5)
    producer.acks[-1].set_result(None)
    await _settle()
    assert publisher.inflight == 0


async def test_publish_unawaited_swallows_a_timeout_and_counts_it() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames", max_inflight=1, room_timeout_s=0.05)
    failures0 = _metric("csms_gateway_kafka_failures_total")
    await publisher.publish(_env("1"))
    await publisher.publish_unawaited(_env("2"))  # must not raise: nothing awaits out frames
    assert _metric("csms_gateway_kafka_failures_total") == failures0 + 1
    producer.acks[0].set_result(None)
    await _settle()


def test_the_bound_must_allow_one_frame() -> None:
    with pytest.raises(ValueError, match="max_inflight"):
        FramePublisher(FakeProducer(), "frames", max_inflight=0)


async def test_an_unrecoverable_ack_error_raises_the_fatal_flag() -> None:
    producer = FakeProducer()
    publisher = FramePublisher(producer, "frames")
    first = await publisher.publish(_env("1"))
    producer.acks[0].set_exception(RuntimeError("transient"))
    await _settle()
    assert not publisher.fatal.is_set(), "an ordinary failure is answered, not fatal"
    second = await publisher.publish(_env("2"))
    producer.acks[1].set_exception(OutOfOrderSequenceNumber())
    await _settle()
    assert publisher.fatal.is_set()
    with pytest.raises(RuntimeError):
        await first
    with pytest.raises(OutOfOrderSequenceNumber):
        await second
