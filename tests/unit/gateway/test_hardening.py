"""Bad input at the front door: each case answered with a clear CALLERROR or close code, the
frame still published (flagged), the neighbours unaffected."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.gateway.policy import BINARY_FLAG
from tests.unit.gateway.fakes import RecordingPublisher
from tests.unit.gateway.helpers import make_context, running, ws_connect

PORT = 19782
BOOT201 = [
    2,
    "b",
    "BootNotification",
    {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
]


async def _heartbeat_ok(ws: ClientConnection, uid: str = "ok") -> bool:
    await ws.send(orjson.dumps([2, uid, "Heartbeat", {}]).decode())
    answer = orjson.loads(await ws.recv())
    return bool(answer[:2] == [3, uid])


async def _closed(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def test_binary_frame_that_is_not_text_is_published_base64_and_closed_with_1003() -> None:
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT):
        async with ws_connect(PORT, "CP-NB") as neighbour, ws_connect(PORT, "CP-B") as ws:
            await ws.send(b"\x00\xffnot text")
            code, reason = await _closed(ws)
            assert (code, reason) == (1003, "OCPP-J frames are text frames")
            assert await _heartbeat_ok(neighbour)
        await asyncio.sleep(0.05)
    binary = [e for e in publisher.envelopes if e.err == BINARY_FLAG]
    assert len(binary) == 1
    assert base64.b64decode(binary[0].frame) == b"\x00\xffnot text"
    assert binary[0].station == "CP-B"


async def test_binary_frame_holding_utf8_json_is_served_as_text_and_flagged() -> None:
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT), ws_connect(PORT, "CP-BT") as ws:
        await ws.send(b'[2,"bin","Heartbeat",{}]')
        answer = await ws.recv()
        assert isinstance(answer, str)  # strict in what we send: the answer is a text frame
        assert orjson.loads(answer)[:2] == [3, "bin"]
        assert await _heartbeat_ok(ws)  # the connection stays up
    [call] = [e for e in publisher.envelopes if e.uid == "bin" and e.dir == "in"]
    assert (call.kind, call.action, call.err, call.flag) == ("call", "Heartbeat", "", "BinaryFrame")
    assert call.frame == '[2,"bin","Heartbeat",{}]'


async def test_oversized_frame_closes_1009_and_the_disconnect_is_flagged() -> None:
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT, gateway_max_frame_bytes=1024):
        async with ws_connect(PORT, "CP-NB") as neighbour, ws_connect(PORT, "CP-BIG") as ws:
            await ws.send(orjson.dumps([2, "x", "DataTransfer", {"d": "x" * 5000}]).decode())
            code, _ = await _closed(ws)
            assert code == 1009
            assert await _heartbeat_ok(neighbour)
        await asyncio.sleep(0.05)
    gone = [e for e in publisher.envelopes if e.kind == "disconnect" and e.station == "CP-BIG"]
    assert [e.err for e in gone] == ["FrameTooBig"]
    assert orjson.loads(gone[0].frame)["code"] == 1009


async def test_invalid_utf8_in_a_text_frame_closes_1007_flagged() -> None:
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT):
        async with ws_connect(PORT, "CP-U8") as ws:
            # Bypass the client's own encoding: a text frame whose bytes are not UTF-8.
            from websockets.frames import Frame, Opcode

            ws.protocol.send_frame(Frame(Opcode.TEXT, b'[2,"1","Heartbeat",{"\xff":1}]'))
            ws.send_data()
            code, _ = await _closed(ws)
            assert code == 1007
        await asyncio.sleep(0.05)
    gone = [e for e in publisher.envelopes if e.kind == "disconnect"]
    assert [e.err for e in gone] == ["InvalidUtf8"]


async def test_answers_for_unknown_message_ids_are_ignored_but_flagged_in_metrics() -> None:
    publisher = RecordingPublisher()
    before = REGISTRY.get_sample_value("csms_gateway_unmatched_answers_total") or 0.0
    async with running(make_context(publisher), PORT), ws_connect(PORT, "CP-R") as ws:
        await ws.send('[4,"nobody-asked","GenericError","",{}]')
        await ws.send('[3,"nobody-asked-2",{}]')
        assert await _heartbeat_ok(ws)  # the first answer it gets is the Heartbeat's
    assert REGISTRY.get_sample_value("csms_gateway_unmatched_answers_total") == before + 2
    assert ("in", "error", "") in publisher.kinds()
    assert ("in", "result", "") in publisher.kinds()


@pytest.mark.parametrize(
    "frame",
    ['[2,1,"Heartbeat",{}]', "[]", '[2,"1"]', '[2,"1","Heartbeat",[]]', "3", "null"],
)
async def test_malformed_rpc_frames_get_callerrors_and_are_published(frame: str) -> None:
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT), ws_connect(PORT, "CP-M", "ocpp2.0.1") as ws:
        await ws.send(frame)
        answer = orjson.loads(await ws.recv())
        assert answer[0] == 4
        assert answer[2] in {"RpcFrameworkError", "FormatViolation"}
        assert await _heartbeat_ok(ws)
    assert [e.frame for e in publisher.envelopes if e.err] == [frame]


def _concurrent(proto: str) -> float:
    value = REGISTRY.get_sample_value("ocpp_concurrent_calls_total", {"proto": proto})
    return value or 0.0


async def _two_calls_while_kafka_holds_the_first(
    publisher: RecordingPublisher, ws: ClientConnection
) -> list[list[object]]:
    await ws.send(orjson.dumps([2, "a", "Heartbeat", {}]).decode())
    await ws.send(orjson.dumps([2, "b", "Heartbeat", {}]).decode())
    await asyncio.sleep(0.1)  # both read while the first is unanswered (its ack held back)
    for ack in publisher.acks:
        if not ack.done():
            ack.set_result(None)
    return [orjson.loads(await ws.recv())[:3] for _ in range(2)]


@pytest.mark.parametrize("proto", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_a_call_sent_while_one_is_unanswered_is_served_in_order_and_flagged(
    proto: str,
) -> None:
    publisher = RecordingPublisher(auto_ack=False)
    before = _concurrent(proto)
    async with running(make_context(publisher), PORT), ws_connect(PORT, "CP-CC", proto) as ws:
        first, second = await _two_calls_while_kafka_holds_the_first(publisher, ws)
    assert first[:2] == [3, "a"]
    assert second[:2] == [3, "b"]
    assert _concurrent(proto) == before + 1
    calls = {e.uid: e for e in publisher.envelopes if e.kind == "call"}
    assert (calls["a"].flag, calls["a"].err) == ("", "")
    assert (calls["b"].flag, calls["b"].err) == ("ConcurrentCall", "")


async def test_strict_call_order_is_an_opt_in_that_refuses_the_second_2x_call() -> None:
    publisher = RecordingPublisher(auto_ack=False)
    ctx = make_context(publisher, strict_call_order=True)
    async with running(ctx, PORT):
        async with ws_connect(PORT, "CP-2X", "ocpp2.0.1") as ws:
            first, second = await _two_calls_while_kafka_holds_the_first(publisher, ws)
            assert first[:2] == [3, "a"]
            assert second == [4, "b", "RpcFrameworkError"]
        publisher.auto_ack = True
        async with ws_connect(PORT, "CP-16", "ocpp1.6") as ws:  # 1.6: SHOULD NOT, so served
            await ws.send(orjson.dumps([2, "a", "Heartbeat", {}]).decode())
            await ws.send(orjson.dumps([2, "b", "Heartbeat", {}]).decode())
            answers = [orjson.loads(await ws.recv())[:2] for _ in range(2)]
            assert answers == [[3, "a"], [3, "b"]]


async def test_unknown_properties_are_ignored_and_flagged_unless_strict() -> None:
    vendor = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "vendorX": 1}
    frame = orjson.dumps([2, "u", "StatusNotification", vendor]).decode()
    wrong = orjson.dumps([2, "w", "StatusNotification", {**vendor, "status": "Nope"}]).decode()
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT), ws_connect(PORT, "CP-UP") as ws:
        await ws.send(frame)
        assert orjson.loads(await ws.recv())[:2] == [3, "u"]
        await ws.send(wrong)  # the real fault behind the unknown property is what is named
        answer = orjson.loads(await ws.recv())
        assert answer[:3] == [4, "w", "PropertyConstraintViolation"]
    accepted = next(e for e in publisher.envelopes if e.uid == "u" and e.dir == "in")
    assert (accepted.err, accepted.flag) == ("", "UnknownProperties")
    strict = RecordingPublisher()
    async with (
        running(make_context(strict, strict_schema=True), PORT),
        ws_connect(PORT, "CP-UP") as ws,
    ):
        await ws.send(frame)
        assert orjson.loads(await ws.recv())[:3] == [4, "u", "FormationViolation"]


async def test_silent_station_is_closed_after_the_idle_timeout() -> None:
    ctx = make_context(RecordingPublisher(), idle_timeout_s=0.3)
    async with (
        running(ctx, PORT),
        ws_connect(PORT, "CP-QUIET", ping_interval=None) as quiet,
        ws_connect(PORT, "CP-PINGS", ping_interval=0.1) as pinger,
    ):
        code, reason = await _closed(quiet)
        assert (code, reason) == (1000, "idle timeout")
        assert await _heartbeat_ok(pinger)  # its pings kept it alive past the timeout


async def test_flood_gets_rate_limit_errors_then_a_close() -> None:
    publisher = RecordingPublisher()
    ctx = make_context(publisher, rate_per_s=0.001, rate_burst=3, window=64)
    async with (
        running(ctx, PORT),
        ws_connect(PORT, "CP-NB") as neighbour,
        ws_connect(PORT, "CP-FLOOD") as ws,
    ):
        for i in range(20):
            await ws.send(orjson.dumps([2, str(i), "Heartbeat", {}]).decode())
        codes: list[object] = []
        with pytest.raises(ConnectionClosed):
            while True:
                codes.append(orjson.loads(await asyncio.wait_for(ws.recv(), 20))[0])
        assert codes[:3] == [3, 3, 3]
        assert 4 in codes
        assert ws.close_code == 1008
        assert await _heartbeat_ok(neighbour)
    limited = [e for e in publisher.envelopes if e.err == "GenericError"]
    assert limited
    assert all(e.station == "CP-FLOOD" and e.kind == "call" for e in limited)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("..", 400),
        ("%2E%2E", 400),
        ("a%2Fb", 400),
        ("a/b", 400),
        ("", 400),
        ("x" * 49, 400),
        ("x" * 5000, 400),
        ("CP%00", 400),
        ("CP%201", 400),
        ("%C3%A9", 400),
    ],
)
async def test_station_ids_with_path_tricks_are_refused_without_echo(
    path: str, status: int
) -> None:
    async with running(make_context(RecordingPublisher()), PORT):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(PORT, path):
                pass
    response = info.value.response
    assert response.status_code == status
    assert len(response.body) < 123
    if len(path) > 3:
        assert path.encode() not in response.body
