"""CSMS-initiated CALLs between the operator API and the gateway that holds the station.

The API looks up the station's route (`redis_keys.station_route`: which gateway holds its live
connection) and PUBLISHes a `CallRequest` on that gateway's calls channel. The gateway sends the
CALL to the station (one outstanding CSMS CALL per station at a time, as OCPP-J asks), waits for
the CALLRESULT/CALLERROR, and PUBLISHes a `CallReply` on the API process's replies channel.

Pub/sub rather than a stream: a call only makes sense to the gateway that holds the socket right
now. If nobody listens (PUBLISH returns 0: the gateway is gone) the API knows at once; if the
gateway dies after taking the call, the API's own deadline (the call's timeout plus a grace)
answers the caller with a clear failure. Every frame is on `ocpp.frames` either way (the gateway
publishes the CALL it sends and the answer it gets), and the API records every command and its
outcome on `ocpp.commands`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from csms.infra import redis_keys
from csms.text import as_text

log = logging.getLogger(__name__)
STOP_WAIT_S = 2.0

# What became of a call:
# result       the station answered CALLRESULT (payload valid against the response schema)
# error        the station answered CALLERROR (error = {code, description, details})
# invalid      the station answered CALLRESULT whose payload violates the response schema
# offline      the gateway does not hold the station any more (it disconnected or moved)
# timeout      the station did not answer within timeout_s
# unreachable  no gateway listened on the route's channel (gateway gone)
# no_answer    the gateway took the call but never replied (it died mid-call)
Outcome = Literal["result", "error", "invalid", "offline", "timeout", "unreachable", "no_answer"]

GRACE_S = 2.0  # how much longer than the call's timeout the API waits for the gateway's reply
SUBSCRIBE_WAIT_S = 5.0  # how long a call waits for the replies channel to be (re)subscribed


@dataclass(frozen=True, slots=True)
class CallRequest:
    id: str  # the OCPP message id on the wire (≤ 36 characters)
    station: str
    action: str
    payload: dict[str, Any]
    reply_to: str  # the API process's replies channel
    timeout_s: float
    command_id: str = ""  # the operator command this call belongs to (one command, ≥ 1 calls)
    conn: str = ""  # the connection the route named; the gateway refuses a newer/older one

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "station": self.station,
                "action": self.action,
                "payload": self.payload,
                "reply_to": self.reply_to,
                "timeout_s": self.timeout_s,
                "command_id": self.command_id,
                "conn": self.conn,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> CallRequest:
        """Raises ValueError (or KeyError/TypeError) on a malformed message."""
        d = orjson.loads(raw)
        payload = d["payload"]
        if not isinstance(payload, dict):
            raise ValueError("payload must be an object")
        return cls(
            id=str(d["id"]),
            station=str(d["station"]),
            action=str(d["action"]),
            payload=payload,
            reply_to=str(d["reply_to"]),
            timeout_s=float(d["timeout_s"]),
            command_id=str(d.get("command_id", "")),
            conn=str(d.get("conn", "")),
        )


@dataclass(frozen=True, slots=True)
class CallReply:
    id: str
    station: str
    outcome: Outcome
    payload: dict[str, Any] = field(default_factory=dict)  # CALLRESULT payload (result/invalid)
    error: dict[str, Any] = field(default_factory=dict)  # CALLERROR {code, description, details}
    detail: str = ""  # human-readable explanation (schema error, why offline, …)
    gateway: str = ""
    elapsed_ms: float = 0.0  # CALL sent → answer received, measured by the gateway

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "station": self.station,
                "outcome": self.outcome,
                "payload": self.payload,
                "error": self.error,
                "detail": self.detail,
                "gateway": self.gateway,
                "elapsed_ms": self.elapsed_ms,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> CallReply:
        d = orjson.loads(raw)
        return cls(
            id=str(d["id"]),
            station=str(d["station"]),
            outcome=d["outcome"],
            payload=dict(d.get("payload") or {}),
            error=dict(d.get("error") or {}),
            detail=str(d.get("detail", "")),
            gateway=str(d.get("gateway", "")),
            elapsed_ms=float(d.get("elapsed_ms", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Route:
    gateway: str
    conn: str
    proto: str = ""  # the live connection's OCPP version ("" from a gateway before it wrote it)


async def route_of(redis: Redis, station: str) -> Route | None:
    """Which gateway holds the station's live connection (None: offline)."""
    raw = await redis.hgetall(redis_keys.station_route(station))
    gateway = raw.get(b"gateway") or raw.get("gateway")
    if not gateway:
        return None
    conn = raw.get(b"conn") or raw.get("conn") or b""
    proto = raw.get(b"proto") or raw.get("proto") or b""
    return Route(as_text(gateway), as_text(conn), as_text(proto))


def new_call_id() -> str:
    return uuid.uuid4().hex  # 32 characters: within every version's 36-character message id


class CallBus:
    """The API side: send a CALL to whichever gateway holds the station and await its reply.

    One per API process: it subscribes to its own replies channel and resolves the waiting
    futures by call id."""

    def __init__(self, redis: Redis, api_id: str | None = None) -> None:
        self._redis = redis
        self.api_id = api_id or uuid.uuid4().hex[:12]
        self.channel = redis_keys.api_replies_channel(self.api_id)
        self._waiting: dict[str, asyncio.Future[CallReply]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Start following the replies channel (in the background: the API starts, and says it
        is degraded, even while Redis is away)."""
        self._listener = asyncio.create_task(self._listen(), name="call-replies")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            # Bounded: a listener cancelled while redis-py is still subscribing can hang in the
            # pub/sub connection's cleanup (seen when the API stopped right after it started).
            done, _ = await asyncio.wait({self._listener}, timeout=STOP_WAIT_S)
            if not done:
                log.warning("replies listener did not stop within %.0f s: left", STOP_WAIT_S)
        for fut in self._waiting.values():
            fut.cancel()

    async def call(
        self,
        station: str,
        route: Route,
        action: str,
        payload: dict[str, Any],
        *,
        timeout_s: float,
        command_id: str = "",
        call_id: str | None = None,
    ) -> CallReply:
        request = CallRequest(
            id=call_id or new_call_id(),
            station=station,
            action=action,
            payload=payload,
            reply_to=self.channel,
            timeout_s=timeout_s,
            command_id=command_id,
            conn=route.conn,
        )
        if not self._subscribed.is_set():
            # A reply could not reach us yet: wait a little for the subscription, else fail
            # like any Redis outage (the API answers 503).
            try:
                await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_WAIT_S)
            except TimeoutError:
                raise RedisConnectionError("replies channel not subscribed") from None
        fut: asyncio.Future[CallReply] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = fut
        try:
            channel = redis_keys.gateway_calls_channel(route.gateway)
            listeners = await self._redis.publish(channel, request.encode())
            if not listeners:
                return CallReply(
                    request.id,
                    station,
                    "unreachable",
                    detail=f"gateway {route.gateway} is not listening",
                    gateway=route.gateway,
                )
            try:
                return await asyncio.wait_for(fut, timeout_s + GRACE_S)
            except TimeoutError:
                return CallReply(
                    request.id,
                    station,
                    "no_answer",
                    detail=f"gateway {route.gateway} did not reply within {timeout_s + GRACE_S}s",
                    gateway=route.gateway,
                )
        finally:
            self._waiting.pop(request.id, None)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._resolve(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: resubscribe; waiting calls hit their deadline
                self._subscribed.clear()
                log.warning("replies channel lost; resubscribing", exc_info=True)
                await asyncio.sleep(0.5)

    def _resolve(self, raw: bytes) -> None:
        try:
            reply = CallReply.decode(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("malformed call reply ignored: %r", raw[:200])
            return
        fut = self._waiting.get(reply.id)
        if fut is not None and not fut.done():
            fut.set_result(reply)
