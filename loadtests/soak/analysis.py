"""The soak's verdict from its samples (pure functions): a least-squares line per series after
the warm-up, its slope per hour held to BOUNDS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The CSMS's own processes: growth in them is a leak. Kafka's and Redis's memory follow the
# data they keep (the log, the read models), so they are charted and reported, not bounded.
BOUNDED_PROCESSES = ("gateway", "processors", "analytics", "api")
# Slopes per hour after the warm-up, and the highest lag allowed at any sample after it.
BOUNDS = {
    "rss_mib_per_h": 10.0,  # per bounded process
    "open_files_per_h": 5.0,  # per bounded process
    "lag_events_per_h": 1_000.0,  # per consumer group: a consumer falling behind grows it
    "lag_events_max": 10_000,  # per consumer group, any sample
    "ocpp_p99_ms_per_h": 20.0,  # the fleet's CALL round trips, p99 of each minute
}


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour; 0 with fewer than 2 points."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600.0


def series(samples: Iterable[dict[str, Any]], *path: str) -> list[tuple[float, float]]:
    """(t_s, value) of every sample that has `path` (e.g. "processes", "api", "rss_mib")."""
    out: list[tuple[float, float]] = []
    for sample in samples:
        value: Any = sample
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            out.append((float(sample["t_s"]), float(value)))
    return out


@dataclass
class Verdict:
    slopes: dict[str, float] = field(default_factory=dict)  # "rss_mib_per_h gateway": 1.2
    peaks: dict[str, float] = field(default_factory=dict)  # "lag_events_max analytics": 12
    breaches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


def judge(samples: Sequence[dict[str, Any]], warmup_s: float) -> Verdict:
    """Slopes and peaks of every series after `warmup_s`, and which exceed BOUNDS."""
    steady = [s for s in samples if s["t_s"] >= warmup_s]
    verdict = Verdict()
    processes = sorted({name for s in steady for name in s.get("processes", {})})
    for name in processes:
        for measure, bound in (("rss_mib", "rss_mib_per_h"), ("open_files", "open_files_per_h")):
            slope = slope_per_hour(series(steady, "processes", name, measure))
            _check(verdict, f"{bound} {name}", slope, BOUNDS[bound], name in BOUNDED_PROCESSES)
    for group in sorted({g for s in steady for g in s.get("lag", {})}):
        points = series(steady, "lag", group)
        _check(verdict, f"lag_events_per_h {group}", slope_per_hour(points),
               BOUNDS["lag_events_per_h"], True)  # fmt: skip
        peak = max((v for _, v in points), default=0.0)
        verdict.peaks[f"lag_events_max {group}"] = peak
        if peak > BOUNDS["lag_events_max"]:
            verdict.breaches.append(f"lag_events_max {group}: {peak:.0f}")
    p99 = series(steady, "latency_ms", "ocpp_p99")
    _check(verdict, "ocpp_p99_ms_per_h", slope_per_hour(p99), BOUNDS["ocpp_p99_ms_per_h"], True)
    if not steady:
        verdict.breaches.append(f"no sample after the warm-up of {warmup_s:.0f} s")
    return verdict


def _check(verdict: Verdict, name: str, slope: float, bound: float, bounded: bool) -> None:
    verdict.slopes[name] = round(slope, 3)
    if bounded and slope > bound:
        verdict.breaches.append(f"{name}: {slope:.2f} > {bound:g}")
