"""The gateway's Kafka client: librdkafka (confluent-kafka) under the FramePublisher.

Why not aiokafka here (docs/adr/0010-gateway-kafka-client-librdkafka.md): aiokafka encodes,
compresses and sends in Python on the event loop, ≈ 45-90 µs of the gateway's only core per
frame, and it never resets its idempotent producer id, so one batch expired during a broker
outage poisoned a partition until the gateway restarted. librdkafka does all of that in its own
C threads (outside the GIL): a frame costs the event loop only the `produce()` call, and it
recovers its idempotent state by itself, like the Java client. The rest of the CSMS keeps
aiokafka (faust is built on it).

Delivery reports arrive on one poller thread and are handed to the event loop in batches: one
cross-thread wake-up per poll, not one per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from csms.infra.kafka import producer_config
from csms.settings import Settings
from services.gateway.publisher import AckCallback

log = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.05
# produce() errors that mean "the topic's metadata is missing for a moment" (librdkafka marks a
# known topic non-existent on one stale "unknown topic" answer, confluentinc/librdkafka#4904):
# reported as a full queue, so the publisher waits and retries within its bound.
_METADATA_NOT_YET = frozenset({KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION})


class LibrdkafkaSink:
    """FrameSink (services.gateway.publisher) on confluent-kafka's Producer."""

    def __init__(self, settings: Settings, topic: str, *, client_id: str) -> None:
        config = producer_config(settings, client_id=client_id)
        config["error_cb"] = self._on_error
        config["linger.ms"] = settings.gateway_kafka_linger_ms  # fewer, larger batches: ADR 0027
        self._producer = Producer(config)
        self._topic = topic
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: deque[tuple[AckCallback, KafkaError | None]] = deque()
        self._running = False
        self._poller: threading.Thread | None = None
        self._on_fatal: list[Callable[[str], None]] = []

    def on_fatal(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` on the event loop once the client is unusable for good."""
        self._on_fatal.append(callback)

    async def start(self, timeout_s: float = 30.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-acks", daemon=True)
        self._poller.start()
        # Fail early, like aiokafka's start(), when the cluster cannot be reached at all; and
        # accept no station before every partition of a just-created topic has a leader, so the
        # first frames never race the topic's creation.
        deadline = time.monotonic() + timeout_s
        while not await asyncio.to_thread(self._topic_ready, timeout_s):
            if time.monotonic() > deadline:
                raise KafkaException(f"topic {self._topic} has partitions without a leader")
            await asyncio.sleep(0.2)

    def _topic_ready(self, timeout_s: float) -> bool:
        topic = self._producer.list_topics(self._topic, timeout_s).topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        return all(p.leader >= 0 and p.error is None for p in topic.partitions.values())

    async def stop(self, timeout_s: float = 30.0) -> None:
        remaining = await asyncio.to_thread(self._producer.flush, timeout_s)
        if remaining:
            log.warning("%d frames were not acknowledged by Kafka at shutdown", remaining)
        self._running = False
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join)
        self._deliver_reports()

    def produce(
        self, value: bytes, key: bytes, headers: list[tuple[str, bytes]], done: AckCallback
    ) -> None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            self._reports.append((done, err))  # poller thread: the loop resolves it in a batch

        try:
            self._producer.produce(
                self._topic, value, key, headers=cast(Any, headers), on_delivery=on_delivery
            )
        except KafkaException as exc:
            if exc.args[0].code() in _METADATA_NOT_YET:
                raise BufferError(str(exc)) from exc
            raise

    # -- poller thread --------------------------------------------------------------------------

    def _poll_forever(self) -> None:
        while self._running:
            if self._producer.poll(_POLL_INTERVAL_S) and self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                    self._loop.call_soon_threadsafe(self._deliver_reports)

    def _on_error(self, err: KafkaError) -> None:
        # Broker down and the like are transient: librdkafka retries by itself (logged only).
        if not err.fatal():
            log.warning("kafka: %s", err)
            return
        if self._loop is not None:
            for callback in self._on_fatal:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(callback, str(err))

    # -- event loop -----------------------------------------------------------------------------

    def _deliver_reports(self) -> None:
        reports = self._reports
        while reports:
            done, err = reports.popleft()
            done(None if err is None else KafkaException(err))
