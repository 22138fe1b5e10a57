"""Kafka client factories: one place that sets durability and compression for the whole CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from csms.settings import Settings

log = logging.getLogger(__name__)

TOPIC_READY_TIMEOUT_S = 30.0


# How long a batch may wait for a partition leader before aiokafka fails it. A graceful broker stop
# sets every leader to "none" (-1) before the broker goes away, and a restart keeps it so until the
# broker is unfenced again: 30-40 s for a stop + start on a busy 2-core machine. A batch failed
# that way has consumed idempotent sequence numbers without being written, so the next batch of
# that partition gets OutOfOrderSequenceNumber - and so does every later one: aiokafka never
# resets the producer id, the partition is dead for this producer until it is restarted. So this
# window must outlast any restart we mean to ride over; 120 s is also the Java client's
# delivery.timeout.ms. aiokafka has one knob for it, request_timeout_ms (which also bounds one
# produce round trip and a send() waiting for room in a full batch): Settings
# kafka_request_timeout_ms, 120 s by default.


def make_producer(settings: Settings, *, client_id: str) -> AIOKafkaProducer:
    """A durable, ordered producer: acks=all + idempotence keeps each station's frames in
    receive order with no duplicates on retry; zstd batches cut bytes per frame ~20-40x.

    Behaviour when the broker is slow or down (aiokafka 0.14, read from its source and measured
    against a stop/start of a local KRaft broker):
    * With idempotence a batch is retried until it succeeds - across a broker restart too, with
      the same producer id, epoch and sequence numbers, so the broker drops a retried batch it had
      already written (no duplicates: it remembers the last 5 batches of each producer per
      partition, restored from its log on restart) and keeps each partition in order. Only a
      batch whose partition has no leader for longer than request_timeout_ms fails (see above).
    * send() returns at once while the batch for the partition has room; when it is full, send()
      waits until the sender takes it, up to request_timeout_ms, then raises KafkaTimeoutError.
      send() also waits for the topic's metadata when it is unknown (never for a topic already
      used). Callers bound these waits themselves.
    * A produce request to an unreachable leader is retried every retry_backoff_ms. But while a
      partition has no known leader, the sender asks for metadata again as soon as the previous
      attempt failed (no backoff in aiokafka 0.14), logging a warning each time: CPU and log
      noise during an outage, not data loss.
    """
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        compression_type="zstd",
        # Small: callers wait for the ack (the API before it answers), so linger is latency.
        linger_ms=settings.kafka_linger_ms,
        # Per partition: a full batch makes send() wait (backpressure). 256 KB of ~300-byte frames
        # is ~800 frames, enough for one partition's share of 20,000 frames/s at a few ms per
        # round trip; memory is at most ~2 batches per partition (one in flight, one filling).
        max_batch_size=256 * 1024,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        # Retry pace of a failed produce request: low enough to resume within a fraction of a
        # second once the broker is back, high enough not to hammer a recovering broker.
        retry_backoff_ms=200,
    )


def make_consumer(settings: Settings, *topics: str, group_id: str) -> AIOKafkaConsumer:
    """A consumer that commits explicitly, after its work is durable elsewhere."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
        fetch_max_bytes=16 * 1024 * 1024,
        isolation_level="read_uncommitted",
    )


async def _wait_until_led(
    admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float = TOPIC_READY_TIMEOUT_S
) -> None:
    """Wait (bounded) until the broker describes every new topic with a leader per partition:
    CreateTopics answers before the broker's metadata has them, and a client that asks in
    between is told "unknown topic" (librdkafka then fails what it holds for that topic)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(_led(topic) for topic in await admin.describe_topics(topics)):
            return
        await asyncio.sleep(0.2)
    log.warning("topics %s still without a leader after %.0f s; going on", topics, timeout_s)


def _led(topic: dict[str, Any]) -> bool:
    partitions = topic["partitions"]
    return bool(
        topic["error_code"] == 0 and partitions and all(p["leader"] >= 0 for p in partitions)
    )


async def ensure_topics(settings: Settings, *, attempts: int = 30) -> None:
    """Create the CSMS topics if they do not exist (idempotent; waits for the broker)."""
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [
                NewTopic(
                    name=t,
                    num_partitions=settings.kafka_partitions,
                    replication_factor=settings.kafka_replication_factor,
                )
                for t in settings.topics.all()
                if t not in existing
            ]
            if wanted:
                # Another process may create them first: that is the goal, not an error.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
                await _wait_until_led(admin, [t.name for t in wanted])
            return
        except KafkaConnectionError:
            log.info("kafka not reachable yet (attempt %d/%d)", attempt + 1, attempts)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
    raise RuntimeError(f"Kafka at {settings.kafka_bootstrap} not reachable")


def producer_config(settings: Settings, *, client_id: str) -> dict[str, Any]:
    """Durable and ordered: acks=all + idempotence keeps each station's frames in receive order
    with no duplicates on retry; zstd batches cut the bytes per frame."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,  # implies acks=all, retries, ≤ 5 requests in flight
        "acks": "all",
        "compression.type": "zstd",
        # Small: the gateway answers a station only after the ack, so linger is added latency.
        "linger.ms": settings.kafka_linger_ms,
        # The same partition for a station as the Java client, aiokafka and faust would choose.
        "partitioner": "murmur2_random",
        # How long a frame may wait for its ack, retries included: long enough to ride over a
        # broker restart (120 s by default, the Java client's delivery.timeout.ms).
        "message.timeout.ms": settings.kafka_request_timeout_ms,
        # A broker may answer "unknown topic" for a while after the topic was created (KRaft
        # metadata propagation, seconds under load): hold the frames as long as a frame may wait
        # for its ack anyway, instead of failing them after librdkafka's default 30 s.
        "topic.metadata.propagation.max.ms": settings.kafka_request_timeout_ms,
        "retry.backoff.ms": 200,
        "log.connection.close": False,
    }
