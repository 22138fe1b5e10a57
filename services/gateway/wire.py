"""The WebSocket as the gateway uses it: the station's connection (`StationConnection`: its last
sign of life, a cheaper send), and small readings of what crossed it: a binary frame's text, an
unparsed frame's message id, the peer's address; and the JSON of a connect/disconnect."""

from __future__ import annotations

import time
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from csms.protocol import framing
from csms.protocol.errors import FrameRejected


class StationConnection(ServerConnection):
    """A ServerConnection that remembers when the peer last sent anything (data, ping, pong):
    OCPP keeps connections alive from the station side (Heartbeat or WebSocket pings), so the
    idle timeout counts every frame, and the gateway sends no pings of its own."""

    last_seen: float = 0.0

    def process_event(self, event: Any) -> None:
        self.last_seen = time.monotonic()
        super().process_event(event)

    def can_send_now(self) -> bool:
        """Whether a message can be written at once, as `send` would, without `send`'s
        per-message context manager: an open connection, no fragmented message being sent, the
        transport writable and not paused (≈ 30 µs per answer: docs/benchmarks.md, issue 19)."""
        return (
            self.send_in_progress is None
            and self.protocol.state is State.OPEN
            and not self.paused
            and not self.transport.is_closing()
        )

    def send_text_now(self, text: str) -> None:
        """Write one text message at once; only after `can_send_now()`. A write error aborts the
        connection, as `send` does (the reader then sees it closed)."""
        self.protocol.send_text(text.encode())
        try:
            self.send_data()
        except Exception as exc:  # noqa: BLE001 - as send: the connection is done for
            self.set_connection_exc(exc)
            self.transport.abort()

    async def send_text(self, text: str) -> None:
        """`send(text)`, written at once when it can be (`can_send_now`)."""
        if self.can_send_now():
            self.send_text_now(text)
        else:
            await self.send(text)


async def send_text(ws: ServerConnection, text: str) -> None:
    """Send one text message (StationConnection's cheaper way when it is one)."""
    if isinstance(ws, StationConnection):
        await ws.send_text(text)
    else:
        await ws.send(text)


def can_send_now(ws: ServerConnection) -> bool:
    """Whether `send_text_now` may write to this connection (StationConnection.can_send_now)."""
    return isinstance(ws, StationConnection) and ws.can_send_now()


def send_text_now(ws: ServerConnection, text: str) -> None:
    """Write one text message at once; only after `can_send_now(ws)`."""
    assert isinstance(ws, StationConnection)
    ws.send_text_now(text)


def utf8(data: bytes) -> str | None:
    """A binary frame's text, None when its bytes are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def last_seen(ws: ServerConnection) -> float:
    """When the peer last sent any frame (data, ping or pong); see StationConnection."""
    return float(getattr(ws, "last_seen", 0.0))


def uid_of(text: str) -> str:
    """The message id of a frame that will not be parsed further (-1 when unreadable)."""
    try:
        return framing.parse(text).uid
    except FrameRejected as rejected:
        return rejected.uid


def json_text(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def address(remote: Any) -> str:
    if isinstance(remote, tuple) and len(remote) >= 2:
        return f"{remote[0]}:{remote[1]}"
    return str(remote)
