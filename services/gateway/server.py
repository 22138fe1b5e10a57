"""The gateway's WebSocket server: handshake checks, /health, /metrics, a session per station."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from csms.clock import system_clock
from csms.handlers import Decisions, routes
from csms.infra.kafka import ensure_topics, make_producer
from csms.infra.redis_client import make_redis
from csms.infra.redis_decisions import RedisDecisions
from csms.protocol.station_path import InvalidStationPath, station_id_from_path
from csms.protocol.validation import warm
from csms.protocol.versions import SUBPROTOCOLS, OcppVersion, negotiate
from csms.settings import Settings
from services.gateway import metrics
from services.gateway.publisher import FramePublisher
from services.gateway.session import GatewayContext, StationSession

log = logging.getLogger(__name__)

NO_SUBPROTOCOL = "no supported OCPP subprotocol offered; offer one of " + ", ".join(SUBPROTOCOLS)


def _offered_subprotocols(request: Request) -> list[str]:
    offered: list[str] = []
    for value in request.headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(p.strip() for p in value.split(",") if p.strip())
    return offered


def _text_response(status: HTTPStatus, body: str, content_type: str = "text/plain") -> Response:
    headers = Headers([("Content-Type", f"{content_type}; charset=utf-8")])
    return Response(status.value, status.phrase, headers, body.encode())


def _reject(reason: str, status: HTTPStatus, message: str) -> Response:
    metrics.HANDSHAKES_REJECTED.labels(reason).inc()
    return _text_response(status, message + "\n")


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    """Answer plain HTTP (health, metrics) and refuse bad handshakes before the upgrade."""
    path = request.path.split("?", 1)[0]
    if path == "/health":
        return _text_response(HTTPStatus.OK, "ok\n")
    if path == "/metrics":
        headers = Headers([("Content-Type", CONTENT_TYPE_LATEST)])
        return Response(200, "OK", headers, generate_latest())
    try:
        station_id_from_path(request.path)
    except InvalidStationPath as exc:
        status = HTTPStatus.NOT_FOUND if "path must be" in str(exc) else HTTPStatus.BAD_REQUEST
        return _reject("station_id", status, str(exc))
    if negotiate(_offered_subprotocols(request)) is None:
        return _reject("subprotocol", HTTPStatus.BAD_REQUEST, NO_SUBPROTOCOL)
    return None


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
        await StationSession(ws, station, version, ctx).run()

    return handler


async def start_server(settings: Settings, ctx: GatewayContext) -> Server:
    return await serve(
        make_handler(ctx),
        settings.gateway_host,
        settings.gateway_port,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
        max_size=settings.gateway_max_frame_bytes,
        max_queue=16,
        compression=None,
        ping_interval=60,
        ping_timeout=60,
    )


async def run_gateway(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set: connect Kafka and Redis, serve, then drain and flush."""
    for version in OcppVersion:
        warm(version, routes(version))
    await ensure_topics(settings)
    producer = make_producer(settings, client_id=settings.gateway_id)
    redis = make_redis(settings)
    await producer.start()
    try:
        decisions: Decisions = RedisDecisions(
            redis, heartbeat_interval_s=settings.heartbeat_interval_s
        )
        ctx = GatewayContext(
            gateway_id=settings.gateway_id,
            publisher=FramePublisher(producer, settings.topics.frames),
            decisions=decisions,
            clock=system_clock,
            window=settings.gateway_pipeline_window,
        )
        server = await start_server(settings, ctx)
        log.info(
            "gateway %s listening on ws://%s:%d/ocpp/{station_id}",
            settings.gateway_id,
            settings.gateway_host,
            settings.gateway_port,
        )
        await stop.wait()
        server.close(close_connections=True)  # 1001 going away; stations reconnect elsewhere
        await server.wait_closed()
    finally:
        await producer.flush()
        await producer.stop()
        await redis.aclose()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
