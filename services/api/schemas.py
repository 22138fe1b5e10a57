"""Response models of the operator API: the contract the OpenAPI document publishes.

Times are ISO 8601 strings in UTC with millisecond precision (`2025-01-31T12:00:00.123Z`), or
null when the read model does not know them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from csms.protocol.enums import AuthorizationStatus
from services.api.params import STATION_ID_PATTERN

Protocol = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
TxState = Literal["active", "ended"]
RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]

IsoTime = Annotated[
    str | None,
    Field(
        description="ISO 8601, UTC, millisecond precision; null when unknown",
        json_schema_extra={"format": "date-time"},
        examples=["2025-01-31T12:00:00.123Z"],
    ),
]


class ErrorBody(BaseModel):
    """Every error the API returns, whatever the status code."""

    error: str = Field(description="machine-readable code", examples=["station_not_found"])
    detail: str = Field(description="human-readable explanation")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class StationSummary(BaseModel):
    id: str
    protocol: str | None = Field(description="negotiated OCPP version, e.g. ocpp1.6")
    online: bool
    last_seen: IsoTime
    vendor: str | None
    model: str | None
    firmware: str | None
    registration_status: RegistrationStatus | None = Field(
        default=None, description="admission in the station registry; null when not registered"
    )


class ConnectorView(BaseModel):
    connector_id: int
    status: str = Field(description="2.0.1 vocabulary, also for 1.6 stations")
    error_code: str | None
    updated: IsoTime


class EvseView(BaseModel):
    evse_id: int
    connectors: list[ConnectorView]


class StationStatus(BaseModel):
    """The status a station reports for itself (EVSE 0 / connector 0; 1.6 connectorId 0)."""

    status: str
    error_code: str | None
    updated: IsoTime


class StationDetail(StationSummary):
    serial: str | None
    gateway: str | None = Field(description="gateway instance holding the connection")
    connection_id: str | None
    has_password: bool = Field(
        default=False, description="whether Basic-auth credentials are set (never returned)"
    )
    boot_time: IsoTime
    connected_at: IsoTime
    disconnected_at: IsoTime
    station_status: StationStatus | None
    evses: list[EvseView] = Field(description="EVSEs ascending by id, each with its connectors")


class StationPage(BaseModel):
    items: list[StationSummary]
    limit: int
    offset: int | None = Field(description="offset of the first item; null in cursor mode")
    next_offset: int | None = Field(description="offset of the next page; null when last")
    next_cursor: str | None = Field(description="opaque cursor of the next page; null when last")
    total: int | None = Field(description="number of stations; null when filters apply")


class ChargingPeriod(BaseModel):
    state: str = Field(description="2.0.1 ChargingStateEnumType")
    start: IsoTime
    end: IsoTime = Field(description="null while it lasts")


class TransactionView(BaseModel):
    transaction_id: str
    station: str
    proto: str
    evse: int
    connector: int
    id_token: str | None
    state: TxState
    started: IsoTime
    ended: IsoTime
    meter_start_wh: float | None
    meter_stop_wh: float | None
    energy_wh: float
    stop_reason: str | None
    updated: IsoTime
    charging_state: str | None = Field(
        default=None, description="2.0.1 ChargingStateEnumType, latest (1.6: from its statuses)"
    )
    trigger_reason: str | None = Field(default=None, description="of the latest event")
    offline: bool = Field(default=False, description="some of it happened while offline")
    remote_start_id: int | None = None
    remote_start_uid: str | None = Field(
        default=None, description="message id of the CSMS's remote start CALL it answers"
    )
    closed_by: Literal["station", "policy"] | None = Field(
        default=None, description="who ended it: the station, or the CSMS's zombie policy"
    )
    flags: list[str] = Field(
        default_factory=list,
        description="no_start, stopped_twice, seq_gaps, offline, baseline_from_first_sample, "
        "meter_decreased, closed_by_policy, rebooted, remote_start",
    )
    charging_periods: list[ChargingPeriod] = Field(default_factory=list)
    missing_seq_nos: list[int] = Field(
        default_factory=list, description="2.x seqNos not received yet (gaps)"
    )


class TransactionPage(BaseModel):
    items: list[TransactionView] = Field(description="newest first (by start time)")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null when last")
    total: int | None = Field(description="number of transactions; null when `state` filters")


# --- API security, station registration, id tokens -------------------------------------------

RoleName = Literal["analyst", "operator", "admin"]
# Registration checks the whole rule itself, to answer `invalid_station_id` (services.api.params
# has the types that check it while parsing, for the ids that name an existing station).
StationIdField = Annotated[
    str,
    Field(
        min_length=1,
        max_length=48,
        pattern=STATION_ID_PATTERN,
        description="the station identity (last segment of its WebSocket URL)",
        examples=["CP-001"],
    ),
]
# OCPP passwords (2.0.1 BasicAuthPassword, 1.6 AuthorizationKey) have 16-40 characters.
StationPassword = Annotated[
    SecretStr, Field(min_length=16, max_length=40, description="16-40 characters; write-only")
]


# Bounds of a minted token's lifetime: under a minute is no use to anyone, and every token is
# rotated at least yearly (ADR 0028).
TOKEN_MIN_TTL_S = 60
TOKEN_MAX_TTL_S = 366 * 24 * 3600


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["ci-reporting"])
    role: RoleName
    expires_in_s: int | None = Field(
        default=None,
        ge=TOKEN_MIN_TTL_S,
        le=TOKEN_MAX_TTL_S,
        description="lifetime in seconds (60 s to 366 days); omitted: API_TOKEN_TTL_S (90 days)",
        examples=[30 * 24 * 3600],
    )


class ApiTokenView(BaseModel):
    name: str
    role: RoleName
    created: IsoTime
    expires: IsoTime = Field(default=None, description="when it stops working; null = never")
    expired: bool = Field(default=False, description="true once `expires` has passed")


class ApiTokenCreated(ApiTokenView):
    token: str = Field(description="the bearer token; shown once, never again")


class ApiTokenList(BaseModel):
    items: list[ApiTokenView] = Field(description="ordered by name; secrets are never listed")


class StationRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StationIdField
    status: RegistrationStatus = "Accepted"
    password: StationPassword | None = None


class StationPasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: StationPassword


class StationStatusSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: RegistrationStatus


class RegistrationView(BaseModel):
    """A station's entry in the registry; the password itself is never returned."""

    id: str
    status: RegistrationStatus
    has_password: bool
    created: IsoTime
    updated: IsoTime


# 2.0.1 IdTokenEnumType, plus the 2.1 additions (DirectPayment, EVCCID, VIN).
IdTokenType = Literal[
    "Central",
    "DirectPayment",
    "eMAID",
    "EVCCID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
    "VIN",
]
# Printable ASCII without space and '/', so a token is one path segment of /id-tokens/{token}.
IdTokenValue = Annotated[
    str, Field(min_length=1, max_length=255, pattern=r"^[!-.0-~]+$", examples=["04A2B3C4D5E6F7"])
]
GroupId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[!-~]+$")]
Expiry = Annotated[datetime, Field(description="ISO 8601; without an offset it is taken as UTC")]


class IdTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_token: IdTokenValue
    type: IdTokenType
    group_id: GroupId | None = None
    expiry: Expiry | None = None
    status: AuthorizationStatus = "Accepted"


class IdTokenUpdate(BaseModel):
    """Fields present are changed; `group_id` or `expiry` set to null are removed."""

    model_config = ConfigDict(extra="forbid")

    type: IdTokenType | None = None
    group_id: GroupId | None = None
    expiry: Expiry | None = None
    status: AuthorizationStatus | None = None


class IdTokenView(BaseModel):
    id_token: str
    type: str | None
    group_id: str | None
    expiry: IsoTime
    status: str
    created: IsoTime
    updated: IsoTime


class IdTokenPage(BaseModel):
    items: list[IdTokenView] = Field(description="ordered by id_token")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null when last")
    total: int | None = Field(description="number of id tokens; null when filters apply")


# --- device model ----------------------------------------------------------------------------

AttributeType = Literal["Actual", "Target", "MinSet", "MaxSet"]
ReportAction = Literal["NotifyReport", "NotifyMonitoringReport"]


class NodeStatus(BaseModel):
    """The latest status a station, EVSE or connector reported (StatusNotification, or a 2.x
    NotifyEvent of AvailabilityState)."""

    status: str = Field(description="as reported: 1.6 and 2.x vocabularies are kept verbatim")
    error_code: str | None = Field(description="1.6 errorCode; null for 2.x")
    info: str | None
    vendor_error_code: str | None
    updated: IsoTime
    source: str = Field(examples=["StatusNotification", "NotifyEvent"])


class FaultView(BaseModel):
    """An active fault of a node: a 1.6 errorCode or 2.x Faulted status, or a 2.x NotifyEvent
    (Problem variable, techCode, Alerting) not yet cleared."""

    code: str = Field(examples=["GroundFailure", "PE-LOST"])
    info: str | None
    since: IsoTime
    source: str = Field(examples=["StatusNotification", "NotifyEvent"])


class DeviceConnectorView(BaseModel):
    connector_id: int
    status: NodeStatus | None
    faults: list[FaultView]


class DeviceEvseView(BaseModel):
    evse_id: int
    status: NodeStatus | None = Field(description="EVSE-level availability (2.x)")
    faults: list[FaultView]
    connectors: list[DeviceConnectorView] = Field(description="ascending by id")


class AttributeView(BaseModel):
    type: AttributeType
    value: str | None
    mutability: str = Field(examples=["ReadWrite", "ReadOnly", "WriteOnly"])
    persistent: bool
    constant: bool
    updated: IsoTime
    source: str = Field(
        description="the message that told it",
        examples=["NotifyReport", "NotifyEvent", "GetConfiguration", "SetVariables"],
    )


class MonitorView(BaseModel):
    id: int
    type: str = Field(examples=["UpperThreshold", "Delta", "Periodic"])
    value: float
    severity: int
    transaction: bool


class EventView(BaseModel):
    """The last NotifyEvent eventData of a variable."""

    event_id: int
    timestamp: IsoTime
    trigger: str = Field(examples=["Alerting", "Delta", "Periodic"])
    actual_value: str
    notification_type: str | None
    cleared: bool
    tech_code: str | None
    tech_info: str | None
    cause: int | None
    transaction_id: str | None
    monitor_id: int | None


class VariableView(BaseModel):
    component: str
    component_instance: str | None
    variable: str
    variable_instance: str | None
    evse_id: int | None
    connector_id: int | None
    v16_key: str | None = Field(
        description="the OCPP 1.6 configuration key it was read from (1.6 stations); keys "
        "without a standard 2.x equivalent are variables of component OCPP16"
    )
    attributes: list[AttributeView] = Field(description="Actual, Target, MinSet, MaxSet")
    characteristics: dict[str, Any] = Field(
        description="variableCharacteristics: unit, dataType, minLimit, maxLimit, valuesList, "
        "supportsMonitoring"
    )
    monitors: list[MonitorView]
    last_event: EventView | None


class MetricView(BaseModel):
    """The latest sample outside a transaction of one measurand / phase / location."""

    evse_id: int = Field(description="0 = the station's main meter")
    connector_id: int
    measurand: str
    phase: str | None
    location: str | None
    value: float
    unit: str | None
    context: str | None
    timestamp: IsoTime


class ReportView(BaseModel):
    """The parts received of a multi-part report (a GetBaseReport / GetReport answer)."""

    action: ReportAction
    request_id: int
    seq_nos: list[int] = Field(description="parts received, by seqNo")
    complete: bool = Field(description="every part up to the last (tbc false) has arrived")
    generated: IsoTime


class DeviceModelView(BaseModel):
    """A station's device model: Station -> EVSE -> Connector tree with status, availability and
    active faults per node, its components/variables, metrics outside transactions and the
    progress of its reports. 1.6 stations are mapped: connector N is EVSE N / connector 1."""

    id: str
    protocol: str | None
    online: bool
    last_seen: IsoTime
    vendor: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    boot_time: IsoTime
    status: NodeStatus | None = Field(description="the station's own status (1.6 connector 0)")
    faults: list[FaultView] = Field(description="active faults of the station as a whole")
    evses: list[DeviceEvseView] = Field(description="ascending by id")
    variables: list[VariableView] = Field(
        description="ordered by component, instance, EVSE, connector, variable"
    )
    metrics: list[MetricView]
    reports: list[ReportView]
