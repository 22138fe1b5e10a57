"""The gateway's WebSocket server: handshake checks, /health, /metrics, a session per station."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.typing import Subprotocol

from csms.clock import system_clock
from csms.handlers import Decisions, routes
from csms.handlers.v201.transaction_cost import CostSource
from csms.infra.billing_lookups import BillingLookups
from csms.infra.kafka import ensure_topics
from csms.infra.redis_batch import RedisBatcher
from csms.infra.redis_client import make_redis
from csms.infra.redis_decisions import RedisDecisions
from csms.infra.station_registry import StationRegistry
from csms.protocol.station_path import station_id_from_path
from csms.protocol.validation import warm
from csms.protocol.versions import SUBPROTOCOLS, OcppVersion, negotiate
from csms.security.client_cert import ClientCertMode
from csms.settings import Settings
from services.gateway.calls import RESTARTING, CallInbox
from services.gateway.connections import Connections
from services.gateway.context import GatewayContext
from services.gateway.handshake import (
    Admission,
    FrontDoor,
    initial_status,
    make_process_request,
    registration_of,
)
from services.gateway.kafka_sink import LibrdkafkaSink
from services.gateway.publisher import FramePublisher
from services.gateway.session import StationSession
from services.gateway.storm import StormGuard
from services.gateway.wire import StationConnection

log = logging.getLogger(__name__)

DRAIN_CODE = 1012  # service restart: stations reconnect (to another gateway)
DRAIN_REASON = RESTARTING  # also the detail of the operator calls a drain cuts short


def select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    version = negotiate(list(offered))
    return Subprotocol(version.value) if version else None


def make_handler(ctx: GatewayContext) -> Callable[[ServerConnection], Awaitable[None]]:
    async def handler(ws: ServerConnection) -> None:
        # process_request already checked both; a failure here is a bug, not bad input.
        station = station_id_from_path(ws.request.path if ws.request else "")
        version = OcppVersion(ws.subprotocol or "")
        status = initial_status(ctx.door, registration_of(ws))
        if isinstance(ws, StationConnection):
            ws.last_seen = time.monotonic()
        await StationSession(ws, station, version, ctx, status).run()

    return handler


def compression_factories(settings: Settings) -> list[ServerPerMessageDeflateFactory] | None:
    """permessage-deflate with small windows and memLevel, or no extension at all when the
    deployment refuses compression (measured per connection: see docs/benchmarks.md)."""
    if not settings.gateway_compression:
        return None
    return [
        ServerPerMessageDeflateFactory(
            server_max_window_bits=settings.gateway_compression_window_bits,
            # Also bound the inflate window when the station allows it (RFC 7692 §7.1.2.2):
            # 2^15 bytes per connection otherwise; stations that do not offer it still connect.
            client_max_window_bits=settings.gateway_compression_window_bits,
            compress_settings={"memLevel": settings.gateway_compression_mem_level},
        )
    ]


async def start_server(settings: Settings, ctx: GatewayContext) -> Server:
    return await serve(
        make_handler(ctx),
        settings.gateway_host,
        settings.gateway_port,
        create_connection=StationConnection,
        process_request=make_process_request(ctx.door),
        select_subprotocol=select_subprotocol,
        subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
        max_size=settings.gateway_max_frame_bytes,
        max_queue=16,
        compression=None,
        extensions=compression_factories(settings),
        ping_interval=None,
        reuse_port=settings.gateway_reuse_port or None,
        # A reconnect storm arrives faster than handshakes complete: asyncio's default listen
        # queue of 100 overflowed (55k overflows in a 50k-charger run), costing timeouts+retries.
        backlog=4096,
    )


def context_from_settings(
    settings: Settings,
    publisher: FramePublisher,
    decisions: Decisions,
    registry: StationRegistry | None,
    connections: Connections | None,
    cost_source: CostSource | None = None,
) -> GatewayContext:
    admission = cast(Admission, settings.gateway_admission)  # Settings checks the choice
    door = FrontDoor(
        registry,
        admission,
        settings.gateway_require_auth,
        client_cert=cast(ClientCertMode, settings.gateway_client_cert),  # checked by Settings
        client_cert_verify_header=settings.gateway_client_cert_verify_header,
        client_cert_dn_header=settings.gateway_client_cert_dn_header,
    )
    return GatewayContext(
        gateway_id=settings.gateway_id,
        publisher=publisher,
        decisions=decisions,
        clock=system_clock,
        window=settings.gateway_pipeline_window,
        door=door,
        connections=connections,
        rate_per_s=settings.gateway_rate_limit_per_s,
        rate_burst=settings.gateway_rate_burst,
        idle_timeout_s=settings.gateway_idle_timeout_s,
        strict_call_order=settings.gateway_strict_call_order,
        strict_schema=settings.gateway_strict_schema,
        cost_source=cost_source,
    )


def drain_step_s(sessions: int, window_s: float, rate_per_s: float) -> float:
    """The pause between two drain closes: the sessions spread evenly over `window_s`, but no
    slower than `rate_per_s` closes a second (a handful of stations need no ten seconds)."""
    if sessions <= 0 or window_s <= 0:
        return 0.0
    spread = window_s / sessions
    return min(spread, 1.0 / rate_per_s) if rate_per_s > 0 else spread


async def drain(
    server: Server, connections: Connections, window_s: float, rate_per_s: float = 0.0
) -> None:
    """Stop accepting, then close every connection with 1012, spread over at most `window_s`
    so the stations' reconnects do not arrive in one burst; wait until all sessions ended."""
    server.close(close_connections=False)  # listening sockets only
    sessions = connections.sessions()
    step = drain_step_s(len(sessions), window_s, rate_per_s)
    for session in sessions:
        await session.close(DRAIN_CODE, DRAIN_REASON)
        if step:
            await asyncio.sleep(step)
    await server.wait_closed()


async def _wait_for_stop_or_fatal(stop: asyncio.Event, publisher: FramePublisher) -> bool:
    """Wait for SIGTERM or for a Kafka producer failure it cannot recover from; True if fatal."""
    waiters = {
        asyncio.create_task(stop.wait(), name="stop"),
        asyncio.create_task(publisher.fatal.wait(), name="fatal"),
    }
    _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    fatal = publisher.fatal.is_set()
    if fatal:
        log.error("Kafka producer failed for good: draining and exiting for a restart")
    return fatal


async def run_gateway(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set: connect Kafka and Redis, serve, then drain and flush."""
    for version in OcppVersion:
        # Only what stations send: the response schemas of operator commands (121 of them,
        # ≈ 1.4 s) compile on first use, so a restarting gateway is back sooner after a crash.
        warm(version, routes(version))
    await ensure_topics(settings)
    sink = LibrdkafkaSink(settings, settings.topics.frames, client_id=settings.gateway_id)
    publisher = FramePublisher(
        sink,
        max_inflight=settings.gateway_kafka_max_inflight,
        room_timeout_s=settings.gateway_kafka_publish_timeout_s,
        ack_timeout_s=settings.gateway_answer_timeout_s,
    )
    sink.on_fatal(publisher.fail)
    redis = make_redis(settings)
    # As long as a frame may wait for its ack: a just-created topic may take that long to show.
    await sink.start(timeout_s=settings.kafka_request_timeout_ms / 1000)
    listener: asyncio.Task[None] | None = None
    inbox: CallInbox | None = None
    try:
        # Handshakes' single commands (registrations, route claims) go to Redis together.
        batcher = RedisBatcher(redis)
        connections = Connections(settings.gateway_id, redis, batcher=batcher)
        decisions = StormGuard(
            RedisDecisions.from_settings(redis, settings, batcher=batcher),
            boots_per_s=settings.gateway_storm_boots_per_s,
            retry_s=settings.gateway_storm_retry_s,
            max_inflight=settings.gateway_storm_max_inflight,
            # The publisher's own count: collecting the Prometheus registry on every boot cost
            # half of the gateway's CPU during a boot flood.
            inflight=lambda: publisher.inflight,
        )
        ctx = context_from_settings(
            settings,
            publisher,
            decisions,
            StationRegistry(redis, batcher=batcher),
            connections,
            BillingLookups(redis),
        )
        server = await start_server(settings, ctx)
        listener = asyncio.create_task(connections.listen(), name="evictions")
        inbox = CallInbox(settings.gateway_id, redis, connections)
        inbox.start()
        log.info(
            "gateway %s listening on ws://%s:%d/ocpp/{station_id}",
            settings.gateway_id,
            settings.gateway_host,
            settings.gateway_port,
        )
        fatal = await _wait_for_stop_or_fatal(stop, publisher)
        log.info(
            "draining %d connections over at most %.1fs",
            len(connections),
            settings.gateway_drain_window_s,
        )
        # New operator calls find no listener (the API answers `unreachable` at once); calls in
        # progress end with their sessions (offline, "gateway restarting"), the rest below.
        await inbox.stop_taking()
        await drain(
            server,
            connections,
            settings.gateway_drain_window_s,
            settings.gateway_drain_rate_per_s,
        )
        await inbox.close()
        if fatal:
            # librdkafka reported a fatal error (e.g. the producer id fenced): exit non-zero so
            # the supervisor restarts us with a fresh producer.
            raise SystemExit(3)
    finally:
        if inbox is not None:
            await inbox.close(grace_s=0)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await sink.stop()
        await publisher.close()
        await redis.aclose()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
