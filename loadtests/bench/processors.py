"""The processors' table (issue 18): each figure measured by its own benchmark, run here as a
child process with `--json`, one after the other (they share the machine's two cores):

* `loadtests.processors_bench backlog` - frames/s folded by one processor process, all projections;
* `loadtests.processors_bench paced` - the group's lag at the gateway benchmark's rate;
* `benchmarks.billing_bench paced` - session end -> final bill readable, at that rate;
* `benchmarks.replay_bench` - replay frames/s with 2 workers, and the minutes 10 M frames take;
* `loadtests.analytics_bench backlog` - the analytics sink's rows/s on the real path, with the
  realistic frames and with meter-heavy ones (10 samples per frame).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from loadtests.bench.processes import Bench

GATEWAY_RATE = "2572"  # frames/s of one gateway core (docs/benchmarks.md), the paced runs' rate

# The targets of issue 18, with the key of the figure in this scenario's results.
TARGETS = {
    "fold": "≥ 5,000 frames/s",
    "lag": "p99 ≤ 1 s, flat",
    "bill": "p99 ≤ 1 s",
    "replay": "10 M frames ≤ 8 min",
    "sink": "≥ 100,000 meter rows/s",
}


def processors(b: Bench) -> dict[str, Any]:
    """Each benchmark in turn; a failed one is reported and the others still run."""
    s = b.scale
    runs: dict[str, list[str]] = {
        "fold": ["loadtests.processors_bench", "backlog", "--frames", str(s.processors_frames)],
        "lag": [
            "loadtests.processors_bench", "paced",
            "--rate", GATEWAY_RATE, "--seconds", str(s.processors_paced_s),
        ],
        "bill": [
            "benchmarks.billing_bench", "paced",
            "--rate", GATEWAY_RATE, "--seconds", str(s.processors_paced_s),
        ],
        "replay": [
            "benchmarks.replay_bench", "--frames", str(s.replay_frames), "--workers", "2",
        ],
        "sink": ["loadtests.analytics_bench", "backlog", "--frames", str(s.sink_frames)],
        "sink_meter": [
            "loadtests.analytics_bench", "backlog",
            "--frames", str(s.sink_frames // 3), "--samples-per-frame", "10",
        ],
    }  # fmt: skip
    results: dict[str, Any] = {}
    for name, module_args in runs.items():
        path = b.tmp / f"processors-{name}.json"
        argv = [sys.executable, "-m", *module_args, "--json", str(path)]
        proc = b.procs.start(argv, dict(os.environ), b.log)
        code = proc.wait(timeout=1800)
        if code == 0 and path.exists():
            results[name] = json.loads(path.read_text())
        else:
            results[name] = {"failed": f"exit {code}, see {b.log}"}
    return results
