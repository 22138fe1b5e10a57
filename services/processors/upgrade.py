"""Upgrade from a processors version whose faust app consumed everything in one group.

Before ADR 0023 the billing agent's offsets of `csms.transactions` lived in the group
`processors_app_id`; faust's app (the billing) now has its own group, `processors_billing_group`.
On the first start of the new version that group has no offsets: without this seed the billing
would fold every transaction snapshot again from the beginning (harmless - it is idempotent -
but long on a large topic). Runs before the worker joins; does nothing once the group has
offsets, when there is nothing to copy, or when the group is not empty (another new-version
worker already started it).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException, TopicPartition

from csms.infra import kafka_groups
from csms.settings import Settings

log = logging.getLogger(__name__)


def seed_billing_group(settings: Settings) -> int:
    """Copy the old group's committed offsets of the transactions topic to the billing group
    when it has none; returns how many partitions were seeded (0: nothing to do)."""
    topic = settings.topics.transactions
    try:
        partitions = _partitions(settings, topic)
        if not partitions or _committed(settings, settings.processors_billing_group, partitions):
            return 0
        old = _committed(settings, settings.processors_app_id, partitions)
        if not old:
            return 0
        kafka_groups.set_offsets(settings, settings.processors_billing_group, old)
    except (KafkaException, kafka_groups.GroupOffsetsError) as exc:
        log.warning("billing group not seeded from %s (%s)", settings.processors_app_id, exc)
        return 0
    log.warning(
        "billing group %s seeded from %s's offsets of %s (%d partitions)",
        settings.processors_billing_group,
        settings.processors_app_id,
        topic,
        len(old),
    )
    return len(old)


def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    found = (
        kafka_groups.admin(settings)
        .list_topics(topic, timeout=kafka_groups.TIMEOUT_S)
        .topics.get(topic)
    )
    if found is None or found.error is not None:
        return []
    return [TopicPartition(topic, p) for p in sorted(found.partitions)]


def _committed(
    settings: Settings, group: str, partitions: list[TopicPartition]
) -> list[TopicPartition]:
    """The group's committed offsets among `partitions` (none: [])."""
    found = kafka_groups.committed_offsets(settings, group, partitions)
    return [TopicPartition(t, p, o) for (t, p), o in found.items() if o >= 0]
