"""OCPP-J frames as text, built with orjson: no `ocpp` package objects in the hot loop. The
payloads are loadtests.ocpp_payloads' (one builder for the swarm and the Locust users)."""

from __future__ import annotations

from typing import Any

import orjson


def call(uid: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([2, uid, action, payload]).decode()


def result(uid: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([3, uid, payload]).decode()


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
