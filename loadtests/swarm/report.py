"""Counters, a mergeable latency histogram and the JSON report (pure functions)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Log buckets 2 % wide: a percentile is exact to within 2 %, and histograms of any number of
# processes merge by adding counts.
_GROWTH = 1.02
_LOG_GROWTH = math.log(_GROWTH)


def bucket_of(seconds: float) -> int:
    """Bucket index of a latency (in microseconds, at least 1 µs)."""
    micros = max(seconds * 1e6, 1.0)
    return int(math.log(micros) / _LOG_GROWTH)


def bucket_upper_ms(bucket: int) -> float:
    return _GROWTH ** (bucket + 1) / 1000.0


def percentile(hist: dict[int, int], q: float) -> float:
    """The q-th percentile (0-100) in ms: upper bound of the bucket holding that rank."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(total * q / 100.0))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return round(bucket_upper_ms(bucket), 3)
    return round(bucket_upper_ms(max(hist)), 3)


@dataclass
class Stats:
    """What one worker counts; `raw()` is the mergeable form sent to the parent."""

    target: int = 0
    established: int = 0  # chargers that connected at least once
    failed: int = 0  # connection attempts that failed
    connects: int = 0  # successful connections, reconnects included
    connected_now: int = 0
    booted_now: int = 0
    boots_accepted: int = 0
    boots_pending: int = 0
    boots_rejected: int = 0
    last_boot_ts: float = 0.0
    sent: int = 0
    received: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latency: dict[int, int] = field(default_factory=dict)
    measure_after: float = 0.0  # monotonic time from which latencies are recorded

    def start_measuring(self, now: float) -> None:
        """Forget the latencies seen so far (ramp, boot flood): steady state starts now."""
        self.latency.clear()
        self.measure_after = now

    def observe(self, seconds: float) -> None:
        b = bucket_of(seconds)
        self.latency[b] = self.latency.get(b, 0) + 1

    def raw(self, duration_s: float) -> dict[str, Any]:
        return {
            "connections": {
                "target": self.target,
                "established": self.established,
                "failed": self.failed,
                "connects": self.connects,
                "open_at_end": self.connected_now,
            },
            "boots": {
                "accepted": self.boots_accepted,
                "pending": self.boots_pending,
                "rejected": self.boots_rejected,
                "last_accepted_ts": self.last_boot_ts,
            },
            "frames": {"sent": self.sent, "received": self.received},
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "latency_hist": {str(k): v for k, v in sorted(self.latency.items())},
            "duration_s": round(duration_s, 3),
            "processes": 1,
        }

    def progress(self) -> dict[str, Any]:
        return {
            "established": self.established,
            "connected_now": self.connected_now,
            "booted_now": self.booted_now,
            "boots_accepted": self.boots_accepted,
            "last_boot_ts": self.last_boot_ts,
            "sent": self.sent,
            "received": self.received,
        }


def _add(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif key in ("duration_s", "last_accepted_ts"):
            into[key] = max(into.get(key, 0), value)
        else:
            into[key] = into.get(key, 0) + value


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counters and histograms of several raw worker reports; duration is the longest."""
    merged: dict[str, Any] = {}
    for report in reports:
        _add(merged, report)
    return merged


def finalize(raw: dict[str, Any]) -> dict[str, Any]:
    """The published report: raw counters plus frames/s and latency percentiles."""
    hist = {int(k): v for k, v in raw.get("latency_hist", {}).items()}
    duration = raw.get("duration_s", 0.0) or 1e-9
    frames = raw.get("frames", {})
    out = {k: v for k, v in raw.items() if k != "latency_hist"}
    out["frames_per_s"] = round((frames.get("sent", 0) + frames.get("received", 0)) / duration, 1)
    out["latency_ms"] = {
        "count": sum(hist.values()),
        "p50": percentile(hist, 50),
        "p95": percentile(hist, 95),
        "p99": percentile(hist, 99),
        "max": percentile(hist, 100),
    }
    out["latency_hist"] = raw.get("latency_hist", {})
    return out
