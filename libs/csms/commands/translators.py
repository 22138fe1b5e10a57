"""One pure function per neutral command: (model, version) -> the CALLs for that version.

Each returns a list because one neutral command may need several calls (1.6 changes one
configuration key per ChangeConfiguration). Payloads are validated by `translate`, not here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.config_keys import VariableRef, parse_dotted, v2_ref, v16_name
from csms.commands.errors import InvalidCommand, UnsupportedCommand
from csms.protocol.versions import OcppVersion

V16 = OcppVersion.V16
V21 = OcppVersion.V21


# --- shared shapes ---------------------------------------------------------------------------


def ocpp_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`: the form 1.6 firmwares parse most reliably."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _opt_dt(value: datetime | None) -> str | None:
    return None if value is None else ocpp_datetime(value)


def _compact(**fields: Any) -> dict[str, Any]:
    """A payload without the optional fields the caller left out (OCPP forbids nulls)."""
    return {k: v for k, v in fields.items() if v is not None}


def _call(action: str, **fields: Any) -> list[OcppCall]:
    return [OcppCall(action, _compact(**fields))]


def v16_connector(
    command: str, version: OcppVersion, evse_id: int | None, connector_id: int | None
) -> int:
    """The 1.6 connectorId of a neutral EVSE/connector pair (0 = the whole station).

    The neutral model maps 1.6 connector N onto EVSE N, connector 1, so a connector other than 1
    of an EVSE has no 1.6 name. A connector_id alone is taken as the 1.6 connector number.
    """
    if evse_id is None:
        return connector_id or 0
    if connector_id is None or connector_id == 1 or (evse_id == 0 and connector_id == 0):
        return evse_id
    raise InvalidCommand(
        command,
        version,
        f"connector {connector_id} of EVSE {evse_id} has no 1.6 connectorId "
        "(1.6 connector N is EVSE N): give evse_id or connector_id alone",
    )


def v2_evse(
    command: str, version: OcppVersion, evse_id: int | None, connector_id: int | None
) -> dict[str, Any] | None:
    """The 2.x EVSEType of a neutral pair; None for the whole station (absent or EVSE 0)."""
    if evse_id is None or evse_id == 0:
        if connector_id:
            raise InvalidCommand(command, version, "a connector_id needs its evse_id in 2.x")
        return None
    return _compact(id=evse_id, connectorId=connector_id)


def _id_token(token: m.IdToken) -> dict[str, Any]:
    return {"idToken": token.id, "type": token.type}


def _opt_id_token(token: m.IdToken | None) -> dict[str, Any] | None:
    return None if token is None else _id_token(token)


def _unsupported_if(condition: object, command: str, version: OcppVersion, why: str) -> None:
    if condition:
        raise UnsupportedCommand(command, version, why)


# --- station ---------------------------------------------------------------------------------

_RESET_2X = {
    "immediate": "Immediate",
    "on-idle": "OnIdle",
    "immediate-and-resume": "ImmediateAndResume",
}


def reset(p: m.ResetCommand, v: OcppVersion) -> list[OcppCall]:
    resume = p.type == "immediate-and-resume"
    _unsupported_if(resume and v is not V21, "reset", v, "immediate-and-resume is new in 2.1")
    if v is V16:
        _unsupported_if(p.evse_id, "reset", v, "1.6 resets the whole station only (no evse_id)")
        return _call("Reset", type="Hard" if p.type == "immediate" else "Soft")
    return _call("Reset", type=_RESET_2X[p.type], evseId=p.evse_id or None)


def change_availability(p: m.ChangeAvailabilityCommand, v: OcppVersion) -> list[OcppCall]:
    status = "Operative" if p.operative else "Inoperative"
    name = "change-availability"
    if v is V16:
        connector = v16_connector(name, v, p.evse_id, p.connector_id)
        return _call("ChangeAvailability", connectorId=connector, type=status)
    evse = v2_evse(name, v, p.evse_id, p.connector_id)
    return _call("ChangeAvailability", operationalStatus=status, evse=evse)


def unlock_connector(p: m.UnlockConnectorCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        connector = v16_connector("unlock-connector", v, p.evse_id, p.connector_id)
        if connector < 1:
            raise InvalidCommand("unlock-connector", v, "give the connector to unlock (>= 1)")
        return _call("UnlockConnector", connectorId=connector)
    if not p.evse_id:
        raise InvalidCommand("unlock-connector", v, "give the evse_id (>= 1) to unlock")
    # Most EVSEs have one connector: connector 1 unless told otherwise.
    return _call("UnlockConnector", evseId=p.evse_id, connectorId=p.connector_id or 1)


def clear_cache(_: m.ClearCacheCommand, v: OcppVersion) -> list[OcppCall]:
    return _call("ClearCache")


def data_transfer(p: m.DataTransferCommand, v: OcppVersion) -> list[OcppCall]:
    data = p.data
    if v is V16 and data is not None and not isinstance(data, str):
        # 1.6 carries data as a string; vendors that exchange JSON put JSON text in it.
        data = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return _call("DataTransfer", vendorId=p.vendor_id, messageId=p.message_id, data=data)


# --- transactions and reservations -----------------------------------------------------------

_INT32 = range(-(2**31), 2**31)


def remote_start(p: m.RemoteStartCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        _unsupported_if(p.group_id_token, "remote-start", v, "1.6 has no group id token here")
        return _call(
            "RemoteStartTransaction",
            idTag=p.id_token.id,
            connectorId=p.evse_id,
            chargingProfile=p.charging_profile,
        )
    return _call(
        "RequestStartTransaction",
        idToken=_id_token(p.id_token),
        remoteStartId=p.remote_start_id,
        evseId=p.evse_id,
        groupIdToken=_opt_id_token(p.group_id_token),
        chargingProfile=p.charging_profile,
    )


def remote_stop(p: m.RemoteStopCommand, v: OcppVersion) -> list[OcppCall]:
    if v is not V16:
        return _call("RequestStopTransaction", transactionId=p.transaction_id)
    text = p.transaction_id.strip()
    if re.fullmatch(r"-?[0-9]+", text) is None or int(text) not in _INT32:
        raise InvalidCommand(
            "remote-stop", v, f"transaction_id must be a 32-bit integer, got {p.transaction_id!r}"
        )
    return _call("RemoteStopTransaction", transactionId=int(text))


def reserve_now(p: m.ReserveNowCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        _unsupported_if(p.connector_type, "reserve-now", v, "1.6 cannot reserve by connector type")
        return _call(
            "ReserveNow",
            connectorId=p.evse_id or 0,
            expiryDate=ocpp_datetime(p.expires_at),
            idTag=p.id_token.id,
            parentIdTag=p.group_id_token.id if p.group_id_token else None,
            reservationId=p.reservation_id,
        )
    return _call(
        "ReserveNow",
        id=p.reservation_id,
        expiryDateTime=ocpp_datetime(p.expires_at),
        idToken=_id_token(p.id_token),
        evseId=p.evse_id or None,
        groupIdToken=_opt_id_token(p.group_id_token),
        connectorType=p.connector_type,
    )


def cancel_reservation(p: m.CancelReservationCommand, v: OcppVersion) -> list[OcppCall]:
    return _call("CancelReservation", reservationId=p.reservation_id)


# --- configuration ---------------------------------------------------------------------------


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


# neutral name -> (1.6 action, 1.6 requestedMessage) | None, 2.0.1 name | None, 2.1 name | None
TRIGGERS: dict[str, tuple[tuple[str, str] | None, str | None, str | None]] = {
    "boot-notification": (
        ("TriggerMessage", "BootNotification"),
        "BootNotification",
        "BootNotification",
    ),
    "heartbeat": (("TriggerMessage", "Heartbeat"), "Heartbeat", "Heartbeat"),
    "meter-values": (("TriggerMessage", "MeterValues"), "MeterValues", "MeterValues"),
    "status-notification": (
        ("TriggerMessage", "StatusNotification"),
        "StatusNotification",
        "StatusNotification",
    ),
    "firmware-status-notification": (
        ("TriggerMessage", "FirmwareStatusNotification"),
        "FirmwareStatusNotification",
        "FirmwareStatusNotification",
    ),
    # get-log on 1.6 is GetDiagnostics, whose progress is DiagnosticsStatusNotification.
    "log-status-notification": (
        ("TriggerMessage", "DiagnosticsStatusNotification"),
        "LogStatusNotification",
        "LogStatusNotification",
    ),
    "sign-charging-station-certificate": (
        ("ExtendedTriggerMessage", "SignChargePointCertificate"),
        "SignChargingStationCertificate",
        "SignChargingStationCertificate",
    ),
    "sign-v2g-certificate": (None, "SignV2GCertificate", "SignV2GCertificate"),
    "sign-v2g20-certificate": (None, None, "SignV2G20Certificate"),
    "sign-combined-certificate": (None, "SignCombinedCertificate", "SignCombinedCertificate"),
    "transaction-event": (None, "TransactionEvent", "TransactionEvent"),
    "publish-firmware-status-notification": (
        None,
        "PublishFirmwareStatusNotification",
        "PublishFirmwareStatusNotification",
    ),
    "custom-trigger": (None, None, "CustomTrigger"),
}


def trigger_message(p: m.TriggerMessageCommand, v: OcppVersion) -> list[OcppCall]:
    name = "trigger-message"
    v16, v201, v21 = TRIGGERS[p.message]
    if v is V16:
        if v16 is None:
            raise UnsupportedCommand(name, v, f"1.6 cannot trigger {p.message}")
        action, requested = v16
        connector = v16_connector(name, v, p.evse_id, p.connector_id)
        return _call(action, requestedMessage=requested, connectorId=connector or None)
    requested_2x = v21 if v is V21 else v201
    if requested_2x is None:
        raise UnsupportedCommand(name, v, f"{p.message} is new in 2.1")
    evse = v2_evse(name, v, p.evse_id, p.connector_id)
    return _call(
        "TriggerMessage", requestedMessage=requested_2x, evse=evse, customTrigger=p.custom_trigger
    )


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


# --- smart charging --------------------------------------------------------------------------


def get_composite_schedule(p: m.GetCompositeScheduleCommand, v: OcppVersion) -> list[OcppCall]:
    where = {"connectorId": p.evse_id} if v is V16 else {"evseId": p.evse_id}
    return _call(
        "GetCompositeSchedule", duration=p.duration, chargingRateUnit=p.charging_rate_unit, **where
    )


def set_charging_profile(p: m.SetChargingProfileCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        return _call(
            "SetChargingProfile", connectorId=p.evse_id, csChargingProfiles=p.charging_profile
        )
    return _call("SetChargingProfile", evseId=p.evse_id, chargingProfile=p.charging_profile)


# The one purpose 1.6 and 2.x name differently; the others are spelled alike.
_PURPOSE_TO_V16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
_PURPOSE_TO_V2 = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}


def clear_charging_profile(p: m.ClearChargingProfileCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        purpose = _PURPOSE_TO_V16.get(p.purpose or "", p.purpose)
        return _call(
            "ClearChargingProfile",
            id=p.profile_id,
            connectorId=p.evse_id,
            chargingProfilePurpose=purpose,
            stackLevel=p.stack_level,
        )
    purpose = _PURPOSE_TO_V2.get(p.purpose or "", p.purpose)
    criteria = _compact(evseId=p.evse_id, chargingProfilePurpose=purpose, stackLevel=p.stack_level)
    return _call(
        "ClearChargingProfile",
        chargingProfileId=p.profile_id,
        chargingProfileCriteria=criteria or None,
    )


# --- firmware and diagnostics ----------------------------------------------------------------


def update_firmware(p: m.UpdateFirmwareCommand, v: OcppVersion) -> list[OcppCall]:
    signed = p.signature is not None or p.signing_certificate is not None
    firmware = _compact(
        location=p.location,
        retrieveDateTime=ocpp_datetime(p.retrieve_at),
        installDateTime=_opt_dt(p.install_at),
        signingCertificate=p.signing_certificate,
        signature=p.signature,
    )
    if v is V16 and not signed:
        _unsupported_if(
            p.install_at, "update-firmware", v, "install_at needs a signed update on 1.6"
        )
        return _call(
            "UpdateFirmware",
            location=p.location,
            retrieveDate=ocpp_datetime(p.retrieve_at),
            retries=p.retries,
            retryInterval=p.retry_interval,
        )
    # Signed 1.6 updates use SignedUpdateFirmware (Security Whitepaper): the 2.x shape.
    action = "SignedUpdateFirmware" if v is V16 else "UpdateFirmware"
    return _call(
        action,
        requestId=p.request_id,
        firmware=firmware,
        retries=p.retries,
        retryInterval=p.retry_interval,
    )


_LOG_TYPES = {
    "diagnostics": "DiagnosticsLog",
    "security": "SecurityLog",
    "data-collector": "DataCollectorLog",
}


def get_log(p: m.GetLogCommand, v: OcppVersion) -> list[OcppCall]:
    _unsupported_if(
        p.log_type == "data-collector" and v is not V21,
        "get-log",
        v,
        "data-collector logs are new in 2.1",
    )
    if v is V16 and p.log_type == "diagnostics":
        return _call(
            "GetDiagnostics",
            location=p.location,
            retries=p.retries,
            retryInterval=p.retry_interval,
            startTime=_opt_dt(p.oldest),
            stopTime=_opt_dt(p.latest),
        )
    # 2.x GetLog, and 1.6 security logs through the Security Whitepaper's GetLog (same shape).
    log = _compact(
        remoteLocation=p.location,
        oldestTimestamp=_opt_dt(p.oldest),
        latestTimestamp=_opt_dt(p.latest),
    )
    return _call(
        "GetLog",
        log=log,
        logType=_LOG_TYPES[p.log_type],
        requestId=p.request_id,
        retries=p.retries,
        retryInterval=p.retry_interval,
    )


# --- local authorization list ----------------------------------------------------------------


def _v16_list_entry(e: m.LocalListEntry) -> dict[str, Any]:
    info = None
    if e.status is not None:
        parent = e.group_id_token.id if e.group_id_token else None
        info = _compact(status=e.status, expiryDate=_opt_dt(e.expires_at), parentIdTag=parent)
    return _compact(idTag=e.id_token.id, idTagInfo=info)


def _v2_list_entry(e: m.LocalListEntry) -> dict[str, Any]:
    info = None
    if e.status is not None:
        info = _compact(
            status=e.status,
            cacheExpiryDateTime=_opt_dt(e.expires_at),
            groupIdToken=_opt_id_token(e.group_id_token),
        )
    return _compact(idToken=_id_token(e.id_token), idTokenInfo=info)


def send_local_list(p: m.SendLocalListCommand, v: OcppVersion) -> list[OcppCall]:
    update = "Full" if p.update_type == "full" else "Differential"
    if v is V16:
        entries = [_v16_list_entry(e) for e in p.entries]
        # A full update with no entries clears the list: say so with an explicit empty list
        # (1.6 allows it; 2.x requires the field to be left out instead).
        return _call(
            "SendLocalList",
            listVersion=p.list_version,
            updateType=update,
            localAuthorizationList=entries if entries or update == "Full" else None,
        )
    entries = [_v2_list_entry(e) for e in p.entries]
    return _call(
        "SendLocalList",
        versionNumber=p.list_version,
        updateType=update,
        localAuthorizationList=entries or None,
    )


def get_local_list_version(_: m.GetLocalListVersionCommand, v: OcppVersion) -> list[OcppCall]:
    return _call("GetLocalListVersion")


# --- 2.x only --------------------------------------------------------------------------------


def _only_2x(command: str, v: OcppVersion) -> None:
    _unsupported_if(v is V16, command, v, "OCPP 1.6 has no equivalent")


def customer_information(p: m.CustomerInformationCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("customer-information", v)
    cert = p.customer_certificate
    certificate = (
        None
        if cert is None
        else {
            "hashAlgorithm": cert.hash_algorithm,
            "issuerNameHash": cert.issuer_name_hash,
            "issuerKeyHash": cert.issuer_key_hash,
            "serialNumber": cert.serial_number,
        }
    )
    return _call(
        "CustomerInformation",
        requestId=p.request_id,
        report=p.report,
        clear=p.clear,
        customerIdentifier=p.customer_identifier,
        idToken=_opt_id_token(p.id_token),
        customerCertificate=certificate,
    )


def set_display_message(p: m.SetDisplayMessageCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("set-display-message", v)
    message = _compact(
        id=p.id,
        priority=p.priority,
        state=p.state,
        startDateTime=_opt_dt(p.starts_at),
        endDateTime=_opt_dt(p.ends_at),
        transactionId=p.transaction_id,
        message=_compact(format=p.format, language=p.language, content=p.content),
    )
    return _call("SetDisplayMessage", message=message)


def get_display_messages(p: m.GetDisplayMessagesCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("get-display-messages", v)
    return _call(
        "GetDisplayMessages",
        requestId=p.request_id,
        id=list(p.ids) or None,
        priority=p.priority,
        state=p.state,
    )


def clear_display_message(p: m.ClearDisplayMessageCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("clear-display-message", v)
    return _call("ClearDisplayMessage", id=p.id)


def cost_updated(p: m.CostUpdatedCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("cost-updated", v)
    return _call("CostUpdated", totalCost=p.total_cost, transactionId=p.transaction_id)
