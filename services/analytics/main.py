"""`csms analytics`: the only writer to ClickHouse.

Start: create the Kafka topics if needed, apply the ClickHouse migrations and the configured
retention (TTL per table, csms.infra.retention), then run the sink
(Kafka -> ClickHouse) and the HTTP endpoint side by side. The endpoint, on
Settings.clickhouse_http_host:clickhouse_http_port (127.0.0.1:8123), serves `/metrics` and
`/ping` always, and ClickHouse's HTTP interface when the engine is embedded chDB (`chdb://`),
to the users of Settings.analytics_http_users (none: `default` without password, loopback only).
SIGTERM/SIGINT: the sink flushes and commits its current batch, then everything closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvicorn
from aiokafka import AIOKafkaConsumer

from csms.domain.meter_values import flatten
from csms.infra.clickhouse import ClickHouse, chdb_path
from csms.infra.kafka import ensure_topics, make_consumer
from csms.infra.migrate import migrate
from csms.infra.retention import apply_retention
from csms.settings import Settings
from services.analytics.http_endpoint import (
    LocalEngine,
    Users,
    bind_socket,
    check_bind,
    make_app,
    make_server,
)
from services.analytics.rows import Flatten
from services.analytics.sink import Sink

log = logging.getLogger(__name__)


class AnalyticsService:
    """The analytics process's parts, started and stopped in order (drivable from tests)."""

    def __init__(
        self, settings: Settings, *, flatten_fn: Flatten = flatten, fast_path: bool = True
    ) -> None:
        """`fast_path` False routes every frame through the exact path (benchmarks' A/B)."""
        self.settings = settings
        self._flatten = flatten_fn
        self._fast_path = fast_path
        self._stop = asyncio.Event()
        self.clickhouse: ClickHouse | None = None
        self._engine: LocalEngine | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._server: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._sink_task: asyncio.Task[None] | None = None
        self.http_port = 0

    async def start(self) -> None:
        s = self.settings
        try:
            await ensure_topics(s)
            self.clickhouse = ch = await ClickHouse.open(s.clickhouse_url)
            applied = await ch.run(migrate, ch.client)
            log.info("ClickHouse at %s; migrations applied now: %s", s.clickhouse_url, applied)
            retention = await ch.run(apply_retention, ch.client, s.analytics_ttl_days)
            log.info("ClickHouse retention %s; changed now: %s", s.analytics_ttl_days, retention)
            users = Users.load(s.analytics_http_users)
            if ch.embedded:
                check_bind(s.clickhouse_http_host, users)
                self._engine = await ch.run(LocalEngine, chdb_path(s.clickhouse_url))
            sock = bind_socket(s.clickhouse_http_host, s.clickhouse_http_port)
            self.http_port = sock.getsockname()[1]
            app = make_app(ch, self._engine, users)
            self._server = make_server(app, s.clickhouse_http_host, 0)
            self._http_task = asyncio.create_task(
                self._server.serve(sockets=[sock]), name="analytics-http"
            )
            self._consumer = consumer = make_consumer(
                s, s.topics.frames, s.topics.transactions, s.topics.status, s.topics.bills,
                group_id=s.analytics_group_id,
            )  # fmt: skip
            await consumer.start()
            sink = Sink(s, ch, consumer, flatten_fn=self._flatten, fast_path=self._fast_path)
            self._sink_task = asyncio.create_task(sink.run(self._stop), name="analytics-sink")
            log.info(
                "analytics sink consuming %s as %s; HTTP on %s:%d",
                sink.topics,
                s.analytics_group_id,
                s.clickhouse_http_host,
                self.http_port,
            )
        except BaseException:
            await self.stop()
            raise

    @property
    def _tasks(self) -> list[asyncio.Task[None]]:
        return [t for t in (self._http_task, self._sink_task) if t is not None]

    async def wait(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; raises if the sink or the endpoint ends before that."""
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
        if stop.is_set():
            return
        for task in self._tasks:
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise RuntimeError(f"{task.get_name()} ended unexpectedly") from error

    async def stop(self) -> None:
        """Flush and commit the current batch, then close consumer, endpoint and engine."""
        self._stop.set()
        if self._sink_task is not None:
            await asyncio.gather(self._sink_task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._http_task is not None:
            await asyncio.gather(self._http_task, return_exceptions=True)
        if self.clickhouse is not None:
            if self._engine is not None:
                await self.clickhouse.run(self._engine.close)
            await self.clickhouse.close()
        self._sink_task = self._http_task = None
        self._engine = self._consumer = self._server = self.clickhouse = None


async def run_async(settings: Settings, stop: asyncio.Event, *, fast_path: bool = True) -> None:
    """Run the analytics process until `stop` is set (tests drive this in-process)."""
    service = AnalyticsService(settings, fast_path=fast_path)
    await service.start()
    try:
        await service.wait(stop)
    finally:
        await service.stop()


def run(settings: Settings, *, fast_path: bool = True) -> None:
    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_async(settings, stop, fast_path=fast_path)

    asyncio.run(_main())
