"""`csms replay --from-beginning`: rebuild every processor projection from Kafka.

1. Refuse (exit 2) while the processors' consumer group has members: two writers of one read
   model would race, and the group's offsets cannot be moved under a live consumer.
2. Capture the end offsets of the frames and policy topics: the fold stops there, and the
   processors resume there.
3. Wipe the read-model keys (`redis_keys.READ_MODEL_PATTERNS`), nothing else.
4. Fold every record through every step of `csms.projections.pipeline.Processors` - the live
   code - with the live Redis stores on an in-memory Redis (`memory_redis`), publishing every
   output to the output topics; then write the in-memory read model to Redis in pipelined
   batches. (`--store redis` folds straight into Redis instead: ~6x slower, memory-bounded.)
   `--workers N` folds in N processes, each a share of the frames partitions (services.replay.job).
5. Wait for Kafka to acknowledge every output, commit the processors' group at the captured end
   offsets, print a summary.

ClickHouse is not touched: the analytics sink consumes the republished outputs into
ReplacingMergeTree tables, so FINAL / argMax reads converge to the rebuilt state.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from redis.asyncio import Redis

from csms.infra.redis_client import make_redis
from csms.settings import Settings
from services.replay import kafka_io
from services.replay.fold import FoldStats
from services.replay.job import Job, JobResult, run_job
from services.replay.kafka_io import ReplayError, Span
from services.replay.wipe import read_model_keys, wipe_read_model

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


@dataclass
class Summary:
    spans: list[Span]
    stats: FoldStats = field(default_factory=FoldStats)
    outputs: dict[str, int] = field(default_factory=dict)
    wiped: int = 0
    written_keys: int = 0
    seconds: float = 0.0

    def lines(self, frames_topic: str) -> list[str]:
        frames = self.stats.records[frames_topic]
        rate = frames / self.seconds if self.seconds > 0 else 0.0
        lines = [f"replay: {frames} frames folded in {self.seconds:.1f} s ({rate:,.0f} frames/s)"]
        for topic in dict.fromkeys(s.topic for s in self.spans):
            mine = [s for s in self.spans if s.topic == topic]
            lines.append(
                f"  {topic}: {self.stats.records[topic]} records from {len(mine)} partitions"
                f" (offsets {_offsets(mine)})"
            )
        published = ", ".join(f"{t} {n}" for t, n in sorted(self.outputs.items())) or "none"
        lines.append(f"  outputs published: {published}")
        lines.append(f"  read model: {self.wiped} keys wiped, {self.written_keys} keys rebuilt")
        trimmed = [s for s in self.spans if s.low > 0]
        if trimmed:
            lines.append(
                "  WARNING: retention deleted the first records of "
                + ", ".join(f"{s.topic}[{s.partition}] (before {s.low})" for s in trimmed)
                + ": the rebuilt read model lacks what they said"
            )
        failed = ", ".join(f"{a} {n}" for a, n in sorted(self.stats.failed.items()))
        if failed:
            lines.append(f"  steps that raised (skipped, as the live agents do): {failed}")
        return lines


def _offsets(spans: list[Span]) -> str:
    return " ".join(f"{s.partition}:{s.low}-{s.high}" for s in spans)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(
            replay(settings, dry_run=args.dry_run, store=args.store, workers=args.workers)
        )
    except ReplayError as exc:
        print(f"replay failed: {exc}", file=sys.stderr)
        return EXIT_FAILED


async def replay(
    settings: Settings,
    *,
    dry_run: bool = False,
    store: str = "memory",
    workers: int = 1,
    out: Callable[[str], None] = print,
) -> int:
    """The whole replay (see the module docstring); the process exit code."""
    group, billing_group = settings.processors_app_id, settings.processors_billing_group
    members = _members(settings)
    if members:
        print(
            f"replay refused: the processors' consumer groups {group}, {billing_group} have "
            f"active members ({', '.join(members)}): stop the processors first",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    topics = settings.topics
    # No ensure_topics: a mistyped CSMS_TOPIC_PREFIX must fail here, not wipe the read model.
    # The policy topic may not exist yet (nothing was decided): then it is empty.
    spans = kafka_io.capture_spans(
        settings, [topics.frames, topics.policy], optional=(topics.policy,)
    )
    summary = Summary(spans)
    redis = make_redis(settings)
    try:
        if dry_run:
            await _describe(settings, redis, spans, out)
            return EXIT_OK
        started = time.monotonic()
        summary.wiped = await wipe_read_model(redis)
        result = await asyncio.to_thread(_fold, settings, spans, store, workers)
        summary.seconds = time.monotonic() - started
        summary.stats, summary.outputs = result.stats, result.outputs
        summary.written_keys = await read_model_keys(redis)  # jobs share network-wide keys
    finally:
        await redis.aclose()
    members = _members(settings)
    if members:
        raise ReplayError(
            f"processors started during the replay ({', '.join(members)}): the read model is "
            f"rebuilt but groups {group}, {billing_group} were not moved; stop them and replay "
            "again"
        )
    # The billing agent reads the transactions topic the fold just republished and billed
    # in-process: it resumes after those snapshots too.
    billed = kafka_io.capture_spans(
        settings, [topics.transactions], optional=(topics.transactions,)
    )
    kafka_io.commit_group(settings, group, spans)
    kafka_io.commit_group(settings, billing_group, billed)
    for line in summary.lines(topics.frames):
        out(line)
    out(f"  groups {group}, {billing_group} committed at the end offsets: the processors resume")
    return EXIT_OK


def _members(settings: Settings) -> list[str]:
    """Active members of the processors' groups: the frames', the billing's and faust's."""
    groups = (
        settings.processors_app_id,
        settings.processors_billing_group,
        settings.processors_faust_app_id,
    )
    return [member for group in groups for member in kafka_io.group_members(settings, group)]


async def _describe(
    settings: Settings, redis: Redis, spans: list[Span], out: Callable[[str], None]
) -> None:
    out("replay --dry-run: nothing is changed")
    if not any(s.topic == settings.topics.policy for s in spans):
        out(f"  {settings.topics.policy} does not exist: no policy records")
    for span in spans:
        what = f"offsets {span.low}..{span.high - 1}" if span.count else "nothing (empty)"
        out(f"  would fold {span.topic}[{span.partition}]: {what}")
    out(f"  would wipe {await read_model_keys(redis)} read-model keys in {settings.redis_url}")
    out(f"  would publish to {settings.topics.transactions} and {settings.topics.status}")
    out(
        f"  would commit groups {settings.processors_app_id}, "
        f"{settings.processors_billing_group} at the end offsets"
    )


def _fold(settings: Settings, spans: list[Span], store: str, workers: int) -> JobResult:
    """Fold in this process (one worker) or in `workers` spawned processes, each given every
    workers-th frames partition; their results summed."""
    topics = settings.topics
    frames = [s for s in spans if s.topic == topics.frames]
    policy = [s for s in spans if s.topic == topics.policy]
    shares = [frames[i::workers] for i in range(min(workers, len(frames)) or 1)]
    jobs = [
        Job(settings, share, policy, len(frames), store, name=f"replay-{i}")
        for i, share in enumerate(shares)
    ]
    if len(jobs) == 1:
        results = [run_job(jobs[0])]  # in this process (its own loop: this is a worker thread)
    else:
        context = multiprocessing.get_context("spawn")  # no fork of librdkafka's threads
        with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
            results = list(pool.map(run_job, jobs))
    total = JobResult()
    for result in results:
        total.stats.records.update(result.stats.records)
        total.stats.failed.update(result.stats.failed)
        total.stats.fatal += result.stats.fatal
        for topic, count in result.outputs.items():
            total.outputs[topic] = total.outputs.get(topic, 0) + count
    if total.stats.fatal:
        raise ReplayError(f"the fold cannot be trusted: {total.stats.fatal[0]}")
    return total
