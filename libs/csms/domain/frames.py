"""Defensive readers of OCPP payloads for the domain translators.

The gateway validated every accepted CALL against its version's schema, but projections replay
history (older gateways, older schemas, flagged frames), so every reader here returns a default
or None instead of raising: one odd payload must never stop a projection.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

OCPP2X: frozenset[str] = frozenset({OcppVersion.V201, OcppVersion.V21})

_CALL = 2
_CALLRESULT = 3
# A plain decimal number: OCPP 1.6 meter values are strings, and Python's float() also accepts
# "nan", "inf" and "1_000", none of which a meter can mean.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def inbound_call(env: FrameEnvelope) -> tuple[str, dict[str, Any]] | None:
    """(action, payload) of a CALL the station sent and the gateway accepted, else None.

    Frames the gateway rejected (`err` set) are left out: the station was told the CALL failed,
    so its content is not a fact (a 1.6 station even retries rejected transaction messages).
    """
    if env.kind != "call" or env.dir != "in" or env.err:
        return None
    return _call(env)


def outbound_call(env: FrameEnvelope) -> tuple[str, dict[str, Any]] | None:
    """(action, payload) of a CALL the CSMS sent to the station (an operator command), else
    None."""
    if env.kind != "call" or env.dir != "out":
        return None
    return _call(env)


def outbound_result(env: FrameEnvelope) -> dict[str, Any] | None:
    """The payload of a CALLRESULT the CSMS sent (its envelope carries the CALL's action)."""
    if env.kind != "result" or env.dir != "out":
        return None
    return _result(env)


def inbound_result(env: FrameEnvelope) -> dict[str, Any] | None:
    """The payload of a CALLRESULT the station sent to a CSMS CALL and the gateway accepted
    (its envelope carries the CALL's action), else None."""
    if env.kind != "result" or env.dir != "in" or env.err:
        return None
    return _result(env)


def _call(env: FrameEnvelope) -> tuple[str, dict[str, Any]] | None:
    msg = env.ocpp_message()
    if msg is None or len(msg) < 4 or msg[0] != _CALL:
        return None
    action, payload = msg[2], msg[3]
    if not isinstance(action, str) or not isinstance(payload, dict):
        return None
    return action, payload


def _result(env: FrameEnvelope) -> dict[str, Any] | None:
    msg = env.ocpp_message()
    if msg is None or len(msg) < 3 or msg[0] != _CALLRESULT or not isinstance(msg[2], dict):
        return None
    return msg[2]


def parse_ts(value: Any, fallback_ms: int) -> int:
    """An ISO 8601 timestamp (any offset; naive means UTC) as epoch ms, else `fallback_ms`.
    Only the extended form OCPP's RFC 3339 allows (YYYY-MM-DD…): Python also reads compact
    forms, so epoch milliseconds sent as text ("1740011481445") would become the year 1740."""
    if not isinstance(value, str) or len(value) < 10 or value[4] != "-" or value[7] != "-":
        return fallback_ms
    try:
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return round(dt.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return fallback_ms


def as_int(value: Any) -> int | None:
    """A JSON integer (bool excluded, although Python counts it as int), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def as_number(value: Any) -> float | None:
    """A finite JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_decimal_string(value: Any) -> float | None:
    """A finite number written as a decimal string (OCPP 1.6 sampled values), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def as_str(value: Any, default: str = "") -> str:
    """A non-empty JSON string, else `default` (OCPP optional enums default when absent)."""
    return value if isinstance(value, str) and value else default


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def id_text(value: Any) -> str:
    """A transaction id as text: 1.6 ids are integers, 2.x ids are strings; else ""."""
    if isinstance(value, str):
        return value
    number = as_int(value)
    return "" if number is None else str(number)
