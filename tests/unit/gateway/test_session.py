"""The session pipeline over a real WebSocket, with Kafka replaced by a recording publisher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.settings import Settings
from services.gateway.context import GatewayContext
from services.gateway.server import start_server
from tests.unit.gateway.fakes import FixedDecisions, RecordingPublisher

PORT = 19777


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[RecordingPublisher, GatewayContext]]:
    publisher = RecordingPublisher()
    ctx = GatewayContext(
        gateway_id="gw-test",
        publisher=publisher,
        decisions=FixedDecisions(),
        clock=lambda: 1_764_000_000_000,
        window=4,
    )
    settings = replace(Settings(), gateway_port=PORT, gateway_max_frame_bytes=4096)
    server = await start_server(settings, ctx)
    try:
        yield publisher, ctx
    finally:
        server.close()
        await server.wait_closed()


def _connect(station: str = "CP-1", proto: str = "ocpp1.6") -> connect:
    return connect(f"ws://127.0.0.1:{PORT}/ocpp/{station}", subprotocols=[proto])  # type: ignore[list-item]


async def _call(ws: ClientConnection, frame: list[object]) -> list[object]:
    await ws.send(orjson.dumps(frame).decode())
    answer: list[object] = orjson.loads(await ws.recv())
    return answer


async def test_boot_is_answered_and_every_frame_is_published_in_order(gateway) -> None:
    publisher, _ = gateway
    async with _connect() as ws:
        answer = await _call(
            ws, [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        )
        assert answer == [
            3,
            "1",
            {"status": "Accepted", "currentTime": "2025-11-24T16:00:00.000Z", "interval": 300},
        ]
    await asyncio.sleep(0.05)
    assert publisher.kinds() == [
        ("in", "connect", ""),
        ("in", "call", "BootNotification"),
        ("out", "result", "BootNotification"),
        ("in", "disconnect", ""),
    ]
    call_env = publisher.envelopes[1]
    assert (call_env.station, call_env.proto, call_env.uid, call_env.gw) == (
        "CP-1",
        "ocpp1.6",
        "1",
        "gw-test",
    )
    assert orjson.loads(call_env.frame)[2] == "BootNotification"
    assert len({e.conn for e in publisher.envelopes}) == 1


async def test_no_answer_before_kafka_acknowledges_the_call(gateway) -> None:
    publisher, _ = gateway
    publisher.auto_ack = False
    async with _connect() as ws:
        await asyncio.sleep(0.05)
        await ws.send(orjson.dumps([2, "h1", "Heartbeat", {}]).decode())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
        pending = next(
            a for a, e in zip(publisher.acks, publisher.envelopes, strict=True) if e.kind == "call"
        )
        pending.set_result(None)
        answer = orjson.loads(await ws.recv())
        assert answer[:2] == [3, "h1"]


async def test_kafka_failure_is_answered_with_internal_error(gateway) -> None:
    publisher, _ = gateway
    publisher.auto_ack = False
    async with _connect("CP-9", "ocpp2.0.1") as ws:
        await asyncio.sleep(0.05)
        await ws.send(orjson.dumps([2, "h1", "Heartbeat", {}]).decode())
        await asyncio.sleep(0.05)
        publisher.acks[-1].set_exception(RuntimeError("broker down"))
        answer = orjson.loads(await ws.recv())
        assert answer[:3] == [4, "h1", "InternalError"]


async def test_pipelined_calls_are_answered_in_order(gateway) -> None:
    async with _connect() as ws:
        for i in range(10):
            await ws.send(orjson.dumps([2, str(i), "Heartbeat", {}]).decode())
        uids = [orjson.loads(await ws.recv())[1] for _ in range(10)]
    assert uids == [str(i) for i in range(10)]


@pytest.mark.parametrize(
    ("proto", "frame", "code"),
    [
        ("ocpp1.6", "nonsense", "FormationViolation"),
        ("ocpp2.0.1", "nonsense", "FormatViolation"),
        ("ocpp2.0.1", '{"a":1}', "RpcFrameworkError"),
        ("ocpp1.6", '[2,"7","NoSuchAction",{}]', "NotImplemented"),
        ("ocpp1.6", '[2,"7","Reset",{"type":"Hard"}]', "NotSupported"),
        ("ocpp1.6", '[2,"7","MeterValues",{"meterValue":[]}]', "OccurenceConstraintViolation"),
        ("ocpp2.1", '[2,"7","Heartbeat",[]]', "FormatViolation"),
        ("ocpp2.0.1", '[8,"7","Heartbeat",{}]', "MessageTypeNotSupported"),
    ],
)
async def test_bad_frames_get_the_versions_callerror_and_are_archived_flagged(
    gateway: tuple[RecordingPublisher, GatewayContext],
    proto: str,
    frame: str,
    code: str,
) -> None:
    publisher, _ = gateway
    async with _connect("CP-X", proto) as ws:
        await ws.send(frame)
        answer = orjson.loads(await ws.recv())
        assert answer[0] == 4
        assert answer[2] == code
        # The connection survives: the next valid CALL is answered.
        assert (await _call(ws, [2, "ok", "Heartbeat", {}]))[:2] == [3, "ok"]
    rejected = [e for e in publisher.envelopes if e.err]
    assert len(rejected) == 1
    assert rejected[0].frame == frame
    assert rejected[0].err == code
    assert rejected[0].action in {"", "Reset", "MeterValues", "Heartbeat"}


async def test_answers_to_csms_calls_are_archived_not_answered(gateway) -> None:
    publisher, _ = gateway
    async with _connect() as ws:
        await ws.send('[3,"csms-1",{"status":"Accepted"}]')
        assert (await _call(ws, [2, "h", "Heartbeat", {}]))[1] == "h"
    kinds = publisher.kinds()
    assert ("in", "result", "") in kinds


async def test_handshakes_without_ocpp_subprotocol_or_with_bad_ids_are_refused(gateway) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{PORT}/ocpp/CP-1", subprotocols=["mqtt"]):  # type: ignore[list-item]
            pass
    assert info.value.response.status_code == 400
    assert b"ocpp1.6" in info.value.response.body
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{PORT}/ocpp/..", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert info.value.response.status_code == 400


async def test_start_transaction_gets_an_allocated_id_and_token_status(gateway) -> None:
    async with _connect() as ws:
        start = {
            "connectorId": 1,
            "idTag": "BLOCKED",
            "meterStart": 0,
            "timestamp": "2026-01-01T00:00:00Z",
        }
        answer = await _call(ws, [2, "s", "StartTransaction", start])
    assert answer == [3, "s", {"transactionId": 101, "idTagInfo": {"status": "Blocked"}}]
