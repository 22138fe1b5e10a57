"""Reconnect storm: every gateway killed (SIGKILL) under a booted swarm and restarted -> seconds
until every charger is connected again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loadtests.bench.processes import Bench, Gateway
from loadtests.bench.progress import wait_until


def reconnect_storm(
    b: Bench, gws: list[Gateway], held_before: int, compression: bool, held: Callable[[], float]
) -> dict[str, Any]:
    """Kill every gateway (a crash, not a drain), restart them, time until all reconnected."""
    kill_ts, t_kill = time.time(), time.monotonic()
    for gw in gws:
        gw.proc.kill()
        gw.proc.wait()
    flag = "true" if compression else "false"
    for k, gw in enumerate(gws):
        gw.proc = b.start_gateway(gw.port, f"gw-bench-{k}", GATEWAY_COMPRESSION=flag).proc
    b.wait_healthy(gws)
    t_up = time.monotonic() - t_kill
    _waited, back = wait_until(held, held_before, b.scale.storm_budget_s)
    total = time.monotonic() - t_kill
    return {
        "chargers": held_before,
        "reconnected": int(back),
        "gateways_up_after_s": round(t_up, 1),
        "all_reconnected_after_s": round(total, 1) if back >= held_before else None,
        "kill_ts": kill_ts,
    }
