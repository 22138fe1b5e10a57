"""Capacity: as many chargers as the scale asks for over the gateway processes -> connections
held and gateway RSS per charger (then, with `storm`, the reconnect storm on that swarm)."""

from __future__ import annotations

import signal
import time
from typing import Any

from loadtests.bench.processes import Bench
from loadtests.bench.progress import progress, swarm_summary, wait_until
from loadtests.bench.storm import reconnect_storm


def capacity_and_storm(b: Bench, *, compression: bool, storm: bool) -> dict[str, Any]:
    s = b.scale
    gws = b.gateways(s.gateways, compression=compression)
    result: dict[str, Any] = {"compression": compression, "gateways": len(gws)}
    baseline = sum(g.rss() for g in gws)
    hold = s.boot_wait_s + 30 + (s.storm_budget_s + 60 if storm else 0)
    opts = [
        "--chargers", str(s.capacity_chargers),
        "--processes", str(s.swarm_processes),
        "--ramp", str(s.capacity_ramp_s),
        "--duration", str(hold),
        "--heartbeat-interval", "300", "--session", "0", "--idle", "3600",
        "--backoff-min", "1", "--backoff-max", "10", "--call-timeout", "60",
    ]  # fmt: skip
    if compression:
        opts.append("--compression")
    name = "capz" if compression else "capacity"
    proc, out, status = b.start_swarm(name, gws, *opts)

    def held() -> float:
        return sum(g.established() for g in gws)

    waited, _ = wait_until(held, s.capacity_chargers, s.boot_wait_s)
    time.sleep(3)  # let the last handshakes and boots settle before reading memory
    rss = sum(g.rss() for g in gws)
    conns = int(held())
    booted = progress(status).get("booted_now", 0)  # lags when the swarm is starved of CPU
    result.update(
        target=s.capacity_chargers,
        connected=conns,
        booted=int(booted),
        seconds_to_boot_all=round(waited, 1),
        rss_mb=round(rss / 2**20, 1),
        baseline_rss_mb=round(baseline / 2**20, 1),
        rss_per_charger_kb=round(rss / max(conns, 1) / 1024, 1),
        rss_above_idle_per_charger_kb=round((rss - baseline) / max(conns, 1) / 1024, 1),
        per_gateway_rss_mb=[round(g.rss() / 2**20, 1) for g in gws],
    )
    if storm:
        result["storm"] = reconnect_storm(b, gws, conns, compression, held)
    proc.send_signal(signal.SIGTERM)
    report = b.finish_swarm(proc, out, 120)
    result["swarm"] = swarm_summary(report)
    if storm:
        st = result["storm"]
        last = report.get("boots", {}).get("last_accepted_ts", 0)
        after = last - st.pop("kill_ts")
        # Negative: no charger was booted again after the kill within the run.
        st["last_boot_accepted_after_s"] = round(after, 1) if last and after > 0 else None
        st["boots_accepted_total"] = report.get("boots", {}).get("accepted")
    return result
