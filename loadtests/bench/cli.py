"""The command line of `python -m loadtests.bench`: the wanted scenarios in order, each one's
figures published as soon as it is done."""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from csms.settings import LOCAL_STATE_DIR
from loadtests import bench
from loadtests.bench.burst import burst
from loadtests.bench.capacity import capacity_and_storm
from loadtests.bench.commands import commands
from loadtests.bench.processes import Bench
from loadtests.bench.processors import processors
from loadtests.bench.report import markdown, previous_results, write_docs
from loadtests.bench.scales import SCALES
from loadtests.bench.steady import steady
from loadtests.bench.throughput import throughput

# Capacity first, on freshly started gateways (their idle RSS is the baseline).
# The processors last: their benchmarks start their own processes and need the cores to themselves.
ALL_SCENARIOS = (
    "burst", "capacity", "storm", "steady", "throughput", "compression", "commands", "processors",
)  # fmt: skip


def run(
    args: argparse.Namespace,
    done: Callable[[dict[str, Any]], None] = lambda _: None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the wanted scenarios in order; `done` sees the results after each one."""
    b = Bench(args)
    print(f"bench: logs and swarm reports in {b.tmp}", file=sys.stderr)
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    results: dict[str, Any] = dict(previous or {})
    steps = {
        "burst": lambda: {"burst": burst(b)},
        "steady": lambda: {"steady": steady(b)},
        "capacity": lambda: {
            "capacity": capacity_and_storm(b, compression=False, storm="storm" in wanted)
        },
        "storm": lambda: (
            {}
            if "capacity" in wanted
            else {"capacity": capacity_and_storm(b, compression=False, storm=True)}
        ),
        "compression": lambda: {
            "capacity_compressed": capacity_and_storm(b, compression=True, storm=False)
        },
        "throughput": lambda: {"throughput": throughput(b)},
        "commands": lambda: {"commands": commands(b)},
        "processors": lambda: {"processors": processors(b)},
    }
    try:
        for name in wanted:
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                results.update(steps[name]())
            except Exception as exc:  # one failed scenario must not lose the others' figures
                results[f"{name}_failed"] = f"{type(exc).__name__}: {exc}"
            print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
            done(results)
    finally:
        b.procs.stop_all()
    return results


def _header(args: argparse.Namespace) -> dict[str, str]:
    mem = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m loadtests.bench " + " ".join(sys.argv[1:]),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {mem:.0f} GB RAM, "
        f"Python {platform.python_version()}",
        "load": f"load average {load}",
    }


def _interrupt(*_: object) -> None:
    """SIGTERM ends the bench like Ctrl-C: the finally blocks stop every child."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench", description=(bench.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated, from {', '.join(ALL_SCENARIOS)}",
    )
    parser.add_argument("--write-docs", type=Path, help="replace the bench section of this file")
    parser.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep the figures of scenarios not rerun from the section already in --write-docs",
    )
    parser.add_argument(
        "--kafka-bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--kafka-log-dir", type=Path, default=LOCAL_STATE_DIR / "kafka" / "data")
    args = parser.parse_args()
    header = _header(args)
    signal.signal(signal.SIGTERM, _interrupt)

    def publish(results: dict[str, Any]) -> None:
        # After every scenario: an interrupted full run still leaves the figures it measured.
        if args.write_docs:
            write_docs(args.write_docs, markdown(results, header))

    previous = previous_results(args.write_docs, args.scenarios) if args.keep_previous else {}
    if previous:
        header["command"] += f"; kept from the previous run: {', '.join(sorted(previous))}"
    print(markdown(run(args, publish, previous), header))
