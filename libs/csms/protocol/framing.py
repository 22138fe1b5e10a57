"""OCPP-J RPC framing: parse one text frame, build CALLRESULT / CALLERROR texts.

    CALL        [2, "<uid>", "<Action>", {payload}]
    CALLRESULT  [3, "<uid>", {payload}]
    CALLERROR   [4, "<uid>", "<code>", "<description>", {details}]

Pure functions; `parse` raises FrameRejected naming the failure, never anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from csms.protocol.errors import Failure, FrameRejected

CALL = 2
CALLRESULT = 3
CALLERROR = 4

MAX_UID_LENGTH = 36  # OCPP-J: message ids are at most 36 characters
MAX_DESCRIPTION_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Call:
    uid: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    uid: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    uid: str
    code: str
    description: str
    details: dict[str, Any]


Message = Call | CallResult | CallError


def parse(text: str | bytes) -> Message:
    """Parse one OCPP-J frame (raises FrameRejected with the reason when it is not valid RPC)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameRejected(Failure.FORMAT, "frame is not valid JSON") from None
    if not isinstance(msg, list) or not msg:
        raise FrameRejected(Failure.RPC_FRAMEWORK, "frame is not a non-empty JSON array")
    uid = _read_uid(msg)
    kind = msg[0]
    if kind == CALL:
        return _parse_call(msg, uid)
    if kind == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise FrameRejected(Failure.RPC_FRAMEWORK, "CALLRESULT must be [3, id, {}]", uid)
        return CallResult(uid, msg[2])
    if kind == CALLERROR:
        return _parse_call_error(msg, uid)
    raise FrameRejected(Failure.MESSAGE_TYPE, "unsupported MessageTypeId", uid)


def _read_uid(msg: list[Any]) -> str:
    if len(msg) < 2 or not isinstance(msg[1], str) or not msg[1]:
        raise FrameRejected(Failure.RPC_FRAMEWORK, "message id missing or not a string")
    if len(msg[1]) > MAX_UID_LENGTH:
        raise FrameRejected(Failure.RPC_FRAMEWORK, "message id longer than 36 characters")
    return str(msg[1])


def _parse_call(msg: list[Any], uid: str) -> Call:
    if len(msg) != 4:
        raise FrameRejected(Failure.RPC_FRAMEWORK, "CALL must be [2, id, action, {}]", uid)
    action = msg[2]
    if not isinstance(action, str) or not action:
        raise FrameRejected(Failure.RPC_FRAMEWORK, "CALL action must be a string", uid)
    if not isinstance(msg[3], dict):
        raise FrameRejected(Failure.FORMAT, "CALL payload must be a JSON object", uid, action)
    return Call(uid, action, msg[3])


def _parse_call_error(msg: list[Any], uid: str) -> CallError:
    if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str):
        raise FrameRejected(
            Failure.RPC_FRAMEWORK, "CALLERROR must be [4, id, code, description, {}]", uid
        )
    details = msg[4] if isinstance(msg[4], dict) else {}
    return CallError(uid, msg[2], msg[3], details)


def call_text(uid: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALL, uid, action, payload]).decode()


def call_result_text(uid: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALLRESULT, uid, payload]).decode()


def call_error_text(
    uid: str, code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    return orjson.dumps(
        [CALLERROR, uid, code, description[:MAX_DESCRIPTION_LENGTH], details or {}]
    ).decode()
