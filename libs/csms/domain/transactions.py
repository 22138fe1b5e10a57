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
`last_event_id` and `revision` are bookkeeping for the edge, set by `advance`, not part of the
fold.

Energy comes from Energy.Active.Import.Register samples of the whole connector (no phase,
location Outlet) in Wh, kWh or MWh; energy_wh = meter_stop_wh - meter_start_wh by
csms.domain.energy.delivered_wh, the one definition the bill prices too (a register that wrapped
counts across the wrap, flag `meter_rollover`; one that went back otherwise counts 0, flag
`meter_decreased`).

The hard cases and how the fold meets them:
* Started offline: 2.x says so (`offline`); a 1.6 StartTransaction whose timestamp is more
  than OFFLINE_LAG_MS older than its arrival was queued offline. A 0 Wh start reading is no
  baseline when the transaction was offline or the first real reading is beyond any session
  (PLAUSIBLE_SESSION_WH): many stations write 0 for an unknown meter; the earliest positive
  sample is then the baseline (flag `baseline_from_first_sample`), never zero-to-lifetime.
* Out of order / late / in bulk: every merge is ordered by the station's clock; 2.x seqNos
  are kept as ranges, so gaps show (`missing_seq_nos`) and close when the late event comes.
* Duplicates and Kafka redelivery: the merges are idempotent.
* 1.6 StopTransaction for an unknown transaction creates it ended (flag `no_start`); a second,
  different stop of a stopped one is kept in `stops` (flag `stopped_twice`), the first reason
  wins.
* Remote starts: `remote_start_uid` is the message id of the CSMS's RemoteStartTransaction
  (1.6: matched by idTag and connector within REMOTE_START_TTL_S) or RequestStartTransaction
  (2.x: by remoteStartId, or the response's transactionId).
* Reboots: a BootNotification marks the station's active transactions (`boot_ms`); one that
  hears nothing more is closed by policy after the grace the CSMS configures.
* Zombies: the CSMS's policy closes a transaction nothing has been heard of for too long with a
  `policy` fact on `csms.policy` (reason in `policy_reason` and `stop_reason`); a real stop
  arriving later still wins for the reason and the end time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from csms.domain.energy import RESET, ROLLOVER, delivered_wh
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
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

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
POLICY_CLOSE = "CloseTransaction"
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


def policy_close(tx: Transaction, reason: str, now_ms: int, event_id: str) -> FrameEnvelope:
    """The `csms.policy` envelope that closes a transaction the station never closed."""
    payload = {"transaction_id": tx.transaction_id, "reason": reason}
    return FrameEnvelope(
        id=event_id,
        ts=now_ms,
        station=tx.station,
        gw="csms-policy",
        conn="",
        proto=tx.proto,
        dir="out",
        kind="policy",
        uid=event_id,
        action=POLICY_CLOSE,
        frame=orjson.dumps(payload).decode(),
    )


def life_ms(tx: Transaction) -> int:
    """The last sign of life of an active transaction (gateway clock): its own last frame, or
    the station's reboot, which starts the reboot grace."""
    return max(tx.activity_ms, tx.boot_ms, tx.updated_ms if tx.activity_ms == 0 else 0)


def zombie_reason(tx: Transaction, now_ms: int, *, idle_after_ms: int, reboot_grace_ms: int) -> str:
    """Why the policy should close this transaction now ("" = leave it): the station rebooted
    and the session never showed up again, or nothing of it was heard for too long."""
    if tx.state != ACTIVE or tx.policy_reason:
        return ""
    if tx.boot_ms > tx.activity_ms and now_ms - tx.boot_ms >= reboot_grace_ms:
        return "StationRebooted"
    if now_ms - life_ms(tx) >= idle_after_ms:
        return "Timeout"
    return ""


def apply(state: Transaction | None, update: TxUpdate) -> Transaction:
    """Fold one update into a transaction; returns a new object and never mutates `state`."""
    tx = state if state is not None else _new(update)
    first = _earliest(_reading(tx.first_reading_wh, tx.first_reading_ms), update.readings)
    positive = _earliest(
        _reading(tx.first_positive_wh, tx.first_positive_ms),
        tuple(r for r in update.readings if r.wh > 0),
    )
    meter_stop = _latest(_reading(tx.meter_stop_wh, tx.meter_stop_ms), update.readings)
    offline = tx.offline or update.offline
    baseline = _baseline(first, positive, offline)
    started_ms = tx.started_ms if update.ts_ms is None else min(tx.started_ms, update.ts_ms)
    stops = tx.stops
    if update.ended:
        stop_ts = update.ts_ms if update.ts_ms is not None else update.received_ms
        stop_wh = next((r.wh for r in update.readings if r.ts_ms == stop_ts), None)
        stops = _insert_sorted(tx.stops, [stop_ts, stop_wh], MAX_STOPS)
    policy_reason = tx.policy_reason or update.policy_reason
    # The first decision counts: another replica's or a later sweep's close changes nothing.
    policy_ms = tx.policy_ms or (update.received_ms if update.policy_reason else 0)
    station_stop_reason = tx.station_stop_reason or (update.stop_reason if update.ended else "")
    state_ts = _state_ts(update)
    state_changes = tx.state_changes
    if update.charging_state:
        state_changes = _insert_sorted(
            tx.state_changes, [state_ts, update.charging_state], MAX_STATE_CHANGES
        )
    trigger_ms, trigger_reason = max(
        (tx.trigger_ms, tx.trigger_reason),
        (state_ts, update.trigger_reason) if update.trigger_reason else (0, ""),
    )
    energy, _ = delivered_wh(
        None if baseline is None else baseline.wh, None if meter_stop is None else meter_stop.wh
    )
    return replace(
        tx,
        evse=tx.evse or (update.evse or 0),
        connector=tx.connector or (update.connector or 0),
        id_token=tx.id_token or update.id_token,
        state=ENDED if stops or policy_reason else ACTIVE,
        started_ms=started_ms,
        ended_ms=stops[-1][0] if stops else policy_ms,
        meter_start_wh=None if baseline is None else baseline.wh,
        meter_start_ms=0 if baseline is None else baseline.ts_ms,
        meter_stop_wh=None if meter_stop is None else meter_stop.wh,
        meter_stop_ms=0 if meter_stop is None else meter_stop.ts_ms,
        energy_wh=energy,
        stop_reason=station_stop_reason or policy_reason,
        updated_ms=max(tx.updated_ms, update.received_ms),
        charging_state=state_changes[-1][1] if state_changes else tx.charging_state,
        trigger_reason=trigger_reason,
        trigger_ms=trigger_ms,
        offline=offline,
        seq_ranges=tx.seq_ranges
        if update.seq_no is None
        else _add_seq(tx.seq_ranges, update.seq_no),
        state_changes=state_changes,
        remote_start_id=tx.remote_start_id
        if tx.remote_start_id is not None
        else update.remote_start_id,
        remote_start_uid=tx.remote_start_uid or update.remote_start_uid,
        started_seen=tx.started_seen or update.started,
        stops=stops,
        station_stop_reason=station_stop_reason,
        policy_reason=policy_reason,
        policy_ms=policy_ms,
        boot_ms=max(tx.boot_ms, update.boot_ms),
        activity_ms=max(tx.activity_ms, update.received_ms if update.activity else 0),
        first_seen_ms=_first_seen(tx.first_seen_ms, update),
        first_reading_wh=None if first is None else first.wh,
        first_reading_ms=0 if first is None else first.ts_ms,
        first_positive_wh=None if positive is None else positive.wh,
        first_positive_ms=0 if positive is None else positive.ts_ms,
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
    return replace(after, last_event_id=update.event_id, revision=after.revision + 1), "apply"


# --- derived views ------------------------------------------------------------------------


def seq_seen(tx: Transaction, seq_no: int | None) -> bool:
    """Whether this 2.x seqNo was already folded into the transaction."""
    return seq_no is not None and any(a <= seq_no <= b for a, b in tx.seq_ranges)


def charging_periods(tx: Transaction) -> list[dict[str, Any]]:
    """The session cut by charging state: [{state, start_ms, end_ms}] (end 0 = still going);
    the last period ends with the transaction."""
    periods: list[dict[str, Any]] = []
    for ts_ms, state in tx.state_changes:
        if periods and periods[-1]["state"] == state:
            continue
        if periods:
            periods[-1]["end_ms"] = ts_ms
        periods.append({"state": state, "start_ms": ts_ms, "end_ms": 0})
    if periods and tx.state == ENDED:
        periods[-1]["end_ms"] = max(tx.ended_ms, periods[-1]["start_ms"])
    return periods


def missing_seq_nos(tx: Transaction) -> list[int]:
    """2.x seqNos between the first and the last seen that have not arrived (at most
    MAX_LISTED_GAPS of them)."""
    missing: list[int] = []
    for (_, end), (start, _) in zip(tx.seq_ranges, tx.seq_ranges[1:], strict=False):
        missing.extend(range(end + 1, start))
        if len(missing) >= MAX_LISTED_GAPS:
            return missing[:MAX_LISTED_GAPS]
    return missing


def flags(tx: Transaction) -> list[str]:
    """What an operator should know about how this transaction was observed."""
    _, register = delivered_wh(tx.meter_start_wh, tx.meter_stop_wh)
    checks = {
        "no_start": bool(tx.stops or tx.policy_reason) and not tx.started_seen,
        "stopped_twice": len(tx.stops) > 1,
        "seq_gaps": bool(missing_seq_nos(tx)),
        "offline": tx.offline,
        "baseline_from_first_sample": tx.first_reading_wh is not None
        and tx.meter_start_wh != tx.first_reading_wh,
        "meter_decreased": register == RESET,  # went back without wrapping: 0 Wh counted
        ROLLOVER: register == ROLLOVER,  # wrapped past a power of ten: counted across it
        "closed_by_policy": bool(tx.policy_reason) and not tx.stops,
        "rebooted": tx.boot_ms > 0,
        "remote_start": bool(tx.remote_start_uid or tx.remote_start_id is not None),
    }
    return [name for name, on in checks.items() if on]


def closed_by(tx: Transaction) -> str:
    """ "station" (it sent a stop), "policy" (the CSMS closed it), or "" while active."""
    return "station" if tx.stops else "policy" if tx.policy_reason else ""


def snapshot(tx: Transaction) -> dict[str, Any]:
    """What csms.transactions and the API show: the fields plus the derived views."""
    return {
        "type": "transaction",
        **tx.to_dict(),
        "closed_by": closed_by(tx),
        "charging_periods": charging_periods(tx),
        "missing_seq_nos": missing_seq_nos(tx),
        "flags": flags(tx),
    }


def neutral_event(update: TxUpdate, tx: Transaction) -> dict[str, Any] | None:
    """The neutral transaction event one 2.x TransactionEvent is, for csms.transactions (1.6
    stations get theirs from csms.domain.inference16, flagged inferred)."""
    if not update.event_type or update.proto == OcppVersion.V16:
        return None
    # 2.x: (transaction, seqNo) names the event, so a station's retry has the same id.
    ref = update.event_id if update.seq_no is None else f"seq{update.seq_no}"
    return {
        "type": "event",
        "id": f"{update.station}/{update.transaction_id}/{ref}",
        "station": update.station,
        "proto": update.proto,
        "evse": tx.evse,
        "connector": tx.connector,
        "transaction_id": update.transaction_id,
        "event_type": update.event_type,
        "trigger_reason": update.trigger_reason,
        "charging_state": update.charging_state,
        "ts_ms": update.ts_ms if update.ts_ms is not None else update.received_ms,
        "seq_no": update.seq_no,
        "offline": update.offline,
        "id_token": update.id_token,
        "inferred": False,
        "source_event_id": update.event_id,
    }


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


def _first_seen(current: int, update: TxUpdate) -> int:
    if not update.activity:
        return current
    return update.received_ms if current == 0 else min(current, update.received_ms)


def _state_ts(update: TxUpdate) -> int:
    if update.state_ts_ms is not None:
        return update.state_ts_ms
    return update.ts_ms if update.ts_ms is not None else update.received_ms


def _reading(wh: float | None, ts_ms: int) -> Reading | None:
    return None if wh is None else Reading(ts_ms, wh)


def _baseline(first: Reading | None, positive: Reading | None, offline: bool) -> Reading | None:
    """The earliest reading, unless it is a 0 Wh that cannot be the meter at the start."""
    if first is None or positive is None or first.wh > 0:
        return first
    return positive if offline or positive.wh > PLAUSIBLE_SESSION_WH else first


def _order(r: Reading) -> tuple[int, float]:
    # Ties on the timestamp are broken by the value, so the merge never depends on arrival order.
    return (r.ts_ms, r.wh)


def _earliest(current: Reading | None, readings: tuple[Reading, ...]) -> Reading | None:
    candidates = [*readings] if current is None else [current, *readings]
    return min(candidates, key=_order, default=None)


def _latest(current: Reading | None, readings: tuple[Reading, ...]) -> Reading | None:
    candidates = [*readings] if current is None else [current, *readings]
    return max(candidates, key=_order, default=None)


def _insert_sorted(items: list[list[Any]], item: list[Any], cap: int) -> list[list[Any]]:
    """items with item added in (ts, value) order, once; the oldest dropped beyond cap."""
    if item in items:
        return items
    out = [*items]
    bisect.insort(out, item, key=lambda x: (x[0], str(x[1])))
    return out[-cap:]


def _add_seq(ranges: list[list[int]], seq_no: int | None) -> list[list[int]]:
    """Ranges of seqNos with seq_no added, adjacent ranges merged."""
    if seq_no is None:
        return ranges
    out: list[list[int]] = []
    placed = False
    for start, end in ranges:
        if start <= seq_no <= end:
            return ranges
        if not placed and seq_no < start:
            out.append([seq_no, seq_no])
            placed = True
        out.append([start, end])
    if not placed:
        out.append([seq_no, seq_no])
    merged: list[list[int]] = []
    for start, end in out:
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
