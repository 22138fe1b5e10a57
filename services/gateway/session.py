"""One station's connection: read frames, publish them, answer in order after Kafka's ack.

Frames are handled in receive order. Each inbound frame is handed to the producer at once and the
answer is computed while Kafka acknowledges it; a writer task sends the answers in the same order,
each only after its CALL is durable. Up to `window` frames per connection are in that pipeline, so
a slow Kafka stops the reading of the socket instead of growing memory.

Before a frame reaches its handler it passes the session's policies (each answered with a
CALLERROR, the frame still published with `err` set): the rate limit and the registration state
(Pending/Rejected stations may only boot). What the gateway need not refuse it accepts and flags
(the envelope's `flag`, docs/architecture.md "Lenient acceptance", ADR 0018): a CALL sent while
the station's previous one is unanswered (served in order; refused only with
GATEWAY_STRICT_CALL_ORDER), a payload with unknown properties, a frame sent as binary, an answer
that comes after the CSMS stopped waiting for it.

CSMS-initiated CALLs (operator commands, `call()`): one outstanding per connection at a time, as
OCPP-J asks of both sides; each is on Kafka before it is sent, and the station's answer is
matched by message id in `_on_answer` (a dict lookup: the hot path gains no timer or task).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema
import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.clock import Clock
from csms.envelope import FrameEnvelope, Kind, new_event_id
from csms.handlers import CallContext, Decisions, Handler, routes
from csms.handlers.v201.transaction_cost import ConnectionCost, CostSource
from csms.infra.call_bus import CallReply, CallRequest, Outcome
from csms.protocol import framing
from csms.protocol.errors import Failure, FrameRejected, error_code
from csms.protocol.validation import known_actions, validate_call, validator
from csms.protocol.versions import OcppVersion
from services.gateway import metrics
from services.gateway.connections import Connections
from services.gateway.handshake import FrontDoor
from services.gateway.policy import (
    BINARY_FLAG,
    CLOSE_BINARY,
    CLOSE_FLOOD,
    CLOSE_IDLE,
    CONCURRENT_FLAG,
    LATE_FLAG,
    PROTOCOL_CLOSE_FLAGS,
    RATE_LIMITED_CODE,
    check_call,
    close_of,
    triggered_action,
)
from services.gateway.publisher import AckFuture, Publisher, PublishTimeout
from services.gateway.ratelimit import TokenBucket
from services.gateway.room import Room

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayContext:
    """What every session shares: identity, clock, Kafka, decisions, policies, connections."""

    gateway_id: str
    publisher: Publisher
    decisions: Decisions
    clock: Clock
    window: int
    door: FrontDoor = field(default_factory=FrontDoor)
    connections: Connections | None = None
    rate_per_s: float = 0.0  # <= 0: no rate limit
    rate_burst: int = 60
    idle_timeout_s: float = 0.0  # <= 0: never
    strict_call_order: bool = False  # 2.0.1/2.1: refuse a CALL sent while one is unanswered
    strict_schema: bool = False  # refuse payloads with properties their schema does not define
    # Where 2.x sessions' cost comes from (csms.infra.billing_lookups); None: tell no cost.
    cost_source: CostSource | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    """An answer waiting for the Kafka ack of the frame it answers."""

    ack: AckFuture
    text: str
    kind: Kind
    uid: str
    action: str
    received: float
    error_code: str = ""
    counted: bool = False  # an accepted CALL: counts as outstanding until answered


Answer = framing.CallResult | framing.CallError
# What a CSMS CALL's waiter gets: the station's answer (or why its answer could not be read) and
# when it arrived, or None when the connection ended first.
Answered = asyncio.Future[tuple[Answer | FrameRejected, float] | None]
# How many CSMS CALLs that timed out a session remembers, so that their late answers are archived
# with their action and flagged LateAnswer rather than counted as unknown.
LATE_MEMORY = 16


class StationSession:
    def __init__(
        self,
        ws: ServerConnection,
        station: str,
        version: OcppVersion,
        ctx: GatewayContext,
        status: str = "",
    ) -> None:
        self._ws = ws
        self.station = station
        self.proto = version.value  # written into the station's route: commands need it
        self._version = version
        self._ctx = ctx
        self._routes: Mapping[str, Handler] = routes(version)
        self._known = known_actions(version)
        self.conn = secrets.token_hex(8)
        self.epoch = 0
        self.status = status  # registration status in force: handshake, then each boot answer
        self._window = Room(ctx.window)
        self._answers: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._bucket = TokenBucket(ctx.rate_per_s, ctx.rate_burst) if ctx.rate_per_s > 0 else None
        self._outstanding = 0
        # A close decided while reading, sent once the answers before it are out (flood).
        self._close_after: tuple[int, str] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        # CSMS-initiated CALLs: message id -> (action, waiter) of the one on the wire; the lock
        # (made on first use: most connections never get a command) queues the others.
        self._awaited: dict[str, tuple[str, Answered]] = {}
        self._triggered: set[str] = set()  # asked for by an accepted TriggerMessage
        self._timed_out: dict[str, str] = {}  # message id -> action of CSMS CALLs given up on
        self._call_lock: asyncio.Lock | None = None
        self._ended = False
        self._close_reason = ""
        self._cost = (
            ConnectionCost(ctx.cost_source, station, version.value)
            if ctx.cost_source is not None and version.is_2x
            else None
        )

    async def run(self) -> None:
        metrics.CONNECTIONS.labels(self._version.value).inc()
        remote = self._ws.remote_address
        await self._ctx.publisher.publish_unawaited(
            self._envelope("in", "connect", frame=_json({"remote": _addr(remote)}))
        )
        if self._ctx.connections is not None:
            self.epoch = await self._ctx.connections.claim(self)
        writer = asyncio.create_task(self._write_answers(), name=f"answers:{self.station}")
        self._watch_idle()
        try:
            await self._read()
        except ConnectionClosed:
            pass
        finally:
            self._end_calls()
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            await self._answers.put(None)
            await writer  # drains: acks awaited, unsendable answers dropped
            if self._close_after is not None:
                await self._close_now(*self._close_after)
            if self._closing is not None:
                await self._closing
            if self._ctx.connections is not None:
                await self._ctx.connections.release(self)
            metrics.CONNECTIONS.labels(self._version.value).dec()
            await self._publish_disconnect()

    async def close(self, code: int, reason: str) -> None:
        """Close from outside the read loop (replaced, drained) without waiting for the peer."""
        self._close_later(code, reason)

    def _close_later(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        self._close_reason = self._close_reason or reason
        if self._closing is None:
            self._closing = asyncio.create_task(self._ws.close(code, reason))

    # -- reading --------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            data = await self._ws.recv()
            if isinstance(data, bytes):
                text = _utf8(data)
                if text is None:
                    await self._on_binary(data)
                    return
                # OCPP-J frames are text, but the bytes are text: serve it, answer in text.
                metrics.LENIENT_FRAMES.labels(BINARY_FLAG).inc()
                await self._on_frame(text, BINARY_FLAG)
            else:
                await self._on_frame(data)
            if self._close_after is not None:
                return

    def _watch_idle(self) -> None:
        """Close the connection once nothing (data, ping or pong) came for the idle timeout.
        One timer per connection, re-armed from its last frame when it fires: no per-frame
        timeout on the hot path."""
        idle = self._ctx.idle_timeout_s
        if idle <= 0 or self._closing is not None:
            return
        quiet = time.monotonic() - _last_seen(self._ws)
        if quiet >= idle:
            self._close_later(*CLOSE_IDLE)
            return
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(idle - quiet, self._watch_idle)

    async def _close_now(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        await self._ws.close(code, reason)

    async def _on_binary(self, data: bytes) -> None:
        # Bytes that are not even UTF-8 cannot be an OCPP-J message; RFC 6455 §7.4.1: 1003 = a
        # data type the endpoint cannot accept.
        metrics.frames("", "in").inc()
        frame = base64.b64encode(data).decode()
        await self._ctx.publisher.publish_unawaited(
            self._envelope("in", "call", frame=frame, err=BINARY_FLAG)
        )
        await self._close_now(*CLOSE_BINARY)

    async def _on_frame(self, text: str, flag: str = "") -> None:
        received = time.perf_counter()
        if not self._window.try_take():
            await self._window.take()
        try:
            if self._bucket is not None and not self._bucket.take():
                await self._rate_limited(text, received, flag)
                return
            msg = framing.parse(text)
            if isinstance(msg, framing.Call):
                await self._on_call(msg, text, received, flag)
            else:
                await self._on_answer(msg, text, flag)
        except FrameRejected as rejected:
            if rejected.uid in self._awaited:
                await self._malformed_answer(rejected, text, flag)
            else:
                await self._reject(rejected, text, received, flag)
        except PublishTimeout:
            # Kafka has had no room for a while (slow or down): expected under an outage, so a
            # warning without a traceback; this connection alone is closed, the station retries.
            self._window.give()
            log.warning("Kafka full: closing %s (publish timeout)", self.station)
            await self._close_now(1011, "internal error")
        except Exception:
            # Kafka refused the frame outright (or a bug): promise nothing, drop this connection
            # only; the station reconnects and retries. Its neighbours are unaffected.
            self._window.give()
            log.exception("frame of %s could not be processed", self.station)
            await self._close_now(1011, "internal error")

    async def _on_call(self, call: framing.Call, text: str, received: float, flag: str) -> None:
        handler = self._routes.get(call.action)
        if handler is None:
            failure = (
                Failure.NOT_SUPPORTED if call.action in self._known else Failure.NOT_IMPLEMENTED
            )
            raise FrameRejected(failure, f"action not supported by {self._version}", call.uid)
        check_call(
            self.status,
            self._version,
            self._outstanding,
            self._ctx.strict_call_order,
            call,
            self._triggered,
        )
        self._triggered.discard(call.action)  # a triggered message is allowed once
        flags = [flag] if flag else []
        if self._outstanding > 0:  # check_call refused it already if that is the setting
            metrics.CONCURRENT_CALLS.labels(self.proto).inc()
            flags.append(CONCURRENT_FLAG)
        lenient = not self._ctx.strict_schema
        unknown = validate_call(self._version, call.uid, call.action, call.payload, lenient=lenient)
        if unknown:
            metrics.LENIENT_FRAMES.labels(unknown).inc()
            flags.append(unknown)
        metrics.frames(call.action, "in").inc()
        ack = await self._ctx.publisher.publish(
            self._envelope(
                "in", "call", uid=call.uid, action=call.action, frame=text, flag=",".join(flags)
            )
        )
        ctx = CallContext(
            self.station,
            self._version,
            call.payload,
            self._ctx.clock(),
            self._ctx.decisions,
            self._cost,
        )
        self._outstanding += 1
        try:
            payload = await handler(ctx)
            if call.action == "BootNotification":
                self.status = str(payload.get("status", self.status))
            pending = _Pending(
                ack,
                framing.call_result_text(call.uid, payload),
                "result",
                call.uid,
                call.action,
                received,
                counted=True,
            )
        except Exception:
            log.exception("handler %s failed for %s", call.action, self.station)
            pending = self._error_pending(
                ack, call.uid, call.action, Failure.INTERNAL, "CSMS error", received, counted=True
            )
        await self._answers.put(pending)

    async def _on_answer(self, msg: Answer, text: str, flag: str = "") -> None:
        # The answer to the CSMS CALL on the wire wakes its waiter and is archived with that
        # CALL's action; the answer to one the gateway gave up on (timeout) is archived with its
        # action too, flagged LateAnswer, so projections can still use it. Any other id is
        # unknown: OCPP-J says to ignore it (archived, counted, never answered).
        kind: Kind = "result" if isinstance(msg, framing.CallResult) else "error"
        awaited = self._awaited.pop(msg.uid, None)
        action = ""
        flags = [flag] if flag else []
        if awaited is not None:
            action, answered = awaited
            if not answered.done():
                answered.set_result((msg, time.perf_counter()))
        elif msg.uid in self._timed_out:
            action = self._timed_out.pop(msg.uid)
            metrics.LENIENT_FRAMES.labels(LATE_FLAG).inc()
            flags.append(LATE_FLAG)
        else:
            metrics.UNMATCHED_ANSWERS.inc()
        metrics.frames(action, "in").inc()
        try:
            await self._ctx.publisher.publish_unawaited(
                self._envelope(
                    "in", kind, uid=msg.uid, action=action, frame=text, flag=",".join(flags)
                )
            )
        finally:
            self._window.give()

    async def _malformed_answer(self, rejected: FrameRejected, text: str, flag: str) -> None:
        # An unreadable answer to our own CALL: its command ends `invalid` at once (not after its
        # timeout), and no CALLERROR goes back (OCPP-J answers CALLs only). Archived, flagged.
        action, answered = self._awaited.pop(rejected.uid)
        if not answered.done():
            answered.set_result((rejected, time.perf_counter()))
        metrics.frames(action, "in").inc()
        code = error_code(self._version, rejected.failure)
        try:
            await self._ctx.publisher.publish_unawaited(
                self._envelope(
                    "in", "result", uid=rejected.uid, action=action, frame=text, err=code, flag=flag
                )
            )
        finally:
            self._window.give()

    async def _reject(self, rejected: FrameRejected, text: str, received: float, flag: str) -> None:
        code = error_code(self._version, rejected.failure)
        await self._reject_with(
            code, rejected.uid, rejected.action, rejected.description, text, received, flag
        )

    async def _rate_limited(self, text: str, received: float, flag: str) -> None:
        metrics.RATE_LIMITED.inc()
        uid = _uid_of(text)
        await self._reject_with(
            RATE_LIMITED_CODE, uid, "", "rate limit exceeded", text, received, flag
        )
        assert self._bucket is not None
        if self._bucket.overflows > self._ctx.rate_burst:
            self._close_after = CLOSE_FLOOD

    async def _reject_with(
        self,
        code: str,
        uid: str,
        action: str,
        description: str,
        text: str,
        received: float,
        flag: str = "",
    ) -> None:
        # Only a known action names a metric label or a column value: never echo arbitrary input.
        action = action if action in self._known else ""
        metrics.frames(action, "in").inc()
        ack = await self._ctx.publisher.publish(
            self._envelope("in", "call", uid=uid, action=action, frame=text, err=code, flag=flag)
        )
        error_text = framing.call_error_text(uid, code, description)
        await self._answers.put(_Pending(ack, error_text, "error", uid, action, received, code))

    # -- writing --------------------------------------------------------------------------------

    async def _write_answers(self) -> None:
        while (pending := await self._answers.get()) is not None:
            try:
                await self._send_answer(pending)
            finally:
                if pending.counted:
                    self._outstanding -= 1
                self._window.give()

    async def _send_answer(self, pending: _Pending) -> None:
        try:
            await pending.ack  # resolves within the publisher's ack timeout, whatever Kafka does
        except Exception:  # noqa: BLE001 - any ack failure or timeout: the frame is not durable
            # Not durable, so promise nothing: the station retries the CALL later.
            pending = self._error_pending(
                pending.ack,
                pending.uid,
                pending.action,
                Failure.INTERNAL,
                "frame not stored; retry",
                pending.received,
            )
        if pending.error_code:
            metrics.CALL_ERRORS.labels(pending.error_code).inc()
        await self._ctx.publisher.publish_unawaited(
            self._envelope(
                "out", pending.kind, uid=pending.uid, action=pending.action, frame=pending.text
            )
        )
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(pending.text)
            metrics.frames(pending.action, "out").inc()
            metrics.CALL_LATENCY.observe(time.perf_counter() - pending.received)

    # -- CSMS-initiated CALLs -------------------------------------------------------------------

    async def call(self, request: CallRequest) -> CallReply:
        """Send one CSMS CALL and wait for the station's answer, at most `request.timeout_s`
        including the wait behind earlier calls (one outstanding CSMS CALL per connection)."""
        refused = self._refusal(request)
        if refused:
            return self._reply(request, "invalid", detail=refused)
        sent: list[float] = []  # set once the CALL is on the wire (tells the timeouts apart)
        try:
            async with asyncio.timeout(request.timeout_s):
                async with self._turn():
                    return await self._call_now(request, sent)
        except TimeoutError:
            if sent:
                self._remember_timed_out(request.id, request.action)
                detail = f"no answer within {request.timeout_s:g}s"
            else:
                detail = f"not sent within {request.timeout_s:g}s (earlier call or Kafka)"
            return self._reply(request, "timeout", detail=detail)

    def _remember_timed_out(self, uid: str, action: str) -> None:
        self._timed_out[uid] = action
        if len(self._timed_out) > LATE_MEMORY:
            del self._timed_out[next(iter(self._timed_out))]  # the oldest

    def _turn(self) -> asyncio.Lock:
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()  # FIFO: calls go out in the order they came
        return self._call_lock

    def _refusal(self, request: CallRequest) -> str:
        """Why the gateway will not send this CALL at all ("" when it will). The API validates
        too; this keeps a bad request (or one meant for another version) off the wire."""
        if not request.id or len(request.id) > framing.MAX_UID_LENGTH:
            return "message id must be 1-36 characters"
        if request.action not in self._known:
            return f"{self._version.value} has no action {request.action}"
        try:
            validator(self._version, request.action)(request.payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            return f"request: {_schema_message(exc)}"
        return ""

    async def _call_now(self, request: CallRequest, sent: list[float]) -> CallReply:
        if self._ended or self._closing is not None:
            return self._reply(request, "offline", detail=self._end_detail())
        text = framing.call_text(request.id, request.action, request.payload)
        # On Kafka before it is on the wire (the rule of ADR 0002 for what the gateway sends):
        # a command the station executes is always in the frame log, even if we die right after.
        try:
            ack = await self._ctx.publisher.publish(
                self._envelope("out", "call", uid=request.id, action=request.action, frame=text)
            )
            await ack
        except Exception as exc:  # noqa: BLE001 - not durable: do not send it
            log.warning("CSMS CALL %s to %s not stored: %r", request.action, self.station, exc)
            return self._reply(request, "timeout", detail="not sent: Kafka did not store the CALL")
        if self._ended:  # the connection ended while Kafka stored the CALL
            return self._reply(request, "offline", detail=self._end_detail())
        answered: Answered = asyncio.get_running_loop().create_future()
        self._awaited[request.id] = (request.action, answered)
        try:
            started = time.perf_counter()
            await self._ws.send(text)
            sent.append(started)
            metrics.frames(request.action, "out").inc()
            outcome = await answered
        except ConnectionClosed:
            outcome = None
        finally:
            self._awaited.pop(request.id, None)
        if outcome is None:
            return self._reply(request, "offline", detail=self._end_detail())
        answer, received = outcome
        elapsed_ms = (received - started) * 1000
        metrics.CSMS_CALL_LATENCY.observe(received - started)
        return self._judge(request, answer, round(elapsed_ms, 3))

    def _judge(
        self, request: CallRequest, answer: Answer | FrameRejected, elapsed_ms: float
    ) -> CallReply:
        """The reply for the station's answer: CALLERROR, or a CALLRESULT checked against the
        version's response schema (an invalid payload is kept for the operator to see)."""
        if isinstance(answer, FrameRejected):
            detail = f"malformed answer: {answer.description}"
            return self._reply(request, "invalid", detail=detail, elapsed_ms=elapsed_ms)
        if isinstance(answer, framing.CallError):
            error = {"code": answer.code, "description": answer.description}
            return self._reply(
                request, "error", error=error | {"details": answer.details}, elapsed_ms=elapsed_ms
            )
        try:
            validator(self._version, request.action, response=True)(answer.payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            return self._reply(
                request,
                "invalid",
                payload=answer.payload,
                detail=_schema_message(exc),
                elapsed_ms=elapsed_ms,
            )
        triggered = triggered_action(request.action, request.payload, answer.payload)
        if triggered is not None:
            self._triggered.add(triggered)
        return self._reply(request, "result", payload=answer.payload, elapsed_ms=elapsed_ms)

    def _end_calls(self) -> None:
        """The connection is over: wake every CSMS CALL waiting for an answer (offline)."""
        self._ended = True
        for _, answered in self._awaited.values():
            if not answered.done():
                answered.set_result(None)
        self._awaited.clear()

    def _end_detail(self) -> str:
        # The reason the gateway closed with ("gateway restarting" on drain, "replaced…"), or
        # the station's own disconnect.
        return self._close_reason or "station disconnected"

    def _reply(
        self,
        request: CallRequest,
        outcome: Outcome,
        *,
        payload: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        detail: str = "",
        elapsed_ms: float = 0.0,
    ) -> CallReply:
        return CallReply(
            request.id,
            self.station,
            outcome,
            payload=payload or {},
            error=error or {},
            detail=detail,
            gateway=self._ctx.gateway_id,
            elapsed_ms=elapsed_ms,
        )

    # -- helpers --------------------------------------------------------------------------------

    async def _publish_disconnect(self) -> None:
        code, reason = close_of(self._ws)
        flag = PROTOCOL_CLOSE_FLAGS.get(code, "")
        if flag:
            metrics.CLOSES.labels(str(code)).inc()
        await self._ctx.publisher.publish_unawaited(
            self._envelope(
                "in", "disconnect", frame=_json({"code": code, "reason": reason}), err=flag
            )
        )

    def _error_pending(
        self,
        ack: AckFuture,
        uid: str,
        action: str,
        failure: Failure,
        description: str,
        received: float,
        *,
        counted: bool = False,
    ) -> _Pending:
        code = error_code(self._version, failure)
        text = framing.call_error_text(uid, code, description)
        return _Pending(ack, text, "error", uid, action, received, code, counted)

    def _envelope(
        self,
        direction: str,
        kind: Kind,
        *,
        uid: str = "",
        action: str = "",
        frame: str = "",
        err: str = "",
        flag: str = "",
    ) -> FrameEnvelope:
        ts = self._ctx.clock()
        return FrameEnvelope(
            id=new_event_id(ts),
            ts=ts,
            station=self.station,
            gw=self._ctx.gateway_id,
            conn=self.conn,
            proto=self._version.value,
            dir="in" if direction == "in" else "out",
            kind=kind,
            uid=uid,
            action=action,
            frame=frame,
            err=err,
            flag=flag,
        )


def _utf8(data: bytes) -> str | None:
    """A binary frame's text, None when its bytes are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _last_seen(ws: ServerConnection) -> float:
    """When the peer last sent any frame (data, ping or pong); see StationConnection."""
    return float(getattr(ws, "last_seen", 0.0))


def _schema_message(exc: fastjsonschema.JsonSchemaValueException) -> str:
    # Names the field and the rule ("data.status must be one of …"), not the payload's values.
    return str(exc.message).replace("data.", "", 1)


def _uid_of(text: str) -> str:
    """The message id of a frame that will not be parsed further (-1 when unreadable)."""
    try:
        return framing.parse(text).uid
    except FrameRejected as rejected:
        return rejected.uid


def _json(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def _addr(remote: Any) -> str:
    if isinstance(remote, tuple) and len(remote) >= 2:
        return f"{remote[0]}:{remote[1]}"
    return str(remote)
