"""What the 1.6 inference keeps and yields: a connector's `ConnectorState` (JSON-serializable),
the `InferredEvent`s, the 2.0.1 charging-state names, and `event_record`, an event in the
neutral shape published on csms.transactions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from csms.protocol.versions import OcppVersion

# 2.0.1 ChargingStateEnumType
CHARGING = "Charging"
EV_CONNECTED = "EVConnected"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
IDLE = "Idle"


@dataclass(frozen=True, slots=True)
class InferredEvent:
    """One 2.0.1-style transaction event inferred from 1.6 frames."""

    station: str
    connector_id: int  # the 1.6 connectorId
    evse_id: int  # neutral model: 1.6 connector N is EVSE N / connector 1
    ts_ms: int  # the station's clock when the frame has one, else the gateway's
    trigger_reason: str  # 2.0.1 TriggerReasonEnumType
    charging_state: str  # 2.0.1 ChargingStateEnumType, after this event
    transaction_id: str | None
    source_uid: str  # the OCPP message uid of the frame that revealed it
    source_event_id: str  # the envelope id
    id_token: str = ""
    offline: bool = False
    inferred: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """What the fold knows about one 1.6 connector. Plain JSON types only (lives in Redis)."""

    station: str
    connector_id: int
    status: str = ""  # the last 1.6 status
    charging_state: str = IDLE
    plugged: bool = False
    transaction_id: str = ""
    tx_charged: bool = False  # the open transaction has been Charging at least once
    # Authorization outside a transaction: "" none, "held" waiting for a plug-in, "reported".
    auth: str = ""
    auth_ms: int = 0
    auth_uid: str = ""  # a pending Authorize CALL
    auth_tag: str = ""
    remote_start: bool = False  # a RemoteStartTransaction awaits its StartTransaction
    remote_ms: int = 0
    remote_stop: bool = False
    start_uid: str = ""  # a pending StartTransaction CALL
    start_ms: int = 0
    start_tag: str = ""
    connected_ms: int = 0
    seen: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # Flat fields: no need for dataclasses.asdict's recursive copy (hot path).
        d = {name: getattr(self, name) for name in _STATE_FIELDS}
        d["seen"] = list(self.seen)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConnectorState:
        """Inverse of to_dict; unknown keys (a newer writer's fields) are ignored."""
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        values["seen"] = tuple(values.get("seen", ()))
        return cls(**values)


_STATE_FIELDS = tuple(f.name for f in fields(ConnectorState))


def event_record(event: InferredEvent) -> dict[str, Any]:
    """An inferred event as published on csms.transactions, in the neutral event shape of
    csms.domain.transactions.neutral_event (1.6 connector N = EVSE N / connector 1)."""
    return {
        "type": "event",
        "id": f"{event.source_event_id}/{event.connector_id}/{event.trigger_reason}",
        "station": event.station,
        "proto": OcppVersion.V16.value,
        "evse": event.evse_id,
        "connector": 1,
        "transaction_id": event.transaction_id or "",
        "event_type": "",
        "trigger_reason": event.trigger_reason,
        "charging_state": event.charging_state,
        "ts_ms": event.ts_ms,
        "seq_no": None,
        "offline": event.offline,
        "id_token": event.id_token,
        "inferred": True,
        "source_event_id": event.source_event_id,
    }
