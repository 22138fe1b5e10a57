"""Interpretation: one envelope (or a 1.6 pending start and its CALLRESULT, or a station-wide
signal) turned into at most one fact of the fold; pure, no state."""

from __future__ import annotations

from typing import Any

import orjson

from csms.domain.frames import (
    OCPP2X,
    as_dict,
    as_int,
    as_number,
    as_str,
    id_text,
    inbound_call,
    inbound_result,
    outbound_call,
    outbound_result,
    parse_ts,
)
from csms.domain.inference16 import DEFAULT_STOP_TRIGGERS
from csms.domain.meter_values import ENERGY_REGISTER, call_samples, flatten
from csms.domain.model import MeterSample, Transaction
from csms.domain.transactions.facts import (
    ACTIVE,
    DEFAULT_STOP_REASON,
    OFFLINE_LAG_MS,
    REMOTE_START_TTL_S,
    Fact,
    PendingDropped,
    PendingStart,
    Reading,
    RemoteStartSent,
    StartConfirmed,
    StationSignal,
    TxUpdate,
)
from csms.domain.transactions.policy import POLICY_CLOSE
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

# 1.6 statuses of a connector with a transaction -> 2.0.1 charging state.
_ENERGY_STATES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
CHARGING_STATE_16 = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Finishing": "EVConnected",
    "Available": "Idle",
}

_WH_PER_UNIT = {"wh": 1.0, "kwh": 1000.0}
_WH_PER_UNIT_EXACT = {"MWh": 1_000_000.0}  # "mWh" would be milli: the case matters here


def interpret(env: FrameEnvelope) -> Fact | None:
    """The transaction fact an envelope carries, or None."""
    if env.kind == "policy":
        return _policy(env)
    if env.dir == "out":
        return _interpret_out(env)
    if env.kind == "result":
        return _interpret_in_result(env)
    call = inbound_call(env)
    if call is None:
        return None
    action, payload = call
    if action == "BootNotification":
        return StationSignal(env.station, env.id, env.ts, env.ts, boot=True)
    if env.proto == OcppVersion.V16:
        if action == "StartTransaction":
            return _start_16(env, payload)
        if action == "MeterValues":
            return _meter_values_16(env, payload)
        if action == "StopTransaction":
            return _stop_16(env, payload)
        if action == "StatusNotification":
            return _status_16(env, payload)
    elif env.proto in OCPP2X and action == "TransactionEvent":
        return _transaction_event(env, payload)
    return None


def confirm(
    pending: PendingStart | None,
    confirmed: StartConfirmed,
    remote: RemoteStartSent | None = None,
) -> TxUpdate:
    """The update that creates a 1.6 transaction once its id is known.

    Without the pending CALL (expired, or consumed before a redelivery) the transaction is still
    created, bare; the station's clock is then unknown, so ts_ms stays None and re-applying it to
    an existing transaction changes nothing. `remote` is the CSMS's RemoteStartTransaction this
    start answers, if the edge found one (`remote_matches`).
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
        event_type="Started",
        started=True,
        trigger_reason="RemoteStart" if remote is not None else "Authorized",
        offline=pending.offline,
        remote_start_uid="" if remote is None else remote.uid,
    )


def remote_ref_16(id_tag: str) -> str:
    """How a 1.6 remote start is recognised: its idTag (1.6 has no remoteStartId)."""
    return f"tag:{id_tag}"


def remote_matches(remote: RemoteStartSent | None, pending: PendingStart | None) -> bool:
    """Whether a 1.6 start answers this remote start: same tag (the key), same connector when
    the CSMS named one, and not older than REMOTE_START_TTL_S by the station's clock."""
    if remote is None or pending is None:
        return False
    if remote.connector_id and remote.connector_id != pending.connector_id:
        return False
    return abs(pending.ts_ms - remote.ts_ms) <= REMOTE_START_TTL_S * 1000


def signal_update(tx: Transaction, signal: StationSignal) -> TxUpdate | None:
    """What a station-wide signal means for one of its active transactions (None: nothing).

    A signal the gateway received before the transaction's first frame says nothing about it:
    when Kafka redelivers a status after a crash, the transaction the station started later is
    already in the store, and must be left as an in-order pass (and a replay) leaves it."""
    if tx.state != ACTIVE or signal.received_ms < tx.first_seen_ms:
        return None
    if signal.boot:
        return TxUpdate(
            station=tx.station,
            transaction_id=tx.transaction_id,
            proto=tx.proto,
            event_id=signal.event_id,
            received_ms=signal.received_ms,
            ts_ms=None,
            boot_ms=signal.received_ms,
            activity=False,
        )
    if signal.evse != tx.evse or not signal.charging_state:
        return None
    return TxUpdate(
        station=tx.station,
        transaction_id=tx.transaction_id,
        proto=tx.proto,
        event_id=signal.event_id,
        received_ms=signal.received_ms,
        ts_ms=None,
        state_ts_ms=signal.ts_ms,
        charging_state=signal.charging_state,
        trigger_reason="ChargingStateChanged",
        # Only an energy state proves the session itself is alive (a status at boot does not).
        activity=signal.charging_state in _ENERGY_STATES,
    )


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
    if env.kind == "call":
        return _remote_start(env)
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


def _remote_start(env: FrameEnvelope) -> RemoteStartSent | None:
    call = outbound_call(env)
    if call is None:
        return None
    action, payload = call
    if env.proto == OcppVersion.V16 and action == "RemoteStartTransaction":
        id_tag = as_str(payload.get("idTag"))
        ref = remote_ref_16(id_tag) if id_tag else ""
    elif env.proto in OCPP2X and action == "RequestStartTransaction":
        remote_id = as_int(payload.get("remoteStartId"))
        ref = "" if remote_id is None else str(remote_id)
    else:
        return None
    if not ref:
        return None
    connector = as_int(payload.get("connectorId" if env.proto == OcppVersion.V16 else "evseId"))
    return RemoteStartSent(env.station, ref, env.uid, connector, env.ts)


def _interpret_in_result(env: FrameEnvelope) -> TxUpdate | None:
    """A 2.x RequestStartTransactionResponse naming the transaction that was already going."""
    if env.proto not in OCPP2X or env.action != "RequestStartTransaction":
        return None
    answer = inbound_result(env)
    if answer is None:
        return None
    transaction_id = id_text(answer.get("transactionId"))
    if not transaction_id:
        return None
    return TxUpdate(
        station=env.station,
        transaction_id=transaction_id,
        proto=env.proto,
        event_id=env.id,
        received_ms=env.ts,
        ts_ms=None,
        remote_start_uid=env.uid,
        activity=False,
    )


def _policy(env: FrameEnvelope) -> TxUpdate | None:
    if env.action != POLICY_CLOSE:
        return None
    try:
        payload = as_dict(orjson.loads(env.frame))
    except orjson.JSONDecodeError:
        return None
    transaction_id = id_text(payload.get("transaction_id"))
    if not transaction_id:
        return None
    return TxUpdate(
        station=env.station,
        transaction_id=transaction_id,
        proto=env.proto,
        event_id=env.id,
        received_ms=env.ts,
        ts_ms=None,
        policy_reason=as_str(payload.get("reason"), "Policy"),
        activity=False,
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
        received_ms=env.ts,
    )


def _meter_values_16(env: FrameEnvelope, payload: dict[str, Any]) -> TxUpdate | None:
    transaction_id = id_text(payload.get("transactionId"))
    if not transaction_id:
        return None  # samples outside a transaction belong to the meter sink only
    samples = flatten(env)
    connector_id = as_int(payload.get("connectorId"))
    clock = bool(samples) and all(s.context == "Sample.Clock" for s in samples)
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
        event_type="Updated",
        trigger_reason="MeterValueClock" if clock else "MeterValuePeriodic",
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
    reason = as_str(payload.get("reason"), DEFAULT_STOP_REASON)
    return TxUpdate(
        station=env.station,
        transaction_id=transaction_id,
        proto=env.proto,
        event_id=env.id,
        received_ms=env.ts,
        ts_ms=ts_ms,
        id_token=as_str(payload.get("idTag")),
        ended=True,
        stop_reason=reason,
        readings=readings,
        event_type="Ended",
        trigger_reason=DEFAULT_STOP_TRIGGERS.get(reason, "AbnormalCondition"),
        offline=env.ts - ts_ms > OFFLINE_LAG_MS,
    )


def _status_16(env: FrameEnvelope, payload: dict[str, Any]) -> StationSignal | None:
    connector_id = as_int(payload.get("connectorId"))
    state = CHARGING_STATE_16.get(as_str(payload.get("status")))
    if not connector_id or connector_id < 0 or state is None:
        return None
    ts_ms = parse_ts(payload.get("timestamp"), env.ts)
    return StationSignal(
        env.station, env.id, env.ts, ts_ms, evse=connector_id, charging_state=state
    )


def _transaction_event(env: FrameEnvelope, payload: dict[str, Any]) -> TxUpdate | None:
    return transaction_event_update(env.station, env.proto, env.id, env.ts, payload)


def transaction_event_update(
    station: str, proto: str, event_id: str, received_ms: int, payload: dict[str, Any]
) -> TxUpdate | None:
    """What a 2.x TransactionEventRequest says about its transaction (None without an id): the
    processors' fold reads it from the frame log, the gateway from the CALL it is answering."""
    info = as_dict(payload.get("transactionInfo"))
    transaction_id = id_text(info.get("transactionId"))
    if not transaction_id:
        return None
    evse = as_dict(payload.get("evse"))
    evse_id, connector_id = as_int(evse.get("id")), as_int(evse.get("connectorId"))
    event_type = as_str(payload.get("eventType"))
    ended = event_type == "Ended"
    samples = call_samples(
        proto, "TransactionEvent", payload, station=station, fallback_ms=received_ms
    )
    return TxUpdate(
        station=station,
        transaction_id=transaction_id,
        proto=proto,
        event_id=event_id,
        received_ms=received_ms,
        ts_ms=parse_ts(payload.get("timestamp"), received_ms),
        evse=evse_id if evse_id and evse_id > 0 else None,
        connector=connector_id if connector_id and connector_id > 0 else None,
        id_token=as_str(as_dict(payload.get("idToken")).get("idToken")),
        ended=ended,
        stop_reason=as_str(info.get("stoppedReason"), DEFAULT_STOP_REASON) if ended else "",
        readings=energy_readings(samples),
        event_type=event_type,
        started=event_type == "Started",
        seq_no=as_int(payload.get("seqNo")),
        trigger_reason=as_str(payload.get("triggerReason")),
        charging_state=as_str(info.get("chargingState")),
        offline=payload.get("offline") is True,
        remote_start_id=as_int(info.get("remoteStartId")),
    )
