"""Server options: reuse_port for several gateway processes, /metrics names, registry down."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis
from websockets.exceptions import InvalidStatus

from csms.infra.station_registry import StationRegistry
from services.gateway.handshake import FrontDoor
from tests.unit.gateway.fakes import RecordingPublisher
from tests.unit.gateway.helpers import make_context, running, ws_connect

PORT = 19787


async def test_two_gateways_share_a_port_with_reuse_port() -> None:
    ctx = make_context(RecordingPublisher())
    async with (
        running(ctx, PORT, gateway_reuse_port=True),
        running(ctx, PORT, gateway_reuse_port=True),
        ws_connect(PORT, "CP-1") as ws,
    ):
        assert ws.subprotocol == "ocpp1.6"


async def test_metrics_expose_the_front_door_families() -> None:
    async with running(make_context(RecordingPublisher()), PORT), httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{PORT}/metrics")).text
    for family in (
        "csms_gateway_connections",
        "csms_gateway_frames_total",
        "csms_gateway_call_latency_seconds",
        "csms_gateway_kafka_inflight",
        "csms_gateway_callerrors_total",
        "csms_gateway_handshakes_rejected_total",
        "csms_gateway_closes_total",
        "csms_gateway_rate_limited_total",
        "csms_gateway_boots_deferred_total",
    ):
        assert family in text


async def test_handshake_is_refused_503_when_the_registry_is_unreachable() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    ctx = make_context(RecordingPublisher(), door=FrontDoor(StationRegistry(dead), "open"))
    try:
        async with running(ctx, PORT):
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(PORT, "CP-1"):
                    pass
        assert info.value.response.status_code == 503
    finally:
        await dead.aclose()
