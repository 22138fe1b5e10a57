"""Kafka client factories: one place that sets durability and compression for the whole CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from csms.settings import Settings

log = logging.getLogger(__name__)


def make_producer(settings: Settings, *, client_id: str) -> AIOKafkaProducer:
    """A durable, ordered producer: acks=all + idempotence keeps each station's frames in
    receive order with no duplicates on retry; zstd batches cut bytes per frame ~20-40x."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        compression_type="zstd",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=settings.kafka_request_timeout_ms,
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


async def ensure_topics(settings: Settings, *, attempts: int = 30) -> None:
    """Create the CSMS topics if they do not exist (idempotent; waits for the broker)."""
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [
                NewTopic(name=t, num_partitions=settings.kafka_partitions, replication_factor=1)
                for t in settings.topics.all()
                if t not in existing
            ]
            if wanted:
                # Another process may create them first: that is the goal, not an error.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
            return
        except KafkaConnectionError:
            log.info("kafka not reachable yet (attempt %d/%d)", attempt + 1, attempts)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
    raise RuntimeError(f"Kafka at {settings.kafka_bootstrap} not reachable")
