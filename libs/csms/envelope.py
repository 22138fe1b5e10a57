"""The frame envelope: the versioned contract of topic `ocpp.frames`.

One event per OCPP frame (in or out) and per connect/disconnect. The raw OCPP-J text is kept
byte-exact in `frame`, so every projection can be rebuilt from Kafka and any dispute replayed.
Kafka key = station id (one station's history stays ordered in one partition); headers carry
`proto` and `action` so consumers can filter without decoding the value.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson

ENVELOPE_VERSION = 1

Direction = Literal["in", "out"]
# "policy": a decision the CSMS took on its own (on `csms.policy`, never on `ocpp.frames`):
# `action` names it (e.g. CloseTransaction) and `frame` is its JSON payload.
Kind = Literal["call", "result", "error", "connect", "disconnect", "policy"]

# What `flag` may name: a CALL sent while the same station's earlier CALL was unanswered; an
# answer to a CSMS CALL that came after the CSMS stopped waiting; a frame sent as a binary
# WebSocket frame (its UTF-8 text was processed); a payload whose only fault was properties its
# schema does not define (ignored).
FLAGS: frozenset[str] = frozenset(
    {"ConcurrentCall", "LateAnswer", "BinaryFrame", "UnknownProperties"}
)

DIRECTIONS: frozenset[str] = frozenset({"in", "out"})
KINDS: frozenset[str] = frozenset({"call", "result", "error", "connect", "disconnect", "policy"})
_REQUIRED = ("v", "id", "ts", "station", "gw", "conn", "proto", "dir", "kind", "uid", "action")


class EnvelopeError(ValueError):
    """An event on `ocpp.frames` that does not follow the envelope contract."""


def new_event_id(ts_ms: int) -> str:
    """A unique, time-ordered event id: 48-bit milliseconds + 64 random bits, as hex."""
    return f"{ts_ms:012x}{random.getrandbits(64):016x}"


@dataclass(frozen=True, slots=True)
class FrameEnvelope:
    id: str
    ts: int
    station: str
    gw: str
    conn: str
    proto: str
    dir: Direction
    kind: Kind
    uid: str = ""
    action: str = ""
    frame: str = ""
    # Set on inbound frames the gateway rejected (the CALLERROR code it answered), so a rejected
    # frame is still archived and visibly flagged rather than silently dropped.
    err: str = ""
    # Set on frames the gateway accepted although they bent a rule that nothing required it to
    # enforce (docs/architecture.md, "Lenient acceptance"): comma-separated FLAGS, e.g.
    # "ConcurrentCall". Unlike `err`, a flagged frame was processed like any other.
    flag: str = ""
    v: int = ENVELOPE_VERSION

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "v": self.v,
            "id": self.id,
            "ts": self.ts,
            "station": self.station,
            "gw": self.gw,
            "conn": self.conn,
            "proto": self.proto,
            "dir": self.dir,
            "kind": self.kind,
            "uid": self.uid,
            "action": self.action,
            "frame": self.frame,
        }
        if self.err:
            d["err"] = self.err
        if self.flag:
            d["flag"] = self.flag
        return d

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def headers(self) -> list[tuple[str, bytes]]:
        return [("proto", self.proto.encode()), ("action", self.action.encode())]

    def key(self) -> bytes:
        return self.station.encode()

    def ocpp_message(self) -> list[Any] | None:
        """The parsed OCPP-J array, or None when the frame is not a valid JSON array. Shared
        between the callers of one frame (every processor step reads it): never mutate it."""
        return _parse_frame(self.frame) if self.frame else None


class EncodedEnvelope:
    """One envelope as the gateway publishes it: its value (the bytes `FrameEnvelope.encode`
    gives), Kafka key and headers, and what a log line names (kind, station)."""

    __slots__ = ("_headers", "_key", "_value", "kind", "station")

    def __init__(
        self, value: bytes, key: bytes, headers: list[tuple[str, bytes]], kind: str, station: str
    ) -> None:
        self._value, self._key, self._headers = value, key, headers
        self.kind, self.station = kind, station

    def encode(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return self._key

    def headers(self) -> list[tuple[str, bytes]]:
        """Shared between the envelopes of one action: never mutate it."""
        return self._headers


# What a publisher takes: an envelope, or one encoded already (EnvelopeWriter).
Publishable = FrameEnvelope | EncodedEnvelope


class EnvelopeWriter:
    """The envelopes of one connection, written straight to their bytes: the parts that never
    change on a connection (station, gateway, connection, protocol) are encoded once, each frame
    adds its own. The bytes are exactly `FrameEnvelope(...).encode()`'s (tests/unit/test_envelope
    checks it on generated fields), at a tenth of the cost: the gateway writes two per CALL."""

    __slots__ = ("_clock", "_headers", "_key", "_proto", "_stable", "_station")

    def __init__(
        self, station: str, gw: str, conn: str, proto: str, clock: Callable[[], int]
    ) -> None:
        self._clock = clock  # epoch ms: each envelope's `ts`, and its id's time part
        self._station = station
        self._key = station.encode()
        self._proto = proto.encode()
        dumps = orjson.dumps
        self._stable = b"".join(
            (
                b',"station":',
                dumps(station),
                b',"gw":',
                dumps(gw),
                b',"conn":',
                dumps(conn),
                b',"proto":',
                dumps(proto),
                b',"dir":',
            )
        )
        self._headers: dict[str, list[tuple[str, bytes]]] = {}

    def write(
        self,
        direction: Direction,
        kind: Kind,
        uid: str = "",
        action: str = "",
        frame: str = "",
        err: str = "",
        flag: str = "",
    ) -> EncodedEnvelope:
        dumps = orjson.dumps
        ts = self._clock()
        parts = [
            b'{"v":%d,"id":"%s","ts":%d' % (ENVELOPE_VERSION, new_event_id(ts).encode(), ts),
            self._stable,
            _DIR_KIND[direction, kind],
            dumps(uid),
            b',"action":',
            dumps(action),
            b',"frame":',
            dumps(frame),
        ]
        if err:
            parts += (b',"err":', dumps(err))
        if flag:
            parts += (b',"flag":', dumps(flag))
        parts.append(b"}")
        return EncodedEnvelope(
            b"".join(parts), self._key, self._headers_of(action), kind, self._station
        )

    def _headers_of(self, action: str) -> list[tuple[str, bytes]]:
        found = self._headers.get(action)
        if found is None:
            found = [("proto", self._proto), ("action", action.encode())]
            if len(self._headers) < _HEADERS_KEPT:  # actions are a small set; bound it anyway
                self._headers[action] = found
        return found


_HEADERS_KEPT = 64
# `"dir":…,"kind":…,"uid":` for each direction and kind, encoded once.
_DIR_KIND: dict[tuple[str, str], bytes] = {
    (d, k): b'"%s","kind":"%s","uid":' % (d.encode(), k.encode()) for d in DIRECTIONS for k in KINDS
}


@functools.lru_cache(maxsize=64)
def _parse_frame(frame: str) -> list[Any] | None:
    # Cached: the processors' steps each parsed the same frame again (4-5 parses per event).
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return msg if isinstance(msg, list) else None


def decode(raw: bytes) -> FrameEnvelope:
    """Parse one `ocpp.frames` value; raises EnvelopeError with the reason when it is invalid."""
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    if not isinstance(d, dict):
        raise EnvelopeError("envelope is not a JSON object")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise EnvelopeError(f"missing fields: {', '.join(missing)}")
    if d["v"] != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported envelope version {d['v']!r}")
    # Strings first: a list or an object is unhashable and would raise TypeError in the sets
    # (found by tests/fuzz/test_fuzz_envelope.py).
    if not isinstance(d["dir"], str) or d["dir"] not in DIRECTIONS:
        raise EnvelopeError(f"invalid dir {d['dir']!r}")
    if not isinstance(d["kind"], str) or d["kind"] not in KINDS:
        raise EnvelopeError(f"invalid kind {d['kind']!r}")
    if not isinstance(d["ts"], int):
        raise EnvelopeError("ts must be epoch milliseconds (integer)")
    return FrameEnvelope(
        id=str(d["id"]),
        ts=d["ts"],
        station=str(d["station"]),
        gw=str(d["gw"]),
        conn=str(d["conn"]),
        proto=str(d["proto"]),
        dir=cast(Direction, d["dir"]),  # checked above
        kind=cast(Kind, d["kind"]),
        uid=str(d["uid"]),
        action=str(d["action"]),
        frame=str(d.get("frame", "")),
        err=str(d.get("err", "")),
        flag=str(d.get("flag", "")),
    )
