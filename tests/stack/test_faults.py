"""On the real stack: under steady load from real chargers (1.6, 2.0.1, 2.1), `kill -9`
the gateway, then the processors, then the analytics sink, then the API of a `csms up`; each
comes back by itself (its supervisor restarts it), the stations reconnect, and afterwards every
session the chargers finished is ended with their energy and a bill of it, nothing acknowledged
is missing from Kafka or doubled, ClickHouse has every frame once, and the read models equal a
replay. The same run with more rounds gives the recovery figures (loadtests.faults)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from loadtests.faults import KILLS, LocalStack, run_faults
from tests.stack.fault_checks import assert_nothing_lost

pytestmark = pytest.mark.stack

REDIS_URL = os.environ.get("CSMS_TEST_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/2")


async def test_each_service_killed_under_load_comes_back_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    redis = aioredis.Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    kafka = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    stack = LocalStack(tmp_path, kafka, REDIS_URL, port_base=29400)
    try:
        # A small fleet: the suite runs on shared machines, and what is measured here is that
        # nothing is lost, not how fast (loadtests.faults with more rounds gives the figures).
        report = await run_faults(stack, rounds=1, fleet_size=8)
    finally:
        await stack.stop()
    assert [r.fault for r in report.recoveries] == list(KILLS)
    assert_nothing_lost(report)
