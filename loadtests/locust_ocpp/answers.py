"""The Locust chargers' answers to CSMS-initiated CALLs (what they send is
loadtests.ocpp_payloads). Pure, so each answer is checked against the official JSON schemas by the
unit tests."""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.ocpp_payloads import V21, Payload, is_v16


@dataclass(frozen=True)
class CallErrorAnswer:
    """A CALLERROR the charger answers with (code from the OCPP-J error vocabulary)."""

    code: str
    description: str = ""


# What GetConfiguration / GetVariables report; everything else is unknown to these chargers.
CONFIG_16 = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}
VARIABLES_2X = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "300",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "60",
}
TRIGGERABLE = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})

_ACCEPTED = {"status": "Accepted"}


def _get_configuration(payload: Payload) -> Payload:
    keys = payload.get("key") or list(CONFIG_16)
    known = [{"key": k, "readonly": False, "value": CONFIG_16[k]} for k in keys if k in CONFIG_16]
    answer: Payload = {"configurationKey": known}
    unknown = [k for k in keys if k not in CONFIG_16]
    if unknown:
        answer["unknownKey"] = unknown
    return answer


def _get_variables(payload: Payload) -> Payload:
    results = []
    for item in payload.get("getVariableData", []):
        key = (item["component"]["name"], item["variable"]["name"])
        result: Payload = {"component": item["component"], "variable": item["variable"]}
        if key in VARIABLES_2X:
            result.update(attributeStatus="Accepted", attributeValue=VARIABLES_2X[key])
        else:
            result["attributeStatus"] = "UnknownVariable"
        results.append(result)
    return {"getVariableResult": results}


def _set_variables(payload: Payload) -> Payload:
    results = [
        {"attributeStatus": "Accepted", "component": i["component"], "variable": i["variable"]}
        for i in payload.get("setVariableData", [])
    ]
    return {"setVariableResult": results}


def _trigger(proto: str, payload: Payload) -> Payload:
    message = payload.get("requestedMessage", "")
    if message in TRIGGERABLE and (is_v16(proto) or message != "MeterValues"):
        return dict(_ACCEPTED)
    return {"status": "NotImplemented"}


def answer(proto: str, action: str, payload: Payload) -> Payload | CallErrorAnswer:
    """The charger's answer to a CSMS CALL; the side effects (reboot, session start/stop, the
    triggered message) are the charger's business, not this function's."""
    common: dict[str, Payload] = {
        "Reset": _ACCEPTED,
        "ChangeAvailability": _ACCEPTED,
        "ClearCache": _ACCEPTED,
        "UnlockConnector": {"status": "Unlocked"},
        "DataTransfer": {"status": "UnknownVendorId"},
    }
    if action in common:
        return dict(common[action])
    if action == "TriggerMessage":
        return _trigger(proto, payload)
    if is_v16(proto):
        v16: dict[str, Payload] = {
            "RemoteStartTransaction": _ACCEPTED,
            "RemoteStopTransaction": _ACCEPTED,
            "ChangeConfiguration": _ACCEPTED,
        }
        if action in v16:
            return dict(v16[action])
        if action == "GetConfiguration":
            return _get_configuration(payload)
    else:
        v2x: dict[str, Payload] = {
            "RequestStartTransaction": _ACCEPTED,
            "RequestStopTransaction": _ACCEPTED,
            "CostUpdated": {},
        }
        if proto == V21:
            v2x["SetDefaultTariff"] = _ACCEPTED
        if action in v2x:
            return dict(v2x[action])
        if action == "GetVariables":
            return _get_variables(payload)
        if action == "SetVariables":
            return _set_variables(payload)
    return CallErrorAnswer("NotImplemented", f"{action} is not implemented by this charger")
