"""The command line of `python -m loadtests.faults`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import redis.asyncio as aioredis

from loadtests import faults
from loadtests.faults.report import Report
from loadtests.faults.run import run_faults
from loadtests.faults.stack import LocalStack


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.faults", description=(faults.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fleet", type=int, default=40, help="chargers (1.6, 2.0.1, 2.1)")
    parser.add_argument("--kafka", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--port-base", type=int, default=29400)
    parser.add_argument("--state", type=Path, default=Path(".local/faults"))
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args()

    async def go() -> Report:
        redis = aioredis.Redis.from_url(args.redis_url)
        await redis.flushdb()
        await redis.aclose()
        stack = LocalStack(args.state.resolve(), args.kafka, args.redis_url, args.port_base)
        try:
            return await run_faults(stack, rounds=args.rounds, fleet_size=args.fleet)
        finally:
            await stack.stop()

    report = asyncio.run(go())
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    if report.session_problems:
        print("sessions not right:", *report.session_problems, sep="\n  ")
    if report.replay_differences:
        print("read-model keys that differ from the replay:", *report.replay_differences)
    if args.json:
        full = {
            "summary": summary,
            "recoveries": [asdict(r) for r in report.recoveries],
            "session_problems": report.session_problems,
            "replay_differences": report.replay_differences,
            "replay_samples": report.replay_samples,
        }
        args.json.write_text(json.dumps(full, indent=2), encoding="utf-8")
    sys.exit(0 if report.ok else 1)
