"""What a running swarm reports through its status folder, and waiting on it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def progress(status_dir: Path) -> dict[str, float]:
    """Live counters summed over the swarm's workers (each writes its file every second)."""
    total: dict[str, float] = {}
    for path in status_dir.glob("worker-*.json"):
        with contextlib.suppress(ValueError, OSError):
            for key, value in json.loads(path.read_text()).items():
                total[key] = (
                    max(total.get(key, 0), value)
                    if key.endswith("ts")
                    else (total.get(key, 0) + value)
                )
    return total


def wait_until(
    value: Callable[[], float], target: float, timeout: float, stall: float = 60
) -> tuple[float, float]:
    """Poll `value` until it reaches target, stops growing for `stall` s, or `timeout`."""
    t0 = time.monotonic()
    best, best_at = -1.0, t0
    while True:
        now = time.monotonic()
        current = value()
        if current > best:
            best, best_at = current, now
        if current >= target or now - t0 > timeout or now - best_at > stall:
            return now - t0, current
        time.sleep(1.0)


def wait_for(status_dir: Path, key: str, target: int, timeout: float) -> tuple[float, float]:
    """Wait until progress[key] reaches target, stops growing for 90 s (chargers told Pending
    wait up to 45 s and more), or `timeout`. Returns (seconds waited, value reached)."""
    t0 = time.monotonic()
    best, best_at = -1.0, t0
    while True:
        now = time.monotonic()
        value = progress(status_dir).get(key, 0)
        if value > best:
            best, best_at = value, now
        if value >= target or now - t0 > timeout or now - best_at > 90:
            return now - t0, value
        time.sleep(0.25)


def swarm_summary(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("connections", "boots", "frames", "errors", "duration_s", "frames_per_s", "latency_ms")
    return {k: report[k] for k in keep if k in report}


def frames_now(status: Path) -> int:
    """Frames the gateway published so far: each CALL and each CALLRESULT is one event."""
    p = progress(status)
    return int(p.get("sent", 0) + p.get("received", 0))
