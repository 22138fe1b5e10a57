"""`python -m loadtests.swarm`: run a bounded swarm of chargers, print the JSON report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loadtests.swarm.config import SwarmConfig
from loadtests.swarm.runner import run_swarm


def parse_args(argv: list[str] | None = None) -> tuple[SwarmConfig, int, str]:
    p = argparse.ArgumentParser(prog="python -m loadtests.swarm", description=__doc__)
    p.add_argument("--url", default="ws://127.0.0.1:9000/ocpp", help="comma-separated gateways")
    p.add_argument("--chargers", type=int, default=100)
    p.add_argument("--duration", type=float, default=60.0, help="seconds, ramp included")
    p.add_argument("--ramp", type=float, default=10.0, help="seconds to start every charger")
    p.add_argument("--processes", type=int, default=1, help="worker processes (≤18k each)")
    p.add_argument("--ratio-201", type=float, default=0.5, help="share of 2.0.1 chargers")
    p.add_argument("--heartbeat-interval", type=float, default=60.0)
    p.add_argument("--meter-interval", type=float, default=30.0)
    p.add_argument("--session", type=float, default=600.0, help="charging session seconds")
    p.add_argument("--idle", type=float, default=300.0, help="idle seconds between sessions")
    p.add_argument("--warmup", type=float, default=0.0, help="record latency after this")
    p.add_argument("--call-timeout", type=float, default=30.0)
    p.add_argument("--backoff-min", type=float, default=0.5)
    p.add_argument("--backoff-max", type=float, default=15.0)
    p.add_argument("--station-prefix", default="SW")
    p.add_argument("--per-source-ip", type=int, default=1000)
    p.add_argument("--compression", action="store_true", help="offer permessage-deflate")
    p.add_argument("--status-dir", default="", help="write live progress files here")
    p.add_argument("--output", default="-", help="report file ('-': stdout)")
    a = p.parse_args(argv)
    cfg = SwarmConfig(
        urls=tuple(u.strip().rstrip("/") for u in a.url.split(",") if u.strip()),
        chargers=a.chargers,
        duration_s=a.duration,
        ramp_s=a.ramp,
        ratio_201=a.ratio_201,
        heartbeat_s=a.heartbeat_interval,
        meter_s=a.meter_interval,
        session_s=a.session,
        idle_s=a.idle,
        warmup_s=a.warmup,
        call_timeout_s=a.call_timeout,
        backoff_min_s=a.backoff_min,
        backoff_max_s=a.backoff_max,
        station_prefix=a.station_prefix,
        per_source_ip=a.per_source_ip,
        compression=a.compression,
        status_dir=a.status_dir,
    )
    return cfg, a.processes, a.output


def main(argv: list[str] | None = None) -> None:
    cfg, processes, output = parse_args(argv)
    report = run_swarm(cfg, processes)
    text = json.dumps(report, indent=1)
    if output == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(output).write_text(text + "\n", encoding="utf-8")
