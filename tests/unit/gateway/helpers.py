"""Start a real gateway server in-process with fake edges (and optionally real Redis DB 7)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from redis.asyncio import Redis
from websockets.asyncio.client import connect

from csms.infra.redis_client import make_redis
from csms.settings import Settings
from services.gateway.context import GatewayContext
from services.gateway.server import start_server
from tests.unit.gateway.fakes import FixedDecisions, RecordingPublisher

REDIS_URL = "redis://127.0.0.1:6379/7"  # this suite's database (others use 11-14)


def make_context(publisher: RecordingPublisher, **overrides: Any) -> GatewayContext:
    base = GatewayContext(
        gateway_id="gw-test",
        publisher=publisher,
        decisions=FixedDecisions(),
        clock=lambda: 1_764_000_000_000,
        window=4,
    )
    return replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(ctx: GatewayContext, port: int, **settings: Any) -> AsyncIterator[None]:
    base = replace(Settings(), gateway_port=port, gateway_max_frame_bytes=4096)
    server = await start_server(replace(base, **settings), ctx)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def redis_db7() -> AsyncIterator[Redis]:
    redis = make_redis(replace(Settings(), redis_url=REDIS_URL))
    await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.flushdb()
        await redis.aclose()


def ws_connect(port: int, station: str, proto: str = "ocpp1.6", **kwargs: Any) -> connect:
    return connect(
        f"ws://127.0.0.1:{port}/ocpp/{station}",
        subprotocols=[proto],  # type: ignore[list-item]
        **kwargs,
    )
