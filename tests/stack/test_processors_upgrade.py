"""Upgrading from one faust group: the billing group starts where the old group's billing was
(services/processors/upgrade.py), on the real Kafka."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from csms.infra.kafka import ensure_topics, producer_config
from csms.settings import Settings, Topics
from services.processors.upgrade import seed_billing_group
from tests.stack.processors_worker import KAFKA


def _committed(settings: Settings, group: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": group})
    try:
        topic = settings.topics.transactions
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
    finally:
        consumer.close()


async def test_the_billing_group_is_seeded_once_from_the_old_group() -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=KAFKA,
        topics=Topics(prefix=f"test-upgrade-{run}."),
        processors_app_id=f"csms-processors-upgrade-{run}",
    )
    await ensure_topics(settings)
    topic = settings.topics.transactions
    producer = Producer(producer_config(settings, client_id="upgrade-test"))
    for i in range(30):
        producer.produce(topic, b"{}", f"ST-{i}".encode())
    assert producer.flush(30) == 0
    old = Consumer(
        {"bootstrap.servers": KAFKA, "group.id": settings.processors_app_id, "log_level": 4}
    )
    try:
        old.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)  # the old billing
    finally:
        old.close()
    try:
        assert seed_billing_group(settings) == 1
        assert _committed(settings, settings.processors_billing_group) == {0: 1}
        assert seed_billing_group(settings) == 0  # it has offsets now: left alone
    finally:
        admin = AdminClient({"bootstrap.servers": KAFKA})
        mine = [
            t for t in admin.list_topics(timeout=10).topics if t.startswith(f"test-upgrade-{run}")
        ]
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()
        groups = [settings.processors_app_id, settings.processors_billing_group]
        for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
            future.result()
