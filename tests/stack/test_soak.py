"""`make soak`, short: the whole soak on a Kafka and Redis of its own - swarm and fleet, samples
of every process, lag read from Kafka, latencies - for half a minute, then its checks, verdict
and charts. The hours-long run with figures is `make soak HOURS=N` (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loadtests.soak import SoakConfig, run_soak
from loadtests.soak.chart import CHARTS, draw

pytestmark = pytest.mark.stack

WATCHED = {"gateway", "processors", "analytics", "api", "kafka", "redis", "swarm"}


async def test_a_short_soak_samples_every_process_and_loses_nothing(tmp_path: Path) -> None:
    cfg = SoakConfig(
        hours=40 / 3600, state=tmp_path, swarm_chargers=200, fleet=8, sample_s=5.0,
        warmup_s=10.0, port_base=29800, infra_port_base=29810,
    )  # fmt: skip
    result = await run_soak(cfg)
    assert len(result.samples) >= 6
    last = result.samples[-1]
    assert set(last["processes"]) == WATCHED
    assert set(last["lag"]) == {"processors", "billing", "analytics"}
    assert any(s["latency_ms"]["ocpp_n"] > 0 for s in result.samples)
    assert all(s["latency_ms"]["api_n"] == 3 for s in result.samples)
    written = [orjson.loads(line) for line in cfg.samples_path.read_bytes().splitlines()]
    assert written == result.samples
    assert result.restarts == {}
    assert result.swarm["connections"]["established"] == 200
    checks = result.checks  # sessions ended and billed, CALLs and frames once, replay equal
    assert checks.ok and checks.sessions > 0, (checks.summary(), checks.session_problems)
    charts = draw(result.samples, tmp_path / "charts", "test")
    assert [p.name for p in charts] == list(CHARTS)
