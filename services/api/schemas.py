"""Response models of the operator API: the contract the OpenAPI document publishes.

Times are ISO 8601 strings in UTC with millisecond precision (`2025-01-31T12:00:00.123Z`), or
null when the read model does not know them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Protocol = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
TxState = Literal["active", "ended"]

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


class TransactionPage(BaseModel):
    items: list[TransactionView] = Field(description="newest first (by start time)")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null when last")
    total: int | None = Field(description="number of transactions; null when `state` filters")
