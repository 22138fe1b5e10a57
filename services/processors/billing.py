"""The billing projection: prices every transaction from its snapshots on `csms.transactions`.

Input: the transactions step's snapshots (`type` "transaction"), which carry the session's
times, baseline and latest energy reading, charging-state changes, and the energy readings of
the frame that changed it (`readings`). Per transaction the step keeps, in Redis
(`redis_keys.bill`), the tariff version it is priced with (resolved once, at the session's
start time), the readings it has seen (merged by station time, so late, out-of-order and
duplicated meter values give the in-order result) and the bill so far.

Output:
* the running bill in Redis (the API's `/transactions/{station}/{id}/bill`);
* for stations that can display cost (device model), a checkpoint the gateway extends to
  answer a 2.0.1/2.1 TransactionEvent with the cost (`redis_keys.cost_checkpoint`), and
  CostUpdated (2.x) or the OCA cost DataTransfer (1.6, off by default) every
  `billing_cost_interval_s` of session time;
* the final bill on `csms.bills` when the transaction ends - once: a redelivered snapshot
  finds the same bill and publishes nothing new (unless it is exactly the snapshot behind
  the stored bill, which is published again in case a crash lost it); late data that
  changes a final bill publishes revision n+1, which replaces it in ClickHouse.

Pure decisions (`bill_inputs`, `cost_display`, `final_changed`) are separate from the I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from csms.domain import billing, cost_messages
from csms.domain.device_model import V16_COMPONENT, variable_key
from csms.domain.tariffs import Tariff, parse_stored
from csms.infra import redis_keys
from csms.infra.tariff_store import TariffStore
from csms.text import as_text
from services.processors.stores import RedisClient

log = logging.getLogger(__name__)

# How long a checkpoint outlives the last update of its session (the gateway only needs it
# while the session runs; a session silent this long is closed by policy anyway).
CHECKPOINT_TTL_S = 3 * 24 * 3600
# Fields of a bill that identify what was billed (not when it was computed).
_VOLATILE = ("computed_ms", "revision")
_COST_ENABLED_2X = variable_key("TariffCostCtrlr", "Enabled", variable_instance="Cost")
_COST_DISPLAY_16 = variable_key(V16_COMPONENT, "CustomDisplayCostAndPrice")


@dataclass(frozen=True, slots=True)
class Display:
    """What a station can show of the cost (from its device model)."""

    final: bool = False  # 2.x TransactionEventResponse.totalCost when it ends
    message: bool = False  # 2.x updatedPersonalMessage
    cost_updated: bool = False  # 2.x CostUpdated during the session
    datatransfer16: bool = False  # 1.6 OCA RunningCost / FinalCost DataTransfer

    @property
    def any(self) -> bool:
        return self.final or self.message or self.cost_updated or self.datatransfer16


@dataclass(frozen=True, slots=True)
class BillingConfig:
    cost_interval_ms: int = 60_000  # 0 = no CostUpdated / RunningCost during sessions
    datatransfer16: bool = False  # the 1.6 vendor message is off unless the operator says so
    readings_cap: int = 500


class BillingStore(Protocol):
    async def load_bill(self, key: str) -> dict[str, Any] | None: ...

    async def save_bill(self, key: str, state: dict[str, Any]) -> None: ...

    async def save_checkpoint(self, key: str, checkpoint: dict[str, Any] | None) -> None: ...


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


# --- pure ----------------------------------------------------------------------------------


def bill_inputs(state: Mapping[str, Any]) -> billing.Session:
    """The session as the billing prices it: readings from the transaction's baseline on
    (an offline start's 0 Wh or a reading before the baseline is no energy delivered)."""
    baseline_ms = state.get("baseline_ms")
    readings = (
        []
        if baseline_ms is None
        else [(int(ts), float(wh)) for ts, wh in state["readings"] if int(ts) >= baseline_ms]
    )
    return billing.Session(
        started_ms=int(state["started_ms"]),
        ended_ms=int(state["ended_ms"]) if state["ended"] else 0,
        readings=readings,
        states=[(int(ts), str(s)) for ts, s in state.get("states") or ()],
    )


def merge_snapshot(state: dict[str, Any], snap: Mapping[str, Any], cap: int) -> None:
    """Fold one transaction snapshot into the billing state (idempotent)."""
    new = [[r[0], r[1]] for r in snap.get("readings") or ()]
    for wh_field, ms_field in (
        ("meter_start_wh", "meter_start_ms"),
        ("meter_stop_wh", "meter_stop_ms"),
    ):
        if snap.get(wh_field) is not None:
            new.append([int(snap.get(ms_field) or 0), float(snap[wh_field])])
    state["readings"] = billing.readings_merge(state.get("readings") or (), new, cap)
    state["baseline_ms"] = (
        None if snap.get("meter_start_wh") is None else int(snap.get("meter_start_ms") or 0)
    )
    state["started_ms"] = int(snap.get("started_ms") or 0)
    state["ended"] = snap.get("state") == "ended"
    state["ended_ms"] = int(snap.get("ended_ms") or 0)
    state["states"] = [[int(ts), str(s)] for ts, s in snap.get("state_changes") or ()]
    for name in ("station", "transaction_id", "evse", "connector", "id_token", "proto"):
        state[name] = snap.get(name, state.get(name))
    state["stop_reason"] = snap.get("stop_reason") or ""
    state["closed_by"] = snap.get("closed_by") or ""
    state["updated_ms"] = int(snap.get("updated_ms") or 0)


def priced(tariff: Tariff, state: dict[str, Any]) -> tuple[billing.Accrual, dict[str, Any]]:
    """The accrual and the bill of the state, with the transaction's identity on it. A running
    session whose new instants all come after the ones already priced resumes the stored
    accrual (`walk`): O(new readings) per snapshot instead of O(all); anything else (a late
    reading, a new baseline, the end) prices the session from its start."""
    session = bill_inputs(state)
    todo = billing.steps(session)
    acc = None if state["ended"] else _resumed(state, session, todo)
    if acc is None:
        acc = billing.price(tariff, session)
    else:
        billing.walk(tariff, acc, todo[int(state["walk"]["count"]) :])
    if state["ended"]:
        state.pop("walk", None)
    else:
        state["walk"] = {
            "acc": acc.to_dict(),
            "count": len(todo),
            "last": list(todo[-1]) if todo else None,
            "baseline_ms": state.get("baseline_ms"),
            "started_ms": session.started_ms,
        }
    bill = billing.finish(tariff, acc, final=bool(state["ended"]))
    bill.update(
        type="bill",
        station=state["station"],
        transaction_id=state["transaction_id"],
        evse=int(state.get("evse") or 0),
        connector=int(state.get("connector") or 0),
        id_token=state.get("id_token") or "",
        proto=state.get("proto") or "",
        ended_ms=int(state["ended_ms"]) if state["ended"] else 0,
        stop_reason=state.get("stop_reason") or "",
        closed_by=state.get("closed_by") or "",
        computed_ms=int(state.get("updated_ms") or 0),
    )
    return acc, bill


def _resumed(
    state: Mapping[str, Any], session: billing.Session, todo: list[billing.Step]
) -> billing.Accrual | None:
    """The stored accrual, when the session's instants so far are exactly the ones it priced."""
    walked = state.get("walk")
    if not walked or walked["baseline_ms"] != state.get("baseline_ms"):
        return None
    count = int(walked["count"])
    if walked["started_ms"] != session.started_ms or count > len(todo):
        return None
    if count and list(todo[count - 1]) != walked["last"]:
        return None  # something arrived before the last priced instant
    return billing.Accrual.from_dict(walked["acc"])


def signature(bill: Mapping[str, Any]) -> str:
    """What makes two final bills the same bill (not when they were computed)."""
    stable = {k: v for k, v in bill.items() if k not in _VOLATILE}
    return hashlib.blake2b(
        orjson.dumps(stable, option=orjson.OPT_SORT_KEYS), digest_size=12
    ).hexdigest()


def cost_display(model: Mapping[str, Any] | None, proto: str, datatransfer16: bool) -> Display:
    """From the device model: 2.x TariffCostCtrlr.Enabled[Cost], 1.6 the OCA key
    CustomDisplayCostAndPrice (and the operator's opt-in for the vendor message)."""
    if not model:
        return Display()
    if proto == "ocpp1.6":
        return Display(datatransfer16=datatransfer16 and _actual_true(model, _COST_DISPLAY_16))
    if _actual_true(model, _COST_ENABLED_2X):
        return Display(final=True, message=True, cost_updated=True)
    return Display()


def _actual_true(model: Mapping[str, Any], key: str) -> bool:
    var = (model.get("variables") or {}).get(key) or {}
    actual = (var.get("attributes") or {}).get("Actual") or {}
    return str(actual.get("value") or "").strip().lower() == "true"


def station_calls(
    state: Mapping[str, Any], bill: Mapping[str, Any], tariff: Tariff, display: Display
) -> list[tuple[str, dict[str, Any]]]:
    """What to tell the station about this bill (running: interval already checked)."""
    tx_id = str(state["transaction_id"])
    final = bill["state"] == billing.FINAL
    if display.cost_updated and not final:
        return [("CostUpdated", cost_messages.cost_updated(tx_id, bill))]
    if display.datatransfer16 and tx_id.isdigit():
        if final:
            return [("DataTransfer", cost_messages.final_cost_16(int(tx_id), bill))]
        readings = state.get("readings") or []
        meter = float(readings[-1][1]) if readings else 0.0
        charging = (state.get("states") or [[0, ""]])[-1][1] in billing.CHARGING_STATES
        return [
            (
                "DataTransfer",
                cost_messages.running_cost_16(
                    int(tx_id), bill, tariff, int(bill["priced_until_ms"]), meter, charging
                ),
            )
        ]
    return []


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
        state = await self.store.load_bill(key) or {"readings": [], "revision": 0}
        merge_snapshot(state, snap, self.config.readings_cap)
        tariff = await self._tariff(state)
        if tariff is None:
            await self.store.save_bill(key, state)
            return Billed(changed=True)
        acc, bill = priced(tariff, state)
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
                show = {"final": display.final, "message": display.message}
                await self.store.save_checkpoint(
                    key, {"tariff": tariff.to_dict(), "acc": acc.to_dict(), "show": show}
                )
        await self.store.save_bill(key, state)
        if out.calls and self.messages is not None:
            for action, payload in out.calls:
                await self.messages.send(state["station"], action, payload)
        return out

    async def _tariff(self, state: dict[str, Any]) -> Tariff | None:
        if state.get("tariff"):
            return parse_stored(state["tariff"])
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


class RedisBillingStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def load_bill(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(redis_keys.bill(key))
        if not raw:
            return None
        value = orjson.loads(raw)
        return value if isinstance(value, dict) else None

    async def save_bill(self, key: str, state: dict[str, Any]) -> None:
        await self._redis.set(redis_keys.bill(key), orjson.dumps(state))

    async def save_checkpoint(self, key: str, checkpoint: dict[str, Any] | None) -> None:
        name = redis_keys.cost_checkpoint(key)
        if checkpoint is None:
            await self._redis.delete(name)
        else:
            await self._redis.set(name, orjson.dumps(checkpoint), ex=CHECKPOINT_TTL_S)


class RedisLookups:
    """Tariffs, id-token groups and device models, read from Redis itself."""

    def __init__(self, redis: RedisClient, datatransfer16: bool) -> None:
        self._redis = redis
        self._tariffs = TariffStore(redis)  # type: ignore[arg-type]
        self._datatransfer16 = datatransfer16

    async def tariff_for(self, station: str, evse: int, id_token: str, at_ms: int) -> Tariff | None:
        group = await self._redis.hget(redis_keys.id_token(id_token), "group") if id_token else None
        return await self._tariffs.resolve(station, evse, as_text(group) if group else None, at_ms)

    async def display(self, station: str, proto: str) -> Display:
        raw = await self._redis.get(redis_keys.device_model(station))
        model = orjson.loads(raw) if raw else None
        return cost_display(model if isinstance(model, dict) else None, proto, self._datatransfer16)
