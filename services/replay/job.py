"""One fold job: some partitions of the frames topic (with the policy records of their
stations) folded with the live steps, the read model written to Redis, the outputs flushed.

`--workers 1` runs one job in the replay's process; more workers run one job each in spawned
processes, on disjoint sets of frames partitions. That is exact, not approximate: every key of
the read model belongs to one station, and a station's records are all in one partition, so
each job folds whole stations; the only keys shared by stations are network-wide sets and
sorted sets (`csms:stations`, `csms:txs`, `csms:txs:active`) whose members are per station,
and writing the jobs' results one after the other is the union a single fold would produce.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from csms.infra.kafka_outputs import KafkaOutputs, OutputsLost
from csms.infra.memory_redis import MemoryRedis, write_to
from csms.infra.redis_client import make_redis
from csms.projections.pipeline import InProcessDownstream
from csms.projections.wiring import build_processors
from csms.settings import Settings
from services.replay import kafka_io
from services.replay.fold import Fold, FoldStats, PolicyInterleave, Record, fold_all
from services.replay.kafka_io import ReplayError, Span

log = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class Job:
    settings: Settings
    frames: list[Span]  # this job's frames partitions
    policy: list[Span]  # every policy partition (records of other jobs' stations are skipped)
    frames_partitions: int  # of the frames topic: which station a job owns
    store: str = "memory"  # memory | redis
    name: str = "replay"


@dataclass
class JobResult:
    stats: FoldStats = field(default_factory=FoldStats)
    outputs: dict[str, int] = field(default_factory=dict)


def run_job(job: Job) -> JobResult:
    """Entry point of a spawned worker process (blocking)."""
    logging.basicConfig(
        level=os.environ.get("CSMS_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s {job.name} %(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(fold_job(job))


async def fold_job(job: Job) -> JobResult:
    settings = job.settings
    result = JobResult()
    outputs = KafkaOutputs(settings, client_id=f"csms-{job.name}")
    redis = make_redis(settings)
    try:
        memory = MemoryRedis() if job.store == "memory" else None
        client = memory if memory is not None else redis
        # Tariffs and id tokens are operator configuration, never rebuilt: read from Redis.
        downstream = InProcessDownstream(outputs, settings.topics)
        processors = build_processors(
            settings, downstream, lambda agent: redis if agent == "lookups" else client
        )
        downstream.processors = processors
        owned = {s.partition for s in job.frames}
        policy = [
            r
            for batch in kafka_io.read_spans(settings, job.policy)
            for r in batch
            if kafka_io.partition_of(r.key, job.frames_partitions) in owned
        ]
        total = sum(s.count for s in job.frames)
        frames = _progress(job.name, kafka_io.read_spans(settings, job.frames), total)
        result.stats = await fold_all(Fold(processors), frames, PolicyInterleave(policy))
        if result.stats.fatal:
            return result  # nothing written: the caller reports it
        if memory is not None:
            log.info("%s: writing %d read-model keys to Redis", job.name, memory.key_count())
            await write_to(memory, redis)
        try:
            outputs.flush()
        except OutputsLost as exc:
            raise ReplayError(str(exc)) from exc
        result.outputs = dict(outputs.sent)
        return result
    finally:
        await redis.aclose()


def _progress(name: str, batches: Iterator[list[Record]], total: int) -> Iterator[list[Record]]:
    done, started = 0, time.monotonic()
    shown = started
    for batch in batches:
        yield batch
        done += len(batch)
        now = time.monotonic()
        if now - shown >= _PROGRESS_EVERY_S:
            shown = now
            rate = done / (now - started)
            log.info("%s: %d / %d frames (%.0f frames/s)", name, done, total, rate)
