"""The protocol-neutral domain model: the one vocabulary for 1.6, 2.0.1 and 2.1 stations.

1.6 stations are mapped onto the three-tier model: connector N of a 1.6 station is EVSE N,
connector 1; 1.6 connectorId 0 (the whole station) is EVSE 0, connector 0.
Pure data: no I/O library is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value, flattened from any version's MeterValues / TransactionEvent /
    StopTransaction.transactionData. `value` is in `unit` after applying the 2.x multiplier."""

    ts_ms: int
    station: str
    evse: int
    connector: int
    transaction_id: str
    measurand: str
    phase: str
    location: str
    unit: str
    value: float
    context: str
    proto: str
    event_id: str
    sample_index: int


@dataclass(slots=True)
class Transaction:
    """A charging session, whatever version the station speaks.

    `key` is `<station>/<transaction_id>`: 1.6 ids are integers allocated by the CSMS, 2.x ids
    are strings chosen by the station and unique only per station.
    `meter_start_wh` / `meter_stop_wh` are the earliest / latest Energy.Active.Import.Register
    readings (station clock in `meter_start_ms` / `meter_stop_ms`); while the transaction is
    active `meter_stop_wh` is the latest reading so far. See csms.domain.transactions.
    """

    key: str
    station: str
    transaction_id: str
    proto: str
    evse: int = 0
    connector: int = 0
    id_token: str = ""
    state: str = "active"  # active | ended
    started_ms: int = 0
    ended_ms: int = 0
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    meter_start_ms: int = 0
    meter_stop_ms: int = 0
    energy_wh: float = 0.0
    stop_reason: str = ""
    updated_ms: int = 0
    # The envelope that last changed this transaction: when exactly that frame is redelivered,
    # its snapshot is published again, since a crash may have lost it after Redis was written.
    last_event_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transaction:
        """Inverse of to_dict; unknown keys (a newer writer's fields) are ignored."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """The last reported status of one EVSE/connector (EVSE 0/connector 0 = the station)."""

    station: str
    evse: int
    connector: int
    status: str
    error_code: str
    ts_ms: int
    proto: str
    event_id: str
