"""Puts envelopes on `ocpp.frames` and tracks their acknowledgement.

The gateway holds at most `max_inflight` frames that Kafka has not acknowledged yet, over all its
connections. When Kafka is slow or down that bound fills up and `publish()` waits for room; a
session awaits `publish()` before it reads its next frame, so the gateway stops reading sockets
instead of buffering without limit. The wait is itself bounded: after `room_timeout_s` publish()
raises `PublishTimeout` and the session closes that one connection (1011), promising nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from csms.envelope import FrameEnvelope
from services.gateway import metrics

log = logging.getLogger(__name__)

AckFuture = asyncio.Future[object]

DEFAULT_MAX_INFLIGHT = 10_000
DEFAULT_ROOM_TIMEOUT_S = 10.0


class Publisher(Protocol):
    """Where sessions put envelopes (Kafka in production, a list in unit tests)."""

    async def publish(self, env: FrameEnvelope) -> AckFuture: ...

    async def publish_unawaited(self, env: FrameEnvelope) -> None: ...


class Producer(Protocol):
    """The part of AIOKafkaProducer the publisher uses (a fake in unit tests)."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> AckFuture: ...


# Ack failures after which this producer never succeeds again on that partition: aiokafka does not
# reset its idempotent producer id (the Java client does), so every later batch fails the same way.
# Only a new producer (a restarted gateway) recovers. See csms.infra.kafka.MIN_REQUEST_TIMEOUT_MS.
FATAL_ACK_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


class PublishTimeout(Exception):
    """No room for one more unacknowledged frame within the timeout: Kafka is slow or down."""


class FramePublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer | Producer,
        topic: str,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        room_timeout_s: float = DEFAULT_ROOM_TIMEOUT_S,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self._producer = producer
        self._topic = topic
        self._room = asyncio.Semaphore(max_inflight)
        self._room_timeout_s = room_timeout_s
        self._inflight = 0
        self.max_inflight = max_inflight
        # Set once Kafka answered in a way this producer cannot recover from (FATAL_ACK_ERRORS):
        # the gateway should stop (drain) and be restarted with a fresh producer.
        self.fatal = asyncio.Event()

    @property
    def inflight(self) -> int:
        """Frames handed to the producer whose ack (or failure) has not arrived yet."""
        return self._inflight

    async def publish(self, env: FrameEnvelope) -> AckFuture:
        """Hand one envelope to the producer; the returned future resolves on Kafka's ack.

        Awaiting this call waits for room under the gateway's in-flight bound and in the
        producer's buffer (backpressure), at most `room_timeout_s` (then `PublishTimeout`);
        awaiting the returned future waits for durability (acks=all).
        """
        value, key, headers = env.encode(), env.key(), env.headers()
        if self._room.locked():
            metrics.KAFKA_PUBLISH_WAITS.inc()
        try:
            # One deadline for both waits. Cancelling send() is safe: it appends the record to a
            # batch without awaiting, so a cancelled send never leaves a half-queued frame.
            async with asyncio.timeout(self._room_timeout_s):
                await self._room.acquire()
                self._taken()
                started = time.perf_counter()
                try:
                    fut: AckFuture = await self._producer.send(
                        self._topic, value, key=key, headers=headers
                    )
                except BaseException:
                    self._given_back()
                    raise
        except TimeoutError:
            metrics.KAFKA_PUBLISH_TIMEOUTS.inc()
            raise PublishTimeout(
                f"no room for a frame within {self._room_timeout_s}s "
                f"({self._inflight} unacknowledged)"
            ) from None
        # The caller gets its own future: if it cancels it (a session ending, a timeout around
        # the await), the producer's future - and so the in-flight accounting - is untouched.
        ack: AckFuture = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: self._on_ack(f, started, ack))
        return ack

    async def publish_unawaited(self, env: FrameEnvelope) -> None:
        """Publish where nothing waits for the ack (out frames, disconnects); failures are
        counted and logged by the ack callback, never lost silently."""
        try:
            ack = await self.publish(env)
        except PublishTimeout as exc:
            metrics.KAFKA_FAILURES.inc()
            log.warning("could not publish %s frame of %s: %s", env.kind, env.station, exc)
        except Exception:
            metrics.KAFKA_FAILURES.inc()
            log.exception("could not publish %s frame of %s", env.kind, env.station)
        else:
            ack.add_done_callback(_retrieve)

    def _taken(self) -> None:
        self._inflight += 1
        metrics.KAFKA_INFLIGHT.inc()

    def _given_back(self) -> None:
        self._inflight -= 1
        metrics.KAFKA_INFLIGHT.dec()
        self._room.release()

    def _on_ack(self, fut: AckFuture, started: float, ack: AckFuture) -> None:
        self._given_back()
        if fut.cancelled():
            metrics.KAFKA_FAILURES.inc()
            if not ack.done():
                ack.cancel()
            return
        exc = fut.exception()
        if exc is not None:
            metrics.KAFKA_FAILURES.inc()
            log.warning("kafka did not acknowledge a frame: %r", exc)
            if isinstance(exc, FATAL_ACK_ERRORS) and not self.fatal.is_set():
                log.error("kafka producer is unusable (%r): the gateway must restart", exc)
                self.fatal.set()
            if not ack.done():
                ack.set_exception(exc)
            return
        metrics.KAFKA_ACK.observe(time.perf_counter() - started)
        if not ack.done():
            ack.set_result(fut.result())


def _retrieve(ack: AckFuture) -> None:
    """Nobody awaits this ack: mark its failure as seen (it is counted and logged already)."""
    if not ack.cancelled():
        ack.exception()
