"""`make chaos`, short: on a Kafka and Redis of the run's own, under load from real chargers
(1.6, 2.0.1, 2.1), the gateway paused (SIGSTOP), ClickHouse (a server of the run's own, which
the sink writes to over HTTP) unreachable, Redis restarted on its AOF, the Kafka broker
restarted and the loopback latency raised (where the kernel has netem), one round each; every
part comes back and does its job, and afterwards nothing is lost or doubled (Kafka, ClickHouse,
bills) and the read models equal a replay. The kills are tests/stack/test_faults.py; the long
run with figures is `make chaos` (docs/reliability.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loadtests.faults import LocalStack, PrivateInfra, run_faults
from tests.stack.fault_checks import assert_nothing_lost

pytestmark = pytest.mark.stack

FAULTS = (
    "pause gateway", "unreachable clickhouse", "restart redis", "restart kafka", "delay loopback"
)  # fmt: skip


async def test_pause_and_infrastructure_restarts_under_load_lose_nothing(tmp_path: Path) -> None:
    infra = PrivateInfra(tmp_path / "infra", port_base=29600)
    await asyncio.to_thread(infra.start)
    stack = LocalStack(
        tmp_path, infra.kafka, infra.redis_url(), port_base=29610, clickhouse_server=True
    )
    try:
        report = await run_faults(
            stack, rounds=1, fleet_size=8, faults=FAULTS, infra=infra, pause_s=3.0,
            outage_s=5.0,
        )  # fmt: skip
    finally:
        await stack.stop()
        await asyncio.to_thread(infra.wipe)
    assert [r.fault for r in report.recoveries] == list(FAULTS)
    by_fault = {r.fault: r for r in report.recoveries}
    # ClickHouse was really out: no frame after the fault was queryable before it answered again.
    assert by_fault["unreachable clickhouse"].recovered_s >= 5.0
    delayed = by_fault["delay loopback"]
    assert delayed.skipped.startswith("tc qdisc add") or delayed.recovered_s >= 3.0
    assert_nothing_lost(report)
