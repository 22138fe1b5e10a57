"""Configuration and the device model: 1.6 keys and 2.x variables (get/set configuration),
base reports and reports."""

from __future__ import annotations

from typing import Any

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.config_keys import VariableRef, parse_dotted, v2_ref, v16_name
from csms.commands.errors import InvalidCommand, UnsupportedCommand
from csms.commands.translators.shapes import (
    V16,
    _call,
    _compact,
    _unsupported_if,
)
from csms.protocol.versions import OcppVersion


def _selector_ref(sel: m.VariableSelector) -> VariableRef:
    return VariableRef(
        sel.component,
        sel.variable,
        sel.component_instance,
        sel.variable_instance,
        sel.evse_id,
        sel.connector_id,
    )


def v16_key(command: str, version: OcppVersion, key: str | m.VariableSelector) -> str:
    """The 1.6 key name of a neutral key (text keys that are not mapped pass through as is)."""
    if isinstance(key, str):
        ref = parse_dotted(key)
        return (v16_name(ref) if ref else None) or key
    name = v16_name(_selector_ref(key))
    if name is None or key.attribute_type not in (None, "Actual"):
        raise InvalidCommand(command, version, f"{key.component}.{key.variable} has no 1.6 key")
    return name


def _v2_variable(
    command: str, version: OcppVersion, key: str | m.VariableSelector
) -> dict[str, Any]:
    """The 2.x {component, variable[, attributeType]} of a neutral key."""
    attribute = None
    if isinstance(key, str):
        ref = v2_ref(key)
        if ref is None:
            raise InvalidCommand(
                command,
                version,
                f"{key!r} is not a standard 1.6 key with a 2.x equivalent; "
                "write it as Component.Variable",
            )
    else:
        ref, attribute = _selector_ref(key), key.attribute_type
    evse = _compact(id=ref.evse_id, connectorId=ref.connector_id) if ref.evse_id else None
    component = _compact(name=ref.component, instance=ref.component_instance, evse=evse)
    variable = _compact(name=ref.variable, instance=ref.variable_instance)
    return _compact(component=component, variable=variable, attributeType=attribute)


def get_configuration(p: m.GetConfigurationCommand, v: OcppVersion) -> list[OcppCall]:
    name = "get-configuration"
    if v is V16:
        keys = [v16_key(name, v, k) for k in p.keys]
        return _call("GetConfiguration", key=keys or None)
    if not p.keys:
        raise UnsupportedCommand(
            name,
            v,
            "2.x cannot list every variable in one answer: name the keys, or use "
            "get-base-report (the station then sends NotifyReport)",
        )
    return _call("GetVariables", getVariableData=[_v2_variable(name, v, k) for k in p.keys])


def set_configuration(p: m.SetConfigurationCommand, v: OcppVersion) -> list[OcppCall]:
    name = "set-configuration"
    if v is V16:
        # 1.6 takes one key per ChangeConfiguration: one call per key, in the given order.
        return [
            OcppCall(
                "ChangeConfiguration", {"key": v16_key(name, v, item.key), "value": item.value}
            )
            for item in p.values
        ]
    data = [_v2_variable(name, v, item.key) | {"attributeValue": item.value} for item in p.values]
    return _call("SetVariables", setVariableData=data)


_BASE_REPORTS = {
    "configuration-inventory": "ConfigurationInventory",
    "full-inventory": "FullInventory",
    "summary-inventory": "SummaryInventory",
}


def get_base_report(p: m.GetBaseReportCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        # The nearest 1.6 has: every configuration key, answered in the response itself.
        _unsupported_if(
            p.report == "summary-inventory", "get-base-report", v, "1.6 has no summary inventory"
        )
        return _call("GetConfiguration")
    return _call("GetBaseReport", requestId=p.request_id, reportBase=_BASE_REPORTS[p.report])


def _report_selector(
    command: str, v: OcppVersion, sel: str | m.ComponentSelector
) -> dict[str, Any]:
    if isinstance(sel, str):
        ref = parse_dotted(sel)
        if ref is None:  # a bare component name
            return {"component": {"name": sel}}
        return _v2_variable(command, v, sel)
    evse = _compact(id=sel.evse_id, connectorId=sel.connector_id) if sel.evse_id else None
    component = _compact(name=sel.component, instance=sel.component_instance, evse=evse)
    variable = _compact(name=sel.variable, instance=sel.variable_instance) if sel.variable else None
    return _compact(component=component, variable=variable)


def get_report(p: m.GetReportCommand, v: OcppVersion) -> list[OcppCall]:
    name = "get-report"
    _unsupported_if(v is V16, name, v, "1.6 has no device model reports; use get-configuration")
    selectors = [_report_selector(name, v, s) for s in p.component_variables]
    return _call(
        "GetReport",
        requestId=p.request_id,
        componentVariable=selectors or None,
        componentCriteria=list(p.criteria) or None,
    )
