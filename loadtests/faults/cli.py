"""The command line of `python -m loadtests.faults`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from loadtests import faults
from loadtests.faults.infra import PrivateInfra
from loadtests.faults.report import Report
from loadtests.faults.run import FAULTS, run_faults, unknown_faults
from loadtests.faults.stack import LocalStack
from loadtests.processes import cancel_on_sigterm


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.faults", description=(faults.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=40, help="chargers (1.6, 2.0.1, 2.1)")
    parser.add_argument(
        "--faults", default="all", help=f"comma-separated, from: {', '.join(FAULTS)}; or all"
    )
    parser.add_argument(
        "--pause-s", type=float, default=30.0, help="how long a pause or a loopback delay lasts"
    )
    parser.add_argument(
        "--outage-s", type=float, default=60.0, help="how long ClickHouse is unreachable"
    )
    parser.add_argument("--port-base", type=int, default=29400, help="the CSMS's ports")
    parser.add_argument("--infra-port-base", type=int, default=29500, help="Kafka's and Redis's")
    parser.add_argument("--state", type=Path, default=Path(".local/faults"))
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args()
    chosen = FAULTS if args.faults == "all" else tuple(f.strip() for f in args.faults.split(","))
    if unknown := unknown_faults(chosen):
        parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")

    async def go() -> Report:
        cancel_on_sigterm()
        state = args.state.resolve()
        infra = PrivateInfra(state / "infra", args.infra_port_base)
        await asyncio.to_thread(infra.start)
        server = "unreachable clickhouse" in chosen  # else the embedded engine, as `make up`
        stack = LocalStack(
            state, infra.kafka, infra.redis_url(), args.port_base, clickhouse_server=server
        )
        try:
            return await run_faults(
                stack, rounds=args.rounds, fleet_size=args.fleet, faults=chosen, infra=infra,
                pause_s=args.pause_s, outage_s=args.outage_s,
            )  # fmt: skip
        finally:
            await stack.stop()
            await asyncio.to_thread(infra.wipe)

    started = time.time()
    report = asyncio.run(go())
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    if report.session_problems:
        print("sessions not right:", *report.session_problems, sep="\n  ")
    if report.replay_differences:
        print("read-model keys that differ from the replay:", *report.replay_differences)
    if args.json:
        full = {
            "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m loadtests.faults", *sys.argv[1:]]),
            "summary": summary,
            "recoveries": [asdict(r) for r in report.recoveries],
            "session_problems": report.session_problems,
            "replay_differences": report.replay_differences,
            "replay_samples": report.replay_samples,
        }
        args.json.write_text(json.dumps(full, indent=2), encoding="utf-8")
    sys.exit(0 if report.ok else 1)
