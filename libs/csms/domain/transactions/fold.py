"""The fold: `apply` merges one `TxUpdate` into a transaction, `advance` also tells the edge
whether to save and publish; every field is a monotone merge, so replays are idempotent."""

from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Any, Literal

from csms.domain.energy import delivered_wh
from csms.domain.model import Transaction
from csms.domain.transactions.facts import (
    ACTIVE,
    ENDED,
    MAX_STATE_CHANGES,
    MAX_STOPS,
    PLAUSIBLE_SESSION_WH,
    Reading,
    TxUpdate,
)


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
    # `after` differs from `state`, so it is the new object apply() made: set in place
    # (a second dataclasses.replace of ~40 fields cost ≈ 10 µs per update).
    after.last_event_id = update.event_id
    after.revision += 1
    return after, "apply"


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
