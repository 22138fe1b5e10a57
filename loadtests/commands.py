"""Operator commands under load: a paced stream of API commands to connected chargers.

    python -m loadtests.commands --api http://127.0.0.1:8080 --token $CSMS_API_TOKEN \
        --station-prefix SWARM- --stations 1000 --rate 1000 --duration 20

Each command is `POST /api/v1/stations/{id}/commands/{name}` (synchronous: the answer is the
station's), sent at a fixed rate (open loop: a slow CSMS does not slow the sender down, up to
`--concurrency` commands in flight), to stations chosen round-robin. The chargers must be
connected and answer CSMS CALLs (`loadtests.swarm` does). Bounded in count and time; only
loopback targets. Prints a JSON report: sent, answered, errors by status, achieved rate and the
round-trip latency p50/p95/p99 (API → Redis → gateway → charger → back).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtests.swarm.config import station_id
from loadtests.swarm.report import bucket_of, percentile

COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("clear-cache", {}),
    ("trigger-message", {"message": "heartbeat"}),
    ("get-configuration", {"keys": ["HeartbeatInterval"]}),
]


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.")):
        raise SystemExit(f"loadtests only target loopback addresses, not {host!r}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    _loopback_only(args.api)
    headers = {"Authorization": f"Bearer {args.token}"}
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    latency: Counter[int] = Counter()  # the swarm's mergeable log histogram
    statuses: Counter[str] = Counter()
    in_flight = asyncio.Semaphore(args.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    total = int(args.rate * args.duration)

    async with httpx.AsyncClient(base_url=args.api, headers=headers, limits=limits) as client:

        async def one(i: int) -> None:
            station = station_id(args.station_prefix, i % args.stations)
            name, body = (
                COMMANDS[i % len(COMMANDS)]
                if args.command == "mix"
                else (
                    args.command,
                    dict(COMMANDS)[args.command],
                )
            )
            started = time.perf_counter()
            try:
                response = await client.post(
                    f"/api/v1/stations/{station}/commands/{name}",
                    json=body,
                    params={"timeout": args.timeout},
                    timeout=args.timeout + 10,
                )
                statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    latency[bucket_of(time.perf_counter() - started)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            finally:
                in_flight.release()

        t0 = time.perf_counter()
        skipped = 0
        for i in range(total):
            due = t0 + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight.locked():
                skipped += 1  # open loop: the CSMS is behind; count it, do not queue it
                continue
            await in_flight.acquire()
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0

    answered = statuses.get("200", 0)
    return {
        "target_rate": args.rate,
        "duration_s": round(wall, 1),
        "stations": args.stations,
        "command": args.command,
        "sent": total - skipped,
        "skipped_over_concurrency": skipped,
        "answered_200": answered,
        "achieved_rate": round(answered / wall, 1),
        "statuses": dict(statuses),
        "latency_ms": {
            q: percentile(latency, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--token", required=True)
    parser.add_argument("--station-prefix", required=True)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000, help="commands per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds (≤ 600)")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument(
        "--command", default="mix", choices=["mix", *(name for name, _ in COMMANDS)]
    )
    parser.add_argument("--output", default="-")
    args = parser.parse_args()
    args.duration = min(args.duration, 600)
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=1)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
