"""Steady state: the steady swarm over the gateway processes; once every charger is booted, a
window of steady traffic -> CALL->CALLRESULT p50/p95/p99."""

from __future__ import annotations

import signal
import time
from typing import Any

from loadtests.bench.processes import Bench
from loadtests.bench.progress import frames_now, progress, swarm_summary, wait_for


def steady(b: Bench) -> dict[str, Any]:
    """Ramp up, wait until every charger is booted, then measure `steady_hold_s` of traffic."""
    s = b.scale
    gws = b.gateways(s.gateways)
    boot_budget = s.boot_wait_s
    proc, out, status = b.start_swarm(
        "steady", gws,
        "--chargers", str(s.steady_chargers),
        "--processes", str(max(1, -(-s.steady_chargers // 15_000))),
        "--ramp", str(s.steady_ramp_s),
        "--warmup", "1e9",  # latencies are recorded from SIGUSR1 on
        "--duration", str(boot_budget + s.steady_hold_s + 30),
        "--heartbeat-interval", "60", "--meter-interval", "30",
        "--session", "600", "--idle", "300",
    )  # fmt: skip
    waited, booted = wait_for(status, "booted_now", s.steady_chargers, boot_budget)
    proc.send_signal(signal.SIGUSR1)
    cpu0, frames0, t0 = sum(g.cpu_s() for g in gws), frames_now(status), time.monotonic()
    time.sleep(s.steady_hold_s)
    cpu, wall = sum(g.cpu_s() for g in gws) - cpu0, time.monotonic() - t0
    frames = frames_now(status) - frames0
    booted_end = progress(status).get("booted_now", 0)
    proc.send_signal(signal.SIGTERM)
    summary = swarm_summary(b.finish_swarm(proc, out, 120))
    summary.update(
        gateways=len(gws),
        booted_at_start=int(booted),
        booted_at_end=int(booted_end),
        seconds_to_boot=round(waited, 1),
        measured_s=round(wall, 1),
        steady_frames_per_s=round(frames / wall, 1),
        gateway_cpu_s=round(cpu, 1),
    )
    return summary
