"""Helpers shared by the analytics sink stack tests (test_analytics_sink, test_bills_sink):
isolated sink settings on the real Kafka, topic clean-up, bounded waits, in-process queries."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from csms.settings import Settings, Topics
from services.analytics.main import AnalyticsService

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")

Query = Callable[[str], Awaitable[list[tuple[Any, ...]]]]


def sink_settings(tmp_path: Path, name: str) -> Settings:
    """Settings of one test run: its own topic prefix, consumer group and chDB folder."""
    return Settings(
        kafka_bootstrap=KAFKA,
        topics=Topics(prefix=f"test-{name}."),
        clickhouse_url=f"chdb://{tmp_path / 'clickhouse'}",
        clickhouse_http_port=0,  # any free port; the service reports it
        analytics_group_id=name,
        analytics_batch_seconds=0.1,
    )


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(settings.topics.all())
    finally:
        await admin.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    """Wait for a condition (bounded, so a broken sink fails instead of hanging)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached: {what}")
        await asyncio.sleep(0.1)


async def settled(probe: Callable[[], Awaitable[Any]], expected: Any, within_s: float = 60) -> Any:
    """`probe()`'s value once it equals `expected`, or its last value after `within_s` (the
    caller asserts, so a failure shows what was there)."""
    deadline = time.monotonic() + within_s
    value = None
    while time.monotonic() < deadline:
        value = await probe()
        if value == expected:
            return value
        await asyncio.sleep(0.3)
    return value


def in_process(service: AnalyticsService) -> Query:
    """Queries on the service's own client (on its engine thread)."""

    async def query(sql: str) -> list[tuple[Any, ...]]:
        ch = service.clickhouse
        assert ch is not None
        result = await ch.run(ch.client.query, sql)
        return [tuple(row) for row in result.result_rows]

    return query
