"""A consumer group's committed offsets, read and set from outside the group (librdkafka):
`csms replay` moves the processors' groups to where it folded, and the processors seed a new
group from an old one on upgrade (services/processors/upgrade.py)."""

from __future__ import annotations

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from csms.settings import Settings

TIMEOUT_S = 30.0


class GroupOffsetsError(RuntimeError):
    """Kafka refused to set some of a group's offsets (the message lists them)."""


def admin(settings: Settings) -> AdminClient:
    # log_level 4: no info lines about events purged when a short-lived admin client closes.
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 4})


def committed_offsets(
    settings: Settings, group: str, partitions: list[TopicPartition]
) -> dict[tuple[str, int], int]:
    """The group's committed offset per (topic, partition); -1001 (invalid) = none."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": group, "log_level": 4}
    )
    try:
        found = consumer.committed(partitions, timeout=TIMEOUT_S)
        return {(tp.topic, tp.partition): tp.offset for tp in found}
    finally:
        consumer.close()


def set_offsets(settings: Settings, group: str, offsets: list[TopicPartition]) -> None:
    """Set the group's committed offsets (Kafka refuses it while the group has members)."""
    if not offsets:
        return
    client = admin(settings)  # kept referenced: the futures die with their client
    request = ConsumerGroupTopicPartitions(group, offsets)
    futures = client.alter_consumer_group_offsets([request], request_timeout=TIMEOUT_S)
    result = futures[group].result(timeout=TIMEOUT_S * 2)
    failed = [tp for tp in result.topic_partitions if tp.error is not None]
    if failed:
        raise GroupOffsetsError(f"could not commit the offsets of group {group}: {failed}")
