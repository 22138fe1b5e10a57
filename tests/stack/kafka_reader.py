"""Kafka in stack tests: publish envelopes as a gateway does, and read a topic from offset 0
(every record a predicate keeps, in partition order, waiting up to `within_s` for `min_count`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from csms.envelope import FrameEnvelope, decode
from csms.infra.kafka import ensure_topics, make_producer
from csms.settings import Settings

Record = Any  # aiokafka's ConsumerRecord


async def publish_frames(settings: Settings, envs: list[FrameEnvelope], client_id: str) -> None:
    """Every envelope on the frames topic (created with the CSMS's partitions first), keyed by
    station with the gateway's headers; all acknowledged when this returns."""
    await ensure_topics(settings)
    producer = make_producer(settings, client_id=client_id)
    await producer.start()
    try:
        for env in envs:
            await producer.send(
                settings.topics.frames, env.encode(), key=env.key(), headers=env.headers()
            )
    finally:
        await producer.stop()  # flushes: every frame is in Kafka after this


async def read_records(
    bootstrap: str,
    topic: str,
    keep: Callable[[Record], bool],
    min_count: int,
    within_s: float = 30,
) -> list[Record]:
    # No group: the consumer is assigned every partition and starts at offset 0.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        found: list[Record] = []
        deadline = time.monotonic() + within_s
        while len(found) < min_count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r for r in records if keep(r)]
        return found
    finally:
        await consumer.stop()


async def read_frames(
    bootstrap: str, topic: str, keep: Callable[[FrameEnvelope], bool], min_count: int
) -> list[FrameEnvelope]:
    """Envelopes of `ocpp.frames` that `keep` selects (each record's key and headers checked
    against the envelope contract on the way)."""

    def selected(record: Record) -> bool:
        env = decode(record.value)
        assert record.key == env.station.encode()
        assert dict(record.headers) == {"proto": env.proto.encode(), "action": env.action.encode()}
        return keep(env)

    records = await read_records(bootstrap, topic, selected, min_count)
    return [decode(r.value) for r in records]
