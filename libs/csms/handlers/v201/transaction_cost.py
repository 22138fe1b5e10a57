"""The cost a 2.0.1 / 2.1 station shows its driver, in the TransactionEventResponse it is sent.

A station that displays cost (TariffCostCtrlr.Enabled[Cost], read from its device model at each
Started event) is told, when a tariff applies:

* Ended: totalCost, the bill's total including tax (2.0.1: only sent once charging has ended;
  0.00 means free);
* Updated / Ended: updatedPersonalMessage, the running or final cost line.

The figure is the bill's, computed with the billing projection's own code
(csms.domain.session_bill): each connection keeps the TransactionEvents it carried for each
running transaction (a `Ledger`), and the gateway folds them on top of the billing's checkpoint
when the billing has one, or from the connection's events alone when it has not caught up yet (a
short session whose events come back to back). A station's retry of an Ended event after the
bill was issued is told the bill itself. What a connection did not carry and the billing had not
folded yet (the session began on another connection moments ago) is the one case the station
can be told a different total than the bill; the bill is what counts.

The cost only decorates the answer: anything unreadable (Redis failing, a malformed checkpoint,
an absurd clock) adds nothing, never an error, because the station must always get its
TransactionEventResponse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from redis.exceptions import RedisError

from csms.domain.billing import cost_message
from csms.domain.model import Transaction
from csms.domain.session_bill import Display, Ledger, priced
from csms.domain.tariffs import Tariff, parse_stored
from csms.domain.transactions import transaction_event_update

log = logging.getLogger(__name__)

COST_EVENTS = frozenset({"Updated", "Ended"})  # Started: nothing has been priced yet
# MessageContentType.content: 512 characters in 2.0.1 (2.1 allows 1024; one limit for both).
MAX_MESSAGE = 512
# Running transactions a connection keeps ledgers for (a station has a few EVSEs; beyond, the
# oldest is forgotten and its cost comes from the billing's checkpoint alone).
MAX_LEDGERS = 8
# What an unusable checkpoint, bill or clock can raise on its way through parse_stored, the fold
# and the Decimal arithmetic (TariffError is a ValueError, decimal errors are ArithmeticErrors,
# datetime.fromtimestamp of an absurd instant an OverflowError or OSError), and Redis failing.
_UNUSABLE = (
    LookupError,
    TypeError,
    ValueError,
    ArithmeticError,
    AttributeError,
    OSError,
    RedisError,
)


class CostSource(Protocol):
    """What the gateway reads to price a session (csms.infra.billing_lookups.BillingLookups)."""

    async def display(self, station: str, proto: str) -> Display: ...

    async def checkpoint(self, station: str, transaction_id: str) -> Mapping[str, Any] | None: ...

    async def final_bill(self, station: str, transaction_id: str) -> Mapping[str, Any] | None: ...

    async def tariff_for(
        self, station: str, evse: int, id_token: str, at_ms: int
    ) -> Tariff | None: ...


class ConnectionCost:
    """The cost side of one 2.x station's connection: its display capability and one ledger
    per running transaction."""

    def __init__(self, source: CostSource, station: str, proto: str) -> None:
        self._source = source
        self._station = station
        self._proto = proto
        self._display: Display | None = None
        self._ledgers: dict[str, Ledger] = {}

    async def answer(self, payload: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """The TransactionEventResponse fields that tell the station its cost ({} for none)."""
        try:
            return await self._answer(payload, now_ms)
        except _UNUSABLE as exc:
            log.warning("cost of %s unusable, answering without it: %r", self._station, exc)
            return {}

    async def _answer(self, payload: dict[str, Any], now_ms: int) -> dict[str, Any]:
        if payload.get("eventType") == "Started" or self._display is None:
            self._display = await self._source.display(self._station, self._proto)
        display = self._display
        if not (display.final or display.message):
            return {}  # the common case costs one dict lookup per event
        update = transaction_event_update(self._station, self._proto, "", now_ms, payload)
        if update is None:
            return {}
        ledger = self._ledger(update.transaction_id)
        ledger.add(update)
        final = display.final and update.ended
        if update.ended:
            self._ledgers.pop(update.transaction_id, None)
        if update.event_type not in COST_EVENTS or not (final or display.message):
            return {}
        bill = await self._bill(update.transaction_id, ledger)
        return {} if bill is None else cost_fields(bill, final=final, message=display.message)

    def _ledger(self, transaction_id: str) -> Ledger:
        ledger = self._ledgers.pop(transaction_id, None) or Ledger()
        self._ledgers[transaction_id] = ledger  # most recent last
        if len(self._ledgers) > MAX_LEDGERS:
            del self._ledgers[next(iter(self._ledgers))]
        return ledger

    async def _bill(self, transaction_id: str, ledger: Ledger) -> Mapping[str, Any] | None:
        checkpoint = await self._source.checkpoint(self._station, transaction_id)
        if checkpoint is not None:
            tx = Transaction.from_dict(checkpoint["tx"])
            ledger.prune(tx.updated_ms)
            state, _ = ledger.fold(checkpoint["state"], tx)
            tariff = parse_stored(checkpoint["tariff"])
        else:
            issued = await self._source.final_bill(self._station, transaction_id)
            if issued is not None:
                return issued  # a retried Ended: the bill is out
            state, folded = ledger.fold(None, None)
            if folded is None:
                return None
            found = await self._source.tariff_for(
                self._station, folded.evse, folded.id_token, folded.started_ms
            )
            if found is None:
                return None
            tariff = found
        _, bill = priced(tariff, state)
        return bill


def cost_fields(bill: Mapping[str, Any], *, final: bool, message: bool) -> dict[str, Any]:
    """totalCost (when `final`) and updatedPersonalMessage (when `message`) for a bill."""
    fields: dict[str, Any] = {}
    if final:
        # The total is already rounded to the currency's minor unit: a float of it is exact
        # enough for a JSON number (2 or 3 decimals).
        fields["totalCost"] = float(Decimal(str(bill["total"])))
    if message:
        content = cost_message(bill)[:MAX_MESSAGE]
        fields["updatedPersonalMessage"] = {"format": "UTF8", "content": content}
    return fields
