"""The OCPP payloads a simulated charger sends, one function per message, per version: the one
builder of the swarm (loadtests.swarm) and the Locust users (loadtests.locust_ocpp).

Protocols are the WebSocket subprotocol names ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"); 2.0.1 and 2.1
share every payload the chargers send. Nothing here does I/O, so each builder is checked against
the official JSON schemas by the unit tests (tests/unit/loadtests/test_ocpp_payloads.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
V21 = "ocpp2.1"
PROTOCOLS = (V16, V201, V21)

Payload = dict[str, Any]


@dataclass
class Tx:
    """A charging session in progress, as the charger tracks it."""

    id_tag: str
    meter_wh: int
    transaction_id: str = ""  # 1.6: the CSMS's integer as text; 2.x: the charger's own id
    seq_no: int = 0
    remote_start_id: int | None = None
    samples: int = field(default=0)


_now_cache: list[tuple[int, str]] = [(0, "")]  # the second last formatted, and its text


def now_iso() -> str:
    """ISO 8601 UTC, second precision, formatted once per second (it is in nearly every
    payload, and a swarm sends tens of thousands a second)."""
    now = int(time.time())
    if _now_cache[0][0] != now:
        _now_cache[0] = (now, datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _now_cache[0][1]


def is_v16(proto: str) -> bool:
    return proto == V16


def boot(proto: str, station: str, reason: str = "PowerUp", *, vendor: str = "Locust") -> Payload:
    serial = station[-25:]
    if is_v16(proto):
        return {
            "chargePointVendor": vendor,
            "chargePointModel": "LC-16",
            "chargePointSerialNumber": serial,
            "firmwareVersion": "1.6.0",
        }
    return {
        "reason": reason,
        "chargingStation": {
            "vendorName": vendor,
            "model": "LC-2X",
            "serialNumber": serial,
            "firmwareVersion": proto,
        },
    }


def heartbeat(proto: str) -> Payload:
    return {}


def status(proto: str, state: str, connector: int = 1) -> Payload:
    """`state` in the 1.6 vocabulary (Available, Preparing, Charging, Finishing…); 2.x only
    knows Available / Occupied / Reserved / Unavailable / Faulted: session states are Occupied."""
    if is_v16(proto):
        return {"connectorId": connector, "errorCode": "NoError", "status": state}
    known = {"Available", "Reserved", "Unavailable", "Faulted"}
    return {
        "timestamp": now_iso(),
        "connectorStatus": state if state in known else "Occupied",
        "evseId": connector,
        "connectorId": 1,
    }


def authorize(proto: str, id_tag: str) -> Payload:
    if is_v16(proto):
        return {"idTag": id_tag}
    return {"idToken": _token(id_tag)}


def id_tag_status(proto: str, answer: Payload) -> str:
    """The authorization status of an Authorize (or 1.6 StartTransaction) answer."""
    info = answer.get("idTagInfo") if is_v16(proto) else answer.get("idTokenInfo")
    return str((info or {}).get("status", "Invalid"))


def _token(id_tag: str) -> Payload:
    return {"idToken": id_tag, "type": "ISO14443"}


def _energy_16(tx: Tx, context: str) -> Payload:
    return {
        "timestamp": now_iso(),
        "sampledValue": [
            {
                "value": str(tx.meter_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {
                "value": "7400",
                "context": context,
                "measurand": "Power.Active.Import",
                "unit": "W",
            },
            {
                "value": "16.0",
                "context": context,
                "measurand": "Current.Import",
                "unit": "A",
                "phase": "L1",
            },
        ],
    }


def _energy_2x(tx: Tx, context: str) -> Payload:
    return {
        "timestamp": now_iso(),
        "sampledValue": [
            {
                "value": tx.meter_wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            },
            {
                "value": 7400,
                "context": context,
                "measurand": "Power.Active.Import",
                "unitOfMeasure": {"unit": "W"},
            },
        ],
    }


def start(proto: str, tx: Tx) -> tuple[str, Payload]:
    """The call that opens the session: 1.6 StartTransaction, 2.x TransactionEvent Started."""
    if is_v16(proto):
        payload: Payload = {
            "connectorId": 1,
            "idTag": tx.id_tag,
            "meterStart": tx.meter_wh,
            "timestamp": now_iso(),
        }
        return "StartTransaction", payload
    info: Payload = {"transactionId": tx.transaction_id, "chargingState": "Charging"}
    if tx.remote_start_id is not None:
        info["remoteStartId"] = tx.remote_start_id
    event = _event(tx, "Started", "RemoteStart" if tx.remote_start_id is not None else "Authorized")
    event.update(
        transactionInfo=info,
        idToken=_token(tx.id_tag),
        evse={"id": 1, "connectorId": 1},
        meterValue=[_energy_2x(tx, "Transaction.Begin")],
    )
    return "TransactionEvent", event


def meter(proto: str, tx: Tx) -> tuple[str, Payload]:
    """A periodic sample: 1.6 MeterValues, 2.x TransactionEvent Updated."""
    if is_v16(proto):
        payload: Payload = {
            "connectorId": 1,
            "transactionId": int(tx.transaction_id),
            "meterValue": [_energy_16(tx, "Sample.Periodic")],
        }
        return "MeterValues", payload
    event = _event(tx, "Updated", "MeterValuePeriodic")
    event.update(
        transactionInfo={"transactionId": tx.transaction_id, "chargingState": "Charging"},
        meterValue=[_energy_2x(tx, "Sample.Periodic")],
    )
    return "TransactionEvent", event


def stop(proto: str, tx: Tx, reason: str = "Local") -> tuple[str, Payload]:
    """The call that closes the session: 1.6 StopTransaction, 2.x TransactionEvent Ended.
    `reason` in the 1.6 vocabulary; 2.x gets its nearest equivalent."""
    if is_v16(proto):
        payload: Payload = {
            "transactionId": int(tx.transaction_id),
            "idTag": tx.id_tag,
            "meterStop": tx.meter_wh,
            "timestamp": now_iso(),
            "reason": reason,
            "transactionData": [_energy_16(tx, "Transaction.End")],
        }
        return "StopTransaction", payload
    reason_2x = {"HardReset": "ImmediateReset", "SoftReset": "Reboot"}.get(reason, reason)
    trigger = _STOP_TRIGGERS.get(reason, "AbnormalCondition")
    event = _event(tx, "Ended", trigger)
    event.update(
        transactionInfo={"transactionId": tx.transaction_id, "stoppedReason": reason_2x},
        idToken=_token(tx.id_tag),
        meterValue=[_energy_2x(tx, "Transaction.End")],
    )
    return "TransactionEvent", event


_STOP_TRIGGERS = {
    "Remote": "RemoteStop",
    "Local": "StopAuthorized",
    "DeAuthorized": "Deauthorized",
    "HardReset": "ResetCommand",
    "SoftReset": "ResetCommand",
}


def _event(tx: Tx, event_type: str, trigger: str) -> Payload:
    event: Payload = {
        "eventType": event_type,
        "timestamp": now_iso(),
        "triggerReason": trigger,
        "seqNo": tx.seq_no,
    }
    tx.seq_no += 1
    return event
