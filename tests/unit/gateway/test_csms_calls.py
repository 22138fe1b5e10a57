"""CSMS-initiated CALLs over real WebSockets in-process: the session's `call()` (one at a time,
matched by message id, judged against the response schema) and the calls inbox behind the API's
CallBus (Redis DB 7)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.client import ClientConnection

from csms.infra import redis_keys
from csms.infra.call_bus import CallBus, CallRequest, Route, new_call_id
from services.gateway.calls import RESTARTING, CallInbox
from services.gateway.connections import Connections
from services.gateway.session import StationSession
from tests.unit.gateway.fakes import RecordingPublisher
from tests.unit.gateway.helpers import make_context, redis_db7, running, ws_connect

PORT = 19788
REPLY_TO = redis_keys.api_replies_channel("unit")

# What the station stand-in does with each CALL it gets: the frame to answer, or None for none.
Answerer = Callable[[list[Any]], Awaitable[list[Any] | None]]


class Gateway:
    def __init__(self) -> None:
        self.publisher = RecordingPublisher()
        self.connections = Connections("gw-test")
        self.ctx = make_context(self.publisher, connections=self.connections)

    async def session(self, station: str) -> StationSession:
        for _ in range(200):
            session = self.connections.get(station)
            if isinstance(session, StationSession):
                return session
            await asyncio.sleep(0.01)
        raise AssertionError(f"{station} never got a session")

    def envelopes(self, uid: str) -> list[tuple[str, str, str]]:
        return [(e.dir, e.kind, e.action) for e in self.publisher.envelopes if e.uid == uid]


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    async with running(gw.ctx, PORT):
        yield gw


@contextlib.asynccontextmanager
async def station(
    gw: Gateway, name: str, proto: str, answer: Answerer
) -> AsyncIterator[tuple[StationSession, list[list[Any]], ClientConnection]]:
    """A connected station that answers every CALL it gets with `answer`; yields its session,
    every frame it received (in order) and its socket."""
    received: list[list[Any]] = []
    async with ws_connect(PORT, name, proto) as ws:

        async def serve() -> None:
            with contextlib.suppress(Exception):
                async for text in ws:
                    frame = orjson.loads(text)
                    received.append(frame)
                    if frame[0] == 2:
                        reply = await answer(frame)
                        if reply is not None:
                            await ws.send(orjson.dumps(reply).decode())

        task = asyncio.create_task(serve())
        try:
            yield await gw.session(name), received, ws
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def request(name: str, action: str, payload: dict[str, Any], timeout_s: float = 5.0) -> CallRequest:
    return CallRequest(new_call_id(), name, action, payload, REPLY_TO, timeout_s)


def accepted(payload: dict[str, Any] | None = None) -> Answerer:
    async def answer(frame: list[Any]) -> list[Any]:
        return [3, frame[1], payload if payload is not None else {"status": "Accepted"}]

    return answer


async def silent(frame: list[Any]) -> None:
    return None


async def test_callresult_is_validated_and_both_frames_are_published(gateway: Gateway) -> None:
    async with station(gateway, "CC-1", "ocpp1.6", accepted()) as (session, received, _):
        req = request("CC-1", "Reset", {"type": "Soft"})
        reply = await session.call(req)
    assert (reply.id, reply.station, reply.outcome) == (req.id, "CC-1", "result")
    assert reply.payload == {"status": "Accepted"}
    assert reply.gateway == "gw-test"
    assert reply.elapsed_ms > 0
    assert received == [[2, req.id, "Reset", {"type": "Soft"}]]
    # The CALL (out) and its answer (in, with the CALL's action) are both on ocpp.frames.
    assert gateway.envelopes(req.id) == [("out", "call", "Reset"), ("in", "result", "Reset")]
    out = next(e for e in gateway.publisher.envelopes if e.uid == req.id)
    assert orjson.loads(out.frame) == [2, req.id, "Reset", {"type": "Soft"}]


async def test_callerror_is_returned_with_code_description_details(gateway: Gateway) -> None:
    async def refuse(frame: list[Any]) -> list[Any]:
        return [4, frame[1], "NotSupported", "no variables here", {"why": "test"}]

    async with station(gateway, "CC-2", "ocpp2.0.1", refuse) as (session, _, _):
        wanted = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        payload = {"getVariableData": [wanted]}
        req = request("CC-2", "GetVariables", payload)
        reply = await session.call(req)
    assert reply.outcome == "error"
    assert reply.error == {
        "code": "NotSupported",
        "description": "no variables here",
        "details": {"why": "test"},
    }
    assert gateway.envelopes(req.id) == [
        ("out", "call", "GetVariables"),
        ("in", "error", "GetVariables"),
    ]


async def test_callresult_violating_the_response_schema_is_invalid(gateway: Gateway) -> None:
    async with station(gateway, "CC-3", "ocpp1.6", accepted({"status": "Maybe"})) as conn:
        reply = await conn[0].call(request("CC-3", "Reset", {"type": "Hard"}))
    assert reply.outcome == "invalid"
    assert reply.payload == {"status": "Maybe"}  # kept for the operator to see
    assert "status" in reply.detail


async def test_no_answer_times_out_and_a_late_answer_is_archived_flagged(gateway: Gateway) -> None:
    async with station(gateway, "CC-4", "ocpp1.6", silent) as (session, received, ws):
        req = request("CC-4", "ClearCache", {}, timeout_s=0.3)
        reply = await session.call(req)
        assert (reply.outcome, reply.detail) == ("timeout", "no answer within 0.3s")
        unmatched = REGISTRY.get_sample_value("csms_gateway_unmatched_answers_total") or 0.0
        late = _lenient("LateAnswer")
        await ws.send(orjson.dumps([3, req.id, {"status": "Accepted"}]).decode())
        await ws.send(orjson.dumps([3, req.id, {"status": "Accepted"}]).decode())  # again
        await asyncio.sleep(0.1)
        assert _lenient("LateAnswer") == late + 1
        assert REGISTRY.get_sample_value("csms_gateway_unmatched_answers_total") == unmatched + 1
    assert len(received) == 1
    # The late answer is archived with its CALL's action and flagged (projections can use it);
    # the second copy is an answer nobody asked for: no action, never answered.
    assert gateway.envelopes(req.id) == [
        ("out", "call", "ClearCache"),
        ("in", "result", "ClearCache"),
        ("in", "result", ""),
    ]
    assert [e.flag for e in gateway.publisher.envelopes if e.uid == req.id] == [
        "",
        "LateAnswer",
        "",
    ]


def _lenient(flag: str) -> float:
    value = REGISTRY.get_sample_value("csms_gateway_lenient_frames_total", {"flag": flag})
    return value or 0.0


async def test_one_outstanding_call_at_a_time_in_order(gateway: Gateway) -> None:
    on_the_wire = 0
    most = 0

    async def slow(frame: list[Any]) -> list[Any]:
        nonlocal on_the_wire, most
        on_the_wire += 1
        most = max(most, on_the_wire)
        await asyncio.sleep(0.05)
        on_the_wire -= 1
        return [3, frame[1], {"status": "Accepted"}]

    async with station(gateway, "CC-5", "ocpp1.6", slow) as (session, received, _):
        reqs = [
            request("CC-5", "ChangeAvailability", {"connectorId": n, "type": "Inoperative"})
            for n in range(4)
        ]
        # A fifth call whose own timeout runs out while it waits for its turn: never sent.
        late = request("CC-5", "ClearCache", {}, timeout_s=0.08)
        tasks = [asyncio.create_task(session.call(r)) for r in [*reqs, late]]
        replies = await asyncio.gather(*tasks)
    assert [r.outcome for r in replies[:4]] == ["result"] * 4
    assert (replies[4].outcome, replies[4].detail.startswith("not sent")) == ("timeout", True)
    assert most == 1
    assert [f[1] for f in received] == [r.id for r in reqs]
    assert gateway.envelopes(late.id) == []


async def test_unknown_answer_ids_are_ignored_while_a_call_waits(gateway: Gateway) -> None:
    async def confuse(frame: list[Any]) -> list[Any]:
        await ws.send(orjson.dumps([3, "not-ours", {"status": "Rejected"}]).decode())
        await ws.send(orjson.dumps([4, "nor-this", "GenericError", "", {}]).decode())
        return [3, frame[1], {"status": "Accepted"}]

    async with station(gateway, "CC-6", "ocpp1.6", confuse) as (session, received, ws):
        req = request("CC-6", "Reset", {"type": "Soft"})
        reply = await session.call(req)
        await asyncio.sleep(0.1)
    assert (reply.outcome, reply.payload) == ("result", {"status": "Accepted"})
    # The station gets no answer to answers: the CALL is all it ever received.
    assert received == [[2, req.id, "Reset", {"type": "Soft"}]]
    assert gateway.envelopes("not-ours") == [("in", "result", "")]
    assert gateway.envelopes("nor-this") == [("in", "error", "")]


async def test_station_disconnecting_while_waiting_is_offline(gateway: Gateway) -> None:
    got_call = asyncio.Event()

    async def hang_up(frame: list[Any]) -> None:
        got_call.set()

    async with station(gateway, "CC-7", "ocpp2.0.1", hang_up) as (session, _, ws):
        waiting = asyncio.create_task(session.call(request("CC-7", "ClearCache", {})))
        await got_call.wait()
        await ws.close()
        reply = await asyncio.wait_for(waiting, 5)
    assert (reply.outcome, reply.detail) == ("offline", "station disconnected")
    # A call after the end is answered at once, never sent.
    late = await session.call(request("CC-7", "ClearCache", {}))
    assert late.outcome == "offline"
    assert gateway.envelopes(late.id) == []


async def test_drain_close_answers_the_waiting_call_gateway_restarting(gateway: Gateway) -> None:
    got_call = asyncio.Event()

    async def ignore(frame: list[Any]) -> None:
        got_call.set()

    async with station(gateway, "CC-8", "ocpp1.6", ignore) as (session, _, _):
        waiting = asyncio.create_task(session.call(request("CC-8", "ClearCache", {})))
        await got_call.wait()
        await session.close(1012, RESTARTING)
        reply = await asyncio.wait_for(waiting, 5)
    assert (reply.outcome, reply.detail) == ("offline", RESTARTING)


async def test_calls_the_version_cannot_carry_are_refused_unsent(gateway: Gateway) -> None:
    async with station(gateway, "CC-9", "ocpp1.6", accepted()) as (session, received, _):
        other_version = await session.call(request("CC-9", "GetVariables", {}))
        bad_payload = await session.call(request("CC-9", "Reset", {"type": "Gentle"}))
    assert (other_version.outcome, other_version.detail) == (
        "invalid",
        "ocpp1.6 has no action GetVariables",
    )
    assert bad_payload.outcome == "invalid"
    assert bad_payload.detail.startswith("request: ")
    assert received == []


async def test_call_not_stored_by_kafka_is_not_sent(gateway: Gateway) -> None:
    async with station(gateway, "CC-10", "ocpp1.6", accepted()) as (session, received, _):
        gateway.publisher.auto_ack = False
        waiting = asyncio.create_task(session.call(request("CC-10", "ClearCache", {})))
        await asyncio.sleep(0.05)
        gateway.publisher.acks[-1].set_exception(RuntimeError("broker down"))
        reply = await asyncio.wait_for(waiting, 5)
        gateway.publisher.auto_ack = True
    assert (reply.outcome, reply.detail) == ("timeout", "not sent: Kafka did not store the CALL")
    assert received == []


# -- the inbox, behind the API's CallBus over real Redis ---------------------------------------


@pytest.fixture
async def bus_and_inbox(gateway: Gateway) -> AsyncIterator[tuple[CallBus, CallInbox, Any]]:
    async with redis_db7() as redis:
        inbox = CallInbox("gw-test", redis, gateway.connections)
        inbox.start()
        bus = CallBus(redis, api_id="unit")
        await bus.start()
        await asyncio.wait_for(inbox.subscribed.wait(), 10)
        try:
            yield bus, inbox, redis
        finally:
            await bus.stop()
            await inbox.close(grace_s=0)


def _calls_total(action: str, outcome: str) -> float:
    labels = {"action": action, "outcome": outcome}
    return REGISTRY.get_sample_value("csms_gateway_csms_calls_total", labels) or 0.0


async def test_inbox_reaches_the_session_and_replies_to_the_api(
    gateway: Gateway, bus_and_inbox: tuple[CallBus, CallInbox, Any]
) -> None:
    bus, _, _ = bus_and_inbox
    before = _calls_total("Reset", "result")
    async with station(gateway, "CC-11", "ocpp1.6", accepted()) as (session, _, _):
        route = Route("gw-test", session.conn)
        reply = await bus.call("CC-11", route, "Reset", {"type": "Soft"}, timeout_s=5)
        replaced = await bus.call(
            "CC-11", Route("gw-test", "an-older-conn"), "Reset", {"type": "Soft"}, timeout_s=5
        )
    assert (reply.outcome, reply.payload) == ("result", {"status": "Accepted"})
    assert reply.gateway == "gw-test"
    assert (replaced.outcome, replaced.detail) == ("offline", "the routed connection was replaced")
    assert _calls_total("Reset", "result") == before + 1


async def test_inbox_answers_offline_for_a_station_it_does_not_hold(
    bus_and_inbox: tuple[CallBus, CallInbox, Any],
) -> None:
    bus, _, _ = bus_and_inbox
    reply = await bus.call("CC-NONE", Route("gw-test", ""), "ClearCache", {}, timeout_s=5)
    assert (reply.outcome, reply.detail) == ("offline", "station not connected to gw-test")


async def test_inbox_answers_readable_malformed_requests_and_drops_the_rest(
    bus_and_inbox: tuple[CallBus, CallInbox, Any],
) -> None:
    bus, inbox, redis = bus_and_inbox
    channel = redis_keys.gateway_calls_channel("gw-test")
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(bus.channel)
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        await redis.publish(channel, b"not json")
        await redis.publish(channel, orjson.dumps({"id": "m1", "reply_to": "csms:gw:x:evict"}))
        readable = {"id": "m2", "station": "S", "reply_to": bus.channel}
        await redis.publish(channel, orjson.dumps(readable))
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                break
    assert message is not None
    reply = orjson.loads(message["data"])
    assert (reply["id"], reply["station"], reply["outcome"]) == ("m2", "S", "invalid")
    assert len(inbox) == 0


async def test_inbox_close_answers_pending_calls_gateway_restarting(
    gateway: Gateway, bus_and_inbox: tuple[CallBus, CallInbox, Any]
) -> None:
    bus, inbox, _ = bus_and_inbox
    async with station(gateway, "CC-12", "ocpp1.6", silent) as (session, received, _):
        route = Route("gw-test", session.conn)
        waiting = asyncio.create_task(bus.call("CC-12", route, "ClearCache", {}, timeout_s=30))
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert len(inbox) == 1
        await inbox.close(grace_s=0)
        reply = await asyncio.wait_for(waiting, 5)
    assert (reply.outcome, reply.detail) == ("offline", RESTARTING)
    assert len(inbox) == 0


async def test_a_pending_station_may_send_what_a_trigger_message_asked_for(
    gateway: Gateway,
) -> None:
    """B02.FR.05: while Pending, only BootNotification — and the message the CSMS triggered."""
    status = {
        "timestamp": "2026-11-26T00:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    }

    async def send(ws: ClientConnection, received: list[list[Any]], uid: str) -> list[Any]:
        await ws.send(orjson.dumps([2, uid, "StatusNotification", status]).decode())
        for _ in range(200):
            answer = next((f for f in received if f[0] in (3, 4) and f[1] == uid), None)
            if answer is not None:
                return answer
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {uid}")

    async with station(gateway, "CC-TRIG", "ocpp2.0.1", accepted()) as (session, received, ws):
        session.status = "Pending"
        refused = await send(ws, received, "s1")
        assert refused[0] == 4 and refused[2] == "SecurityError"

        trigger = request("CC-TRIG", "TriggerMessage", {"requestedMessage": "StatusNotification"})
        assert (await session.call(trigger)).outcome == "result"
        triggered = await send(ws, received, "s2")
        assert triggered[0] == 3, triggered
        again = await send(ws, received, "s3")
        assert again[0] == 4 and again[2] == "SecurityError", "allowed once, not for good"


async def test_a_malformed_answer_ends_the_command_invalid_at_once(gateway: Gateway) -> None:
    async def garbled(frame: list[Any]) -> list[Any]:
        return [3, frame[1], "not an object"]  # a CALLRESULT's payload must be an object

    async with station(gateway, "CC-BAD", "ocpp1.6", garbled) as (session, received, _):
        req = request("CC-BAD", "ClearCache", {}, timeout_s=30)
        reply = await asyncio.wait_for(session.call(req), 5)  # not after its 30 s timeout
    assert reply.outcome == "invalid"
    assert reply.detail.startswith("malformed answer")
    assert [f for f in received if f[0] == 4] == [], "no CALLERROR in answer to a CALLRESULT"
    answer = [e for e in gateway.publisher.envelopes if e.uid == req.id and e.dir == "in"]
    assert [(e.kind, e.action, bool(e.err)) for e in answer] == [("result", "ClearCache", True)]
