"""The librdkafka sink's produce(): a topic whose metadata is missing for a moment (a broker that
has not learnt of a just-created topic yet, confluentinc/librdkafka#4904) is a full queue the
publisher waits out, not a lost frame; any other refusal still surfaces."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from csms.envelope import FrameEnvelope
from csms.settings import Settings
from services.gateway.kafka_sink import LibrdkafkaSink
from services.gateway.publisher import FramePublisher


class FlickeringProducer:
    """confluent-kafka's Producer.produce, refusing with `errors` first, then accepting."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.accepted: list[bytes] = []

    def produce(self, topic: str, value: bytes, key: bytes, **_: Any) -> None:
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        self.accepted.append(key)


def _sink(producer: FlickeringProducer) -> LibrdkafkaSink:
    sink = LibrdkafkaSink(Settings(kafka_bootstrap="127.0.0.1:1"), "frames", client_id="test")
    sink._producer = producer  # type: ignore[assignment]
    return sink


def _env() -> FrameEnvelope:
    return FrameEnvelope(
        v=1, id="e1", ts=1, station="CP-1", gw="gw", conn="c", proto="ocpp1.6", dir="in",
        kind="connect", uid="", action="", frame="{}",
    )  # fmt: skip


async def test_a_topic_unknown_for_a_moment_is_waited_out() -> None:
    producer = FlickeringProducer(KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION)
    publisher = FramePublisher(_sink(producer), room_timeout_s=5)
    ack = await publisher.publish(_env())
    assert producer.accepted == [b"CP-1"]  # handed over on the third try, nothing dropped
    ack.cancel()


async def test_other_refusals_are_not_retried() -> None:
    producer = FlickeringProducer(KafkaError._INVALID_ARG)
    publisher = FramePublisher(_sink(producer), room_timeout_s=5)
    with pytest.raises(KafkaException):
        await publisher.publish(_env())
    assert producer.accepted == []
    assert publisher.inflight == 0
