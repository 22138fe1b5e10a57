"""One station's connection: read frames, publish them, answer in order after Kafka's ack.

Frames are handled in receive order. Each inbound frame is handed to the producer at once and the
answer is computed while Kafka acknowledges it; a writer task sends the answers in the same order,
each only after its CALL is durable. Up to `window` frames per connection are in that pipeline, so
a slow Kafka stops the reading of the socket instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.clock import Clock
from csms.envelope import FrameEnvelope, Kind, new_event_id
from csms.handlers import CallContext, Decisions, Handler, routes
from csms.protocol import framing
from csms.protocol.errors import Failure, FrameRejected, error_code
from csms.protocol.validation import known_actions, validate_call
from csms.protocol.versions import OcppVersion
from services.gateway import metrics
from services.gateway.publisher import AckFuture, Publisher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayContext:
    """What every session shares: identity, clock, Kafka and the decision read models."""

    gateway_id: str
    publisher: Publisher
    decisions: Decisions
    clock: Clock
    window: int


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


class StationSession:
    def __init__(
        self, ws: ServerConnection, station: str, version: OcppVersion, ctx: GatewayContext
    ) -> None:
        self._ws = ws
        self._station = station
        self._version = version
        self._ctx = ctx
        self._routes: dict[str, Handler] = dict(routes(version))
        self._known = known_actions(version)
        self._conn = secrets.token_hex(8)
        self._window = asyncio.Semaphore(ctx.window)
        self._answers: asyncio.Queue[_Pending | None] = asyncio.Queue()

    async def run(self) -> None:
        metrics.CONNECTIONS.labels(self._version.value).inc()
        remote = self._ws.remote_address
        await self._ctx.publisher.publish_unawaited(
            self._envelope("in", "connect", frame=_json({"remote": _addr(remote)}))
        )
        writer = asyncio.create_task(self._write_answers(), name=f"answers:{self._station}")
        try:
            async for data in self._ws:
                await self._on_frame(data)
        except ConnectionClosed:
            pass
        finally:
            await self._answers.put(None)
            await writer  # drains: acks awaited, unsendable answers dropped
            metrics.CONNECTIONS.labels(self._version.value).dec()
            code = self._ws.close_code if self._ws.close_code is not None else 1006
            reason = self._ws.close_reason or ""
            await self._ctx.publisher.publish_unawaited(
                self._envelope("in", "disconnect", frame=_json({"code": code, "reason": reason}))
            )

    # -- reading --------------------------------------------------------------------------------

    async def _on_frame(self, data: str | bytes) -> None:
        received = time.perf_counter()
        await self._window.acquire()
        text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
        try:
            msg = framing.parse(text)
            if isinstance(msg, framing.Call):
                await self._on_call(msg, text, received)
            else:
                await self._on_answer(msg, text)
        except FrameRejected as rejected:
            await self._reject(rejected, text, received)
        except Exception:
            # Kafka refused the frame outright (or a bug): promise nothing, drop this connection
            # only; the station reconnects and retries. Its neighbours are unaffected.
            self._window.release()
            log.exception("frame of %s could not be processed", self._station)
            await self._ws.close(1011, "internal error")

    async def _on_call(self, call: framing.Call, text: str, received: float) -> None:
        handler = self._routes.get(call.action)
        if handler is None:
            failure = (
                Failure.NOT_SUPPORTED if call.action in self._known else Failure.NOT_IMPLEMENTED
            )
            raise FrameRejected(failure, f"action not supported by {self._version}", call.uid)
        validate_call(self._version, call.uid, call.action, call.payload)
        metrics.FRAMES.labels(call.action, "in").inc()
        ack = await self._ctx.publisher.publish(
            self._envelope("in", "call", uid=call.uid, action=call.action, frame=text)
        )
        ctx = CallContext(
            self._station, self._version, call.payload, self._ctx.clock(), self._ctx.decisions
        )
        try:
            payload = await handler(ctx)
            pending = _Pending(
                ack,
                framing.call_result_text(call.uid, payload),
                "result",
                call.uid,
                call.action,
                received,
            )
        except Exception:
            log.exception("handler %s failed for %s", call.action, self._station)
            pending = self._error_pending(
                ack, call.uid, call.action, Failure.INTERNAL, "CSMS error", received
            )
        await self._answers.put(pending)

    async def _on_answer(self, msg: framing.CallResult | framing.CallError, text: str) -> None:
        # Answers to CSMS-initiated calls: archived; correlation comes with operator commands.
        kind: Kind = "result" if isinstance(msg, framing.CallResult) else "error"
        metrics.FRAMES.labels("", "in").inc()
        try:
            await self._ctx.publisher.publish_unawaited(
                self._envelope("in", kind, uid=msg.uid, frame=text)
            )
        finally:
            self._window.release()

    async def _reject(self, rejected: FrameRejected, text: str, received: float) -> None:
        code = error_code(self._version, rejected.failure)
        # Only a known action names a metric label or a column value: never echo arbitrary input.
        action = rejected.action if rejected.action in self._known else ""
        metrics.FRAMES.labels(action, "in").inc()
        ack = await self._ctx.publisher.publish(
            self._envelope("in", "call", uid=rejected.uid, action=action, frame=text, err=code)
        )
        await self._answers.put(
            self._error_pending(
                ack, rejected.uid, action, rejected.failure, rejected.description, received
            )
        )

    # -- writing --------------------------------------------------------------------------------

    async def _write_answers(self) -> None:
        while (pending := await self._answers.get()) is not None:
            try:
                await self._send_answer(pending)
            finally:
                self._window.release()

    async def _send_answer(self, pending: _Pending) -> None:
        try:
            await pending.ack
        except Exception:  # noqa: BLE001 - any ack failure means the frame is not durable
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
            metrics.FRAMES.labels(pending.action, "out").inc()
            metrics.CALL_LATENCY.observe(time.perf_counter() - pending.received)

    # -- helpers --------------------------------------------------------------------------------

    def _error_pending(
        self,
        ack: AckFuture,
        uid: str,
        action: str,
        failure: Failure,
        description: str,
        received: float,
    ) -> _Pending:
        code = error_code(self._version, failure)
        text = framing.call_error_text(uid, code, description)
        return _Pending(ack, text, "error", uid, action, received, code)

    def _envelope(
        self,
        direction: str,
        kind: Kind,
        *,
        uid: str = "",
        action: str = "",
        frame: str = "",
        err: str = "",
    ) -> FrameEnvelope:
        ts = self._ctx.clock()
        return FrameEnvelope(
            id=new_event_id(ts),
            ts=ts,
            station=self._station,
            gw=self._ctx.gateway_id,
            conn=self._conn,
            proto=self._version.value,
            dir="in" if direction == "in" else "out",
            kind=kind,
            uid=uid,
            action=action,
            frame=frame,
            err=err,
        )


def _json(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def _addr(remote: Any) -> str:
    if isinstance(remote, tuple) and len(remote) >= 2:
        return f"{remote[0]}:{remote[1]}"
    return str(remote)
