"""The protocol-neutral domain model: the one vocabulary for 1.6, 2.0.1 and 2.1 stations.

1.6 stations are mapped onto the three-tier model: connector N of a 1.6 station is EVSE N,
connector 1; 1.6 connectorId 0 (the whole station) is EVSE 0, connector 0.
Pure data: no I/O library is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
    `meter_start_wh` / `meter_stop_wh` are the baseline / latest Energy.Active.Import.Register
    readings (station clock in `meter_start_ms` / `meter_stop_ms`); while the transaction is
    active `meter_stop_wh` is the latest reading so far. The baseline is the earliest reading,
    except a 0 Wh start that cannot be a real baseline (see csms.domain.transactions).
    Lists are kept sorted and bounded so that the fold stays a monotone merge.
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
    stop_reason: str = ""  # the station's reason, else the policy's
    updated_ms: int = 0
    # The envelope that last changed this transaction: when exactly that frame is redelivered,
    # its snapshot is published again, since a crash may have lost it after Redis was written.
    last_event_id: str = ""
    # How many times the fold changed it (set by `advance`, like last_event_id): orders the
    # snapshots of one transaction, so a redelivered older one never overwrites a newer one.
    revision: int = 0
    # --- what 2.x says (1.6: inferred from StatusNotification) -------------------------------
    charging_state: str = ""  # 2.0.1 ChargingStateEnumType, the latest by station time
    trigger_reason: str = ""  # 2.0.1 TriggerReasonEnumType of the latest event
    trigger_ms: int = 0
    offline: bool = False  # some of it happened while the station was offline
    seq_ranges: list[list[int]] = field(default_factory=list)  # 2.x seqNos seen, [first, last]
    state_changes: list[list[Any]] = field(default_factory=list)  # [ts_ms, charging_state]
    remote_start_id: int | None = None  # 2.x remoteStartId
    remote_start_uid: str = ""  # message id of the CSMS's Remote/RequestStartTransaction CALL
    # --- how it was observed ------------------------------------------------------------------
    started_seen: bool = False  # a start event (1.6 StartTransaction, 2.x Started) was seen
    stops: list[list[Any]] = field(default_factory=list)  # distinct stops [ts_ms, meter Wh|None]
    station_stop_reason: str = ""
    policy_reason: str = ""  # closed by the CSMS's policy (zombie), when the station never did
    policy_ms: int = 0
    boot_ms: int = 0  # the station rebooted while this transaction was active (gateway clock)
    activity_ms: int = 0  # the last frame of the transaction itself (gateway clock)
    first_seen_ms: int = 0  # the first frame of the transaction itself (gateway clock)
    first_reading_wh: float | None = None  # the earliest energy reading, even a suspect 0 Wh
    first_reading_ms: int = 0
    first_positive_wh: float | None = None  # the earliest reading above 0 Wh
    first_positive_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Shallow: the lists are shared with the transaction (the fold never mutates them in
        place), which costs a tenth of dataclasses.asdict on the processors' hot path."""
        return {name: getattr(self, name) for name in _TRANSACTION_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transaction:
        """Inverse of to_dict; unknown keys (a newer writer's fields, or derived views) are
        ignored."""
        return cls(**{name: d[name] for name in _TRANSACTION_FIELDS if name in d})


_TRANSACTION_FIELDS = tuple(f.name for f in fields(Transaction))


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
