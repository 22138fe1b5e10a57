"""A connection's answers, released in order as the Kafka acks of their frames arrive.

An answer goes out only after its CALL is durable, and in the order the CALLs came. The queue
does that without a task per connection: the first answer's ack future calls it back, and every
answer whose ack is in by then goes out at once (`send_now`, synchronous: the out frame handed to
Kafka, the text written to the socket). Only when an answer cannot go out without waiting (no
room for the out frame, a socket that is paused or closing) does a task take over until the queue
is empty (`send`, which may wait). Per CALL that saves the writer task's two wake-ups (the queue's
and the ack's): docs/benchmarks.md, issue 19.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from csms.envelope import Kind
from services.gateway import metrics
from services.gateway.publisher import AckFuture

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pending:
    """A station's answer waiting for the Kafka ack of the frame it answers."""

    ack: AckFuture
    text: str
    kind: Kind
    uid: str
    action: str
    received: float  # time.perf_counter() when its CALL was read
    error_code: str = ""
    counted: bool = False  # an accepted CALL: counts as outstanding until answered


def count_error(pending: Pending) -> None:
    """Count a CALLERROR answer (once, as it goes out)."""
    if pending.error_code:
        metrics.CALL_ERRORS.labels(pending.error_code).inc()


def count_sent(pending: Pending) -> None:
    """Count an answer written to the socket, and its CALL→answer latency."""
    metrics.frames(pending.action, "out").inc()
    metrics.CALL_LATENCY.observe(time.perf_counter() - pending.received)


class HasAck(Protocol):
    @property
    def ack(self) -> asyncio.Future[object]: ...


T = TypeVar("T", bound=HasAck)


class AnswerQueue(Generic[T]):
    """`put` answers in CALL order; each is sent once its `ack` is done (successfully or not:
    the sender decides what a failed ack means), then `done` is called with it."""

    def __init__(
        self,
        send_now: Callable[[T], bool],
        send: Callable[[T], Awaitable[None]],
        done: Callable[[T], None],
        name: str,
    ) -> None:
        self._send_now = send_now  # False: it cannot go without waiting (and nothing was done)
        self._send = send
        self._done = done
        self._name = name
        self._items: deque[T] = deque()
        self._watched: T | None = None  # the first answer, whose ack will call us back
        self._writer: asyncio.Task[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        self._items.append(item)
        if self._writer is None and len(self._items) == 1:
            self._release()

    async def drained(self) -> None:
        """Return once every answer put so far is sent (or dropped by the sender)."""
        while self._items or self._writer is not None:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)

    # -- the callback path ----------------------------------------------------------------------

    def _release(self) -> None:
        """Send every answer at the head whose ack is in; watch the first one still waiting."""
        items = self._items
        while items and items[0].ack.done():
            head = items[0]
            try:
                sent = self._send_now(head)
            except Exception:
                log.exception("answer of %s could not be sent", self._name)
                sent = True  # dropped, as a closed socket drops it
            if not sent:
                self._writer = asyncio.get_running_loop().create_task(
                    self._write(), name=f"answers:{self._name}"
                )
                return
            items.popleft()
            self._done(head)
        if items:
            head = items[0]
            if self._watched is not head:
                self._watched = head
                head.ack.add_done_callback(self._acked)
        else:
            self._settle()

    def _acked(self, _ack: asyncio.Future[object]) -> None:
        self._watched = None
        if self._writer is None:
            self._release()

    # -- the task path --------------------------------------------------------------------------

    async def _write(self) -> None:
        items = self._items
        try:
            while items:
                head = items[0]
                await asyncio.wait([head.ack])  # done or failed: the sender tells them apart
                try:
                    await self._send(head)
                except Exception:
                    log.exception("answer of %s could not be sent", self._name)
                items.popleft()
                self._done(head)
        finally:
            self._writer = None
            self._settle()

    def _settle(self) -> None:
        if not self._items and self._writer is None and self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None
