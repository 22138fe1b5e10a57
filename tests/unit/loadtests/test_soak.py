"""The soak's pure parts: the slope fit, the verdict against its bounds, the latency summary,
the process watch on a real process and the charts drawn to real PNG files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from loadtests.soak.analysis import BOUNDS, judge, series, slope_per_hour
from loadtests.soak.chart import CHARTS, draw
from loadtests.soak.sample import ProcessWatch, drain, latency_summary


def _sample(t_s: float, rss: float, lag: float = 0.0, p99: float = 30.0) -> dict[str, Any]:
    return {
        "t_s": t_s,
        "processes": {"gateway": {"rss_mib": rss, "open_files": 40, "cpu_pct": 5.0}},
        "lag": {"processors": lag},
        "latency_ms": {"ocpp_p99": p99, "ocpp_p50": 20.0},
    }


def test_slope_per_hour_of_a_line_and_of_too_few_points() -> None:
    points = [(t, 100.0 + 2.0 * t / 60.0) for t in range(0, 3600, 60)]  # +2 per minute
    assert slope_per_hour(points) == pytest.approx(120.0)
    assert slope_per_hour([(0.0, 5.0)]) == 0.0
    assert slope_per_hour([(10.0, 5.0), (10.0, 7.0)]) == 0.0  # no spread in time


def test_series_skips_samples_without_the_measure() -> None:
    samples = [_sample(60, 100.0), {"t_s": 120, "processes": {}}, _sample(180, 101.0)]
    assert series(samples, "processes", "gateway", "rss_mib") == [(60.0, 100.0), (180.0, 101.0)]


def test_flat_memory_passes_and_the_warmup_is_left_out() -> None:
    ramp = [_sample(t, 50.0 + t) for t in range(0, 900, 60)]  # fast growth while warming up
    steady = [_sample(t, 950.0 + (t % 120) / 60.0) for t in range(900, 7200, 60)]  # flat, noisy
    verdict = judge(ramp + steady, warmup_s=900)
    assert verdict.ok, verdict.breaches
    assert abs(verdict.slopes["rss_mib_per_h gateway"]) < 1.0
    assert verdict.peaks["lag_events_max processors"] == 0.0


def test_a_leak_a_falling_behind_consumer_and_a_lag_peak_are_breaches() -> None:
    bound = BOUNDS["rss_mib_per_h"]
    samples = [
        _sample(t, 100.0 + (bound * 2) * t / 3600.0, lag=3.0 * t, p99=30.0)
        for t in range(0, 7200, 60)
    ]
    verdict = judge(samples, warmup_s=0)
    assert any(b.startswith("rss_mib_per_h gateway") for b in verdict.breaches)
    assert any(b.startswith("lag_events_per_h processors") for b in verdict.breaches)
    assert any(b.startswith("lag_events_max processors") for b in verdict.breaches)


def test_growth_of_an_unbounded_process_is_reported_not_judged() -> None:
    samples = [_sample(t, 100.0) for t in range(0, 3600, 60)]
    for s in samples:
        s["processes"]["redis"] = {"rss_mib": 10.0 + s["t_s"], "open_files": 20}
    verdict = judge(samples, warmup_s=0)
    assert verdict.ok, verdict.breaches
    assert verdict.slopes["rss_mib_per_h redis"] == pytest.approx(3600.0)


def test_no_sample_after_the_warmup_is_a_breach() -> None:
    assert not judge([_sample(60, 100.0)], warmup_s=900).ok


def test_latency_summary_and_drain() -> None:
    values = [0.010] * 98 + [0.100, 0.200]
    taken = drain(values)
    assert values == [] and len(taken) == 100
    summary = latency_summary(taken, "ocpp")
    assert summary["ocpp_n"] == 100
    assert summary["ocpp_p50"] == pytest.approx(10.0)
    assert summary["ocpp_p99"] == pytest.approx(200.0)
    assert summary["ocpp_max"] == pytest.approx(200.0)
    assert latency_summary([], "api") == {"api_n": 0}


def test_process_watch_reads_a_real_process_and_counts_a_new_pid_as_a_restart() -> None:
    pids: dict[str, int | None] = {"me": os.getpid(), "gone": None}
    watch = ProcessWatch(lambda: pids)
    first = watch.sample()
    assert set(first) == {"me"}
    assert first["me"]["rss_mib"] > 1 and first["me"]["open_files"] > 0
    pids["me"] = os.getppid()  # another pid under the same name: the supervisor restarted it
    assert watch.sample()["me"]["pid"] == os.getppid()
    assert watch.restarts == {"me": 1}


def test_every_chart_is_a_png(tmp_path: Path) -> None:
    samples = [_sample(t, 100.0 + t / 600.0, lag=t % 7) for t in range(0, 1800, 60)]
    written = draw(samples, tmp_path, "test")
    assert [p.name for p in written] == list(CHARTS)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5_000  # axes, lines and labels, not an empty canvas
