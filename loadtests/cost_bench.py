"""What telling a 2.0.1 station its cost adds to a TransactionEvent answer: the pure
`cost_fields` (parse the checkpoint's tariff and accrual, extend it with the event, finish the
bill, format the message), per call, without the Redis GET.

    python -m loadtests.cost_bench --calls 20000

Cases: a flat tariff and one with a night period (the span is split at its boundary), a
checkpoint 15 minutes behind the event (a typical Updated) and 3 days behind it (a long gap,
walked day by day), and the `orjson.loads` of the stored checkpoint for reference. Prints
µs per call (best of --repeat runs). CPU only, no network.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from csms.domain.billing import Session, price
from csms.domain.tariffs import Tariff, parse_tariff
from csms.handlers.v201.transaction_cost import cost_fields

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


def _checkpoint(tariff: Tariff, minutes: int) -> dict[str, Any]:
    # A session with a reading every minute, as the billing projection would have priced it.
    readings = [(T0 + m * MINUTE, 1000.0 + 120.0 * m) for m in range(minutes + 1)]
    acc = price(tariff, Session(T0, readings=readings, states=[(T0, "Charging")]))
    show = {"final": True, "message": True}
    return {"tariff": tariff.to_dict(), "acc": acc.to_dict(), "show": show}


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


def _call(checkpoint: dict[str, Any], event: dict[str, Any]) -> Callable[[], object]:
    return lambda: cost_fields(checkpoint, event, T0)


def _per_call_us(fn: Callable[[], object], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checkpoint = _checkpoint(PERIODS, 60)
    raw = orjson.dumps(checkpoint)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("orjson.loads(checkpoint)", lambda: orjson.loads(raw)),
    ]
    for name, tariff in (("flat", FLAT), ("periods", PERIODS)):
        cp = _checkpoint(tariff, 60)
        updated = _event("Updated", T0 + 75 * MINUTE, 1000.0 + 120.0 * 75)
        ended = _event("Ended", T0 + 75 * MINUTE, 1000.0 + 120.0 * 75)
        far = _event("Updated", T0 + 3 * 24 * 60 * MINUTE, 50_000.0)
        assert cost_fields(cp, ended, T0)["totalCost"] > 0  # the path measured is the full one
        for label, event in (
            ("Updated, 15 min past checkpoint", updated),
            ("Ended, 15 min past checkpoint", ended),
            ("Updated, 3 days past checkpoint", far),
        ):
            cases.append((f"{name}: {label}", _call(cp, event)))
    print(f"{'case':<44} µs/call  ({args.calls} calls, best of {args.repeat})")
    for label, fn in cases:
        print(f"{label:<44} {_per_call_us(fn, args.calls, args.repeat):7.1f}")


if __name__ == "__main__":
    main()
