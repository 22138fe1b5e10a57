"""The agents' input on librdkafka (ADR 0023): batches of records of their topics, folded in
partition order, written, then committed. The frames agent reads `ocpp.frames` and
`csms.policy` in the group `processors_app_id` (whose offsets it always used); the billing reads
`csms.transactions` in `processors_billing_group`.

faust delivered the events one at a time through its stream machinery (its consumer
thread, per-event tasks, timeouts and acks): about a quarter of the worker's CPU, as much as the
whole per-frame budget at 5,000 frames/s. Here one `consume()` call in a worker thread returns up
to `processors_batch_max` records; the event loop folds them (`handle_one`), writes the batch
(`write`: outputs acknowledged by Kafka, then the Redis flush) and only then commits their
offsets, so a crash or a stop in between redelivers them (at least once; the folds are
idempotent). faust keeps the web page, the timers and the leader election (its own group,
`processors_faust_app_id`, with no topic to consume).

A rebalance can only happen inside `consume()`, when the previous batch is written and
committed: the revoke callback then marks the write-behind copy stale, and it is forgotten
before the next records are folded (another worker may have written those keys meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from csms.projections.pipeline import INFRA_ERRORS, handle_batch
from csms.settings import Settings

log = logging.getLogger(__name__)


class BatchConsumer:
    def __init__(
        self,
        name: str,
        settings: Settings,
        topics: list[str],
        group: str,
        handle_one: Callable[[object], Awaitable[None]],
        write: Callable[[], Awaitable[int]],
        forget_copy: Callable[[], None],
        prefetch: Callable[[set[str]], Awaitable[object]] | None = None,
    ) -> None:
        self.name = name
        self._topics = topics
        self._batch = (settings.processors_batch_max, settings.processors_batch_s)
        self._handle_one = handle_one
        self._write = write
        self._forget_copy = forget_copy
        self._prefetch = prefetch
        self._config: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "client.id": f"{settings.processors_app_id}-{name}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # As faust's: a worker killed without a goodbye holds its partitions for 10 s.
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 3_000,
            # librdkafka prefetches up to 64 MiB per consumer by default, held natively while
            # the worker lags (a loaded probe: ≈ 100 MiB of the processors' RSS); 16 MiB is
            # still thousands of frames ahead of the fold.
            "queued.max.messages.kbytes": 16 * 1024,
            "log_level": 4,
        }
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-consumer")
        self._stopping = False
        self._stale = False

    def stop(self) -> None:
        """Leave after the batch in hand (it is written and committed first)."""
        self._stopping = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        consumer = Consumer(self._config)
        consumer.subscribe(self._topics, on_revoke=self._on_revoke)
        try:
            while not self._stopping:
                records = await loop.run_in_executor(
                    self._thread, consumer.consume, self._batch[0], self._batch[1]
                )
                if self._stale:
                    self._stale = False
                    self._forget_copy()
                if records:
                    await self.fold_and_commit(consumer, records)
        finally:
            # No consume() may run while the consumer closes: wait for the thread to be idle.
            self._thread.shutdown(wait=True)
            consumer.close()  # leaves the group: the others take the partitions at once

    async def fold_and_commit(self, consumer: Consumer, records: list[Message]) -> None:
        """One batch: folded, written (outputs, Redis), then its offsets committed."""
        ends: dict[tuple[str, int], int] = {}
        values: list[bytes] = []
        stations: set[str] = set()
        for record in records:
            if record.error() is not None:
                log.warning("%s consumer: %s", self.name, record.error())
                continue
            values.append(record.value() or b"")
            if self._prefetch is not None:
                stations.add((record.key() or b"").decode(errors="replace"))
            ends[(record.topic() or "", record.partition() or 0)] = (record.offset() or 0) + 1
        await self._load_ahead(stations)
        # The steps, then outputs and Redis (retried while Redis is away), as every agent.
        await handle_batch(self.name, values, self._handle_one, self._write)
        if ends:
            offsets = [TopicPartition(t, p, o) for (t, p), o in ends.items()]
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._commit, consumer, offsets)

    async def _load_ahead(self, stations: set[str]) -> None:
        """The batch's stations' state in one round trip (the records' key is the station): a
        failure only leaves each key to its first read, which retries while Redis is away."""
        if self._prefetch is None:
            return
        try:
            await self._prefetch(stations)
        except INFRA_ERRORS as exc:
            log.warning("%s: batch prefetch failed (%s); keys load at first read", self.name, exc)

    @staticmethod
    def _commit(consumer: Consumer, offsets: list[TopicPartition]) -> None:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # A rebalance took the partitions: the next owner folds those records again.
            log.warning("offsets not committed (%s): their records will be redelivered", exc)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._stale = True
