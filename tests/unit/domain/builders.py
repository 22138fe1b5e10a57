"""Builders of realistic frame envelopes for the domain and processor tests.

`Session` plays one station connection as the gateway records it: each envelope gets a unique
id and a gateway time 1 s after the previous one; `call()` is what the station sent, `result()`
/ `error()` what the CSMS answered. The payload builders follow OCPP 1.6J and 2.0.1.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import orjson

from csms.envelope import FrameEnvelope

# 2025-03-01T08:00:00Z
T0 = 1_740_816_000_000


def iso(ms: int) -> str:
    """Epoch ms as the ISO 8601 UTC text stations send."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


_event_ids = itertools.count(1)


class Session:
    def __init__(
        self,
        station: str = "CP-1",
        proto: str = "ocpp1.6",
        *,
        conn: str = "conn-1",
        gw: str = "gw-0",
        t0: int = T0,
    ) -> None:
        self.station = station
        self.proto = proto
        self.conn = conn
        self.gw = gw
        self.now = t0
        self._uids = itertools.count(1)

    def _env(self, **kw: Any) -> FrameEnvelope:
        self.now += 1000
        base: dict[str, Any] = {
            "id": f"ev-{next(_event_ids):06d}",
            "ts": self.now,
            "station": self.station,
            "gw": self.gw,
            "conn": self.conn,
            "proto": self.proto,
        }
        base.update(kw)
        return FrameEnvelope(**base)

    def connect(self) -> FrameEnvelope:
        return self._env(dir="in", kind="connect")

    def disconnect(self) -> FrameEnvelope:
        return self._env(dir="in", kind="disconnect")

    def call(self, action: str, payload: Any, *, err: str = "", uid: str = "") -> FrameEnvelope:
        uid = uid or f"m{next(self._uids)}"
        frame = orjson.dumps([2, uid, action, payload]).decode()
        return self._env(dir="in", kind="call", uid=uid, action=action, frame=frame, err=err)

    def result(self, call: FrameEnvelope, payload: Any) -> FrameEnvelope:
        frame = orjson.dumps([3, call.uid, payload]).decode()
        return self._env(dir="out", kind="result", uid=call.uid, action=call.action, frame=frame)

    def csms_call(self, action: str, payload: Any, uid: str = "") -> FrameEnvelope:
        """A CALL the CSMS sent to the station (an operator command)."""
        uid = uid or f"cs{next(self._uids)}"
        frame = orjson.dumps([2, uid, action, payload]).decode()
        return self._env(dir="out", kind="call", uid=uid, action=action, frame=frame)

    def answer(self, call: FrameEnvelope, payload: Any) -> FrameEnvelope:
        """The station's CALLRESULT to a CSMS CALL (its envelope names the CALL's action)."""
        frame = orjson.dumps([3, call.uid, payload]).decode()
        return self._env(dir="in", kind="result", uid=call.uid, action=call.action, frame=frame)

    def error(self, call: FrameEnvelope, code: str = "InternalError") -> FrameEnvelope:
        frame = orjson.dumps([4, call.uid, code, "", {}]).decode()
        return self._env(dir="out", kind="error", uid=call.uid, action=call.action, frame=frame)


# --- OCPP 1.6J payloads --------------------------------------------------------------------


def boot16(
    vendor: str = "Alfen BV", model: str = "NG920", fw: str = "5.8.1", serial: str = "ACE0001"
) -> dict[str, Any]:
    return {
        "chargePointVendor": vendor,
        "chargePointModel": model,
        "firmwareVersion": fw,
        "chargePointSerialNumber": serial,
    }


def status16(
    connector_id: int, status: str, error_code: str = "NoError", ts: int | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "status": status,
        "errorCode": error_code,
    }
    if ts is not None:
        payload["timestamp"] = iso(ts)
    return payload


def start16(connector_id: int, id_tag: str, meter_start: int, ts: int) -> dict[str, Any]:
    return {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": meter_start,
        "timestamp": iso(ts),
    }


def start16_result(transaction_id: int, status: str = "Accepted") -> dict[str, Any]:
    return {"transactionId": transaction_id, "idTagInfo": {"status": status}}


def sv16(value: str, **kw: str) -> dict[str, Any]:
    """A 1.6 SampledValue (value is a string); kw: measurand, unit, context, phase, location,
    format."""
    return {"value": value, **kw}


def mv16(ts: int | str, *sampled: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": iso(ts) if isinstance(ts, int) else ts, "sampledValue": list(sampled)}


def meter_values16(
    connector_id: int, *meter_values: dict[str, Any], transaction_id: int | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"connectorId": connector_id, "meterValue": list(meter_values)}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


def stop16(
    transaction_id: int,
    meter_stop: int,
    ts: int,
    *,
    reason: str | None = None,
    id_tag: str | None = None,
    transaction_data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "transactionId": transaction_id,
        "meterStop": meter_stop,
        "timestamp": iso(ts),
    }
    if reason is not None:
        payload["reason"] = reason
    if id_tag is not None:
        payload["idTag"] = id_tag
    if transaction_data is not None:
        payload["transactionData"] = transaction_data
    return payload


# --- OCPP 2.0.1 payloads -------------------------------------------------------------------


def boot201(
    vendor: str = "ABB", model: str = "Terra AC", fw: str = "1.7.2", serial: str | None = "TAC-9"
) -> dict[str, Any]:
    station: dict[str, Any] = {"vendorName": vendor, "model": model, "firmwareVersion": fw}
    if serial is not None:
        station["serialNumber"] = serial
    return {"chargingStation": station, "reason": "PowerUp"}


def status201(evse_id: int, connector_id: int, status: str, ts: int) -> dict[str, Any]:
    return {
        "timestamp": iso(ts),
        "connectorStatus": status,
        "evseId": evse_id,
        "connectorId": connector_id,
    }


def sv201(
    value: float,
    *,
    measurand: str | None = None,
    unit: str | None = None,
    multiplier: int | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A 2.0.1 SampledValue: value is a number; kw are context/phase/location."""
    sampled: dict[str, Any] = {"value": value, **kw}
    if measurand is not None:
        sampled["measurand"] = measurand
    uom: dict[str, Any] = {}
    if unit is not None:
        uom["unit"] = unit
    if multiplier is not None:
        uom["multiplier"] = multiplier
    if uom:
        sampled["unitOfMeasure"] = uom
    return sampled


def mv201(ts: int, *sampled: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": iso(ts), "sampledValue": list(sampled)}


def meter_values201(evse_id: int, *meter_values: dict[str, Any]) -> dict[str, Any]:
    return {"evseId": evse_id, "meterValue": list(meter_values)}


def transaction_event(
    event_type: str,
    transaction_id: str,
    seq_no: int,
    ts: int,
    *,
    trigger: str = "MeterValuePeriodic",
    evse: tuple[int, int] | None = None,
    id_token: str | None = None,
    meter_values: list[dict[str, Any]] | None = None,
    stopped_reason: str | None = None,
    charging_state: str | None = None,
) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": transaction_id}
    if stopped_reason is not None:
        info["stoppedReason"] = stopped_reason
    if charging_state is not None:
        info["chargingState"] = charging_state
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": iso(ts),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
    }
    if evse is not None:
        payload["evse"] = {"id": evse[0], "connectorId": evse[1]}
    if id_token is not None:
        payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
    if meter_values is not None:
        payload["meterValue"] = meter_values
    return payload


# The Transaction fields every version fills (the 2.x-style ones are checked where they are set).
CORE_TX_FIELDS = (
    "key", "station", "transaction_id", "proto", "evse", "connector", "id_token", "state",
    "started_ms", "ended_ms", "meter_start_wh", "meter_stop_wh", "meter_start_ms",
    "meter_stop_ms", "energy_wh", "stop_reason", "updated_ms",
)  # fmt: skip
