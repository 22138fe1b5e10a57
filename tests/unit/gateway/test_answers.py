"""AnswerQueue: answers leave in CALL order, each after its ack, from the acks' callbacks; one
that cannot go without waiting hands over to a task; `drained` waits for all of them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.gateway.answers import AnswerQueue


@dataclass
class _Answer:
    name: str
    ack: asyncio.Future[object] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Wire:
    """Records what went out and how; `blocked` makes the synchronous path refuse."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.done: list[str] = []
        self.blocked = False
        self.unblocked = asyncio.Event()

    def send_now(self, answer: _Answer) -> bool:
        if self.blocked:
            return False
        self.sent.append((answer.name, "now"))
        return True

    async def send(self, answer: _Answer) -> None:
        await self.unblocked.wait()
        self.sent.append((answer.name, "waited"))

    def queue(self) -> AnswerQueue[_Answer]:
        return AnswerQueue(self.send_now, self.send, lambda a: self.done.append(a.name), "CP-1")


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_answers_leave_in_order_each_after_its_ack_whatever_order_the_acks_come_in() -> None:
    wire = _Wire()
    queue = wire.queue()
    a, b, c = _Answer("a"), _Answer("b"), _Answer("c")
    for answer in (a, b, c):
        queue.put(answer)
    c.ack.set_result(None)
    b.ack.set_exception(RuntimeError("kafka said no"))  # the sender decides what that means
    await _settle()
    assert wire.sent == []  # a is not durable yet: nothing may overtake it
    a.ack.set_result(None)
    await _settle()
    assert wire.sent == [("a", "now"), ("b", "now"), ("c", "now")]
    assert wire.done == ["a", "b", "c"] and len(queue) == 0
    await asyncio.wait_for(queue.drained(), 5)


async def test_an_answer_already_acknowledged_goes_out_at_once() -> None:
    wire = _Wire()
    queue = wire.queue()
    answer = _Answer("a")
    answer.ack.set_result(None)
    queue.put(answer)
    assert wire.sent == [("a", "now")]  # no task, no wake-up: during put itself


async def test_one_that_cannot_go_at_once_hands_over_to_a_task_that_keeps_the_order() -> None:
    wire = _Wire()
    queue = wire.queue()
    a, b = _Answer("a"), _Answer("b")
    queue.put(a)
    queue.put(b)
    wire.blocked = True  # a paused socket, no room in Kafka
    a.ack.set_result(None)
    b.ack.set_result(None)
    await _settle()
    assert wire.sent == []
    drained = asyncio.create_task(queue.drained())
    await _settle()
    assert not drained.done()
    wire.unblocked.set()
    await asyncio.wait_for(drained, 5)
    assert wire.sent == [("a", "waited"), ("b", "waited")]
    wire.blocked = False
    c = _Answer("c")
    c.ack.set_result(None)
    queue.put(c)  # the task is gone: back to the callback path
    assert wire.sent[-1] == ("c", "now") and wire.done == ["a", "b", "c"]


async def test_a_failing_sender_drops_that_answer_and_the_queue_goes_on() -> None:
    wire = _Wire()
    sent: list[str] = []

    def send_now(answer: _Answer) -> bool:
        if answer.name == "bad":
            raise RuntimeError("bug")
        sent.append(answer.name)
        return True

    queue = AnswerQueue(send_now, wire.send, lambda a: wire.done.append(a.name), "CP-1")
    bad, good = _Answer("bad"), _Answer("good")
    queue.put(bad)
    queue.put(good)
    bad.ack.set_result(None)
    good.ack.set_result(None)
    await asyncio.wait_for(queue.drained(), 5)
    assert sent == ["good"] and wire.done == ["bad", "good"]
