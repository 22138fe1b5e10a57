"""The gateway's calls inbox: CSMS-initiated CALLs from the operator API (csms.infra.call_bus).

The API PUBLISHes a `CallRequest` on this gateway's calls channel
(`redis_keys.gateway_calls_channel`); the inbox hands it to the station's live session, each call
in its own task (a slow station never delays another station's command; one station's calls queue
in its session, one on the wire at a time), and PUBLISHes the `CallReply` on the API's channel.
Every request gets exactly one reply: `offline` when this gateway does not hold the station (or
holds a newer connection than the route the API read), and on shutdown every call still pending
is answered `offline` ("gateway restarting") rather than left to the API's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from csms.infra import redis_keys
from csms.infra.call_bus import CallReply, CallRequest, Outcome
from csms.protocol.validation import known_actions
from csms.protocol.versions import OcppVersion
from services.gateway import metrics
from services.gateway.connections import Connections
from services.gateway.session import StationSession

log = logging.getLogger(__name__)

RESTARTING = "gateway restarting"
_REPLY_PREFIX, _REPLY_SUFFIX = redis_keys.api_replies_channel("\0").split("\0")
_KNOWN = frozenset().union(*(known_actions(v) for v in OcppVersion))


class CallInbox:
    def __init__(self, gateway_id: str, redis: Redis, connections: Connections) -> None:
        self.gateway_id = gateway_id
        self.channel = redis_keys.gateway_calls_channel(gateway_id)
        self._redis = redis
        self._connections = connections
        self._pending: dict[asyncio.Task[None], CallRequest] = {}
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._listener = asyncio.create_task(self.listen(), name="calls")

    async def stop_taking(self) -> None:
        """Unsubscribe: from now on the API's PUBLISH finds no listener (`unreachable` at once)
        instead of handing calls to a gateway that is going away."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self.subscribed.clear()

    async def close(self, grace_s: float = 1.0) -> None:
        """Stop taking calls; give the pending ones `grace_s` to finish (their sessions are
        closed by the drain, so they are answering already), then answer the rest offline."""
        await self.stop_taking()
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=grace_s)
        left = dict(self._pending)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        for request in left.values():
            await self._send(request, _offline(request, RESTARTING, self.gateway_id))

    async def listen(self) -> None:
        """Follow the calls channel until cancelled (resubscribe on Redis errors)."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            await self.take(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: retry, never kill the gateway
                self.subscribed.clear()
                log.warning("calls channel lost; resubscribing", exc_info=True)
                await asyncio.sleep(1.0)

    async def take(self, raw: bytes | str) -> None:
        """Start one call (its own task), or answer/drop a malformed request."""
        try:
            request = CallRequest.decode(raw)
        except (ValueError, KeyError, TypeError) as exc:
            await self._refuse_malformed(raw, exc)
            return
        if not _is_reply_channel(request.reply_to):
            # Never publish into another channel (an eviction channel, say) on a request's word.
            log.warning("call request %s dropped: reply_to is not an API channel", request.id)
            return
        task = asyncio.create_task(self._run(request), name=f"csms-call:{request.station}")
        self._pending[task] = request
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._pending.pop(task, None)

    async def _run(self, request: CallRequest) -> None:
        session = self._connections.get(request.station)
        if not isinstance(session, StationSession):
            reply = _offline(
                request, f"station not connected to {self.gateway_id}", self.gateway_id
            )
        elif request.conn and request.conn != session.conn:
            # The API read an older (or newer) route: that connection is gone from here.
            reply = _offline(request, "the routed connection was replaced", self.gateway_id)
        else:
            try:
                reply = await session.call(request)
            except Exception:  # a bug must still answer the API
                log.exception("CSMS call %s to %s failed", request.action, request.station)
                reply = _offline(request, "gateway error", self.gateway_id)
        await self._send(request, reply)

    async def _send(self, request: CallRequest, reply: CallReply) -> None:
        action = request.action if request.action in _KNOWN else ""
        metrics.CSMS_CALLS.labels(action, reply.outcome).inc()
        try:
            await self._redis.publish(request.reply_to, reply.encode())
        except RedisError:
            # The API's own deadline answers its caller (no_answer); the frames are on Kafka.
            log.warning("reply to %s for %s lost: Redis unavailable", request.id, request.station)

    async def _refuse_malformed(self, raw: bytes | str, exc: Exception) -> None:
        """Answer `invalid` when the request names who to answer, else log and drop it."""
        log.warning("malformed call request (%s): %r", exc, raw[:200])
        head = _head(raw)
        if head is None:
            return
        call_id, station, reply_to = head
        reply = CallReply(
            call_id, station, "invalid", detail="malformed call request", gateway=self.gateway_id
        )
        metrics.CSMS_CALLS.labels("", reply.outcome).inc()
        with contextlib.suppress(RedisError):
            await self._redis.publish(reply_to, reply.encode())


def _is_reply_channel(channel: str) -> bool:
    return channel.startswith(_REPLY_PREFIX) and channel.endswith(_REPLY_SUFFIX)


def _offline(request: CallRequest, detail: str, gateway: str) -> CallReply:
    outcome: Outcome = "offline"
    return CallReply(request.id, request.station, outcome, detail=detail, gateway=gateway)


def _head(raw: bytes | str) -> tuple[str, str, str] | None:
    """(id, station, reply_to) of a request that failed to decode, when they are readable."""
    try:
        d: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(d, dict):
        return None
    call_id, station, reply_to = d.get("id"), d.get("station", ""), d.get("reply_to")
    if not (isinstance(call_id, str) and isinstance(reply_to, str)):
        return None
    if not _is_reply_channel(reply_to):
        return None
    return call_id, str(station), reply_to
