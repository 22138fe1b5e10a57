"""Station control: reset, availability, unlock, authorization cache, data transfer, and
TriggerMessage (TRIGGERS: which message each version can be asked to send)."""

from __future__ import annotations

import json

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.errors import InvalidCommand, UnsupportedCommand
from csms.commands.translators.shapes import (
    V16,
    V21,
    _call,
    _unsupported_if,
    v2_evse,
    v16_connector,
)
from csms.protocol.versions import OcppVersion

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
