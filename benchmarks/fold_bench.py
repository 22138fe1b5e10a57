"""CPU per frame of the processors' one pass, without Kafka or Redis: the realistic corpus
(loadtests.corpus) through `csms.projections.pipeline.handle_frame` on the in-memory Redis,
outputs counted and dropped, then the billing over the transaction snapshots. Prints µs per
frame for the whole pass and for each step, so a change to a step shows in its own line.

    python -m benchmarks.fold_bench [--frames 40000] [--stations 2000] [--profile out.html]

`--batch` frames go through a write-behind copy before each flush, as live (0: straight into
the in-memory Redis, as the replay). `--profile` writes a pyinstrument profile of the timed
run (pyinstrument must be installed).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis

from csms.envelope import FrameEnvelope
from csms.infra.memory_redis import MemoryRedis
from csms.projections.pipeline import Step, handle_frame, handle_value
from csms.projections.wiring import build_processors
from csms.projections.write_behind import WriteBehindRedis
from csms.settings import Settings
from loadtests.corpus import Station, interleaved


class CountingOutputs:
    """Outputs kept in memory (the billing's input) and counted per topic."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.records: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent[topic] += 1
        self.records.append((topic, value))


def _timed(step: Step, spent: dict[str, float], name: str) -> Step:
    async def timed(env: FrameEnvelope) -> bool:
        t0 = time.perf_counter()
        try:
            return await step(env)
        finally:
            spent[name] += time.perf_counter() - t0

    return timed


async def run(frames: int, stations: int, profile: str | None, batch: int = 500) -> None:
    settings = Settings()
    memory = MemoryRedis()
    # As live: the steps write through a write-behind copy flushed every `batch` frames (here
    # into the in-memory Redis); batch 0 writes the in-memory Redis directly.
    cache = WriteBehindRedis(cast(Redis, memory)) if batch else None
    store = cache if cache is not None else memory
    outputs = CountingOutputs()
    processors = build_processors(settings, outputs, lambda _: store)
    corpus = [
        value for _, value in interleaved([Station(i, "fold") for i in range(stations)], frames)
    ]
    spent: dict[str, float] = dict.fromkeys(processors.steps, 0.0)
    steps = {name: _timed(step, spent, name) for name, step in processors.steps.items()}
    profiler = _profiler(profile)
    t0 = time.perf_counter()
    for n, raw in enumerate(corpus, 1):
        await handle_frame(steps, raw)
        if cache is not None and n % batch == 0:
            await cache.flush()
    if cache is not None:
        await cache.flush()
    folded = time.perf_counter() - t0
    snapshots = [v for topic, v in outputs.records if topic == settings.topics.transactions]
    billing = processors.downstream["billing"]
    t1 = time.perf_counter()
    for value in snapshots:
        await handle_value("billing", value, billing)
    billed = time.perf_counter() - t1
    if profiler is not None:
        profiler.stop()
        Path(profile or "").write_text(profiler.output_html())  # noqa: ASYNC240 - after timing
    _report(len(corpus), folded, spent, len(snapshots), billed, outputs.sent)


def _profiler(path: str | None) -> Any:
    if path is None:
        return None
    from pyinstrument import Profiler  # a dev tool, only when asked for

    profiler = Profiler(interval=0.0005)
    profiler.start()
    return profiler


def _report(
    n: int,
    folded: float,
    spent: dict[str, float],
    snapshots: int,
    billed: float,
    sent: Counter[str],
) -> None:
    print(f"{n:,} frames: one pass {folded / n * 1e6:,.1f} µs/frame ({n / folded:,.0f} frames/s)")
    for name, seconds in spent.items():
        print(f"  {name:<14} {seconds / n * 1e6:8.1f} µs/frame")
    decode = folded - sum(spent.values())
    print(f"  {'decode+rest':<14} {decode / n * 1e6:8.1f} µs/frame")
    if snapshots:
        per = billed / snapshots * 1e6
        per_frame = billed / n * 1e6
        print(f"billing: {snapshots:,} snapshots, {per:,.1f} µs each ({per_frame:,.1f} µs/frame)")
    total = folded + billed
    print(f"all projections: {total / n * 1e6:,.1f} µs/frame ({n / total:,.0f} frames/s of CPU)")
    print("outputs:", dict(sent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40_000)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="frames per flush; 0: no copy")
    parser.add_argument("--profile", default=None, help="write a pyinstrument HTML profile here")
    args = parser.parse_args()
    asyncio.run(run(args.frames, args.stations, args.profile, args.batch))


if __name__ == "__main__":
    main()
