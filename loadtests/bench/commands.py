"""Operator commands: an API process and swarm chargers that answer CSMS CALLs; commands at fixed
rates (`loadtests.commands`) -> round trip p50/p95/p99 and the rate answered."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import uuid
from typing import Any

from loadtests.bench.processes import Bench
from loadtests.bench.progress import wait_for

API_PORT = 19380


def commands(b: Bench) -> dict[str, Any]:
    """Operator commands through the API to connected chargers: round trip API → Redis →
    gateway → charger → back, at a fixed rate (loadtests.commands)."""
    s = b.scale
    gws = b.gateways(1)
    token = secrets.token_urlsafe(24)
    b.start_api(API_PORT, token)
    prefix = f"CMD{uuid.uuid4().hex[:4]}-"
    ramp = max(3.0, s.command_chargers / 200)
    proc, out, status = b.start_swarm(
        "commands", gws,
        "--chargers", str(s.command_chargers), "--processes", "1",
        "--ramp", str(ramp), "--duration", str(ramp + 120 + s.command_s),
        "--heartbeat-interval", "300", "--session", "0", "--idle", "3600",
        prefix=prefix,
    )  # fmt: skip
    wait_for(status, "booted_now", s.command_chargers, ramp + 60)
    runs = []
    for rate in s.command_rates:
        report_path = b.tmp / f"commands-{rate:g}.json"
        argv = [
            sys.executable, "-m", "loadtests.commands",
            "--api", f"http://127.0.0.1:{API_PORT}", "--token", token,
            "--station-prefix", prefix, "--stations", str(s.command_chargers),
            "--rate", str(rate), "--duration", str(s.command_s),
            "--output", str(report_path),
        ]  # fmt: skip
        load = b.procs.start(argv, dict(os.environ), b.log)
        load.wait(timeout=s.command_s + 180)
        runs.append(json.loads(report_path.read_text()))
    proc.send_signal(signal.SIGTERM)
    b.finish_swarm(proc, out, 60)
    return {"chargers": s.command_chargers, "runs": runs}
