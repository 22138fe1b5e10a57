"""The processors' table of `make bench` (loadtests.bench.report): each benchmark's JSON figures
become one row beside its target, and a failed benchmark is shown failed, not left out."""

from __future__ import annotations

from loadtests.bench.report import markdown

HEADER = {"when": "2026-12-07 10:00 UTC", "command": "x", "machine": "m", "load": "l"}


def test_the_processors_table_shows_every_figure_beside_its_target() -> None:
    results = {
        "processors": {
            "fold": {
                "frames": 200_000,
                "workers": 1,
                "frames_per_s": 2772,
                "cpu_us_per_frame": 301,
            },
            "lag": {"lag_p50_s": 0.4, "lag_p99_s": 2.1, "lag_max_s": 2.3, "catch_up_s": 1.5},
            "bill": {"bill_p50_ms": 600, "bill_p99_ms": 1390, "sessions": 1234, "never": 0},
            "replay": {"frames": 10**6, "workers": 2, "frames_per_s": 4428, "minutes_10m": 37.6},
            "sink": {"failed": "exit 1, see bench.log"},
            "sink_meter": {"meter_rows_per_s": 125757},
        }
    }
    text = markdown(results, HEADER)
    assert (
        "| frames/s folded by one processor process, all projections | 2,772 frames/s, 301 µs"
        in text
    )
    assert "p99 2.1 s, max 2.3 s, 0 again 1.5 s after | p99 ≤ 1 s, flat |" in text
    assert "p50 600 ms, p99 1390 ms (1,234 sessions) | p99 ≤ 1 s |" in text
    assert "4,428 frames/s: 10 M in 37.6 min | 10 M frames ≤ 8 min |" in text
    sink = (
        "| analytics sink, real path (Kafka → ClickHouse) | 125,757 meter rows/s (10 samples per "
        "frame); failed (exit 1, see bench.log) |"
    )
    assert sink in text
