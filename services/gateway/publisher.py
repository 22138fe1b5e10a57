"""Puts envelopes on `ocpp.frames` and tracks their acknowledgement.

The gateway holds at most `max_inflight` frames that Kafka has not acknowledged yet, over all its
connections. When Kafka is slow or down that bound fills up and `publish()` waits for room; a
session awaits `publish()` before it reads its next frame, so the gateway stops reading sockets
instead of buffering without limit. The wait is itself bounded: after `room_timeout_s` publish()
raises `PublishTimeout` and the session closes that one connection (1011), promising nothing.

Every ack future publish() returns resolves within `ack_timeout_s`: with Kafka's answer, or with
`PublishTimeout` when none came in time (the station then gets an InternalError and retries).
One sweeper per publisher enforces that, instead of a timer per frame on the hot path.

The Kafka client itself is behind `FrameSink` (librdkafka in production, see kafka_sink.py; a
fake in unit tests), so the accounting here is the same whatever client carries the frames.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from csms.envelope import Publishable
from services.gateway import metrics
from services.gateway.room import Room

log = logging.getLogger(__name__)

AckFuture = asyncio.Future[object]
AckCallback = Callable[[BaseException | None], None]

DEFAULT_MAX_INFLIGHT = 10_000
DEFAULT_ROOM_TIMEOUT_S = 10.0
DEFAULT_ACK_TIMEOUT_S = 30.0
_SWEEP_INTERVAL_S = 0.5
_FULL_SINK_RETRY_S = 0.005


class Publisher(Protocol):
    """Where sessions put envelopes (Kafka in production, a list in unit tests)."""

    async def publish(self, env: Publishable) -> AckFuture: ...

    async def publish_unawaited(self, env: Publishable) -> None: ...

    def publish_unawaited_now(self, env: Publishable) -> bool: ...


class FrameSink(Protocol):
    """The Kafka client under the publisher: hands a record over without blocking and calls
    `done(error_or_None)` on the event loop once Kafka answered. Raises BufferError when its own
    queue is full (the publisher then waits and retries)."""

    def produce(
        self, value: bytes, key: bytes, headers: list[tuple[str, bytes]], done: AckCallback
    ) -> None: ...


class PublishTimeout(Exception):
    """No room for one more unacknowledged frame (or no ack) within the timeout: Kafka is slow
    or down."""


class FramePublisher:
    def __init__(
        self,
        sink: FrameSink,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        room_timeout_s: float = DEFAULT_ROOM_TIMEOUT_S,
        ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self._sink = sink
        self._room = Room(max_inflight)
        self._room_timeout_s = room_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._inflight = 0
        self.max_inflight = max_inflight
        # Acks in the order they were handed out, so the oldest is always first: (deadline, ack).
        self._deadlines: deque[tuple[float, AckFuture]] = deque()
        self._sweeper: asyncio.Task[None] | None = None
        # Set once the Kafka client failed in a way it cannot recover from: the gateway should
        # stop (drain) and be restarted with a fresh client.
        self.fatal = asyncio.Event()
        # Read when scraped rather than updated twice per frame (one publisher per gateway).
        metrics.KAFKA_INFLIGHT.set_function(lambda: self._inflight)

    @property
    def inflight(self) -> int:
        """Frames handed to Kafka whose ack (or failure) has not arrived yet."""
        return self._inflight

    async def publish(self, env: Publishable) -> AckFuture:
        """Hand one envelope to Kafka; the returned future resolves on Kafka's ack.

        Awaiting this call waits for room under the gateway's in-flight bound and in the
        client's queue (backpressure), at most `room_timeout_s` (then `PublishTimeout`);
        awaiting the returned future waits for durability (acks=all), at most `ack_timeout_s`.
        """
        if not self._room.try_take():
            await self._wait_for_room()
        value, key, headers = env.encode(), env.key(), env.headers()
        loop = asyncio.get_running_loop()
        ack: AckFuture = loop.create_future()
        started = time.perf_counter()
        self._taken()
        try:
            await self._produce(value, key, headers, lambda err: self._on_ack(err, started, ack))
        except BaseException:
            self._given_back()
            raise
        self._deadlines.append((time.monotonic() + self._ack_timeout_s, ack))
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep(), name="ack-deadlines")
        return ack

    async def publish_unawaited(self, env: Publishable) -> None:
        """Publish where nothing waits for the ack (out frames, disconnects): the same bound and
        backpressure as `publish`, without its future and deadline (half the frames of a CALL);
        failures are counted and logged by the ack callback, never lost silently."""
        try:
            if not self._room.try_take():
                await self._wait_for_room()
            started = time.perf_counter()
            self._taken()
            try:
                await self._produce(
                    env.encode(),
                    env.key(),
                    env.headers(),
                    lambda err: self._on_unawaited_ack(err, started, env),
                )
            except BaseException:
                self._given_back()
                raise
        except PublishTimeout as exc:
            metrics.KAFKA_FAILURES.inc()
            log.warning("could not publish %s frame of %s: %s", env.kind, env.station, exc)
        except Exception:
            metrics.KAFKA_FAILURES.inc()
            log.exception("could not publish %s frame of %s", env.kind, env.station)

    def publish_unawaited_now(self, env: Publishable) -> bool:
        """`publish_unawaited` without waiting: False, with nothing done, when there is no room
        at once (the bound, or the client's queue); the caller then awaits `publish_unawaited`."""
        if not self._room.try_take():
            return False
        started = time.perf_counter()
        self._taken()
        try:
            self._sink.produce(
                env.encode(),
                env.key(),
                env.headers(),
                lambda err: self._on_unawaited_ack(err, started, env),
            )
        except BufferError:
            self._given_back()
            return False
        except Exception:
            self._given_back()
            metrics.KAFKA_FAILURES.inc()
            log.exception("could not publish %s frame of %s", env.kind, env.station)
        return True

    def fail(self, reason: str) -> None:
        """The Kafka client is unusable for good (called by the sink)."""
        if not self.fatal.is_set():
            log.error("kafka producer is unusable (%s): the gateway must restart", reason)
            self.fatal.set()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # -- room -----------------------------------------------------------------------------------

    async def _wait_for_room(self) -> None:
        metrics.KAFKA_PUBLISH_WAITS.inc()
        try:
            async with asyncio.timeout(self._room_timeout_s):
                await self._room.take()
        except TimeoutError:
            raise self._timeout() from None

    async def _produce(
        self, value: bytes, key: bytes, headers: list[tuple[str, bytes]], done: AckCallback
    ) -> None:
        deadline = time.monotonic() + self._room_timeout_s
        while True:
            try:
                self._sink.produce(value, key, headers, done)
                return
            except BufferError:
                # The client's own queue is full (Kafka slow or down): wait, bounded.
                if time.monotonic() > deadline:
                    raise self._timeout() from None
                await asyncio.sleep(_FULL_SINK_RETRY_S)

    def _timeout(self) -> PublishTimeout:
        metrics.KAFKA_PUBLISH_TIMEOUTS.inc()
        return PublishTimeout(
            f"no room for a frame within {self._room_timeout_s}s ({self._inflight} unacknowledged)"
        )

    def _taken(self) -> None:
        self._inflight += 1

    def _given_back(self) -> None:
        self._inflight -= 1
        self._room.give()

    # -- acks -----------------------------------------------------------------------------------

    def _on_ack(self, err: BaseException | None, started: float, ack: AckFuture) -> None:
        self._given_back()
        if err is not None:
            metrics.KAFKA_FAILURES.inc()
            log.warning("kafka did not acknowledge a frame: %r", err)
            if not ack.done():
                ack.set_exception(err)
            return
        metrics.KAFKA_ACK.observe(time.perf_counter() - started)
        if not ack.done():
            ack.set_result(None)

    def _on_unawaited_ack(
        self, err: BaseException | None, started: float, env: Publishable
    ) -> None:
        self._given_back()
        if err is not None:
            metrics.KAFKA_FAILURES.inc()
            log.warning(
                "kafka did not acknowledge a %s frame of %s: %r", env.kind, env.station, err
            )
            return
        metrics.KAFKA_ACK.observe(time.perf_counter() - started)

    async def _sweep(self) -> None:
        """Fail the acks Kafka has not answered within `ack_timeout_s` (their in-flight slot
        stays taken until Kafka does answer: the bound follows the client's real queue)."""
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL_S)
            now = time.monotonic()
            while self._deadlines and (self._deadlines[0][1].done() or self._deadlines[0][0] < now):
                _, ack = self._deadlines.popleft()
                if not ack.done():
                    ack.set_exception(PublishTimeout(f"no ack within {self._ack_timeout_s}s"))
