"""OCPP-J frames as text, built with orjson: no `ocpp` package objects in the hot loop."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson

_ts_cache: tuple[int, str] = (0, "")


def timestamp() -> str:
    """ISO 8601 UTC, second precision, formatted once per second (it is in every frame)."""
    global _ts_cache
    now = int(time.time())
    if _ts_cache[0] != now:
        _ts_cache = (now, datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _ts_cache[1]


def call(uid: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([2, uid, action, payload]).decode()


def result(uid: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([3, uid, payload]).decode()


# --- OCPP 1.6 payloads -------------------------------------------------------------------------


def boot_16(station: str) -> dict[str, Any]:
    return {
        "chargePointVendor": "Swarm",
        "chargePointModel": "AC-22",
        "chargePointSerialNumber": station[-25:],
        "firmwareVersion": "1.6.7",
    }


def status_16(status: str, connector: int = 1) -> dict[str, Any]:
    return {"connectorId": connector, "errorCode": "NoError", "status": status}


def start_16(id_tag: str, meter_wh: int) -> dict[str, Any]:
    return {"connectorId": 1, "idTag": id_tag, "meterStart": meter_wh, "timestamp": timestamp()}


def meter_values_16(tx: int, meter_wh: int) -> dict[str, Any]:
    """Energy register, power, current and voltage: the usual periodic sample of an AC charger."""
    periodic = "Sample.Periodic"
    return {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [
            {
                "timestamp": timestamp(),
                "sampledValue": [
                    {
                        "value": str(meter_wh),
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "context": periodic,
                    },
                    {
                        "value": "11040",
                        "measurand": "Power.Active.Import",
                        "unit": "W",
                        "context": periodic,
                    },
                    {
                        "value": "16.0",
                        "measurand": "Current.Import",
                        "unit": "A",
                        "phase": "L1",
                        "context": periodic,
                    },
                ],
            }
        ],
    }


def stop_16(tx: int, id_tag: str, meter_wh: int) -> dict[str, Any]:
    return {
        "transactionId": tx,
        "idTag": id_tag,
        "meterStop": meter_wh,
        "timestamp": timestamp(),
        "reason": "Local",
    }


# --- OCPP 2.0.1 payloads -----------------------------------------------------------------------


def boot_201(station: str) -> dict[str, Any]:
    return {
        "reason": "PowerUp",
        "chargingStation": {
            "model": "DC-150",
            "vendorName": "Swarm",
            "serialNumber": station[-25:],
            "firmwareVersion": "2.0.1-4",
        },
    }


def status_201(status: str) -> dict[str, Any]:
    return {"timestamp": timestamp(), "connectorStatus": status, "evseId": 1, "connectorId": 1}


def _energy_201(meter_wh: float, context: str) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": timestamp(),
            "sampledValue": [
                {
                    "value": meter_wh,
                    "measurand": "Energy.Active.Import.Register",
                    "context": context,
                    "unitOfMeasure": {"unit": "Wh"},
                },
                {
                    "value": 11040.0,
                    "measurand": "Power.Active.Import",
                    "context": context,
                    "unitOfMeasure": {"unit": "W"},
                },
            ],
        }
    ]


def transaction_event_201(
    event: str, tx_id: str, seq: int, meter_wh: float, id_token: str
) -> dict[str, Any]:
    """TransactionEvent Started / Updated / Ended with the energy register."""
    payload: dict[str, Any] = {
        "eventType": event,
        "timestamp": timestamp(),
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx_id},
    }
    if event == "Started":
        payload["triggerReason"] = "Authorized"
        payload["transactionInfo"]["chargingState"] = "Charging"
        payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
        payload["evse"] = {"id": 1, "connectorId": 1}
        payload["meterValue"] = _energy_201(meter_wh, "Transaction.Begin")
    elif event == "Updated":
        payload["triggerReason"] = "MeterValuePeriodic"
        payload["meterValue"] = _energy_201(meter_wh, "Sample.Periodic")
    else:
        payload["triggerReason"] = "StopAuthorized"
        payload["transactionInfo"]["stoppedReason"] = "Local"
        payload["meterValue"] = _energy_201(meter_wh, "Transaction.End")
    return payload


# --- answers to CSMS-initiated CALLs -----------------------------------------------------------

# Actions whose response has no `status`: answer with their smallest valid payload.
_NO_STATUS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {"configurationKey": []},
    "GetLocalListVersion": {"listVersion": 0},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetDiagnostics": {},
    "GetLog": {"status": "Rejected"},
}


def _variables(request: Any, key: str, status: str) -> list[dict[str, Any]]:
    items = request.get(key, []) if isinstance(request, dict) else []
    return [
        {"attributeStatus": status, "component": i["component"], "variable": i["variable"]}
        for i in items
        if isinstance(i, dict) and "component" in i and "variable" in i
    ]


def generic_result(uid: str, action: str, request: Any = None) -> str:
    """A CALLRESULT good enough for any CSMS-initiated CALL: `Accepted` where a status is due."""
    if action == "GetVariables":
        found = _variables(request, "getVariableData", "UnknownVariable")
        return result(uid, {"getVariableResult": found})
    if action == "SetVariables":
        return result(
            uid, {"setVariableResult": _variables(request, "setVariableData", "Accepted")}
        )
    return result(uid, _NO_STATUS.get(action, {"status": "Accepted"}))
