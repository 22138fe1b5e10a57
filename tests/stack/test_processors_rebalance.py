"""Partitions move between two processor processes mid-stream (a rebalance), and the read model
they leave is the one a single fold of the same frames leaves (`csms replay`, which folds every
frame in one process with the same steps). Real Kafka, Redis and `csms processors` processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient
from redis.asyncio import Redis

from csms.infra.kafka import ensure_topics
from csms.infra.redis_dump import snapshot
from csms.settings import Settings, Topics
from loadtests.corpus import cleanup, produce
from loadtests.processors_bench import group_consumer, lag
from tests.stack.processors_worker import DEADLINE_S, KAFKA, REDIS_URL, Worker

FRAMES = 40_000
STATIONS = 200


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": KAFKA,
        "CSMS_TOPIC_PREFIX": settings.topics.prefix,
        "REDIS_URL": REDIS_URL,
        "PROCESSORS_APP_ID": settings.processors_app_id,
        # Small batches: many commits, so the partitions move with work left on them.
        "PROCESSORS_BATCH_MAX": "200",
    }


async def _until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"not within {DEADLINE_S:.0f} s: {what}")


async def _until_async(what: str, check: Callable[[], Awaitable[float]]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except httpx.HTTPError:
            pass  # its web page is not up yet
        await asyncio.sleep(0.2)
    pytest.fail(f"not within {DEADLINE_S:.0f} s: {what}")


async def _cleanup(settings: Settings) -> None:
    """Topics, groups and the Redis DB of the run (a group empties once its members left)."""
    for attempt in range(12):
        try:
            await asyncio.to_thread(cleanup, settings, REDIS_URL)
            return
        except KafkaException:
            if attempt == 11:
                raise
            await asyncio.sleep(5)


async def _batches(worker: Worker) -> float:
    """Batches of frames the worker folded (its /metrics)."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{worker.web_port}/metrics")).text
    for line in text.splitlines():
        if line.startswith('csms_processor_batch_events_count{agent="frames"}'):
            return float(line.split()[-1])
    return 0.0


def _two_members_hold_partitions(group: str) -> bool:
    """The consumer group is stable with two members, each holding partitions."""
    admin = AdminClient({"bootstrap.servers": KAFKA})
    description = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    held = [len(m.assignment.topic_partitions) for m in description.members]
    return description.state == ConsumerGroupState.STABLE and len(held) == 2 and all(held)


@pytest.fixture
def settings() -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=KAFKA,
        topics=Topics(prefix=f"test-rebal-{run}."),
        redis_url=REDIS_URL,
        processors_app_id=f"csms-processors-rebal-{run}",
    )


async def test_a_rebalance_mid_stream_leaves_the_read_model_of_a_single_fold(
    settings: Settings, tmp_path: Path
) -> None:
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    await redis.flushdb()
    await ensure_topics(settings)
    frames_group = group_consumer(settings)
    billing_group = Consumer(
        {"bootstrap.servers": KAFKA, "group.id": settings.processors_billing_group}
    )
    env = _env(settings)
    topic = settings.topics.frames
    first = Worker.start(settings, env, tmp_path / "first.log")
    second = Worker.start(settings, env, tmp_path / "second.log")
    try:
        # The backlog comes once the group split the partitions between the two: produced
        # before, a worker that joins late can find its share already folded by the other.
        await _until(
            "both workers hold partitions",
            partial(_two_members_hold_partitions, settings.processors_app_id),
        )
        await asyncio.to_thread(produce, settings, FRAMES, STATIONS, settings.topics.prefix)
        # Both fold part of the backlog (the group split the partitions between them) ...
        for worker in (first, second):
            await _until_async("both workers fold", partial(_batches, worker))
        # ... then the second stops mid-stream and the first takes its partitions over.
        assert lag(frames_group, topic)[0] > 0, "the backlog was gone before the rebalance"
        assert await second.stop() is not None, second.log()
        await _until("every frame is folded", lambda: lag(frames_group, topic)[0] == 0)
        await _until(
            "every snapshot is billed",
            lambda: lag(billing_group, settings.topics.transactions)[0] == 0,
        )
        assert await first.stop() is not None, first.log()
        live = await snapshot(redis)
        replay = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.cli", "replay", "--from-beginning"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S * 2,
        )
        assert replay.returncode == 0, replay.stderr[-3000:]
        rebuilt = await snapshot(redis)
        assert live.keys() == rebuilt.keys()
        assert [k for k in live if live[k] != rebuilt[k]] == []
    finally:
        for worker in (first, second):
            if worker.process.running:
                worker.process.kill()
        frames_group.close()
        billing_group.close()
        await redis.aclose()
        await _cleanup(settings)
