"""The neutral Transaction, projected from the frames of every version as a fold.

Two pure steps, so the I/O (loading and saving state) stays at the edge:

1. `interpret(env)` turns one envelope into at most one fact:
   * `PendingStart` - a 1.6 StartTransaction CALL. Its transactionId only exists in the CSMS's
     CALLRESULT, so the edge keeps it (Redis `pending_call(station, conn, uid)`, with a TTL)
     until `StartConfirmed` - that CALLRESULT - arrives, or `PendingDropped` - a CALLERROR.
     `confirm(pending, confirmed)` then yields the update that creates the transaction.
   * `TxUpdate` - everything one frame says about one transaction (1.6 MeterValues with a
     transactionId and StopTransaction; 2.x TransactionEvent Started/Updated/Ended).
2. `apply(state, update)` folds an update into the transaction (`None` = not seen yet);
   `advance(state, update)` also tells the edge whether to save and publish (see there).

Idempotence by construction rather than by remembering event ids: every field of the fold is
a monotone merge - meter start/stop are the earliest/latest energy-register readings ordered
by (station timestamp, value), started_ms is the earliest event time, ended_ms and updated_ms
the latest, the state only moves active -> ended, and the first-known id token / EVSE / stop
reason are kept (they rarely differ between one transaction's frames; when they do, the first
applied wins). So Kafka redelivery or a full replay over an existing read model leaves the
state as it was, out-of-order offline messages give the meter readings and times of an
in-order pass, and an update that adds nothing is visible as `apply(s, u) == s`.
`last_event_id` is bookkeeping for the edge, set by `advance`, not part of the fold.

Energy comes from Energy.Active.Import.Register samples of the whole connector (no phase,
location Outlet) in Wh, kWh or MWh; energy_wh = meter_stop_wh - meter_start_wh.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from csms.domain.frames import (
    OCPP2X,
    as_dict,
    as_int,
    as_number,
    as_str,
    id_text,
    inbound_call,
    outbound_result,
    parse_ts,
)
from csms.domain.meter_values import ENERGY_REGISTER, flatten
from csms.domain.model import MeterSample, Transaction
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

ACTIVE = "active"
ENDED = "ended"
# OCPP 1.6 and 2.x: the stop reason "may only be omitted when the Reason is Local".
DEFAULT_STOP_REASON = "Local"
# How long a 1.6 StartTransaction CALL waits for its CALLRESULT. The two are adjacent in one
# partition, so this only bounds the leak when a gateway died between publishing them.
PENDING_TTL_S = 3600

_WH_PER_UNIT = {"wh": 1.0, "kwh": 1000.0}
_WH_PER_UNIT_EXACT = {"MWh": 1_000_000.0}  # "mWh" would be milli: the case matters here


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
        )


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

    @property
    def key(self) -> str:
        return tx_key(self.station, self.transaction_id)


Fact = PendingStart | StartConfirmed | PendingDropped | TxUpdate


def interpret(env: FrameEnvelope) -> Fact | None:
    """The transaction fact an envelope carries, or None."""
    if env.dir == "out":
        return _interpret_out(env)
    call = inbound_call(env)
    if call is None:
        return None
    action, payload = call
    if env.proto == OcppVersion.V16:
        if action == "StartTransaction":
            return _start_16(env, payload)
        if action == "MeterValues":
            return _meter_values_16(env, payload)
        if action == "StopTransaction":
            return _stop_16(env, payload)
    elif env.proto in OCPP2X and action == "TransactionEvent":
        return _transaction_event(env, payload)
    return None


def confirm(pending: PendingStart | None, confirmed: StartConfirmed) -> TxUpdate:
    """The update that creates a 1.6 transaction once its id is known.

    Without the pending CALL (expired, or consumed before a redelivery) the transaction is still
    created, bare; the station's clock is then unknown, so ts_ms stays None and re-applying it to
    an existing transaction changes nothing.
    """
    if pending is None:
        return TxUpdate(
            station=confirmed.station,
            transaction_id=confirmed.transaction_id,
            proto=confirmed.proto,
            event_id=confirmed.event_id,
            received_ms=confirmed.received_ms,
            ts_ms=None,
        )
    readings = (
        () if pending.meter_start_wh is None else (Reading(pending.ts_ms, pending.meter_start_wh),)
    )
    return TxUpdate(
        station=pending.station,
        transaction_id=confirmed.transaction_id,
        proto=pending.proto,
        event_id=confirmed.event_id,
        received_ms=confirmed.received_ms,
        ts_ms=pending.ts_ms,
        evse=pending.connector_id,
        connector=1 if pending.connector_id > 0 else 0,
        id_token=pending.id_tag,
        readings=readings,
    )


def apply(state: Transaction | None, update: TxUpdate) -> Transaction:
    """Fold one update into a transaction; returns a new object and never mutates `state`."""
    tx = state if state is not None else _new(update)
    meter_start = _earliest(_start_reading(tx), update.readings)
    meter_stop = _latest(_stop_reading(tx), update.readings)
    started_ms = tx.started_ms if update.ts_ms is None else min(tx.started_ms, update.ts_ms)
    ended_ms = tx.ended_ms
    if update.ended:
        ended_ms = max(ended_ms, update.ts_ms if update.ts_ms is not None else update.received_ms)
    return replace(
        tx,
        evse=tx.evse or (update.evse or 0),
        connector=tx.connector or (update.connector or 0),
        id_token=tx.id_token or update.id_token,
        state=ENDED if update.ended or tx.state == ENDED else ACTIVE,
        started_ms=started_ms,
        ended_ms=ended_ms,
        meter_start_wh=None if meter_start is None else meter_start.wh,
        meter_start_ms=0 if meter_start is None else meter_start.ts_ms,
        meter_stop_wh=None if meter_stop is None else meter_stop.wh,
        meter_stop_ms=0 if meter_stop is None else meter_stop.ts_ms,
        energy_wh=0.0
        if meter_start is None or meter_stop is None
        else meter_stop.wh - meter_start.wh,
        stop_reason=tx.stop_reason or (update.stop_reason if update.ended else ""),
        updated_ms=max(tx.updated_ms, update.received_ms),
    )


Verdict = Literal["apply", "republish", "skip"]


def advance(state: Transaction | None, update: TxUpdate) -> tuple[Transaction, Verdict]:
    """Apply an update and say what the edge must do with the result.

    "apply": the transaction changed - save it, then publish it (it now names this event as
    its last change). "republish": nothing changed, but this is the very frame that made the
    last change - publish the stored snapshot again, because the edge writes Redis before Kafka
    durably has the snapshot, and a crash in between redelivers exactly such frames.
    "skip": nothing to do (a redelivery, or a frame that adds nothing new).
    """
    after = apply(state, update)
    if state is not None and after == state:
        return state, "republish" if state.last_event_id == update.event_id else "skip"
    return replace(after, last_event_id=update.event_id), "apply"


def energy_readings(samples: list[MeterSample]) -> tuple[Reading, ...]:
    """The whole-connector energy-register readings among samples, converted to Wh."""
    readings = []
    for s in samples:
        if s.measurand != ENERGY_REGISTER or s.phase or s.location != "Outlet":
            continue
        factor = _WH_PER_UNIT_EXACT.get(s.unit) or _WH_PER_UNIT.get(s.unit.lower())
        if factor is not None:
            readings.append(Reading(s.ts_ms, s.value * factor))
    return tuple(readings)


# --- interpretation of single frames ------------------------------------------------------


def _interpret_out(env: FrameEnvelope) -> Fact | None:
    if env.proto != OcppVersion.V16 or env.action != "StartTransaction":
        return None
    if env.kind == "error":
        return PendingDropped(env.station, env.conn, env.uid)
    payload = outbound_result(env)
    if payload is None:
        return None
    transaction_id = id_text(payload.get("transactionId"))
    if not transaction_id:
        return None
    return StartConfirmed(
        station=env.station,
        conn=env.conn,
        uid=env.uid,
        proto=env.proto,
        transaction_id=transaction_id,
        event_id=env.id,
        received_ms=env.ts,
    )


def _start_16(env: FrameEnvelope, payload: dict[str, Any]) -> PendingStart | None:
    connector_id = as_int(payload.get("connectorId"))
    if connector_id is None or connector_id < 0:
        return None
    return PendingStart(
        station=env.station,
        conn=env.conn,
        uid=env.uid,
        proto=env.proto,
        connector_id=connector_id,
        id_tag=as_str(payload.get("idTag")),
        meter_start_wh=as_number(payload.get("meterStart")),
        ts_ms=parse_ts(payload.get("timestamp"), env.ts),
        event_id=env.id,
    )


def _meter_values_16(env: FrameEnvelope, payload: dict[str, Any]) -> TxUpdate | None:
    transaction_id = id_text(payload.get("transactionId"))
    if not transaction_id:
        return None  # samples outside a transaction belong to the meter sink only
    samples = flatten(env)
    connector_id = as_int(payload.get("connectorId"))
    return TxUpdate(
        station=env.station,
        transaction_id=transaction_id,
        proto=env.proto,
        event_id=env.id,
        received_ms=env.ts,
        ts_ms=min((s.ts_ms for s in samples), default=None),
        evse=connector_id if connector_id and connector_id > 0 else None,
        connector=1 if connector_id and connector_id > 0 else None,
        readings=energy_readings(samples),
    )


def _stop_16(env: FrameEnvelope, payload: dict[str, Any]) -> TxUpdate | None:
    transaction_id = id_text(payload.get("transactionId"))
    if not transaction_id:
        return None
    ts_ms = parse_ts(payload.get("timestamp"), env.ts)
    meter_stop = as_number(payload.get("meterStop"))
    readings = energy_readings(flatten(env))
    if meter_stop is not None:
        readings = (*readings, Reading(ts_ms, meter_stop))
    return TxUpdate(
        station=env.station,
        transaction_id=transaction_id,
        proto=env.proto,
        event_id=env.id,
        received_ms=env.ts,
        ts_ms=ts_ms,
        id_token=as_str(payload.get("idTag")),
        ended=True,
        stop_reason=as_str(payload.get("reason"), DEFAULT_STOP_REASON),
        readings=readings,
    )


def _transaction_event(env: FrameEnvelope, payload: dict[str, Any]) -> TxUpdate | None:
    info = as_dict(payload.get("transactionInfo"))
    transaction_id = id_text(info.get("transactionId"))
    if not transaction_id:
        return None
    evse = as_dict(payload.get("evse"))
    evse_id, connector_id = as_int(evse.get("id")), as_int(evse.get("connectorId"))
    ended = payload.get("eventType") == "Ended"
    return TxUpdate(
        station=env.station,
        transaction_id=transaction_id,
        proto=env.proto,
        event_id=env.id,
        received_ms=env.ts,
        ts_ms=parse_ts(payload.get("timestamp"), env.ts),
        evse=evse_id if evse_id and evse_id > 0 else None,
        connector=connector_id if connector_id and connector_id > 0 else None,
        id_token=as_str(as_dict(payload.get("idToken")).get("idToken")),
        ended=ended,
        stop_reason=as_str(info.get("stoppedReason"), DEFAULT_STOP_REASON) if ended else "",
        readings=energy_readings(flatten(env)),
    )


# --- the fold's monotone merges -----------------------------------------------------------


def _new(update: TxUpdate) -> Transaction:
    start = update.ts_ms if update.ts_ms is not None else update.received_ms
    return Transaction(
        key=update.key,
        station=update.station,
        transaction_id=update.transaction_id,
        proto=update.proto,
        started_ms=start,
        updated_ms=update.received_ms,
    )


def _start_reading(tx: Transaction) -> Reading | None:
    return None if tx.meter_start_wh is None else Reading(tx.meter_start_ms, tx.meter_start_wh)


def _stop_reading(tx: Transaction) -> Reading | None:
    return None if tx.meter_stop_wh is None else Reading(tx.meter_stop_ms, tx.meter_stop_wh)


def _order(r: Reading) -> tuple[int, float]:
    # Ties on the timestamp are broken by the value, so the merge never depends on arrival order.
    return (r.ts_ms, r.wh)


def _earliest(current: Reading | None, readings: tuple[Reading, ...]) -> Reading | None:
    candidates = [*readings] if current is None else [current, *readings]
    return min(candidates, key=_order, default=None)


def _latest(current: Reading | None, readings: tuple[Reading, ...]) -> Reading | None:
    candidates = [*readings] if current is None else [current, *readings]
    return max(candidates, key=_order, default=None)
