"""One station's connection: read frames, publish them, answer in order after Kafka's ack.

Frames are handled in receive order. Each inbound frame is handed to the producer at once and the
answer is computed while Kafka acknowledges it; the answers go out in the same order, each only
after its CALL is durable (services/gateway/answers.py: from the acks' callbacks, no task). Up to
`window` frames per connection are in that pipeline, so a slow Kafka stops the reading of the
socket instead of growing memory.

Before a frame reaches its handler it passes the session's policies (each answered with a
CALLERROR, the frame still published with `err` set): the rate limit and the registration state
(Pending/Rejected stations may only boot). What the gateway need not refuse it accepts and flags
(the envelope's `flag`, docs/architecture.md "Lenient acceptance", ADR 0018): a CALL sent while
the station's previous one is unanswered (served in order; refused only with
GATEWAY_STRICT_CALL_ORDER), a payload with unknown properties, a frame sent as binary, an answer
that comes after the CSMS stopped waiting for it.

CSMS-initiated CALLs (operator commands, `call()`) are services/gateway/outbound.py's: this
session reads their answers off the socket and hands them over.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.envelope import Direction, EncodedEnvelope, EnvelopeWriter, Kind, Publishable
from csms.handlers import CallContext, Handler, routes
from csms.handlers.v201.transaction_cost import ConnectionCost
from csms.infra.call_bus import CallReply, CallRequest
from csms.protocol import framing
from csms.protocol.errors import Failure, FrameRejected, error_code
from csms.protocol.validation import known_actions, validate_call
from csms.protocol.versions import OcppVersion
from services.gateway import metrics
from services.gateway.answers import AnswerQueue, Pending, count_error, count_sent
from services.gateway.context import GatewayContext
from services.gateway.outbound import Answer, OutboundCalls
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
)
from services.gateway.publisher import AckFuture, PublishTimeout
from services.gateway.ratelimit import TokenBucket
from services.gateway.room import Room
from services.gateway.wire import (
    address,
    can_send_now,
    json_text,
    last_seen,
    send_text,
    send_text_now,
    uid_of,
    utf8,
)

log = logging.getLogger(__name__)


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
        writer = EnvelopeWriter(station, ctx.gateway_id, self.conn, version.value, ctx.clock)
        self._envelope = writer.write
        self.epoch = 0
        self.status = status  # registration status in force: handshake, then each boot answer
        self._window = Room(ctx.window)
        self._answers = AnswerQueue(self._answer_now, self._send_answer, self._answered, station)
        self._bucket = TokenBucket(ctx.rate_per_s, ctx.rate_burst) if ctx.rate_per_s > 0 else None
        self._outstanding = 0
        # A close decided while reading, sent once the answers before it are out (flood).
        self._close_after: tuple[int, str] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._outbound = OutboundCalls(self, version, self._known, ctx.gateway_id)
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
            self._envelope("in", "connect", frame=json_text({"remote": address(remote)}))
        )
        if self._ctx.connections is not None:
            self.epoch = await self._ctx.connections.claim(self)
        self._watch_idle()
        try:
            await self._read()
        except ConnectionClosed:
            pass
        finally:
            self._ended = True
            self._outbound.end()
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            await self._answers.drained()  # acks awaited, unsendable answers dropped
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
                text = utf8(data)
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
        quiet = time.monotonic() - last_seen(self._ws)
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
            if self._outbound.awaits(rejected.uid):
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
            self._outbound.triggered,
        )
        self._outbound.triggered.discard(call.action)  # a triggered message is allowed once
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
            pending = Pending(
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
        self._answers.put(pending)

    async def _on_answer(self, msg: Answer, text: str, flag: str = "") -> None:
        # The answer to the CSMS CALL on the wire wakes its waiter and is archived with that
        # CALL's action; the answer to one the gateway gave up on (timeout) is archived with its
        # action too, flagged LateAnswer, so projections can still use it. Any other id is
        # unknown: OCPP-J says to ignore it (archived, counted, never answered).
        kind: Kind = "result" if isinstance(msg, framing.CallResult) else "error"
        action, late = self._outbound.answered(msg)
        flags = [flag] if flag else []
        if late:
            metrics.LENIENT_FRAMES.labels(LATE_FLAG).inc()
            flags.append(LATE_FLAG)
        elif not action:
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
        action = self._outbound.unreadable(rejected)
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
        uid = uid_of(text)
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
        self._answers.put(Pending(ack, error_text, "error", uid, action, received, code))

    # -- writing --------------------------------------------------------------------------------

    def _answer_now(self, pending: Pending) -> bool:
        """Send an answer whose ack is in without waiting: its out frame handed to Kafka, its
        text written. False, with nothing done, when either would have to wait."""
        if not can_send_now(self._ws):
            return False
        pending = self._resolved(pending)
        if not self._ctx.publisher.publish_unawaited_now(self._out_envelope(pending)):
            return False
        count_error(pending)
        send_text_now(self._ws, pending.text)
        count_sent(pending)
        return True

    async def _send_answer(self, pending: Pending) -> None:
        """Send an answer whose ack is in, waiting for room in Kafka and on the socket."""
        pending = self._resolved(pending)
        await self._ctx.publisher.publish_unawaited(self._out_envelope(pending))
        count_error(pending)
        with contextlib.suppress(ConnectionClosed):
            await send_text(self._ws, pending.text)
            count_sent(pending)

    def _resolved(self, pending: Pending) -> Pending:
        """The answer to send: its own when its frame is durable; when Kafka did not acknowledge
        it (or not in time), an InternalError - not durable, so promise nothing: the station
        retries the CALL later."""
        ack = pending.ack
        if not ack.cancelled() and ack.exception() is None:
            return pending
        return self._error_pending(
            ack,
            pending.uid,
            pending.action,
            Failure.INTERNAL,
            "frame not stored; retry",
            pending.received,
            counted=pending.counted,
        )

    def _out_envelope(self, pending: Pending) -> EncodedEnvelope:
        return self._envelope(
            "out", pending.kind, uid=pending.uid, action=pending.action, frame=pending.text
        )

    def _answered(self, pending: Pending) -> None:
        if pending.counted:
            self._outstanding -= 1
        self._window.give()

    # -- CSMS-initiated CALLs (services/gateway/outbound.py) ----------------------------------

    async def call(self, request: CallRequest) -> CallReply:
        """Send one CSMS CALL and wait for the station's answer (see OutboundCalls.call)."""
        return await self._outbound.call(request)

    # The Link the outbound calls use.

    @property
    def gone(self) -> bool:
        return self._ended or self._closing is not None

    @property
    def end_detail(self) -> str:
        # The reason the gateway closed with ("gateway restarting" on drain, "replaced…"), or
        # the station's own disconnect.
        return self._close_reason or "station disconnected"

    async def publish(self, env: Publishable) -> AckFuture:
        return await self._ctx.publisher.publish(env)

    async def send(self, text: str) -> bool:
        try:
            await send_text(self._ws, text)
        except ConnectionClosed:
            return False
        return True

    def envelope(
        self, direction: Direction, kind: Kind, *, uid: str = "", action: str = "", frame: str = ""
    ) -> EncodedEnvelope:
        return self._envelope(direction, kind, uid=uid, action=action, frame=frame)

    # -- helpers --------------------------------------------------------------------------------

    async def _publish_disconnect(self) -> None:
        code, reason = close_of(self._ws)
        flag = PROTOCOL_CLOSE_FLAGS.get(code, "")
        if flag:
            metrics.CLOSES.labels(str(code)).inc()
        await self._ctx.publisher.publish_unawaited(
            self._envelope(
                "in", "disconnect", frame=json_text({"code": code, "reason": reason}), err=flag
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
    ) -> Pending:
        code = error_code(self._version, failure)
        text = framing.call_error_text(uid, code, description)
        return Pending(ack, text, "error", uid, action, received, code, counted)
