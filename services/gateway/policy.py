"""The session's rules as pure data and functions: which CALLs a station may send in its
registration state and with CALLs outstanding, and the fixed close codes and reasons.

Close reasons are constants (never input) and fit in 123 bytes; the codes are explained in
docs/adr/0007-one-outstanding-call-and-front-door-closes.md.
"""

from __future__ import annotations

from typing import Any

from websockets.asyncio.server import ServerConnection

from csms.infra.station_registry import PENDING, REJECTED
from csms.protocol import framing
from csms.protocol.errors import Failure, FrameRejected
from csms.protocol.versions import OcppVersion

# OCPP 2.0.1/2.1 B01.FR.10, B02.FR.09, B03.FR.07: once a station was answered Pending or
# Rejected, any CALL other than BootNotification gets CALLERROR SecurityError (applied to 1.6
# too, whose security whitepaper defines the code). Messages the CSMS asked for with
# TriggerMessage are exempt in the spec (B02.FR.05): the station may send the one message the CSMS
# triggered (and the station accepted to send), see `triggered_action`.
ALLOWED_WHILE: dict[str, frozenset[str]] = {
    PENDING: frozenset({"BootNotification"}),
    REJECTED: frozenset({"BootNotification"}),
}
RATE_LIMITED_CODE = "GenericError"  # the one code that 1.6, 2.0.1 and 2.1 all define for this
# Envelope flags (csms.envelope.FLAGS). A binary frame whose bytes are UTF-8 is served as text
# and flagged; one that is not is archived base64 with err=BinaryFrame and closed with 1003.
BINARY_FLAG = "BinaryFrame"
CONCURRENT_FLAG = "ConcurrentCall"
LATE_FLAG = "LateAnswer"
CLOSE_BINARY = (1003, "OCPP-J frames are text frames")
CLOSE_FLOOD = (1008, "rate limit exceeded")
CLOSE_IDLE = (1000, "idle timeout")
# Disconnect envelopes flag the frames websockets itself refused (they never reach a session).
PROTOCOL_CLOSE_FLAGS = {1007: "InvalidUtf8", 1009: "FrameTooBig"}


# TriggerMessage / ExtendedTriggerMessage requestedMessage -> the action the station then sends.
_TRIGGERED: dict[str, str] = {
    "BootNotification": "BootNotification",
    "DiagnosticsStatusNotification": "DiagnosticsStatusNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "LogStatusNotification": "LogStatusNotification",
    "MeterValues": "MeterValues",
    "PublishFirmwareStatusNotification": "PublishFirmwareStatusNotification",
    "SignChargePointCertificate": "SignCertificate",
    "SignChargingStationCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignV2G20Certificate": "SignCertificate",
    "StatusNotification": "StatusNotification",
    "TransactionEvent": "TransactionEvent",
}
TRIGGER_ACTIONS = frozenset({"TriggerMessage", "ExtendedTriggerMessage"})


def triggered_action(action: str, request: dict[str, Any], answer: dict[str, Any]) -> str | None:
    """The action a station may now send whatever its registration status: the one a
    TriggerMessage it accepted asked for (None for any other CALL or answer)."""
    if action not in TRIGGER_ACTIONS or answer.get("status") != "Accepted":
        return None
    return _TRIGGERED.get(str(request.get("requestedMessage", "")))


def check_call(
    status: str,
    version: OcppVersion,
    outstanding: int,
    strict: bool,
    call: framing.Call,
    triggered: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Raise FrameRejected when the station may not send `call` now (checked before the schema,
    so a Pending station's malformed CALL still gets SecurityError). `triggered`: actions the
    CSMS asked for with TriggerMessage, allowed in any registration status."""
    allowed = ALLOWED_WHILE.get(status)
    if allowed is not None and call.action not in allowed and call.action not in triggered:
        raise FrameRejected(
            Failure.SECURITY, f"station registration is {status}", call.uid, call.action
        )
    # 2.0.1/2.1 §4.1.1: the station SHALL NOT send a CALL before the previous one is answered.
    # The rule binds the sender, so refusing is opt-in (`strict`); ADR 0018.
    if strict and version.is_2x and outstanding > 0:
        raise FrameRejected(
            Failure.RPC_FRAMEWORK, "previous CALL not answered yet", call.uid, call.action
        )


def close_of(ws: ServerConnection) -> tuple[int, str]:
    """The close code/reason of a finished connection; the one the gateway sent wins (e.g. 1009
    when websockets refused an oversized frame), else the station's, else 1006."""
    sent = ws.protocol.close_sent
    if sent is not None:
        return sent.code, sent.reason
    received = ws.protocol.close_rcvd
    if received is not None:
        return received.code, received.reason
    return 1006, ""
