"""The machine's loopback latency raised with `tc netem`, where it is available (root, and a
kernel with the sch_netem qdisc; containers often lack it). Every packet on `lo` is delayed -
the CSMS's, Kafka's, Redis's and everybody else's - so only a run that owns the machine uses it."""

from __future__ import annotations

import subprocess

TC = "tc"


def add_loopback_delay(delay_ms: int, jitter_ms: int) -> str:
    """Delay every packet on `lo` by `delay_ms` ± `jitter_ms`; "" when done, else why not."""
    argv = [TC, "qdisc", "add", "dev", "lo", "root", "netem",
            "delay", f"{delay_ms}ms", f"{jitter_ms}ms"]  # fmt: skip
    return _run(argv)


def remove_loopback_delay() -> str:
    """Back to no qdisc on `lo`; "" when done, else why not."""
    return _run([TC, "qdisc", "del", "dev", "lo", "root"])


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{' '.join(argv)}: {error}"
    if done.returncode != 0:
        return f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}"
    return ""
