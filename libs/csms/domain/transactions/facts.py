"""The facts of the transaction fold: what one frame can say (`PendingStart`, `StartConfirmed`,
`PendingDropped`, `RemoteStartSent`, `StationSignal`, `TxUpdate`), the energy `Reading`, the
transaction key and the constants the other modules share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csms.domain.frames import as_int, as_number

ACTIVE = "active"
ENDED = "ended"
# OCPP 1.6 and 2.x: the stop reason "may only be omitted when the Reason is Local".
DEFAULT_STOP_REASON = "Local"
# How long a 1.6 StartTransaction CALL waits for its CALLRESULT. The two are adjacent in one
# partition, so this only bounds the leak when a gateway died between publishing them.
PENDING_TTL_S = 3600
# How long a CSMS remote start waits for the transaction it asked for (2.0.1 EVConnectionTimeOut
# is typically well under this).
REMOTE_START_TTL_S = 600
# A 1.6 start this much older than its arrival was queued while the station was offline.
OFFLINE_LAG_MS = 120_000
# No single charging session delivers this much energy (1 MWh): a 0 Wh start followed by such a
# reading is a lifetime register behind an unknown baseline.
PLAUSIBLE_SESSION_WH = 1_000_000.0
# Bounds on the lists a transaction keeps.
MAX_STATE_CHANGES = 500
MAX_STOPS = 8
MAX_LISTED_GAPS = 50


def tx_key(station: str, transaction_id: str) -> str:
    """Transaction key: 2.x ids are unique only per station, so the station is part of it."""
    return f"{station}/{transaction_id}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One energy-register reading in Wh, at the station's clock."""

    ts_ms: int
    wh: float


@dataclass(frozen=True, slots=True)
class PendingStart:
    """A 1.6 StartTransaction CALL awaiting the CALLRESULT that names its transactionId."""

    station: str
    conn: str
    uid: str
    proto: str
    connector_id: int
    id_tag: str
    meter_start_wh: float | None
    ts_ms: int
    event_id: str
    received_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": "StartTransaction",
            "station": self.station,
            "conn": self.conn,
            "uid": self.uid,
            "proto": self.proto,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "meter_start_wh": self.meter_start_wh,
            "ts_ms": self.ts_ms,
            "event_id": self.event_id,
            "received_ms": self.received_ms,
        }

    @classmethod
    def from_dict(cls, d: Any) -> PendingStart | None:
        """Parse what to_dict wrote; None for anything else (another writer's pending CALL)."""
        if not isinstance(d, dict) or d.get("action") != "StartTransaction":
            return None
        connector_id, ts_ms = as_int(d.get("connector_id")), as_int(d.get("ts_ms"))
        if connector_id is None or ts_ms is None:
            return None
        return cls(
            station=str(d.get("station", "")),
            conn=str(d.get("conn", "")),
            uid=str(d.get("uid", "")),
            proto=str(d.get("proto", "")),
            connector_id=connector_id,
            id_tag=str(d.get("id_tag", "")),
            meter_start_wh=as_number(d.get("meter_start_wh")),
            ts_ms=ts_ms,
            event_id=str(d.get("event_id", "")),
            received_ms=as_int(d.get("received_ms")) or 0,
        )

    @property
    def offline(self) -> bool:
        return self.received_ms - self.ts_ms > OFFLINE_LAG_MS


@dataclass(frozen=True, slots=True)
class StartConfirmed:
    """The CSMS's CALLRESULT to a 1.6 StartTransaction: the transactionId it allocated."""

    station: str
    conn: str
    uid: str
    proto: str
    transaction_id: str
    event_id: str
    received_ms: int


@dataclass(frozen=True, slots=True)
class PendingDropped:
    """The CSMS answered a 1.6 StartTransaction with a CALLERROR: no transaction was started."""

    station: str
    conn: str
    uid: str


@dataclass(frozen=True, slots=True)
class RemoteStartSent:
    """The CSMS asked the station to start a transaction (1.6 RemoteStartTransaction, 2.x
    RequestStartTransaction). `ref` is what the transaction will be recognised by: 2.x
    `remoteStartId` as text, 1.6 `tag:<idTag>`."""

    station: str
    ref: str
    uid: str
    connector_id: int | None
    ts_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": "RemoteStart",
            "station": self.station,
            "ref": self.ref,
            "uid": self.uid,
            "connector_id": self.connector_id,
            "ts_ms": self.ts_ms,
        }

    @classmethod
    def from_dict(cls, d: Any) -> RemoteStartSent | None:
        if not isinstance(d, dict) or d.get("action") != "RemoteStart":
            return None
        return cls(
            station=str(d.get("station", "")),
            ref=str(d.get("ref", "")),
            uid=str(d.get("uid", "")),
            connector_id=as_int(d.get("connector_id")),
            ts_ms=as_int(d.get("ts_ms")) or 0,
        )


@dataclass(frozen=True, slots=True)
class StationSignal:
    """A station-level fact that touches its active transactions: a BootNotification (`boot`),
    or a 1.6 connector status (`evse` and the 2.0.1 `charging_state` it means)."""

    station: str
    event_id: str
    received_ms: int
    ts_ms: int
    boot: bool = False
    evse: int = 0
    charging_state: str = ""


@dataclass(frozen=True, slots=True)
class TxUpdate:
    """What one frame says about one transaction, in neutral terms."""

    station: str
    transaction_id: str
    proto: str
    event_id: str
    received_ms: int  # the gateway's clock (envelope ts)
    ts_ms: int | None  # the station's clock for this fact; None when the frame has none
    evse: int | None = None
    connector: int | None = None
    id_token: str = ""
    ended: bool = False
    stop_reason: str = ""
    readings: tuple[Reading, ...] = ()
    event_type: str = ""  # Started | Updated | Ended (2.x; 1.6 start/meter/stop mapped)
    started: bool = False
    seq_no: int | None = None
    trigger_reason: str = ""
    charging_state: str = ""
    offline: bool = False
    remote_start_id: int | None = None
    remote_start_uid: str = ""
    boot_ms: int = 0
    policy_reason: str = ""
    activity: bool = True  # a frame of the transaction itself (not a station-wide signal)
    # Orders charging state and trigger when the fact has no transaction time of its own (a 1.6
    # status must not move the start); else ts_ms, else received_ms.
    state_ts_ms: int | None = None

    @property
    def key(self) -> str:
        return tx_key(self.station, self.transaction_id)


Fact = PendingStart | StartConfirmed | PendingDropped | RemoteStartSent | StationSignal | TxUpdate
