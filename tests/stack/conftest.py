"""The real local stack for end-to-end tests: `csms up` against the Kafka and Redis that
`make test` started, isolated from a developer's `make up` by its own topic prefix, Redis
database, chDB folder and ports."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from csms.envelope import FrameEnvelope
from loadtests.processes import ServiceProcess, csms_argv
from tests.stack.kafka_reader import read_frames


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    gateway_url: str
    api_url: str
    clickhouse_url: str
    topic_prefix: str
    kafka_bootstrap: str
    redis_url: str
    log_path: Path

    @property
    def api_token(self) -> str:
        """The admin bearer token the API was started with."""
        return self.env["CSMS_API_TOKEN"]

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}

    async def mint_headers(self, name: str, role: str) -> dict[str, str]:
        """Auth headers of a new API token with `role`, minted by the admin through the API."""
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as api:
            minted = await api.post(
                "/api/v1/api-tokens", json={"name": name, "role": role}, headers=self.api_headers
            )
        assert minted.status_code == 201, minted.text
        return {"Authorization": f"Bearer {minted.json()['token']}"}

    def ws_url(self, station: str) -> str:
        return f"{self.gateway_url}/ocpp/{station}"

    async def read_frames(self, stations: set[str], min_count: int) -> list[FrameEnvelope]:
        """Every envelope of `stations` on ocpp.frames from offset 0, in partition order (waits up
        to 30 s for `min_count` of them); checks the record key and headers of the contract."""
        topic = f"{self.topic_prefix}ocpp.frames"
        return await read_frames(
            self.kafka_bootstrap, topic, lambda env: env.station in stations, min_count
        )


def wait_http(url: str, deadline: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    """`url` answers 200 before `deadline` (time.monotonic()), else RuntimeError with the log's
    tail (for the tests that start a process of their own)."""
    ServiceProcess.adopt(proc, log).wait_healthy(deadline - time.monotonic(), url)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_id = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("stack")
    kafka = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": kafka,
        "CSMS_TOPIC_PREFIX": f"e2e-{run_id}.",
        "REDIS_URL": redis_url,
        "CLICKHOUSE_URL": f"chdb://{tmp / 'clickhouse'}",
        "CLICKHOUSE_HTTP_PORT": "18123",
        "GATEWAY_PORT": "19100",
        "GATEWAY_ID": "gw-e2e",
        # Two gateway processes on one port, as `csms up` runs on a 2-core machine (whatever
        # the CI machine has): gw-e2e-1 and gw-e2e-2.
        "GATEWAY_PROCESSES": "2",
        "API_PORT": "18180",
        "PROCESSORS_APP_ID": f"csms-processors-{run_id}",
        "PROCESSORS_WEB_PORT": "16066",
        "ANALYTICS_GROUP_ID": f"csms-analytics-{run_id}",
        "ANALYTICS_BATCH_SECONDS": "0.2",
        "CSMS_LOCAL_DIR": str(tmp),
        "CSMS_API_TOKEN": f"e2e-admin-{uuid.uuid4().hex}",
    }
    log_path = tmp / "csms.log"
    up = ServiceProcess(csms_argv("up"), env, log_path).start()
    try:
        up.wait_healthy(
            120,
            "http://127.0.0.1:19100/health",
            "http://127.0.0.1:18180/health",
            "http://127.0.0.1:18123/ping",
        )
        yield Stack(
            env=env,
            gateway_url="ws://127.0.0.1:19100",
            api_url="http://127.0.0.1:18180",
            clickhouse_url="http://127.0.0.1:18123",
            topic_prefix=env["CSMS_TOPIC_PREFIX"],
            kafka_bootstrap=kafka,
            redis_url=redis_url,
            log_path=log_path,
        )
    finally:
        up.stop(30)
