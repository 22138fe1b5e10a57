"""One PNG per measure of a soak (matplotlib, no display): memory, open files, CPU, lag and
latency against time, one line per process or consumer group."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt

from loadtests.soak.analysis import series

# file name -> (title, y label, path into a sample with {name} for each line)
CHARTS = {
    "soak-memory.png": ("Resident memory per process", "RSS (MiB)", ("processes", "rss_mib")),
    "soak-open-files.png": ("Open files per process", "descriptors", ("processes", "open_files")),
    "soak-cpu.png": ("CPU per process", "% of one core", ("processes", "cpu_pct")),
    "soak-lag.png": ("Consumer lag", "events behind", ("lag",)),
    "soak-latency.png": ("Latency per minute", "ms", ("latency_ms",)),
}  # fmt: skip
LATENCY_LINES = ("ocpp_p50", "ocpp_p99", "api_p50", "api_max")


def draw(samples: Sequence[dict[str, Any]], folder: Path, title: str) -> list[Path]:
    """Write every chart of CHARTS into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (chart_title, ylabel, path) in CHARTS.items():
        fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
        for label, points in _lines(samples, path):
            ax.plot([t / 60.0 for t, _ in points], [v for _, v in points], label=label)
        ax.set_title(f"{chart_title} - {title}")
        ax.set_xlabel("minutes")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small", ncols=4)
        fig.tight_layout()
        fig.savefig(folder / name)
        plt.close(fig)
        written.append(folder / name)
    return written


def _lines(
    samples: Sequence[dict[str, Any]], path: tuple[str, ...]
) -> list[tuple[str, list[tuple[float, float]]]]:
    if path == ("latency_ms",):
        return [(line, series(samples, "latency_ms", line)) for line in LATENCY_LINES]
    top = path[0]
    names = sorted({name for s in samples for name in s.get(top, {})})
    return [(name, series(samples, top, name, *path[1:])) for name in names]
