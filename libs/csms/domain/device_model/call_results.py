"""The station's answers to CSMS CALLs (inbound CALLRESULTs): 1.6 GetConfiguration /
ChangeConfiguration and 2.x GetVariables / SetVariables -> variables."""

from __future__ import annotations

from typing import Any

from csms.commands.config_keys import V16_TO_V2
from csms.domain.device_model.merge import _newer_attr, _ref_of, _variable_of
from csms.domain.device_model.model import DeviceModel
from csms.domain.device_model.parts import (
    _ATTRIBUTE_TYPES,
    V16_COMPONENT,
    Attribute,
    CallContext,
    Variable,
    variable_key,
)
from csms.domain.frames import OCPP2X, as_dict, as_list, as_str, inbound_result
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion


def _apply_result(m: DeviceModel, env: FrameEnvelope, call: CallContext | None) -> None:
    answer = inbound_result(env)
    if answer is None:
        return
    action = env.action or (call.action if call is not None else "")
    request = dict(call.payload) if call is not None and call.action == action else {}
    if env.proto == OcppVersion.V16:
        if action == "GetConfiguration":
            _get_configuration(m, env, answer)
        elif action == "ChangeConfiguration":
            _change_configuration(m, env, answer, request)
    elif env.proto in OCPP2X:
        if action == "GetVariables":
            _get_variables(m, env, answer)
        elif action == "SetVariables":
            _set_variables(m, env, answer, request)


def _v16_variable(m: DeviceModel, key: str) -> Variable:
    ref = V16_TO_V2.get(key)
    if ref is None:
        var = Variable(component=V16_COMPONENT, variable=key)
    else:
        var = Variable(
            component=ref.component,
            variable=ref.variable,
            component_instance=ref.component_instance or "",
            variable_instance=ref.variable_instance or "",
        )
    var = m.variables.setdefault(var.key, var)
    var.v16_key = key
    return var


def _get_configuration(m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any]) -> None:
    for raw in as_list(answer.get("configurationKey")):
        item = as_dict(raw)
        key = as_str(item.get("key"))
        if not key:
            continue
        value = item.get("value")
        var = _v16_variable(m, key)
        new = Attribute(
            value=value if isinstance(value, str) else None,
            mutability="ReadOnly" if item.get("readonly") is True else "ReadWrite",
            ts_ms=env.ts,
            received_ms=env.ts,
            event_id=env.id,
            source="GetConfiguration",
        )
        var.attributes["Actual"] = _newer_attr(var.attributes.get("Actual"), new)


def _change_configuration(
    m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any], request: dict[str, Any]
) -> None:
    key, value = as_str(request.get("key")), request.get("value")
    status = answer.get("status")
    if not key or not isinstance(value, str) or status not in ("Accepted", "RebootRequired"):
        return
    var = _v16_variable(m, key)
    # RebootRequired: the value only takes effect after a reboot, so it is the Target.
    kind = "Actual" if status == "Accepted" else "Target"
    old = var.attributes.get(kind)
    new = Attribute(
        value=value,
        mutability=old.mutability if old is not None else "ReadWrite",
        ts_ms=env.ts,
        received_ms=env.ts,
        event_id=env.id,
        source="ChangeConfiguration",
    )
    var.attributes[kind] = _newer_attr(old, new)


def _get_variables(m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any]) -> None:
    for raw in as_list(answer.get("getVariableResult")):
        item = as_dict(raw)
        value = item.get("attributeValue")
        if item.get("attributeStatus") != "Accepted" or not isinstance(value, str):
            continue
        var = _variable_of(m, item)
        if var is not None:
            _set_value(var, as_str(item.get("attributeType"), "Actual"), value, env, "GetVariables")


def _set_variables(
    m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any], request: dict[str, Any]
) -> None:
    asked = {
        _address(as_dict(d), as_str(as_dict(d).get("attributeType"), "Actual")): as_dict(d).get(
            "attributeValue"
        )
        for d in as_list(request.get("setVariableData"))
    }
    for raw in as_list(answer.get("setVariableResult")):
        item = as_dict(raw)
        kind = as_str(item.get("attributeType"), "Actual")
        value = asked.get(_address(item, kind))
        if item.get("attributeStatus") != "Accepted" or not isinstance(value, str):
            continue
        var = _variable_of(m, item)
        if var is not None:
            _set_value(var, kind, value, env, "SetVariables")


def _address(data: dict[str, Any], kind: str) -> str:
    ref = _ref_of(data)
    return "" if ref is None else f"{variable_key(*ref)}#{kind}"


def _set_value(var: Variable, kind: str, value: str, env: FrameEnvelope, source: str) -> None:
    if kind not in _ATTRIBUTE_TYPES:
        return
    old = var.attributes.get(kind)
    new = Attribute(value=value, ts_ms=env.ts, received_ms=env.ts, event_id=env.id, source=source)
    if old is not None:
        new.mutability, new.persistent, new.constant = old.mutability, old.persistent, old.constant
    var.attributes[kind] = _newer_attr(old, new)
