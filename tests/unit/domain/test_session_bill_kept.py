"""A billing state kept in memory between snapshots prices exactly as one stored and loaded at
each snapshot (csms.domain.session_bill).

The billing projection keeps each session's state as a `BillState` on the processors'
write-behind copy: the walk stays an object, a merge that only adds readings and charging
states says so, and pricing walks on from where it stood - at the end too, when the walk so far
is known to be the one from the start. Stored and loaded as JSON at each snapshot (the state
every other reader has, and what the billing had before), pricing takes the long ways: the
session's instants rebuilt, the stored walk resumed when its count and last instant still
match, the end walked from the start. Generated snapshot streams - readings in order, late,
duplicated, beyond the cap; charging states growing or rewritten; a moving baseline; an older
revision; the end, and snapshots after it - give the same bill and the same stored state (to
the byte) both ways after every snapshot.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.domain.session_bill import (
    BillState,
    encode_state,
    merge_snapshot,
    new_state,
    priced,
)
from csms.domain.tariffs import parse_tariff

settings.register_profile(
    "ci", max_examples=150, derandomize=True, deadline=None, suppress_health_check=[*HealthCheck]
)
settings.register_profile("explore", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MIN = 60_000
T0 = 1_764_021_600_000  # 2025-11-24T22:00:00Z, an hour before Berlin's night period
NIGHT = {"name": "night", "start": "23:30", "end": "06:00", "energy_per_kwh": "0.29"}
PRICES = {"energy_per_kwh": "0.39", "charging_per_hour": "0.60", "idle_per_hour": "3.00"}
TARIFF = parse_tariff(
    {"id": "TOU", "currency": "EUR", "timezone": "Europe/Berlin", "periods": [NIGHT], **PRICES}
    | {"session_fee": "0.50", "tax_rate": "0.19"}
)
CHARGING_STATES = ["Charging", "Charging", "SuspendedEV", "EVConnected", "Idle", ""]


@st.composite
def snapshot_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One session's snapshots as the billing receives them (see the module docstring)."""
    start = T0 + draw(st.integers(-90, 90)) * MIN
    meter_start = draw(st.sampled_from([0.0, 1500.5, 99_999_000.0, None]))
    wh, ts = meter_start or 0.0, start
    states: list[list[Any]] = []
    snaps: list[dict[str, Any]] = []
    base = {"type": "transaction", "key": "CP-1/1", "station": "CP-1", "transaction_id": "1"}
    for revision in range(1, draw(st.integers(1, 30)) + 1):
        ts += draw(st.sampled_from([MIN, MIN, MIN, 0, 1000, -MIN, 20 * MIN]))
        wh = draw(st.sampled_from([wh + 180.0, wh + 180.0, wh, wh + 0.125, 3.0]))
        readings = [[ts, wh]] if draw(st.integers(0, 9)) else []
        if draw(st.integers(0, 9)) == 0:
            readings.append([ts + draw(st.sampled_from([-5 * MIN, 0, 1000])), wh + 1])
        if draw(st.booleans()):
            states = [
                *states,
                [ts + draw(st.sampled_from([0, 1, -1000])), draw(st.sampled_from(CHARGING_STATES))],
            ]
        if states and draw(st.integers(0, 9)) == 0:
            states = states[1:]  # rewritten (a 1.6 state history re-inferred, say)
        snap: dict[str, Any] = {
            **base,
            "state": "active",
            "revision": revision,
            "started_ms": start,
            "meter_start_wh": meter_start,
            "meter_start_ms": start + (MIN if draw(st.integers(0, 29)) == 0 else 0),
            "meter_stop_wh": wh,
            "meter_stop_ms": ts,
            "energy_wh": max(0.0, round(wh - (meter_start or 0.0), 3)),
            "state_changes": states,
            "updated_ms": ts + 1000,
        }
        if readings:
            snap["readings"] = readings
        snaps.append(snap)
    if draw(st.integers(0, 4)):
        end = snaps[-1]["meter_stop_ms"] + draw(st.sampled_from([0, 0, MIN, -MIN]))
        snaps.append({**snaps[-1], "state": "ended", "ended_ms": end, "revision": len(snaps) + 1})
    return _delivered(draw, snaps)


def _delivered(draw: st.DrawFn, snaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mostly in order; sometimes a swap, a redelivery, a late reading after the end."""
    out = list(snaps)
    if len(out) > 2 and draw(st.integers(0, 4)) == 0:
        i = draw(st.integers(0, len(out) - 2))
        out[i], out[i + 1] = out[i + 1], out[i]
    for _ in range(draw(st.integers(0, 2))):
        out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(snaps)))
    if draw(st.integers(0, 4)) == 0:
        late = [[snaps[0]["started_ms"] + 5 * MIN, 17.0]]
        out.append({**snaps[-1], "revision": len(snaps) + 2, "readings": late})
    return out


@given(snapshot_streams(), st.sampled_from([500, 8, 3]), st.data())
def test_a_kept_state_prices_as_a_stored_one(
    stream: list[dict[str, Any]], cap: int, data: st.DataObject
) -> None:
    kept: BillState | None = None
    stored: dict[str, Any] = new_state()
    for snap in stream:
        if kept is not None and data.draw(st.integers(0, 9)) == 0:
            kept = orjson.loads(encode_state(kept))  # forgotten (a rebalance): loaded again
        kept = BillState.of(kept)  # as the billing step: a copy of what was kept
        stored = orjson.loads(encode_state(stored))  # as any reader: the JSON
        merge_snapshot(kept, snap, cap)
        merge_snapshot(stored, snap, cap)
        _, kept_bill = priced(TARIFF, kept)
        _, stored_bill = priced(TARIFF, stored)
        assert kept_bill == stored_bill
        assert encode_state(kept) == encode_state(stored)


@given(snapshot_streams())
def test_a_kept_state_is_never_changed_by_the_next_snapshot(stream: list[dict[str, Any]]) -> None:
    """What was stored stays as it was encoded: each snapshot folds into a copy."""
    kept = BillState.of(None)
    for snap in stream:
        before = encode_state(kept)
        state = BillState.of(kept)
        merge_snapshot(state, snap)
        priced(TARIFF, state)
        assert encode_state(kept) == before
        kept = state
