"""FramePublisher's in-flight bound: exact accounting, waiting for room, bounded waits and acks."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from csms.envelope import FrameEnvelope
from services.gateway.publisher import AckCallback, FramePublisher, PublishTimeout
from services.gateway.room import Room


class FakeSink:
    """Stands in for the librdkafka sink: records what was produced; the test answers each
    frame with `ack(i)`/`ack(i, error)`; `full` makes produce() raise BufferError (a full client
    queue) and `refuse` makes it raise that exception."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.callbacks: list[AckCallback] = []
        self.full = False
        self.refuse: Exception | None = None

    def produce(
        self, value: bytes, key: bytes, headers: list[tuple[str, bytes]], done: AckCallback
    ) -> None:
        if self.full:
            raise BufferError("queue full")
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((key, value))
        self.callbacks.append(done)

    def ack(self, i: int, error: BaseException | None = None) -> None:
        self.callbacks[i](error)


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


async def test_inflight_is_exact_through_ack_and_failure() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=10)
    gauge0 = _inflight_gauge()
    failures0 = _metric("csms_gateway_kafka_failures_total")

    acks = [await publisher.publish(_env(str(i))) for i in range(2)]
    assert publisher.inflight == 2
    assert _inflight_gauge() == gauge0 + 2
    assert sink.sent[0][0] == b"CP-1", "key = station id"
    assert b'"uid":"0"' in sink.sent[0][1]

    sink.ack(0)
    sink.ack(1, RuntimeError("not stored"))
    assert publisher.inflight == 0
    assert _inflight_gauge() == gauge0
    assert _metric("csms_gateway_kafka_failures_total") == failures0 + 1
    # What the caller awaits mirrors Kafka's answer.
    assert await acks[0] is None
    with pytest.raises(RuntimeError, match="not stored"):
        await acks[1]


async def test_a_caller_giving_up_on_its_ack_keeps_the_frame_counted() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=1, room_timeout_s=0.05)
    ack = await publisher.publish(_env("1"))
    ack.cancel()  # e.g. the session's writer was cancelled while awaiting it
    await _settle()
    assert publisher.inflight == 1, "still in the producer's buffer, so still in flight"
    with pytest.raises(PublishTimeout):
        await publisher.publish(_env("2"))
    sink.ack(0)
    await _settle()
    assert publisher.inflight == 0


async def test_publish_waits_for_room_and_resumes_on_ack() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=2, room_timeout_s=30)
    waits0 = _metric("csms_gateway_kafka_publish_waits_total")
    await publisher.publish(_env("1"))
    await publisher.publish(_env("2"))

    third = asyncio.create_task(publisher.publish(_env("3")))
    await _settle()
    assert not third.done(), "a third frame must wait while two are unacknowledged"
    assert len(sink.sent) == 2
    assert publisher.inflight == 2
    assert _metric("csms_gateway_kafka_publish_waits_total") == waits0 + 1

    sink.ack(0)
    await asyncio.wait_for(third, 5)
    assert len(sink.sent) == 3
    assert publisher.inflight == 2
    sink.ack(1)
    sink.ack(2)
    await _settle()
    assert publisher.inflight == 0


async def test_wait_for_room_is_bounded_by_the_timeout() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=1, room_timeout_s=0.05)
    timeouts0 = _metric("csms_gateway_kafka_publish_timeouts_total")
    gauge0 = _inflight_gauge()
    await publisher.publish(_env("1"))

    with pytest.raises(PublishTimeout):
        await publisher.publish(_env("2"))
    assert _metric("csms_gateway_kafka_publish_timeouts_total") == timeouts0 + 1
    assert len(sink.sent) == 1, "a frame that timed out never reaches the producer"
    assert publisher.inflight == 1
    assert _inflight_gauge() == gauge0 + 1

    sink.ack(0)
    await _settle()
    await publisher.publish(_env("3"))  # room is back once Kafka acknowledged
    sink.ack(-1)
    await _settle()
    assert publisher.inflight == 0
    assert _inflight_gauge() == gauge0


async def test_a_blocked_producer_buffer_counts_against_the_same_timeout() -> None:
    sink = FakeSink()
    sink.full = True  # the client's queue stays full
    publisher = FramePublisher(sink, max_inflight=5, room_timeout_s=0.05)
    gauge0 = _inflight_gauge()
    with pytest.raises(PublishTimeout):
        await publisher.publish(_env("1"))
    assert publisher.inflight == 0, "the slot taken for a send that timed out is given back"
    assert _inflight_gauge() == gauge0


async def test_a_refused_send_gives_its_slot_back_and_raises() -> None:
    sink = FakeSink()
    sink.refuse = RuntimeError("producer closed")
    publisher = FramePublisher(sink, max_inflight=1)
    with pytest.raises(RuntimeError, match="producer closed"):
        await publisher.publish(_env("1"))
    assert publisher.inflight == 0
    sink.refuse = None
    await publisher.publish(_env("2"))  # the single slot is free again
    sink.ack(-1)
    await _settle()
    assert publisher.inflight == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=1, room_timeout_s=30)
    await publisher.publish(_env("1"))
    waiter = asyncio.create_task(publisher.publish(_env("2")))
    await _settle()
    waiter.cancel()  # e.g. the session ended while waiting for room
    with pytest.raises(asyncio.CancelledError):
        await waiter
    sink.ack(0)
    await _settle()
    assert publisher.inflight == 0
    await asyncio.wait_for(publisher.publish(_env("3")), 5)
    sink.ack(-1)
    await _settle()
    assert publisher.inflight == 0


async def test_publish_unawaited_swallows_a_timeout_and_counts_it() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=1, room_timeout_s=0.05)
    failures0 = _metric("csms_gateway_kafka_failures_total")
    await publisher.publish(_env("1"))
    await publisher.publish_unawaited(_env("2"))  # must not raise: nothing awaits out frames
    assert _metric("csms_gateway_kafka_failures_total") == failures0 + 1
    sink.ack(0)
    await _settle()


async def test_an_unawaited_frame_holds_its_slot_until_kafka_answers_and_a_refusal_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=2)
    failures0 = _metric("csms_gateway_kafka_failures_total")
    await publisher.publish_unawaited(_env("1"))
    await publisher.publish_unawaited(_env("2"))
    assert publisher.inflight == 2 and len(sink.sent) == 2
    sink.ack(0)
    sink.ack(1, RuntimeError("broker said no"))
    assert publisher.inflight == 0
    assert _metric("csms_gateway_kafka_failures_total") == failures0 + 1
    assert "did not acknowledge a call frame of CP-1" in caplog.text


def test_the_bound_must_allow_one_frame() -> None:
    with pytest.raises(ValueError, match="max_inflight"):
        FramePublisher(FakeSink(), max_inflight=0)


async def test_a_fatal_client_error_raises_the_fatal_flag_once() -> None:
    publisher = FramePublisher(FakeSink())
    assert not publisher.fatal.is_set()
    publisher.fail("producer fenced")
    publisher.fail("again")
    assert publisher.fatal.is_set()


async def test_an_ack_kafka_never_gives_fails_after_the_ack_timeout() -> None:
    sink = FakeSink()
    publisher = FramePublisher(sink, max_inflight=2, ack_timeout_s=0.1)
    answered = await publisher.publish(_env("1"))
    silent = await publisher.publish(_env("2"))
    sink.ack(0)
    with pytest.raises(PublishTimeout, match="no ack"):
        await asyncio.wait_for(silent, 5)
    assert await answered is None
    assert publisher.inflight == 1, "the slot follows the client's queue, not the deadline"
    sink.ack(1)  # Kafka answers late: accounted, the failed future stays as it was
    assert publisher.inflight == 0
    await publisher.close()


async def test_room_hands_a_slot_to_the_oldest_waiter() -> None:
    room = Room(1)
    assert room.try_take()
    assert not room.try_take()
    first = asyncio.create_task(room.take())
    second = asyncio.create_task(room.take())
    await _settle()
    room.give()
    await _settle()
    assert first.done() and not second.done()
    second.cancel()
    await _settle()
    room.give()  # the cancelled waiter is skipped: the slot goes back to the pool
    assert room.free == 1
