"""Small readings of what crossed the WebSocket: a binary frame's text, an unparsed frame's
message id, the peer's address and last sign of life; and the JSON of a connect/disconnect."""

from __future__ import annotations

from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection

from csms.protocol import framing
from csms.protocol.errors import FrameRejected


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
