"""The replay's Kafka edge, on librdkafka (confluent-kafka): what to read, reading it, publishing
the outputs, and the processors' consumer group (is it empty? move its offsets)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
)
from confluent_kafka import TopicPartition as TP

from csms.infra import kafka_groups
from csms.settings import Settings
from services.replay.fold import Record

log = logging.getLogger(__name__)

_TIMEOUT_S = 30.0


class ReplayError(RuntimeError):
    """The replay cannot go on (or must not commit); the message says why."""


@dataclass(frozen=True, slots=True)
class Span:
    """The records of one partition the replay folds: offsets [low, high)."""

    topic: str
    partition: int
    low: int
    high: int

    @property
    def count(self) -> int:
        return self.high - self.low


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the CSMS's producers (librdkafka murmur2_random, aiokafka, faust, Java)
    choose for a key."""
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def capture_spans(
    settings: Settings, topics: list[str], *, optional: tuple[str, ...] = ()
) -> list[Span]:
    """Every partition of `topics` from its first retained offset to its end offset now: the
    fold stops there, and the processors' group is moved there afterwards. A missing topic is
    an error (a mistyped prefix must not wipe the read model), unless it is `optional`."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": "csms-replay-probe"}
    )
    try:
        spans: list[Span] = []
        metadata = consumer.list_topics(timeout=_TIMEOUT_S)
        for topic in topics:
            described = metadata.topics.get(topic)
            if described is None and topic in optional:
                continue
            if described is None or described.error is not None:
                raise ReplayError(f"topic {topic} does not exist (or is unreadable)")
            for partition in sorted(described.partitions):
                low, high = consumer.get_watermark_offsets(
                    TP(topic, partition), timeout=_TIMEOUT_S, cached=False
                )
                spans.append(Span(topic, partition, low, high))
        return spans
    finally:
        consumer.close()


def group_members(settings: Settings, group: str) -> list[str]:
    """The active members of a consumer group (client id @ host); empty when none."""
    client = kafka_groups.admin(settings)  # kept referenced: the futures die with their client
    futures = client.describe_consumer_groups([group], request_timeout=_TIMEOUT_S)
    try:
        description = futures[group].result(timeout=_TIMEOUT_S * 2)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
            return []
        raise
    return [f"{m.client_id}@{m.host}" for m in description.members]


def commit_group(settings: Settings, group: str, spans: list[Span]) -> None:
    """Set the group's committed offsets to the spans' ends (the group must be empty)."""
    try:
        kafka_groups.set_offsets(settings, group, [TP(s.topic, s.partition, s.high) for s in spans])
    except kafka_groups.GroupOffsetsError as exc:
        raise ReplayError(str(exc)) from exc


def committed(settings: Settings, group: str, spans: list[Span]) -> dict[tuple[str, int], int]:
    """The group's committed offset per (topic, partition); -1001 (invalid) = none."""
    return kafka_groups.committed_offsets(
        settings, group, [TP(s.topic, s.partition) for s in spans]
    )


def read_spans(
    settings: Settings, spans: list[Span], batch: int = 10_000
) -> Iterator[list[Record]]:
    """The records of `spans` in batches, each partition in offset order, nothing at or past a
    span's end. A plain assigned consumer: it joins no group and commits nothing."""
    todo = {(s.topic, s.partition): s for s in spans if s.count > 0}
    if not todo:
        return
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            # Required by librdkafka; never joined (assign, not subscribe), never committed.
            "group.id": f"{settings.processors_app_id}-replay-reader",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "queued.max.messages.kbytes": 64 * 1024,  # prefetch while Python folds (bounded)
        }
    )
    try:
        consumer.assign([TP(s.topic, s.partition, s.low) for s in todo.values()])
        idle_since = time.monotonic()
        while todo:
            messages = consumer.consume(num_messages=batch, timeout=1.0)
            before = set(todo)
            records = _records(messages, todo)
            if not records:
                _finish_at_position(consumer, todo)
            if done := before - set(todo):
                # Stations may keep sending while the replay runs: fetch no further there.
                consumer.pause([TP(topic, partition) for topic, partition in done])
            if records:
                idle_since = time.monotonic()
                yield records
            elif todo and time.monotonic() - idle_since > _TIMEOUT_S:
                raise ReplayError(f"no records for {_TIMEOUT_S:.0f} s from {sorted(todo)}")
    finally:
        consumer.close()


def _records(messages: list[Any], todo: dict[tuple[str, int], Span]) -> list[Record]:
    records: list[Record] = []
    for msg in messages:
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise ReplayError(f"reading Kafka: {error}")
        tp = (msg.topic(), msg.partition())
        span = todo.get(tp)
        offset = msg.offset()
        if span is None or offset >= span.high:
            continue  # a partition already done: records written after the replay started
        records.append(Record(tp[0], msg.key() or b"", msg.timestamp()[1], offset, msg.value()))
        if offset >= span.high - 1:
            del todo[tp]
    return records


def _finish_at_position(consumer: Consumer, todo: dict[tuple[str, int], Span]) -> None:
    """Partitions whose position passed the end without a record at end-1 (compaction or
    transaction markers) are done too."""
    for tp in consumer.position([TP(t, p) for t, p in todo]):
        if tp.offset >= 0 and tp.offset >= todo[(tp.topic, tp.partition)].high:
            del todo[(tp.topic, tp.partition)]
