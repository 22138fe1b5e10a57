"""The processors' and the replay's outputs on a librdkafka producer (confluent-kafka).

Durable like the gateway's producer (acks=all, idempotence, zstd, murmur2 partitions), but
batching for throughput rather than latency: `send` only queues (≈ 2 µs, no await), and
`delivered()` / `flush()` wait until Kafka acknowledged everything queued so far. The live
processors call `delivered()` at the end of each batch, before they write Redis and ack the
batch's events (ADR 0013), so a crash can redo an output, never lose it. faust's own producer
(aiokafka, pure Python) spent ≈ 60-100 µs of the event loop per record; this is ADR 0022.
"""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import KafkaError, Producer

from csms.infra.kafka import producer_config
from csms.settings import Settings


class OutputsLost(RuntimeError):
    """Some output was not acknowledged by Kafka (the message says how many, or why)."""


class KafkaOutputs:
    """`csms.projections.pipeline.Outputs` on librdkafka."""

    def __init__(self, settings: Settings, *, client_id: str, linger_ms: int = 20) -> None:
        config = producer_config(settings, client_id=client_id)
        config.update(
            {
                "linger.ms": linger_ms,
                "batch.size": 1024 * 1024,
                "queue.buffering.max.messages": 500_000,
                "queue.buffering.max.kbytes": 128 * 1024,  # bounded: send() waits when full
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
            }
        )
        self._config = config
        self._made: Producer | None = None  # connects on the first output, not when built
        self.sent: dict[str, int] = {}
        self.errors: list[str] = []
        self._since_poll = 0

    @property
    def _producer(self) -> Producer:
        if self._made is None:
            self._made = Producer(self._config)
        return self._made

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None and len(self.errors) < 20:
            self.errors.append(str(err))

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key)
                break
            except BufferError:
                # The local queue is full: serve delivery reports and let librdkafka drain it.
                self._producer.poll(0)
                await asyncio.sleep(0.01)
        self.sent[topic] = self.sent.get(topic, 0) + 1
        self._since_poll += 1
        if self._since_poll >= 1000:  # serve delivery reports (only errors) now and then
            self._since_poll = 0
            self._producer.poll(0)

    def flush(self, timeout_s: float = 120.0) -> None:
        """Block until Kafka acknowledged every output; raise OutputsLost if any was not."""
        remaining = 0 if self._made is None else self._made.flush(timeout_s)
        self._raise_if_lost(remaining)

    async def delivered(self, timeout_s: float = 120.0) -> None:
        """`flush()` without blocking the event loop (librdkafka waits in a thread)."""
        if self._made is None or (len(self._made) == 0 and not self.errors):
            return
        remaining = await asyncio.to_thread(self._producer.flush, timeout_s)
        self._raise_if_lost(remaining)

    def _raise_if_lost(self, remaining: int) -> None:
        if remaining:
            raise OutputsLost(f"{remaining} outputs not acknowledged by Kafka")
        if self.errors:
            errors, self.errors = self.errors, []
            raise OutputsLost(f"outputs failed: {'; '.join(errors)}")
