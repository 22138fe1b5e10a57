"""Station answers -> one neutral answer per command, whatever the version said it in.

Every function gets the calls that were sent and the CALLRESULT payloads, in the same order, and
returns a JSON-able dict with at least `status`. The raw payloads are added by `neutral_result`.
Request payloads are never echoed back: they may hold secrets (e.g. a BasicAuthPassword).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from csms.commands.actions import OcppCall
from csms.commands.config_keys import V16_TO_V2, VariableRef, v16_name
from csms.protocol.versions import OcppVersion

Response = Mapping[str, Any]


def status_of(response: Response) -> dict[str, Any]:
    """`status` plus the 2.x statusInfo, flattened (reason code and free text)."""
    out: dict[str, Any] = {"status": response.get("status", "Accepted")}
    info = response.get("statusInfo")
    if isinstance(info, Mapping):
        out["reason"] = info.get("reasonCode")
        if "additionalInfo" in info:
            out["info"] = info["additionalInfo"]
    return out


def status_result(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    return status_of(responses[0])


def with_request_id(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    """For commands answered later by notifications carrying the requestId."""
    out = status_of(responses[0])
    request_id = calls[0].payload.get("requestId")
    if request_id is not None:
        out["request_id"] = request_id
    return out


def remote_start(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    out = status_of(responses[0])
    if v is not OcppVersion.V16:
        out["remote_start_id"] = calls[0].payload["remoteStartId"]
        # Set when the station had already started a transaction (e.g. cable plugged first).
        if "transactionId" in responses[0]:
            out["transaction_id"] = responses[0]["transactionId"]
    return out


def data_transfer(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    out = status_of(responses[0])
    if "data" in responses[0]:
        out["data"] = responses[0]["data"]
    return out


# --- configuration ---------------------------------------------------------------------------


def _v16_entry(key: str, value: Any, readonly: bool | None, status: str) -> dict[str, Any]:
    ref = V16_TO_V2.get(key)
    return {
        "key": key,
        "ocpp16_key": key,
        "ocpp2_key": ref.key if ref else None,
        "value": value,
        "readonly": readonly,
        "status": status,
    }


def _ref_of(data: Mapping[str, Any]) -> VariableRef:
    component, variable = data["component"], data["variable"]
    evse = component.get("evse") or {}
    return VariableRef(
        component["name"],
        variable["name"],
        component.get("instance"),
        variable.get("instance"),
        evse.get("id"),
        evse.get("connectorId"),
    )


def _v2_entry(data: Mapping[str, Any], status: str, value: Any) -> dict[str, Any]:
    ref = _ref_of(data)
    entry: dict[str, Any] = {
        "key": ref.key,
        "ocpp16_key": v16_name(ref),
        "ocpp2_key": ref.key,
        "value": value,
        "readonly": None,  # GetVariables does not say; the device model report does
        "status": status,
    }
    if ref.evse_id is not None:
        entry["evse_id"] = ref.evse_id
        if ref.connector_id is not None:
            entry["connector_id"] = ref.connector_id
    if "attributeType" in data:
        entry["attribute_type"] = data["attributeType"]
    info = data.get("attributeStatusInfo")
    if isinstance(info, Mapping):
        entry["reason"] = info.get("reasonCode")
    return entry


_UNKNOWN_2X = {"UnknownComponent", "UnknownVariable"}


def _v16_configuration(response: Response) -> dict[str, Any]:
    known = [
        _v16_entry(item["key"], item.get("value"), item.get("readonly"), "Accepted")
        for item in response.get("configurationKey", [])
    ]
    unknown = list(response.get("unknownKey", []))
    entries = known + [_v16_entry(k, None, None, "UnknownKey") for k in unknown]
    return {"status": "Accepted", "keys": entries, "unknown_keys": unknown}


def get_configuration(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    if v is OcppVersion.V16:
        return _v16_configuration(responses[0])
    entries = [
        _v2_entry(item, item["attributeStatus"], item.get("attributeValue"))
        for item in responses[0].get("getVariableResult", [])
    ]
    unknown = [e["key"] for e in entries if e["status"] in _UNKNOWN_2X]
    return {"status": "Accepted", "keys": entries, "unknown_keys": unknown}


def _overall(statuses: Sequence[str]) -> str:
    """Accepted if all were; RebootRequired if all were but some need a reboot; else Rejected."""
    if all(s == "Accepted" for s in statuses):
        return "Accepted"
    if all(s in ("Accepted", "RebootRequired") for s in statuses):
        return "RebootRequired"
    return "Rejected"


def set_configuration(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    if v is OcppVersion.V16:
        entries = [
            _v16_entry(call.payload["key"], None, None, resp["status"])
            for call, resp in zip(calls, responses, strict=True)
        ]
    else:
        entries = [
            _v2_entry(item, item["attributeStatus"], None)
            for item in responses[0].get("setVariableResult", [])
        ]
    for entry in entries:
        del entry["value"], entry["readonly"]  # a write answer has neither
    return {"status": _overall([e["status"] for e in entries]), "keys": entries}


def get_base_report(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    if v is OcppVersion.V16:
        # 1.6 answers with the keys themselves; 2.x follows up with NotifyReport(requestId).
        return _v16_configuration(responses[0])
    return with_request_id(calls, responses, v)


# --- others ----------------------------------------------------------------------------------


def get_composite_schedule(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    response = responses[0]
    out = status_of(response)
    if v is OcppVersion.V16:
        schedule = response.get("chargingSchedule")
        if schedule is None:
            return out
        start = response.get("scheduleStart", schedule.get("startSchedule"))
        evse = response.get("connectorId", calls[0].payload["connectorId"])
    else:
        schedule = response.get("schedule")
        if schedule is None:
            return out
        start, evse = schedule.get("scheduleStart"), schedule.get("evseId")
    out["schedule"] = {
        "evse_id": evse,
        "start": start,
        "duration": schedule.get("duration"),
        "charging_rate_unit": schedule.get("chargingRateUnit"),
        # Periods keep the version's fields (2.1 adds setpoints, discharge limits, ...).
        "periods": schedule.get("chargingSchedulePeriod", []),
    }
    return out


def get_log(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    response = responses[0]
    if calls[0].action == "GetDiagnostics":
        # 1.6 answers only with the file name it will upload; none means nothing to upload.
        name = response.get("fileName")
        if name is None:
            return {"status": "Rejected", "info": "no diagnostics information available"}
        return {"status": "Accepted", "filename": name}
    out = with_request_id(calls, responses, v)
    if "filename" in response:
        out["filename"] = response["filename"]
    return out


def update_firmware(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    # 1.6 UpdateFirmware.conf is empty: receipt is acceptance (status_of defaults to Accepted).
    if calls[0].action == "UpdateFirmware" and v is OcppVersion.V16:
        return status_of(responses[0])
    return with_request_id(calls, responses, v)


def get_local_list_version(
    calls: Sequence[OcppCall], responses: Sequence[Response], v: OcppVersion
) -> dict[str, Any]:
    field = "listVersion" if v is OcppVersion.V16 else "versionNumber"
    return {"status": "Accepted", "list_version": responses[0][field]}
