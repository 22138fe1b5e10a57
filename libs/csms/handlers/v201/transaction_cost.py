"""The cost a 2.0.1 / 2.1 station shows its driver, in the TransactionEventResponse it is sent.

The billing projection keeps, for each running transaction of a station that can display cost,
a checkpoint: the session priced up to its last known event (`{"tariff", "acc", "show"}`, see
csms.infra.redis_keys.cost_checkpoint). The gateway extends it with the event it is answering
(its timestamp, last energy-register reading and charging state) with the billing's own
arithmetic (csms.domain.billing.extend / finish), so the station shows what the bill will say.

* Ended, `show.final`: totalCost, the bill's total including tax (2.0.1: only sent once
  charging has ended; 0.00 means free).
* Updated / Ended, `show.message`: updatedPersonalMessage, the running or final cost line.

The cost only decorates the answer: a checkpoint that is missing or cannot be read adds
nothing, never an error, because the station must always get its TransactionEventResponse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from csms.domain.billing import Accrual, cost_message, extend, finish
from csms.domain.frames import as_dict, parse_ts
from csms.domain.meter_values import call_samples
from csms.domain.tariffs import parse_stored
from csms.domain.transactions import energy_readings
from csms.protocol.versions import OcppVersion

log = logging.getLogger(__name__)

COST_EVENTS = frozenset({"Updated", "Ended"})  # Started: nothing has been priced yet
# MessageContentType.content: 512 characters in 2.0.1 (2.1 allows 1024; one limit for both).
MAX_MESSAGE = 512
# How far past the checkpoint the gateway prices an event. Splitting a span at tariff periods
# walks it day by day, so a station clock set to year 9999 would otherwise stall the gateway's
# event loop for minutes; beyond this the station is told nothing and the bill has the say.
MAX_EXTEND_MS = 31 * 24 * 3_600_000
# What a malformed checkpoint can raise on its way through parse_stored / Accrual.from_dict /
# the Decimal arithmetic (TariffError is a ValueError, decimal errors are ArithmeticErrors,
# datetime.fromtimestamp of an absurd instant an OverflowError or OSError).
_BAD_CHECKPOINT = (LookupError, TypeError, ValueError, ArithmeticError, AttributeError, OSError)


class _TooFar(ValueError):
    """The event is too far past the checkpoint to price it while the station waits."""


def cost_fields(
    checkpoint: Mapping[str, Any], payload: Mapping[str, Any], now_ms: int
) -> dict[str, Any]:
    """The TransactionEventResponse fields that tell the station the session's cost, for the
    TransactionEventRequest `payload` (received at `now_ms`); {} when there is nothing to show."""
    event_type = payload.get("eventType")
    show = checkpoint.get("show")
    if event_type not in COST_EVENTS or not isinstance(show, Mapping):
        return {}
    final, message = show.get("final") is True, show.get("message") is True
    ended = event_type == "Ended"
    if not (message or (final and ended)):
        return {}
    try:
        bill = _bill(checkpoint, payload, now_ms, ended=ended)
        fields: dict[str, Any] = {}
        if final and ended:
            # The total is already rounded to the currency's minor unit: a float of it is exact
            # enough for a JSON number (2 or 3 decimals).
            fields["totalCost"] = float(Decimal(bill["total"]))
        if message:
            content = cost_message(bill)[:MAX_MESSAGE]
            fields["updatedPersonalMessage"] = {"format": "UTF8", "content": content}
    except _BAD_CHECKPOINT as exc:
        log.warning("cost checkpoint unusable, answering without cost: %r", exc)
        return {}
    return fields


def event_energy_wh(payload: Mapping[str, Any], now_ms: int) -> float | None:
    """The event's last whole-connector energy-register reading in Wh (latest by timestamp,
    ties broken by value, as the transaction fold orders them), None when it carries none."""
    samples = call_samples(
        OcppVersion.V201, "TransactionEvent", dict(payload), station="", fallback_ms=now_ms
    )
    last = max(energy_readings(samples), key=lambda r: (r.ts_ms, r.wh), default=None)
    return None if last is None else last.wh


def _bill(
    checkpoint: Mapping[str, Any], payload: Mapping[str, Any], now_ms: int, *, ended: bool
) -> dict[str, Any]:
    tariff = parse_stored(checkpoint["tariff"])
    acc = Accrual.from_dict(checkpoint["acc"])
    ts_ms = parse_ts(payload.get("timestamp"), now_ms)
    if ts_ms - acc.at_ms > MAX_EXTEND_MS:
        raise _TooFar(f"event {ts_ms - acc.at_ms} ms past the checkpoint")
    state = as_dict(payload.get("transactionInfo")).get("chargingState")
    wh = event_energy_wh(payload, now_ms)
    acc = extend(tariff, acc, ts_ms, wh, state if isinstance(state, str) and state else None)
    return finish(tariff, acc, final=ended)
