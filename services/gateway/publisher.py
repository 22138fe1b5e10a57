"""Puts envelopes on `ocpp.frames` and tracks their acknowledgement."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from aiokafka import AIOKafkaProducer

from csms.envelope import FrameEnvelope
from services.gateway import metrics

log = logging.getLogger(__name__)

AckFuture = asyncio.Future[object]


class Publisher(Protocol):
    """Where sessions put envelopes (Kafka in production, a list in unit tests)."""

    async def publish(self, env: FrameEnvelope) -> AckFuture: ...

    async def publish_unawaited(self, env: FrameEnvelope) -> None: ...


class FramePublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(self, env: FrameEnvelope) -> AckFuture:
        """Hand one envelope to the producer; the returned future resolves on Kafka's ack.

        Awaiting this call only waits for room in the producer's buffer (backpressure); awaiting
        the returned future waits for durability (acks=all).
        """
        started = time.perf_counter()
        metrics.KAFKA_INFLIGHT.inc()
        try:
            fut: AckFuture = await self._producer.send(
                self._topic, env.encode(), key=env.key(), headers=env.headers()
            )
        except BaseException:
            metrics.KAFKA_INFLIGHT.dec()
            raise
        fut.add_done_callback(lambda f: _on_ack(f, started))
        return fut

    async def publish_unawaited(self, env: FrameEnvelope) -> None:
        """Publish where nothing waits for the ack (out frames, disconnects); failures are
        counted and logged by the ack callback, never lost silently."""
        try:
            await self.publish(env)
        except Exception:
            metrics.KAFKA_FAILURES.inc()
            log.exception("could not publish %s frame of %s", env.kind, env.station)


def _on_ack(fut: AckFuture, started: float) -> None:
    metrics.KAFKA_INFLIGHT.dec()
    if fut.cancelled():
        metrics.KAFKA_FAILURES.inc()
        return
    exc = fut.exception()
    if exc is not None:
        metrics.KAFKA_FAILURES.inc()
        log.warning("kafka did not acknowledge a frame: %r", exc)
        return
    metrics.KAFKA_ACK.observe(time.perf_counter() - started)
