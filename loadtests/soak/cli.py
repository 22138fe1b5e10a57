"""The command line of `python -m loadtests.soak` (`make soak HOURS=N`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests import soak
from loadtests.processes import cancel_on_sigterm
from loadtests.soak.chart import draw
from loadtests.soak.run import SoakConfig, SoakResult, run_soak


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.soak", description=(soak.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--swarm", type=int, default=3_000, help="raw chargers (the bulk load)")
    parser.add_argument("--fleet", type=int, default=24, help="checked chargers (1.6, 2.0.1, 2.1)")
    parser.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--warmup-s", type=float, help="not in the slopes (default: 15 min, "
                        "or a quarter of a shorter run)")  # fmt: skip
    parser.add_argument("--port-base", type=int, default=29700, help="the CSMS's four ports")
    parser.add_argument("--infra-port-base", type=int, default=29710, help="Kafka's and Redis's")
    parser.add_argument("--state", type=Path, default=Path(".local/soak"))
    parser.add_argument("--charts", type=Path, help="write the PNGs here (default: --state)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    warmup = args.warmup_s if args.warmup_s is not None else min(900.0, args.hours * 900.0)
    cfg = SoakConfig(
        hours=args.hours, state=args.state.resolve(), swarm_chargers=args.swarm,
        fleet=args.fleet, sample_s=args.sample_s, warmup_s=warmup,
        port_base=args.port_base, infra_port_base=args.infra_port_base,
    )  # fmt: skip

    async def go() -> SoakResult:
        cancel_on_sigterm()
        return await run_soak(cfg)

    started = time.time()
    result = asyncio.run(go())
    charts = draw(result.samples, args.charts or cfg.state, f"{args.hours:g} h soak")
    report = _report(result, cfg, started, charts)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    sys.exit(0 if result.ok else 1)


def _report(result: SoakResult, cfg: SoakConfig, started: float, charts: list[Path]) -> Any:
    return {
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m loadtests.soak", *sys.argv[1:]]),
        "ok": result.ok,
        "hours": cfg.hours,
        "warmup_s": cfg.warmup_s,
        "slopes_per_h": result.verdict.slopes,
        "peaks": result.verdict.peaks,
        "breaches": result.verdict.breaches,
        "restarts": result.restarts,
        "checks": result.checks.summary(),
        "session_problems": result.checks.session_problems,
        "replay_differences": result.checks.replay_differences,
        "swarm": result.swarm,
        "charts": [str(c) for c in charts],
        "samples": result.samples,
    }
