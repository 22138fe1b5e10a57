"""Each coverage-guided target (tests/fuzz/coverage_guided.py) run briefly, as CI can afford:
a bounded number of executions from the seeds, and no input found that crashes it. `make fuzz`
runs them for minutes on a corpus kept between runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

RUNS = 60_000  # executions per target per CI run
# Not imported from the module: importing it instruments our code in this test process.
TARGETS = ("envelope", "framing", "validation")


def _fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.fuzz.coverage_guided", *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_every_target_of_the_module_runs_here() -> None:
    usage = _fuzz().stderr
    assert f"{{{','.join(TARGETS)}}}" in usage, usage


@pytest.mark.parametrize("target", TARGETS)
def test_the_target_finds_no_crash_in_a_short_run(target: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = _fuzz(
        target,
        str(corpus),
        f"-runs={RUNS}",
        f"-artifact_prefix={tmp_path}/",
        "-print_final_stats=1",
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert run.returncode == 0 and crashes == [], run.stderr[-3000:]
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", run.stderr)
    assert executed is not None and int(executed.group(1)) >= RUNS, run.stderr[-2000:]
