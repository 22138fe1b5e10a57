"""What telling a 2.x station its cost adds to a TransactionEvent answer: the gateway's
`ConnectionCost.answer` (fold the connection's events on top of the billing's checkpoint, price
with the billing's code, format), per call, with an in-memory source instead of Redis.

    python -m benchmarks.cost_bench --calls 2000

Cases, for a flat tariff and one with periods (spans split at their boundaries), a session with
a reading every minute for an hour: an Updated whose checkpoint covers every earlier event (the
billing kept up: the stored walk resumes), the Ended (priced from its start, as the final bill
is), and the Ended of a session the billing has not seen at all (the connection's 60 events
folded from nothing). Prints µs per call (best of --repeat runs). CPU only, no network.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from csms.domain import transactions as txp
from csms.domain.session_bill import Display, Ledger, priced
from csms.domain.tariffs import Tariff, parse_tariff
from csms.handlers.v201.transaction_cost import ConnectionCost

T0 = 1_764_021_600_000  # 2025-11-24T22:00:00Z
MINUTE = 60_000
BASE = {
    "id": "bench",
    "currency": "EUR",
    "energy_per_kwh": "0.35",
    "charging_per_hour": "1.20",
    "idle_per_hour": "6.00",
    "session_fee": "0.50",
    "tax_rate": "0.19",
}
FLAT = parse_tariff(BASE)
PERIODS = parse_tariff(
    {
        **BASE,
        "timezone": "Europe/Berlin",
        "periods": [
            {"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.21"},
            {"name": "peak", "days": ["Saturday"], "start": "10:00", "end": "14:00",
             "charging_per_hour": "3.00"},
        ],
    }
)  # fmt: skip


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _update(payload: dict[str, Any]) -> txp.TxUpdate:
    update = txp.transaction_event_update("CP-1", "ocpp2.0.1", "", T0, payload)
    assert update is not None
    return update


def _checkpoint(tariff: Tariff, events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the billing projection stores after folding `events` (the same fold and pricing)."""
    ledger = Ledger()
    for event in events:
        ledger.add(_update(event))
    state, tx = ledger.fold(None, None)
    assert tx is not None
    priced(tariff, state)  # leaves the resumable walk in the state, as the billing does
    show = {"final": True, "message": True}
    return {"tariff": tariff.to_dict(), "show": show, "state": state, "tx": tx.to_dict()}


class _Source:
    def __init__(self, tariff: Tariff, checkpoint: Mapping[str, Any] | None) -> None:
        self._tariff, self._checkpoint = tariff, checkpoint

    async def display(self, station: str, proto: str) -> Display:
        return Display(final=True, message=True)

    async def checkpoint(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        return self._checkpoint

    async def final_bill(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        return None

    async def tariff_for(self, station: str, evse: int, id_token: str, at_ms: int) -> Tariff:
        return self._tariff


def _event(event_type: str, at_ms: int, wh: float) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "timestamp": _iso(at_ms),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 7,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
        "meterValue": [
            {
                "timestamp": _iso(at_ms),
                "sampledValue": [
                    {"value": wh, "measurand": "Energy.Active.Import.Register",
                     "unitOfMeasure": {"unit": "Wh"}},
                    {"value": 7400.0, "measurand": "Power.Active.Import"},
                ],
            }
        ],
    }  # fmt: skip


def _session(minutes: int) -> list[dict[str, Any]]:
    events = [_event("Started", T0, 1000.0)]
    events += [_event("Updated", T0 + m * MINUTE, 1000.0 + 120.0 * m) for m in range(1, minutes)]
    return [*events, _event("Ended", T0 + minutes * MINUTE, 1000.0 + 120.0 * minutes)]


def _answer(
    tariff: Tariff, checkpoint: Mapping[str, Any] | None, seen: list[dict[str, Any]]
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """One answer on a connection that carried `seen` (the last one is the event answered)."""

    earlier = [_update(event) for event in seen[:-1]]  # interpreted as they came, not timed

    async def run() -> dict[str, Any]:
        cost = ConnectionCost(_Source(tariff, checkpoint), "CP-1", "ocpp2.0.1")
        cost._display = Display(final=True, message=True)  # known since the Started event
        cost._ledger("tx-1").updates = list(earlier)  # the connection's earlier events
        return await cost.answer(seen[-1], T0)

    return run


async def _per_call_us(fn: Callable[[], Awaitable[object]], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            await fn()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


async def _main(calls: int, repeat: int) -> None:
    events = _session(60)
    cases: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    for name, tariff in (("flat", FLAT), ("periods", PERIODS)):
        caught_up = _checkpoint(tariff, events[:-2])
        ended_seen = _checkpoint(tariff, events[:-1])
        assert (await _answer(tariff, ended_seen, events)())["totalCost"] > 0
        cases += [
            (f"{name}: Updated, billing caught up", _answer(tariff, caught_up, events[-2:-1])),
            (f"{name}: Ended, billing caught up", _answer(tariff, ended_seen, events[-1:])),
            (f"{name}: Ended, billing saw nothing", _answer(tariff, None, events)),
        ]
    print(f"{'case':<44} µs/call  ({calls} calls, best of {repeat})")
    for label, fn in cases:
        print(f"{label:<44} {await _per_call_us(fn, calls, repeat):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(_main(args.calls, args.repeat))


if __name__ == "__main__":
    main()
