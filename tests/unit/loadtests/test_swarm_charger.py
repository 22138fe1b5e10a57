"""The charger's OCPP-J loop against an in-process fake connection (no sockets)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosedError

from loadtests.swarm.charger import Charger, _backoff
from loadtests.swarm.config import SwarmConfig
from loadtests.swarm.report import Stats


class FakeConnection:
    """Hands out scripted frames; the answer to the charger's CALL once it was sent."""

    def __init__(self, before_answer: list[Any], answer: dict[str, Any]) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        for frame in before_answer:
            self.push(frame)
        self.answer = answer
        self.sent: list[Any] = []

    def push(self, frame: Any) -> None:
        self.inbox.put_nowait(orjson.dumps(frame).decode())

    async def send(self, text: str) -> None:
        frame = orjson.loads(text)
        self.sent.append(frame)
        if frame[0] == 2:
            self.push([3, frame[1], self.answer])

    async def recv(self) -> str:
        return await self.inbox.get()  # like a socket: waits for the next frame


def _charger(stats: Stats) -> Charger:
    cfg = SwarmConfig(chargers=1, ratio_201=0.0, call_timeout_s=5)
    return Charger(0, cfg, stats, time.monotonic())


async def test_call_answers_csms_calls_while_waiting_and_records_latency() -> None:
    stats = Stats()
    charger = _charger(stats)
    csms_call = [2, "srv-1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}]
    # The CSMS CALL arrives after the charger's CALL went out, before its answer.
    ws = FakeConnection([csms_call], {"currentTime": "2026-01-01T00:00:00Z"})

    answer = await charger.call(ws, "Heartbeat", {})  # type: ignore[arg-type]

    assert answer == {"currentTime": "2026-01-01T00:00:00Z"}
    assert ws.sent[0] == [2, "1", "Heartbeat", {}]
    assert ws.sent[1] == [3, "srv-1", {"status": "Accepted"}]
    assert stats.sent == 2 and stats.received == 2
    assert stats.calls == {"Heartbeat": 1}
    assert sum(stats.latency.values()) == 1


async def test_callerror_is_counted_by_code() -> None:
    stats = Stats()
    charger = _charger(stats)
    ws = FakeConnection([], {})

    async def send_error(text: str) -> None:
        uid = orjson.loads(text)[1]
        ws.push([4, uid, "FormatViolation", "bad", {}])

    ws.send = send_error  # type: ignore[method-assign]
    assert await charger.call(ws, "Heartbeat", {}) is None  # type: ignore[arg-type]
    assert stats.errors == {"callerror:FormatViolation": 1}


async def test_boot_pending_waits_then_retries_until_accepted() -> None:
    stats = Stats()
    charger = _charger(stats)
    answers = iter([{"status": "Pending", "interval": 0}, {"status": "Accepted", "interval": 60}])

    class Booting(FakeConnection):
        async def send(self, text: str) -> None:
            frame = orjson.loads(text)
            self.sent.append(frame)
            self.push([3, frame[1], next(answers)])

    ws = Booting([], {})
    assert await charger._boot(ws)  # type: ignore[arg-type]
    assert [f[2] for f in ws.sent] == ["BootNotification", "BootNotification"]
    assert (stats.boots_pending, stats.boots_accepted) == (1, 1)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    cfg = SwarmConfig(backoff_min_s=1, backoff_max_s=8)
    for failures, base in ((1, 1), (2, 2), (3, 4), (4, 8), (10, 8)):
        delays = [_backoff(failures, cfg) for _ in range(200)]
        assert all(0.5 * base <= d <= 1.5 * base for d in delays)
        assert max(delays) - min(delays) > 0.2 * base  # jittered, not lock-step


class DeadConnection:
    """A connection whose gateway was killed: sending, receiving and closing all fail."""

    async def send(self, text: str) -> None:
        raise ConnectionClosedError(None, None)

    async def recv(self) -> str:
        raise ConnectionClosedError(None, None)

    async def close(self) -> None:
        raise ConnectionClosedError(None, None)  # as uvloop's transport does after a reset


async def test_a_charger_reconnects_whenever_its_socket_dies_even_in_the_handshake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connects: list[DeadConnection] = []

    async def connect(*_: Any, **__: Any) -> DeadConnection:
        connects.append(DeadConnection())
        if len(connects) == 1:  # the gateway went away during the opening handshake
            raise ConnectionClosedError(None, None)
        return connects[-1]

    monkeypatch.setattr(websockets, "connect", connect)  # the one the charger calls
    cfg = SwarmConfig(
        chargers=1, ratio_201=0.0, ramp_s=0, duration_s=0.5, backoff_min_s=0.01, backoff_max_s=0.02
    )
    stats = Stats()
    await Charger(0, cfg, stats, time.monotonic()).run()  # returns at its deadline, no crash
    assert len(connects) >= 3
    assert stats.errors["connect:ConnectionClosedError"] == 1
    assert stats.errors["disconnect"] == len(connects) - 1
