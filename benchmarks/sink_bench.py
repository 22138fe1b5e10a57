"""Meter-sink throughput, in-process: synthetic 1.6 MeterValues envelopes
(loadtests.analytics_bench.synthetic_frames, also its meter-heavy real path) -> the real Sink
(decode, flatten, rows, batches, inserts, commits) -> embedded chDB in a temp dir. Kafka is
replaced by an in-memory source, so the figure is the sink's own ceiling.

    python -m benchmarks.sink_bench --rows 200000 --samples-per-frame 10 [--exact]

`--exact` routes every frame through the exact path (no fast path), for A/B comparisons in
the same period on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import REGISTRY

from csms.infra.clickhouse import ClickHouse
from csms.infra.migrate import migrate
from csms.settings import Settings, Topics
from loadtests.analytics_bench import synthetic_frames
from services.analytics.sink import Sink


class MemorySource:
    """Hands out pre-built records in chunks of `chunk`, like a consumer with a full buffer."""

    def __init__(self, topic: str, values: list[bytes], chunk: int = 5000) -> None:
        self.tp = TopicPartition(topic, 0)
        self._records = [
            ConsumerRecord(topic, 0, i, 0, 0, None, v, None, 0, len(v), [])
            for i, v in enumerate(values)
        ]
        self._next = 0
        self._chunk = chunk
        self.committed = 0
        self.done = asyncio.Event()

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        if self._next >= len(self._records):
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        chunk = self._records[self._next : self._next + self._chunk]
        self._next += len(chunk)
        return {self.tp: chunk}

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self._records)

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self.committed = (offsets or {}).get(self.tp, self.committed)
        if self.committed >= len(self._records):
            self.done.set()


@dataclass(frozen=True)
class Result:
    meter_rows: int
    frames: int
    seconds: float
    insert_seconds: float

    def report(self) -> str:
        return (
            f"{self.meter_rows} meter rows from {self.frames} frames in {self.seconds:.2f} s: "
            f"{self.meter_rows / self.seconds:,.0f} meter rows/s end to end "
            f"(decode+flatten+insert); meter_values inserts alone "
            f"{self.meter_rows / self.insert_seconds:,.0f} rows/s"
        )


def _insert_seconds(table: str) -> float:
    return REGISTRY.get_sample_value("csms_analytics_insert_seconds_sum", {"table": table}) or 0.0


async def measure(
    rows: int, samples: int, stations: int, batch_rows: int, *, fast_path: bool = True
) -> Result:
    frames = rows // samples
    values = synthetic_frames(frames, samples, stations)
    with tempfile.TemporaryDirectory(prefix="csms-bench-") as tmp:
        settings = Settings(
            topics=Topics(prefix="bench."),
            clickhouse_url=f"chdb://{tmp}",
            analytics_batch_rows=batch_rows,
            analytics_batch_seconds=5.0,
        )
        ch = await ClickHouse.open(settings.clickhouse_url)
        try:
            await ch.run(migrate, ch.client)
            source = MemorySource(settings.topics.frames, values)
            stop = asyncio.Event()
            insert_before = _insert_seconds("meter_values")
            started = time.perf_counter()
            sink = Sink(settings, ch, source, fast_path=fast_path)
            task = asyncio.create_task(sink.run(stop))
            await source.done.wait()
            elapsed = time.perf_counter() - started
            stop.set()
            await task
            inserted = await ch.run(ch.client.command, "SELECT count() FROM meter_values")
            assert inserted == frames * samples, inserted
            insert_s = _insert_seconds("meter_values") - insert_before
            return Result(frames * samples, frames, elapsed, insert_s)
        finally:
            await ch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--samples-per-frame", type=int, default=10)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--batch-rows", type=int, default=Settings().analytics_batch_rows)
    parser.add_argument("--exact", action="store_true", help="every frame on the exact path")
    args = parser.parse_args()
    result = asyncio.run(
        measure(
            args.rows,
            args.samples_per_frame,
            args.stations,
            args.batch_rows,
            fast_path=not args.exact,
        )
    )
    print(("exact path: " if args.exact else "fast path: ") + result.report())


if __name__ == "__main__":
    main()
