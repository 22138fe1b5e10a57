"""CSMS-initiated CALLs of one station connection (operator commands): sent one at a time, as
OCPP-J asks of both sides, each on Kafka before it is on the wire (ADR 0002), and the station's
answer matched by message id when its session reads it (`answered`, a dict lookup: the hot path
gains no timer or task).

An answer that comes after the command gave up (its timeout) is still matched, for the archive:
the last LATE_MEMORY timed-out message ids are remembered with their action, and the answer is
flagged LateAnswer (ADR 0018). A TriggerMessage the station accepted lets it send the triggered
message once, whatever its registration status (`triggered`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import fastjsonschema

from csms.envelope import Direction, EncodedEnvelope, Kind, Publishable
from csms.infra.call_bus import CallReply, CallRequest, Outcome
from csms.protocol import framing
from csms.protocol.errors import FrameRejected
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from services.gateway import metrics
from services.gateway.policy import triggered_action
from services.gateway.publisher import AckFuture

log = logging.getLogger(__name__)

Answer = framing.CallResult | framing.CallError
# What a CSMS CALL's waiter gets: the station's answer (or why its answer could not be read) and
# when it arrived, or None when the connection ended first.
Answered = asyncio.Future[tuple[Answer | FrameRejected, float] | None]
# How many CSMS CALLs that timed out a connection remembers, so that their late answers are
# archived with their action and flagged LateAnswer rather than counted as unknown.
LATE_MEMORY = 16


class Link(Protocol):
    """What the outbound calls need of their connection (the StationSession)."""

    station: str

    @property
    def gone(self) -> bool:
        """The connection ended or is closing: nothing more goes out."""

    @property
    def end_detail(self) -> str:
        """Why it ended ("gateway restarting", "replaced…", "station disconnected")."""

    async def publish(self, env: Publishable) -> AckFuture: ...

    async def send(self, text: str) -> bool:
        """Put `text` on the wire; False when the connection closed first."""

    def envelope(
        self, direction: Direction, kind: Kind, *, uid: str = "", action: str = "", frame: str = ""
    ) -> EncodedEnvelope: ...


class OutboundCalls:
    def __init__(
        self, link: Link, version: OcppVersion, known: frozenset[str], gateway_id: str
    ) -> None:
        self._link = link
        self._version = version
        self._known = known
        self._gateway_id = gateway_id
        self._awaited: dict[str, tuple[str, Answered]] = {}  # the one on the wire
        self._timed_out: dict[str, str] = {}  # message id -> action of CALLs given up on
        self._lock: asyncio.Lock | None = None  # made on first use: most never get a command
        self._ended = False
        self.triggered: set[str] = set()  # asked for by an accepted TriggerMessage

    # -- the session's side: answers read from the socket ---------------------------------------

    def awaits(self, uid: str) -> bool:
        return uid in self._awaited

    def answered(self, msg: Answer) -> tuple[str, bool]:
        """Match a CALLRESULT/CALLERROR the station sent: (the action of the CSMS CALL it
        answers, or "" for an unknown id; whether it came late, after the command gave up)."""
        awaited = self._awaited.pop(msg.uid, None)
        if awaited is not None:
            action, waiter = awaited
            if not waiter.done():
                waiter.set_result((msg, time.perf_counter()))
            return action, False
        if msg.uid in self._timed_out:
            return self._timed_out.pop(msg.uid), True
        return "", False

    def unreadable(self, rejected: FrameRejected) -> str:
        """An unreadable answer to the CALL on the wire: its command ends `invalid` at once (not
        after its timeout). Returns that CALL's action."""
        action, waiter = self._awaited.pop(rejected.uid)
        if not waiter.done():
            waiter.set_result((rejected, time.perf_counter()))
        return action

    def end(self) -> None:
        """The connection is over: wake every CSMS CALL waiting for an answer (offline)."""
        self._ended = True
        for _, waiter in self._awaited.values():
            if not waiter.done():
                waiter.set_result(None)
        self._awaited.clear()

    # -- the operator's side --------------------------------------------------------------------

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
        if self._lock is None:
            self._lock = asyncio.Lock()  # FIFO: calls go out in the order they came
        return self._lock

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
            return f"request: {schema_message(exc)}"
        return ""

    async def _call_now(self, request: CallRequest, sent: list[float]) -> CallReply:
        if self._ended or self._link.gone:
            return self._reply(request, "offline", detail=self._link.end_detail)
        text = framing.call_text(request.id, request.action, request.payload)
        # On Kafka before it is on the wire (the rule of ADR 0002 for what the gateway sends):
        # a command the station executes is always in the frame log, even if we die right after.
        try:
            ack = await self._link.publish(
                self._link.envelope(
                    "out", "call", uid=request.id, action=request.action, frame=text
                )
            )
            await ack
        except Exception as exc:  # noqa: BLE001 - not durable: do not send it
            log.warning(
                "CSMS CALL %s to %s not stored: %r", request.action, self._link.station, exc
            )
            return self._reply(request, "timeout", detail="not sent: Kafka did not store the CALL")
        if self._ended:  # the connection ended while Kafka stored the CALL
            return self._reply(request, "offline", detail=self._link.end_detail)
        waiter: Answered = asyncio.get_running_loop().create_future()
        self._awaited[request.id] = (request.action, waiter)
        try:
            started = time.perf_counter()
            if await self._link.send(text):
                sent.append(started)
                metrics.frames(request.action, "out").inc()
                outcome = await waiter
            else:
                outcome = None
        finally:
            self._awaited.pop(request.id, None)
        if outcome is None:
            return self._reply(request, "offline", detail=self._link.end_detail)
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
                detail=schema_message(exc),
                elapsed_ms=elapsed_ms,
            )
        triggered = triggered_action(request.action, request.payload, answer.payload)
        if triggered is not None:
            self.triggered.add(triggered)
        return self._reply(request, "result", payload=answer.payload, elapsed_ms=elapsed_ms)

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
            self._link.station,
            outcome,
            payload=payload or {},
            error=error or {},
            detail=detail,
            gateway=self._gateway_id,
            elapsed_ms=elapsed_ms,
        )


def schema_message(exc: fastjsonschema.JsonSchemaValueException) -> str:
    # Names the field and the rule ("data.status must be one of …"), not the payload's values.
    return str(exc.message).replace("data.", "", 1)
