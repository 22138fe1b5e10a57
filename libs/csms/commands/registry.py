"""The neutral commands: one explicit table from name to model, versions, translator and result.

The API iterates COMMANDS to generate `POST /api/v1/stations/{id}/commands/{name}`, and
`command_table_markdown()` renders the same table for the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from csms.commands import models as m
from csms.commands import results as r
from csms.commands import translators as t
from csms.commands.actions import OcppCall
from csms.protocol.versions import OcppVersion

M = TypeVar("M", bound=BaseModel)
ResultFn = Callable[[Sequence[OcppCall], Sequence[Mapping[str, Any]], OcppVersion], dict[str, Any]]

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL = frozenset(OcppVersion)
ONLY_2X = frozenset({V201, V21})


@dataclass(frozen=True, slots=True)
class CommandSpec(Generic[M]):
    name: str  # the API path segment
    model: type[M]  # request body
    summary: str
    versions: frozenset[OcppVersion]  # versions with an equivalent (variants may still be refused)
    actions: Mapping[OcppVersion, str]  # OCPP action(s) per version, for docs
    translator: Callable[[M, OcppVersion], list[OcppCall]]
    result: ResultFn = r.status_result
    notes: str = ""


def _spec(
    name: str,
    model: type[M],
    summary: str,
    translator: Callable[[M, OcppVersion], list[OcppCall]],
    v16: str | None,
    v2x: str,
    v21: str | None = None,
    *,
    result: ResultFn = r.status_result,
    notes: str = "",
) -> CommandSpec[M]:
    actions = {V201: v2x, V21: v21 or v2x}
    if v16 is not None:
        actions[V16] = v16
    versions = frozenset(actions)
    return CommandSpec(name, model, summary, versions, actions, translator, result, notes)


_SPECS: list[CommandSpec[Any]] = [
    _spec(
        "reset",
        m.ResetCommand,
        "Reboot the station (or one EVSE on 2.x).",
        t.reset,
        "Reset",
        "Reset",
        notes="immediate = Hard / Immediate, on-idle = Soft / OnIdle (1.6 Soft stops "
        "transactions rather than waiting for them); evse_id and immediate-and-resume "
        "(2.1) are refused on versions without them.",
    ),
    _spec(
        "change-availability",
        m.ChangeAvailabilityCommand,
        "Make the station, an EVSE or a connector operative or inoperative.",
        t.change_availability,
        "ChangeAvailability",
        "ChangeAvailability",
        notes="1.6 connectorId 0 = station, N = EVSE N; 2.x evse {id, connectorId}.",
    ),
    _spec(
        "remote-start",
        m.RemoteStartCommand,
        "Start a transaction for an id token.",
        t.remote_start,
        "RemoteStartTransaction",
        "RequestStartTransaction",
        result=r.remote_start,
        notes="1.6 idTag = id_token.id (no type, no group token); remote_start_id generated "
        "when absent; charging_profile passes through in the version's own shape.",
    ),
    _spec(
        "remote-stop",
        m.RemoteStopCommand,
        "Stop a transaction.",
        t.remote_stop,
        "RemoteStopTransaction",
        "RequestStopTransaction",
        notes="1.6 transactionId must be a 32-bit integer.",
    ),
    _spec(
        "unlock-connector",
        m.UnlockConnectorCommand,
        "Unlock a connector's cable.",
        t.unlock_connector,
        "UnlockConnector",
        "UnlockConnector",
        notes="2.x connector defaults to 1.",
    ),
    _spec(
        "get-configuration",
        m.GetConfigurationCommand,
        "Read configuration keys / variables.",
        t.get_configuration,
        "GetConfiguration",
        "GetVariables",
        result=r.get_configuration,
        notes="Standard 1.6 keys are mapped to 2.x component/variable; an empty key list "
        "(all keys) is 1.6 only.",
    ),
    _spec(
        "set-configuration",
        m.SetConfigurationCommand,
        "Change configuration keys / variables.",
        t.set_configuration,
        "ChangeConfiguration (one per key)",
        "SetVariables",
        result=r.set_configuration,
        notes="1.6 gets one ChangeConfiguration per key, sent in order; overall status is "
        "Accepted, RebootRequired or Rejected, with each key's status.",
    ),
    _spec(
        "trigger-message",
        m.TriggerMessageCommand,
        "Ask the station to send a message now.",
        t.trigger_message,
        "TriggerMessage / ExtendedTriggerMessage",
        "TriggerMessage",
        notes="1.6: log-status-notification = DiagnosticsStatusNotification; "
        "sign-charging-station-certificate uses ExtendedTriggerMessage; 2.x-only messages "
        "are refused; sign-v2g20-certificate and custom-trigger are 2.1 only.",
    ),
    _spec(
        "clear-cache",
        m.ClearCacheCommand,
        "Clear the authorization cache.",
        t.clear_cache,
        "ClearCache",
        "ClearCache",
    ),
    _spec(
        "data-transfer",
        m.DataTransferCommand,
        "Send a vendor-specific message.",
        t.data_transfer,
        "DataTransfer",
        "DataTransfer",
        result=r.data_transfer,
        notes="1.6 data is a string: other JSON is sent as JSON text.",
    ),
    _spec(
        "get-composite-schedule",
        m.GetCompositeScheduleCommand,
        "Read the effective charging schedule.",
        t.get_composite_schedule,
        "GetCompositeSchedule",
        "GetCompositeSchedule",
        result=r.get_composite_schedule,
    ),
    _spec(
        "set-charging-profile",
        m.SetChargingProfileCommand,
        "Install a charging profile.",
        t.set_charging_profile,
        "SetChargingProfile",
        "SetChargingProfile",
        notes="Profile in the station version's own shape, checked by its schema.",
    ),
    _spec(
        "clear-charging-profile",
        m.ClearChargingProfileCommand,
        "Remove charging profiles by id or criteria.",
        t.clear_charging_profile,
        "ClearChargingProfile",
        "ClearChargingProfile",
        notes="ChargePointMaxProfile ↔ ChargingStationMaxProfile translated.",
    ),
    _spec(
        "reserve-now",
        m.ReserveNowCommand,
        "Reserve an EVSE (or any) for an id token.",
        t.reserve_now,
        "ReserveNow",
        "ReserveNow",
        notes="connector_type is 2.x only; group_id_token = 1.6 parentIdTag.",
    ),
    _spec(
        "cancel-reservation",
        m.CancelReservationCommand,
        "Cancel a reservation.",
        t.cancel_reservation,
        "CancelReservation",
        "CancelReservation",
    ),
    _spec(
        "update-firmware",
        m.UpdateFirmwareCommand,
        "Download and install firmware.",
        t.update_firmware,
        "UpdateFirmware / SignedUpdateFirmware",
        "UpdateFirmware",
        result=r.update_firmware,
        notes="1.6 with signature/certificate uses SignedUpdateFirmware (Security Whitepaper).",
    ),
    _spec(
        "get-log",
        m.GetLogCommand,
        "Upload diagnostics or security logs.",
        t.get_log,
        "GetDiagnostics / GetLog",
        "GetLog",
        result=r.get_log,
        notes="1.6 diagnostics = GetDiagnostics, security = GetLog (Security Whitepaper); "
        "data-collector is 2.1 only.",
    ),
    _spec(
        "send-local-list",
        m.SendLocalListCommand,
        "Replace or update the local authorization list.",
        t.send_local_list,
        "SendLocalList",
        "SendLocalList",
    ),
    _spec(
        "get-local-list-version",
        m.GetLocalListVersionCommand,
        "Read the local authorization list version.",
        t.get_local_list_version,
        "GetLocalListVersion",
        "GetLocalListVersion",
        result=r.get_local_list_version,
    ),
    _spec(
        "get-base-report",
        m.GetBaseReportCommand,
        "Ask for a predefined device model report.",
        t.get_base_report,
        "GetConfiguration (no keys)",
        "GetBaseReport",
        result=r.get_base_report,
        notes="1.6 answers configuration/full inventory synchronously with every key; "
        "2.x answers with NotifyReport(request_id); summary-inventory is 2.x only.",
    ),
    _spec(
        "get-report",
        m.GetReportCommand,
        "Ask for a filtered device model report.",
        t.get_report,
        None,
        "GetReport",
        result=r.with_request_id,
        notes="1.6 has no device model: use get-configuration.",
    ),
    _spec(
        "customer-information",
        m.CustomerInformationCommand,
        "Report and/or clear a customer's data.",
        t.customer_information,
        None,
        "CustomerInformation",
        result=r.with_request_id,
    ),
    _spec(
        "set-display-message",
        m.SetDisplayMessageCommand,
        "Show a message on the station's display.",
        t.set_display_message,
        None,
        "SetDisplayMessage",
    ),
    _spec(
        "get-display-messages",
        m.GetDisplayMessagesCommand,
        "Ask for the station's display messages.",
        t.get_display_messages,
        None,
        "GetDisplayMessages",
        result=r.with_request_id,
    ),
    _spec(
        "clear-display-message",
        m.ClearDisplayMessageCommand,
        "Remove a display message.",
        t.clear_display_message,
        None,
        "ClearDisplayMessage",
    ),
    _spec(
        "cost-updated",
        m.CostUpdatedCommand,
        "Send the running cost of a transaction.",
        t.cost_updated,
        None,
        "CostUpdated",
    ),
]

COMMANDS: Mapping[str, CommandSpec[Any]] = {spec.name: spec for spec in _SPECS}


def command_table_markdown() -> str:
    """The command table for the docs: name, action per version, notes."""
    lines = [
        "| command | OCPP 1.6 | OCPP 2.0.1 | OCPP 2.1 | notes |",
        "|---|---|---|---|---|",
    ]
    for spec in COMMANDS.values():
        cells = [spec.actions.get(v, "— (422)") for v in (V16, V201, V21)]
        lines.append(f"| `{spec.name}` | {' | '.join(cells)} | {spec.notes or spec.summary} |")
    return "\n".join(lines)
