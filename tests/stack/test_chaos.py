"""`make chaos`, short: on a Kafka and Redis of the run's own, under load from real chargers
(1.6, 2.0.1, 2.1), the gateway paused (SIGSTOP), Redis restarted on its AOF and the Kafka broker
restarted, one round each; every part comes back and does its job, and afterwards nothing is
lost or doubled (Kafka, ClickHouse, bills) and the read models equal a replay. The kills are
tests/stack/test_faults.py; the long run with figures is `make chaos` (docs/reliability.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loadtests.faults import LocalStack, PrivateInfra, run_faults
from tests.stack.fault_checks import assert_nothing_lost

pytestmark = pytest.mark.stack

FAULTS = ("pause gateway", "restart redis", "restart kafka")


async def test_pause_and_infrastructure_restarts_under_load_lose_nothing(tmp_path: Path) -> None:
    infra = PrivateInfra(tmp_path / "infra", port_base=29600)
    await asyncio.to_thread(infra.start)
    stack = LocalStack(tmp_path, infra.kafka, infra.redis_url(), port_base=29610)
    try:
        report = await run_faults(
            stack, rounds=1, fleet_size=8, faults=FAULTS, infra=infra, pause_s=3.0
        )
    finally:
        await stack.stop()
        await asyncio.to_thread(infra.wipe)
    assert [r.fault for r in report.recoveries] == list(FAULTS)
    assert_nothing_lost(report)
