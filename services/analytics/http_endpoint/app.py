"""The Starlette app of the endpoint and the uvicorn server that serves it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from csms.infra.clickhouse import ClickHouse
from services.analytics import metrics
from services.analytics.http_endpoint.engine import LocalEngine
from services.analytics.http_endpoint.protocol import (
    _TEXT_TYPE,
    NOT_IMPLEMENTED,
    EndpointError,
    QueryReply,
    QueryRequest,
    decode_body,
    error_reply,
)
from services.analytics.http_endpoint.users import Users, credentials

_LARGE_BODY = 256 * 1024


def make_app(
    clickhouse: ClickHouse, engine: LocalEngine | None, users: Users | None = None
) -> Starlette:
    """The endpoint's ASGI app; without an engine (server mode) only /ping and /metrics.

    Queries authenticate against `users` (Users.open(): `default` without password)."""
    known = users if users is not None else Users.open()

    async def ping(request: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def query(request: Request) -> Response:
        params = dict(request.query_params)
        if engine is None:
            reply = error_reply(
                NOT_IMPLEMENTED, "no embedded engine here: query ClickHouse directly"
            )
        elif request.method == "GET" and "query" not in params:
            reply = QueryReply(200, b"Ok.\n", {"Content-Type": _TEXT_TYPE})
        else:
            reply = await _handle(request, params, clickhouse, engine, known)
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/", query, methods=["GET", "POST"]),
        ]
    )


async def _handle(
    request: Request,
    params: dict[str, str],
    clickhouse: ClickHouse,
    engine: LocalEngine,
    users: Users,
) -> QueryReply:
    try:
        user = users.authenticate(*credentials(request.headers, params))
    except EndpointError as exc:
        metrics.HTTP_QUERIES.labels("error").inc()
        return error_reply(exc.code, str(exc))
    body = await request.body()
    encoding = request.headers.get("content-encoding", "")
    try:
        if encoding and len(body) > _LARGE_BODY:
            # Off the event loop, but not on the engine thread: the sink need not wait for it.
            body = await asyncio.to_thread(decode_body, body, encoding)
        else:
            body = decode_body(body, encoding)
    except EndpointError as exc:
        metrics.HTTP_QUERIES.labels("error").inc()
        return error_reply(exc.code, str(exc))
    query = QueryRequest(request.method, params, body, readonly=user.readonly)
    return await clickhouse.run(engine.execute, query)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the analytics process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a busy port is an ordinary OSError here (uvicorn would exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(app: Starlette, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return _Server(config)
