"""The billing projection: prices every transaction from its snapshots on `csms.transactions`.

Input: the transactions step's snapshots (`type` "transaction"), which carry the session's
times, baseline and latest energy reading, charging-state changes, and the energy readings of
the frame that changed it (`readings`). Per transaction the step keeps, in Redis (the bills
read model, csms.readmodels.bills), the tariff version it is priced with (resolved once, at the
session's start time), the readings it has seen (merged by station time, so late, out-of-order
and duplicated meter values give the in-order result) and the bill so far.

Output:
* the running bill in Redis (the API's `/transactions/{station}/{id}/bill`);
* for stations that can display cost (device model), a checkpoint the gateway extends to
  answer a 2.0.1/2.1 TransactionEvent with the cost (the read model's checkpoint), and
  CostUpdated (2.x) or the OCA cost DataTransfer (1.6, off by default) every
  `billing_cost_interval_s` of session time;
* the final bill on `csms.bills` when the transaction ends - once: a redelivered snapshot
  finds the same bill and publishes nothing new (unless it is exactly the snapshot behind
  the stored bill, which is published again in case a crash lost it); late data that
  changes a final bill publishes revision n+1, which replaces it in ClickHouse.

The pure fold and pricing (`merge_snapshot`, `priced`, `cost_display`, the gateway's
`checkpoint`) live in csms.domain.session_bill, shared with the gateway, and what the station is
told (`station_calls`) in csms.domain.cost_messages; this module is the step around them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from csms.domain.cost_messages import station_calls
from csms.domain.session_bill import (
    READINGS_CAP,
    BillState,
    Display,
    checkpoint,
    merge_snapshot,
    priced,
    signature,
)
from csms.domain.tariffs import Tariff
from csms.projections.stores import RedisClient, as_redis
from csms.readmodels.bills import Bills, RedisBills

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BillingConfig:
    cost_interval_ms: int = 60_000  # 0 = no CostUpdated / RunningCost during sessions
    datatransfer16: bool = False  # the 1.6 vendor message is off unless the operator says so
    readings_cap: int = READINGS_CAP


# The step's store: the bills read model's contract.
BillingStore = Bills


class Lookups(Protocol):
    """Other owners' data the billing reads (never through the billing's write-behind copy)."""

    async def tariff_for(
        self, station: str, evse: int, id_token: str, at_ms: int
    ) -> Tariff | None: ...

    async def display(self, station: str, proto: str) -> Display: ...


class StationMessages(Protocol):
    """Sends a CSMS-initiated CALL to a station, fire and forget (None in a replay)."""

    async def send(self, station: str, action: str, payload: dict[str, Any]) -> bool: ...


@dataclass(slots=True)
class Billed:
    """What one snapshot changed: a bill to publish and calls to send to the station."""

    publish: dict[str, Any] | None = None
    calls: list[tuple[str, dict[str, Any]]] | None = None
    changed: bool = False


# --- the step --------------------------------------------------------------------------------


class BillingStep:
    def __init__(
        self,
        store: BillingStore,
        lookups: Lookups,
        messages: StationMessages | None,
        config: BillingConfig,
    ) -> None:
        self.store = store
        self.lookups = lookups
        self.messages = messages
        self.config = config

    async def on_snapshot(self, snap: Mapping[str, Any]) -> Billed:
        key = str(snap.get("key") or "")
        if snap.get("type") != "transaction" or not key:
            return Billed()
        # A copy: on the write-behind copy the loaded state is the stored object itself.
        state = BillState.of(await self.store.load_bill(key))
        merge_snapshot(state, snap, self.config.readings_cap)
        tariff = await self._tariff(state)
        if tariff is None:
            await self.store.save_bill(key, state)
            return Billed(changed=True)
        _, bill = priced(tariff, state)
        display = Display(**state.get("display") or {})
        out = Billed(changed=True)
        if state["ended"]:
            out.publish = self._final(state, bill, str(snap.get("last_event_id") or ""))
            if out.publish is not None and out.publish["revision"] == 1 and display.datatransfer16:
                out.calls = station_calls(state, bill, tariff, display)
            await self.store.save_checkpoint(key, None)
        else:
            state["bill"] = {**bill, "revision": 0}
            out.calls = self._running_calls(state, bill, tariff, display)
            if display.final or display.message:
                await self.store.save_checkpoint(key, checkpoint(tariff, display, state, snap))
        await self.store.save_bill(key, state)
        if out.calls and self.messages is not None:
            for action, payload in out.calls:
                await self.messages.send(state["station"], action, payload)
        return out

    async def _tariff(self, state: BillState) -> Tariff | None:
        if state.get("tariff"):
            return state.tariff()
        if state.get("tariff_checked") and not state["ended"]:
            return None  # looked up at the start; once more at the end (a tariff set meanwhile)
        state["tariff_checked"] = True
        tariff = await self.lookups.tariff_for(
            str(state["station"]),
            int(state.get("evse") or 0),
            str(state.get("id_token") or ""),
            int(state["started_ms"]),
        )
        if tariff is None:
            return None
        state["tariff"] = tariff.to_dict()
        display = await self.lookups.display(str(state["station"]), str(state.get("proto") or ""))
        state["display"] = dataclasses.asdict(display)
        return tariff

    def _final(
        self, state: dict[str, Any], bill: dict[str, Any], event_id: str
    ) -> dict[str, Any] | None:
        sig = signature(bill)
        if sig == state.get("final_sig"):
            # The same bill again: only the snapshot behind the stored bill republishes it.
            stored: dict[str, Any] = state["bill"]
            return stored if event_id and event_id == state.get("final_event") else None
        state["revision"] = int(state.get("revision") or 0) + 1
        state["final_sig"], state["final_event"] = sig, event_id
        final = {**bill, "revision": state["revision"]}
        state["bill"] = final
        return final

    def _running_calls(
        self, state: dict[str, Any], bill: dict[str, Any], tariff: Tariff, display: Display
    ) -> list[tuple[str, dict[str, Any]]]:
        interval = self.config.cost_interval_ms
        if not interval or not (display.cost_updated or display.datatransfer16):
            return []
        at = int(bill["priced_until_ms"])
        last = state.get("cost_sent_ms")
        if last is not None and at - int(last) < interval:
            return []
        state["cost_sent_ms"] = at
        return station_calls(state, bill, tariff, display)


# --- Redis edge --------------------------------------------------------------------------------


class RedisBillingStore(RedisBills):
    """The bills read model on an agent's client."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(as_redis(redis))
