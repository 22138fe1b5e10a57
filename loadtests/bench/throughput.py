"""Throughput: chargers sending as fast as OCPP allows into one gateway -> frames into Kafka per
second of gateway CPU."""

from __future__ import annotations

import signal
import time
from typing import Any

from loadtests.bench.processes import Bench
from loadtests.bench.progress import frames_now, swarm_summary, wait_for


def throughput(b: Bench) -> dict[str, Any]:
    s = b.scale
    gws = b.gateways(1)
    ramp = max(3.0, s.throughput_chargers / 500)
    proc, out, status = b.start_swarm(
        "throughput", gws,
        "--chargers", str(s.throughput_chargers),
        "--processes", "2" if s.throughput_chargers >= 500 else "1",
        "--ramp", str(ramp),
        "--warmup", "1e9",  # latencies are recorded from SIGUSR1 on
        "--duration", str(ramp + 90 + s.throughput_s),  # stopped by SIGTERM after the window
        "--heartbeat-interval", "10", "--meter-interval", "0.1",
        "--session", "100000", "--idle", "0",
    )  # fmt: skip
    wait_for(status, "booted_now", s.throughput_chargers, ramp + 60)
    time.sleep(2)
    proc.send_signal(signal.SIGUSR1)
    cpu0, t0 = gws[0].cpu_s(), time.monotonic()
    sent0 = frames_now(status)
    time.sleep(s.throughput_s - 1)
    cpu, wall = gws[0].cpu_s() - cpu0, time.monotonic() - t0
    frames = frames_now(status) - sent0
    proc.send_signal(signal.SIGTERM)
    report = b.finish_swarm(proc, out, 60)
    return {
        "chargers": s.throughput_chargers,
        "window_s": round(wall, 1),
        "frames_into_kafka": frames,
        "frames_per_s": round(frames / wall),
        "gateway_cpu_s": round(cpu, 2),
        "gateway_cores_used": round(cpu / wall, 2),
        "frames_per_gateway_core_s": round(frames / max(cpu, 1e-9)),
        "swarm": swarm_summary(report),
    }
