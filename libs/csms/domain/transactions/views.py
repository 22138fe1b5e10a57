"""Derived views of a folded transaction: seqNo gaps, charging periods, flags, who closed it,
the published snapshot and the neutral 2.x event."""

from __future__ import annotations

from typing import Any

from csms.domain.energy import RESET, ROLLOVER, delivered_wh
from csms.domain.model import Transaction
from csms.domain.transactions.facts import ENDED, MAX_LISTED_GAPS, TxUpdate
from csms.protocol.versions import OcppVersion


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
