"""Request bodies of the neutral commands (one model per command, snake_case, version-free).

The API uses these models as request bodies, so descriptions end up in OpenAPI. Constraints here are
the version-independent ones; limits that differ per version (1.6 idTag <= 20 chars, 2.0.1 idToken
<= 36, value lengths, enumerations) are checked by the version's schema after translation.
Ids that 2.x requires and the caller may omit (remoteStartId, requestId) are generated when the
model is built, so translation stays a pure function of the model.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from csms.protocol.enums import AuthorizationStatus


def new_request_id() -> int:
    """A positive 31-bit id for remoteStartId / requestId (fits every station's int32)."""
    return secrets.randbelow(2**31 - 2) + 1


class CommandModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _evse_id() -> Any:
    return Field(
        default=None,
        ge=0,
        description="EVSE id (0 or absent = the whole station). On 1.6, EVSE N is connector N.",
    )


def _connector_id() -> Any:
    return Field(
        default=None,
        ge=0,
        description="Connector id: within the EVSE on 2.x; on 1.6 the station-wide connector "
        "number (use it alone, or with evse_id and connector_id 1).",
    )


def _request_id() -> Any:
    return Field(
        default_factory=new_request_id,
        ge=0,
        description="requestId echoed by the station's follow-up notifications (generated if "
        "absent).",
    )


class IdToken(CommandModel):
    id: str = Field(min_length=1, max_length=255, description="The token value (1.6 idTag).")
    type: str = Field(
        default="ISO14443",
        min_length=1,
        max_length=20,
        description="2.x IdTokenType (ISO14443, ISO15693, eMAID, Central, KeyCode, Local, "
        "MacAddress, NoAuthorization); ignored by 1.6, which has no token types.",
    )


class VariableSelector(CommandModel):
    """A 2.x component/variable address; on 1.6 it must name a mapped standard key."""

    component: str = Field(min_length=1, max_length=50, examples=["OCPPCommCtrlr"])
    variable: str = Field(min_length=1, max_length=50, examples=["HeartbeatInterval"])
    component_instance: str | None = Field(default=None, max_length=50)
    variable_instance: str | None = Field(default=None, max_length=50)
    evse_id: int | None = Field(default=None, ge=0, description="EVSE of the component (2.x).")
    connector_id: int | None = Field(default=None, ge=0, description="Connector of the EVSE.")
    attribute_type: Literal["Actual", "Target", "MinSet", "MaxSet"] | None = Field(
        default=None, description="2.x attribute (default Actual); 1.6 has only the value."
    )


ConfigKey = Annotated[
    str | VariableSelector,
    Field(
        description="A 1.6 key name (`HeartbeatInterval`, mapped to 2.x where a standard mapping "
        "exists), a 2.x `Component.Variable` (`OCPPCommCtrlr.HeartbeatInterval`, optional "
        "`[instance]` suffixes), or a structured component/variable object.",
        examples=["HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval"],
    ),
]


# --- station ---------------------------------------------------------------------------------


class ResetCommand(CommandModel):
    """Reboot the station, or one EVSE (2.x)."""

    type: Literal["immediate", "on-idle", "immediate-and-resume"] = Field(
        default="on-idle",
        description="immediate = 1.6 Hard / 2.x Immediate; on-idle = 1.6 Soft / 2.x OnIdle; "
        "immediate-and-resume is 2.1 only.",
    )
    evse_id: int | None = Field(
        default=None, ge=0, description="Reset one EVSE only (2.x); 1.6 resets the station."
    )


class ChangeAvailabilityCommand(CommandModel):
    """Make the station, an EVSE or a connector (in)operative."""

    operative: bool = Field(description="true = Operative, false = Inoperative.")
    evse_id: int | None = _evse_id()
    connector_id: int | None = _connector_id()


class UnlockConnectorCommand(CommandModel):
    """Release the cable of a connector."""

    evse_id: int | None = _evse_id()
    connector_id: int | None = _connector_id()


class ClearCacheCommand(CommandModel):
    """Clear the station's authorization cache."""


class DataTransferCommand(CommandModel):
    """A vendor-specific message."""

    vendor_id: str = Field(min_length=1, max_length=255, description="Vendor, e.g. reverse DNS.")
    message_id: str | None = Field(default=None, max_length=50, description="Vendor message.")
    data: Any = Field(
        default=None,
        description="Any JSON on 2.x; on 1.6 (string only) non-string data is sent as JSON text.",
    )


# --- transactions and reservations -----------------------------------------------------------


class RemoteStartCommand(CommandModel):
    """Start a transaction for an id token (1.6 RemoteStart / 2.x RequestStart)."""

    id_token: IdToken
    group_id_token: IdToken | None = Field(default=None, description="2.x groupIdToken.")
    evse_id: int | None = Field(
        default=None,
        ge=1,
        description="EVSE to start on (1.6 connectorId); absent = station picks.",
    )
    charging_profile: dict[str, Any] | None = Field(
        default=None,
        description="Charging profile in the station version's own shape (1.6 ChargingProfile "
        "or 2.x ChargingProfileType), checked by that version's schema.",
    )
    remote_start_id: int = Field(
        default_factory=new_request_id,
        ge=0,
        description="2.x remoteStartId, echoed in the TransactionEvent (generated if absent).",
    )


class RemoteStopCommand(CommandModel):
    """Stop a transaction (1.6 RemoteStop / 2.x RequestStop)."""

    transaction_id: str = Field(
        min_length=1,
        max_length=36,
        description="The station's transaction id (1.6: must be an integer).",
    )


class ReserveNowCommand(CommandModel):
    """Reserve an EVSE (or any EVSE) for an id token."""

    reservation_id: int = Field(ge=0)
    expires_at: AwareDatetime = Field(description="When the reservation lapses.")
    id_token: IdToken
    group_id_token: IdToken | None = Field(default=None, description="1.6 parentIdTag.")
    evse_id: int | None = Field(default=None, ge=0, description="0 or absent = any EVSE.")
    connector_type: str | None = Field(
        default=None, max_length=20, description="2.x only: reserve any EVSE with this type."
    )


class CancelReservationCommand(CommandModel):
    """Cancel a reservation."""

    reservation_id: int = Field(ge=0)


# --- configuration ---------------------------------------------------------------------------


class GetConfigurationCommand(CommandModel):
    """Read configuration keys (1.6 GetConfiguration / 2.x GetVariables)."""

    keys: list[ConfigKey] = Field(
        default_factory=list,
        max_length=500,
        description="Keys to read; empty = every key (1.6 only: 2.x has no synchronous "
        "'all', use get-base-report).",
    )


class ConfigurationValue(CommandModel):
    """One key and its new value."""

    key: ConfigKey
    value: str = Field(max_length=2500, description="New value, as text (OCPP sends strings).")


class SetConfigurationCommand(CommandModel):
    """Change configuration keys (1.6 ChangeConfiguration / 2.x SetVariables)."""

    values: list[ConfigurationValue] = Field(
        min_length=1,
        max_length=500,
        description="Keys and values. 1.6 changes one key per call, so N keys become N "
        "ChangeConfiguration calls sent in order; 2.x sends one SetVariables.",
    )

    @model_validator(mode="after")
    def _unique_keys(self) -> SetConfigurationCommand:
        seen = [v.key if isinstance(v.key, str) else v.model_dump_json() for v in self.values]
        if len(seen) != len(set(seen)):
            raise ValueError("each key may appear once")
        return self


TriggerName = Literal[
    "boot-notification",
    "heartbeat",
    "meter-values",
    "status-notification",
    "firmware-status-notification",
    "log-status-notification",
    "sign-charging-station-certificate",
    "sign-v2g-certificate",
    "sign-v2g20-certificate",
    "sign-combined-certificate",
    "transaction-event",
    "publish-firmware-status-notification",
    "custom-trigger",
]


class TriggerMessageCommand(CommandModel):
    """Ask the station to send a message now."""

    message: TriggerName = Field(description="The message the station should send now.")
    evse_id: int | None = _evse_id()
    connector_id: int | None = _connector_id()
    custom_trigger: str | None = Field(
        default=None, max_length=50, description="2.1 only, with message custom-trigger."
    )

    @model_validator(mode="after")
    def _custom(self) -> TriggerMessageCommand:
        if (self.message == "custom-trigger") != (self.custom_trigger is not None):
            raise ValueError("custom_trigger goes with message custom-trigger, and only with it")
        return self


class GetBaseReportCommand(CommandModel):
    """Ask for a predefined device model report (1.6: every configuration key)."""

    report: Literal["configuration-inventory", "full-inventory", "summary-inventory"] = Field(
        default="full-inventory",
        description="2.x reportBase. 1.6 answers configuration/full inventory with every "
        "configuration key in the response itself (GetConfiguration without keys).",
    )
    request_id: int = _request_id()


class ComponentSelector(CommandModel):
    """A component, optionally one of its variables, to report on."""

    component: str = Field(min_length=1, max_length=50)
    component_instance: str | None = Field(default=None, max_length=50)
    evse_id: int | None = Field(default=None, ge=0)
    connector_id: int | None = Field(default=None, ge=0)
    variable: str | None = Field(default=None, max_length=50, description="Absent = all.")
    variable_instance: str | None = Field(default=None, max_length=50)


class GetReportCommand(CommandModel):
    """Ask for a filtered device model report (2.x)."""

    component_variables: list[str | ComponentSelector] = Field(
        default_factory=list,
        description="Components (`EVSE`, `OCPPCommCtrlr.HeartbeatInterval`, or objects) to "
        "report; empty = no filter.",
    )
    criteria: list[Literal["Active", "Available", "Enabled", "Problem"]] = Field(
        default_factory=list, max_length=4, description="componentCriteria; empty = no filter."
    )
    request_id: int = _request_id()


# --- smart charging --------------------------------------------------------------------------


class GetCompositeScheduleCommand(CommandModel):
    """Read the schedule that results from all installed profiles."""

    duration: int = Field(ge=1, description="Length of the requested schedule, seconds.")
    charging_rate_unit: Literal["A", "W"] | None = None
    evse_id: int = Field(default=0, ge=0, description="0 = the grid connection of the station.")


class SetChargingProfileCommand(CommandModel):
    """Install a charging profile (in the station version's own shape)."""

    evse_id: int = Field(ge=0, description="0 = station-wide (max / default profiles).")
    charging_profile: dict[str, Any] = Field(
        description="The profile in the station version's own shape (1.6 csChargingProfiles, "
        "2.x chargingProfile), checked by that version's schema."
    )


class ClearChargingProfileCommand(CommandModel):
    """Remove charging profiles by id or by criteria (none = all)."""

    profile_id: int | None = Field(default=None, description="Clear this profile only.")
    evse_id: int | None = Field(default=None, ge=0)
    purpose: str | None = Field(
        default=None,
        max_length=50,
        description="Profile purpose; ChargePointMaxProfile and ChargingStationMaxProfile are "
        "translated into each other, other values pass through to the schema.",
    )
    stack_level: int | None = Field(default=None, ge=0)


# --- firmware and diagnostics ----------------------------------------------------------------


class UpdateFirmwareCommand(CommandModel):
    """Download and install firmware (signed when signature is given)."""

    location: str = Field(min_length=1, max_length=2000, description="URI of the firmware.")
    retrieve_at: AwareDatetime = Field(description="Earliest time to download.")
    install_at: AwareDatetime | None = Field(default=None, description="Signed updates only.")
    retries: int | None = Field(default=None, ge=0)
    retry_interval: int | None = Field(default=None, ge=0, description="Seconds.")
    signing_certificate: str | None = Field(default=None, max_length=5500, description="PEM.")
    signature: str | None = Field(default=None, max_length=800, description="Base64.")
    request_id: int = _request_id()


class GetLogCommand(CommandModel):
    """Upload a log file (1.6 GetDiagnostics / 2.x GetLog)."""

    location: str = Field(min_length=1, max_length=2000, description="Upload URI.")
    log_type: Literal["diagnostics", "security", "data-collector"] = Field(
        default="diagnostics",
        description="diagnostics = 1.6 GetDiagnostics / 2.x DiagnosticsLog; security = 1.6 "
        "GetLog (Security Whitepaper) / 2.x SecurityLog; data-collector is 2.1 only.",
    )
    oldest: AwareDatetime | None = None
    latest: AwareDatetime | None = None
    retries: int | None = Field(default=None, ge=0)
    retry_interval: int | None = Field(default=None, ge=0)
    request_id: int = _request_id()


# --- local authorization list ----------------------------------------------------------------


class LocalListEntry(CommandModel):
    """One id token of the local authorization list."""

    id_token: IdToken
    status: AuthorizationStatus | None = Field(
        default=None,
        description="Absent = remove the token (differential update). 1.6 knows Accepted, "
        "Blocked, ConcurrentTx, Expired and Invalid.",
    )
    expires_at: AwareDatetime | None = None
    group_id_token: IdToken | None = Field(default=None, description="1.6 parentIdTag.")

    @model_validator(mode="after")
    def _info_needs_status(self) -> LocalListEntry:
        if self.status is None and (self.expires_at or self.group_id_token):
            raise ValueError("expires_at and group_id_token need a status")
        return self


class SendLocalListCommand(CommandModel):
    """Replace (full) or patch (differential) the local authorization list."""

    list_version: int = Field(ge=1, description="Version the list has after this update.")
    update_type: Literal["full", "differential"]
    entries: list[LocalListEntry] = Field(default_factory=list)


class GetLocalListVersionCommand(CommandModel):
    """Read the version of the station's local authorization list."""


# --- 2.x only --------------------------------------------------------------------------------


class CustomerCertificate(CommandModel):
    """The customer's certificate hash data (ISO 15118)."""

    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str = Field(max_length=128)
    issuer_key_hash: str = Field(max_length=128)
    serial_number: str = Field(max_length=40)


class CustomerInformationCommand(CommandModel):
    """Report and/or clear what the station stores about a customer (2.x)."""

    report: bool = Field(description="Send the customer's data (NotifyCustomerInformation).")
    clear: bool = Field(description="Delete the customer's data.")
    customer_identifier: str | None = Field(default=None, max_length=64)
    id_token: IdToken | None = None
    customer_certificate: CustomerCertificate | None = None
    request_id: int = _request_id()

    @model_validator(mode="after")
    def _one_customer(self) -> CustomerInformationCommand:
        given = [self.customer_identifier, self.id_token, self.customer_certificate]
        if sum(x is not None for x in given) != 1:
            raise ValueError(
                "name the customer by one of customer_identifier, id_token, certificate"
            )
        return self


DisplayState = Literal["Charging", "Faulted", "Idle", "Unavailable", "Suspended", "Discharging"]
DisplayPriority = Literal["AlwaysFront", "InFront", "NormalCycle"]


class SetDisplayMessageCommand(CommandModel):
    """Show a message on the station's display (2.x)."""

    id: int = Field(ge=0, description="Message id (replaces a message with the same id).")
    content: str = Field(min_length=1, max_length=1024)
    format: Literal["ASCII", "HTML", "URI", "UTF8", "QRCODE"] = Field(
        default="UTF8", description="QRCODE is 2.1 only."
    )
    language: str | None = Field(default=None, max_length=8, description="RFC 5646 code.")
    priority: DisplayPriority = "NormalCycle"
    state: DisplayState | None = Field(default=None, description="Suspended/Discharging: 2.1.")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    transaction_id: str | None = Field(default=None, max_length=36)


class GetDisplayMessagesCommand(CommandModel):
    """Ask for the display messages (answered by NotifyDisplayMessages, 2.x)."""

    ids: list[int] = Field(default_factory=list, description="Only these ids; empty = all.")
    priority: DisplayPriority | None = None
    state: DisplayState | None = None
    request_id: int = _request_id()


class ClearDisplayMessageCommand(CommandModel):
    """Remove a display message (2.x)."""

    id: int = Field(ge=0)


class CostUpdatedCommand(CommandModel):
    """Tell the station the running cost of a transaction (2.x)."""

    transaction_id: str = Field(min_length=1, max_length=36)
    total_cost: float = Field(description="Running cost incl. taxes, in the station's currency.")
