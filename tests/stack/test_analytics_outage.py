"""Nothing is lost when ClickHouse is down, and the sink runs unchanged against a ClickHouse
server over HTTP (`CLICKHOUSE_URL=http://…`).

The "server" is a second analytics process serving ClickHouse's HTTP interface over its own
embedded engine (it consumes nothing of this test). The sink under test, in-process, applies
the migrations and inserts over HTTP like against any server. Then: the server is killed while
frames keep coming (the sink retries, commits nothing), restarted on the same data (the sink
catches up), and the sink itself is restarted (it resumes from its committed offsets). Every
frame and meter sample is in ClickHouse exactly once (FINAL), none missing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from csms.envelope import FrameEnvelope
from csms.settings import Settings, Topics
from services.analytics.main import AnalyticsService
from tests.stack.kafka_reader import publish_frames
from tests.stack.processors_worker import _free_port
from tests.stack.sink_helpers import KAFKA, delete_topics, eventually
from tests.unit.domain.builders import T0, Session, meter_values16, mv16, sv16

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:8]
SERVE = "from csms.settings import Settings; from services.analytics.main import run; "
SERVE += "run(Settings.from_env())"


class Server:
    """A ClickHouse HTTP interface in a process of its own, killable and restartable."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": KAFKA,
            "CSMS_TOPIC_PREFIX": f"test-outage-server-{RUN}.",  # no traffic there
            "ANALYTICS_GROUP_ID": f"outage-server-{RUN}",
            "CLICKHOUSE_URL": f"chdb://{self.folder / 'ch'}",
            "CLICKHOUSE_HTTP_PORT": str(self.port),
            "CSMS_LOG_LEVEL": "WARNING",
        }
        with (self.folder / "server.log").open("ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVE], env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.folder / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("the ClickHouse HTTP server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # down hard: no flush, no goodbye
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def scalar(self, sql: str) -> int:
        async with httpx.AsyncClient(timeout=10) as http:
            reply = await http.post(f"{self.url}/", content=sql)
            reply.raise_for_status()
            return int(reply.text.strip() or 0)


def _frames(station: str, first: int, count: int) -> list[FrameEnvelope]:
    s = Session(station, "ocpp1.6", t0=T0 + first * 60_000)
    return [
        s.call(
            "MeterValues",
            meter_values16(
                1, mv16(T0 + (first + i) * 60_000, sv16(str(1000 + first + i))), transaction_id=7
            ),
        )
        for i in range(count)
    ]


def _failures() -> float:
    return sum(
        REGISTRY.get_sample_value("csms_analytics_insert_failures_total", {"table": t}) or 0.0
        for t in ("ocpp_frames", "meter_values")
    )


async def test_nothing_is_lost_while_clickhouse_is_down(tmp_path: Path) -> None:
    station = f"CP-outage-{RUN}"
    server = Server(tmp_path)
    settings = Settings(
        kafka_bootstrap=KAFKA,
        topics=Topics(prefix=f"test-outage-{RUN}."),
        clickhouse_url=server.url,  # a server over HTTP, not the embedded engine
        clickhouse_http_port=0,
        analytics_group_id=f"outage-{RUN}",
        analytics_batch_seconds=0.1,
    )
    frames = f"SELECT count() FROM ocpp_frames FINAL WHERE station = '{station}'"
    samples = f"SELECT count() FROM meter_values FINAL WHERE station = '{station}'"
    distinct = f"SELECT uniqExact(event_id) FROM ocpp_frames WHERE station = '{station}'"
    await asyncio.to_thread(server.start)
    sink = AnalyticsService(settings)
    try:
        await sink.start()  # migrations applied over HTTP, as against any server
        await publish_frames(settings, _frames(station, 0, 50), client_id=f"outage-{RUN}")

        async def first_in() -> bool:
            return await server.scalar(frames) == 50

        await eventually(first_in, "the first 50 frames")

        # --- ClickHouse goes down while frames keep coming ---------------------------------
        failures = _failures()
        await asyncio.to_thread(server.kill)
        await publish_frames(settings, _frames(station, 50, 50), client_id=f"outage-{RUN}")

        async def retrying() -> bool:
            return _failures() > failures

        await eventually(retrying, "the sink noticing ClickHouse is down")
        await asyncio.sleep(2)  # a few retries with backoff, nothing committed meanwhile

        # --- it comes back on the same data: the sink catches up on its own ----------------
        await asyncio.to_thread(server.start)

        async def caught_up() -> bool:
            return await server.scalar(frames) == 100

        await eventually(caught_up, "the 50 frames sent while ClickHouse was down", 90)
    finally:
        await sink.stop()

    # --- the sink restarts: it resumes from its committed offsets ---------------------------
    await publish_frames(settings, _frames(station, 100, 50), client_id=f"outage-{RUN}")
    sink = AnalyticsService(settings)
    try:
        await sink.start()

        async def all_in() -> bool:
            return await server.scalar(frames) == 150

        await eventually(all_in, "the frames sent while the sink was stopped")
        assert await server.scalar(samples) == 150  # one sample per frame, none lost
        assert await server.scalar(distinct) == 150  # every event once after FINAL
    finally:
        await sink.stop()
        await asyncio.to_thread(server.stop)
        await delete_topics(settings)
