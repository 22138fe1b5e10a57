"""The processors worker for the stack tests: a `csms processors` (faust) process of its own
against the local Kafka and Redis (own topic prefix, app id and web port), what it publishes
collected from offset 0, and the polling and clean-up helpers of the processors' stack tests
(test_processors_sessions, test_processors_resilience; test_replay starts its workers here too)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from csms.infra import redis_keys as keys
from csms.infra.kafka import ensure_topics
from csms.settings import Settings, Topics
from loadtests.processes import ServiceProcess

REDIS_URL = os.environ.get("CSMS_TEST_PROCESSORS_REDIS_URL", "redis://127.0.0.1:6379/13")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
RUN = "from csms.settings import Settings; from services.processors.main import run; "
RUN += "run(Settings.from_env())"
# Liveness bounds for a loaded 2-core machine (a faust worker joins its group in seconds).
DEADLINE_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Worker:
    settings: Settings
    process: ServiceProcess
    web_port: int

    @classmethod
    def start(cls, settings: Settings, env: Mapping[str, str], log_path: Path) -> Worker:
        """A worker with `env` (the full environment) and a free web port, output into
        `log_path`."""
        web_port = _free_port()
        env = {**env, "PROCESSORS_WEB_PORT": str(web_port)}
        process = ServiceProcess([sys.executable, "-c", RUN], env, log_path).start()
        return cls(settings, process, web_port)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.process.popen

    def log(self) -> str:
        return self.process.log_tail(8000)

    async def stop(self) -> int | None:
        """SIGTERM, as Kubernetes does; the exit code once the worker drained (None: hung)."""
        return await self.process.stop_async(DEADLINE_S)


@dataclass
class Outputs:
    """Everything the worker publishes, collected in the background from offset 0."""

    transactions: list[dict[str, Any]] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    keys: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[Worker]:
    run_id = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": KAFKA,
        "CSMS_TOPIC_PREFIX": f"test-proc-{run_id}.",
        "REDIS_URL": REDIS_URL,
        "PROCESSORS_APP_ID": f"csms-processors-test-{run_id}",
        # The zombie policy at test speed: a rebooted station's silent session closes at once.
        "TX_REBOOT_GRACE_S": "1",
        "TX_SWEEP_INTERVAL_S": "0.5",
    }
    settings = Settings(
        kafka_bootstrap=KAFKA,
        topics=Topics(prefix=env["CSMS_TOPIC_PREFIX"]),
        redis_url=REDIS_URL,
        processors_app_id=env["PROCESSORS_APP_ID"],
    )
    w = Worker.start(settings, env, tmp_path / "processors.log")
    try:
        yield w
    finally:
        if w.process.running:
            w.process.kill()
        await _delete_topics(settings)


async def _delete_topics(settings: Settings) -> None:
    """Drop this run's topics (ours and faust's internal ones) so runs do not pile up."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        mine = [
            t
            for t in await admin.list_topics()
            if t.startswith(settings.topics.prefix) or t.startswith(settings.processors_app_id)
        ]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@pytest.fixture
async def outputs(worker: Worker) -> AsyncIterator[Outputs]:
    await ensure_topics(worker.settings)
    topics = worker.settings.topics
    consumer = AIOKafkaConsumer(
        topics.transactions,
        topics.status,
        bootstrap_servers=KAFKA,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    out = Outputs()

    async def collect() -> None:
        async for msg in consumer:
            assert msg.value is not None and msg.key is not None
            value = orjson.loads(msg.value)
            target = out.transactions if msg.topic == topics.transactions else out.status
            target.append(value)
            out.keys.append((msg.topic, msg.key))

    task = asyncio.create_task(collect())
    try:
        yield out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def until(what: str, check: Callable[[], Awaitable[bool]], worker: Worker) -> None:
    """Poll `check` (bounded); fail with the worker's log when it never holds."""
    for _ in range(int(DEADLINE_S / 0.25)):
        if await check():
            return
        if (code := worker.process.returncode) is not None:
            pytest.fail(f"processors exited ({code}):\n{worker.log()}")
        await asyncio.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}:\n{worker.log()}")


async def get_json(redis: Redis, key: str) -> Any:
    raw = await redis.get(key)
    return None if raw is None else orjson.loads(raw)


async def cleanup(redis: Redis, stations: list[str]) -> None:
    for station in stations:
        tx_keys = [str(k) for k in await redis.zrange(keys.station_transactions(station), 0, -1)]
        await redis.delete(
            keys.station(station),
            keys.station_connectors(station),
            keys.station_transactions(station),
            *[keys.transaction(k) for k in tx_keys],
        )
        if tx_keys:
            await redis.zrem(keys.TRANSACTIONS, *tx_keys)
        await redis.srem(keys.STATIONS, station)
