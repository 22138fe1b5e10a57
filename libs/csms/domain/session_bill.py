"""One session's bill as a fold of its transaction snapshots - the same code for the billing
projection (libs/csms/projections/billing.py) and the gateway (csms.handlers.v201.transaction_cost).

The billing state is a JSON-ready dict (it is stored as it is in Redis, `csms:bill:<key>`): the
session's times, baseline, charging states and merged energy readings, the transaction's energy
figure, the tariff it is priced with, and the bill. `merge_snapshot` folds one snapshot of
`csms.transactions` into it (idempotent); `priced` prices it.

Energy is the transaction's figure (csms.domain.energy): the walk over the readings only says
how that energy spreads over the tariff periods (`billing.settle_energy`), so a bill can never
disagree with its transaction.

`Ledger` is the gateway's side: the 2.x TransactionEvents a connection carried for one
transaction, folded through the transaction fold and `merge_snapshot` on top of the billing's
checkpoint (or from nothing when the billing has not caught up), so the station is told the
cost the bill will say, whether or not the processors have seen the session yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from csms.domain import billing
from csms.domain import transactions as txp
from csms.domain.device_model import V16_COMPONENT, variable_key
from csms.domain.energy import as_decimal
from csms.domain.model import Transaction
from csms.domain.tariffs import Tariff

# Readings a billing state keeps per session (beyond, every other interior one is dropped: the
# total is the transaction's, only the split between tariff periods gets coarser).
READINGS_CAP = 500
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


# --- the billing state -------------------------------------------------------------------------


def new_state() -> dict[str, Any]:
    return {"readings": [], "revision": 0}


def merge_snapshot(state: dict[str, Any], snap: Mapping[str, Any], cap: int = READINGS_CAP) -> None:
    """Fold one transaction snapshot (with the energy readings of its frame, `readings`) into
    the billing state (idempotent). Readings are a union; the rest is taken from the newest
    snapshot only (its `revision`), so a redelivered older one changes nothing."""
    new = [[r[0], r[1]] for r in snap.get("readings") or ()]
    for wh_field, ms_field in (
        ("meter_start_wh", "meter_start_ms"),
        ("meter_stop_wh", "meter_stop_ms"),
    ):
        if snap.get(wh_field) is not None:
            new.append([int(snap.get(ms_field) or 0), float(snap[wh_field])])
    state["readings"] = billing.readings_merge(state.get("readings") or (), new, cap)
    revision = int(snap.get("revision") or 0)
    if revision < int(state.get("tx_revision", -1)):
        return
    state["tx_revision"] = revision
    state["baseline_ms"] = (
        None if snap.get("meter_start_wh") is None else int(snap.get("meter_start_ms") or 0)
    )
    state["started_ms"] = int(snap.get("started_ms") or 0)
    state["ended"] = snap.get("state") == "ended"
    state["ended_ms"] = int(snap.get("ended_ms") or 0)
    state["energy_wh"] = float(snap.get("energy_wh") or 0.0)
    state["energy_at_ms"] = int(snap.get("meter_stop_ms") or 0)
    state["states"] = [[int(ts), str(s)] for ts, s in snap.get("state_changes") or ()]
    for name in ("station", "transaction_id", "evse", "connector", "id_token", "proto"):
        state[name] = snap.get(name, state.get(name))
    state["stop_reason"] = snap.get("stop_reason") or ""
    state["closed_by"] = snap.get("closed_by") or ""
    state["updated_ms"] = int(snap.get("updated_ms") or 0)


def bill_inputs(state: Mapping[str, Any]) -> billing.Session:
    """The session as the billing walks it: readings from the transaction's baseline on (an
    offline start's 0 Wh or a reading before the baseline is no energy delivered)."""
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


def priced(tariff: Tariff, state: dict[str, Any]) -> tuple[billing.Accrual, dict[str, Any]]:
    """The accrual and the bill of the state, with the transaction's identity on it. A running
    session whose new instants all come after the ones already priced resumes the stored walk:
    O(new readings) per snapshot instead of O(all); anything else (a late reading, a new
    baseline, the end) walks the session from its start. The energy priced is the transaction's
    figure, spread as the walk found it."""
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
    energy = as_decimal(float(state.get("energy_wh") or 0.0))
    settled = billing.settle_energy(
        tariff, acc, energy, int(state.get("energy_at_ms") or acc.at_ms)
    )
    bill = billing.finish(tariff, settled, final=bool(state["ended"]))
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
    return settled, bill


def _resumed(
    state: Mapping[str, Any], session: billing.Session, todo: list[billing.Step]
) -> billing.Accrual | None:
    """The stored walk, when the session's instants so far are exactly the ones it priced."""
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


# --- the gateway's ledger ----------------------------------------------------------------------


def checkpoint(
    tariff: Tariff, display: Display, state: Mapping[str, Any], snap: Mapping[str, Any]
) -> dict[str, Any]:
    """What the gateway needs to tell the station the cost the bill will say: the tariff, what
    the station shows, and the billing state and transaction so far, which it folds the events
    it answers into (`Ledger`, below)."""
    return {
        "tariff": tariff.to_dict(),
        "show": {"final": display.final, "message": display.message},
        "state": state,
        "tx": {k: v for k, v in snap.items() if k != "readings"},
    }


class Ledger:
    """The TransactionEvents one connection carried for one 2.x transaction, as the billing
    will see them: each folded through the transaction fold (`advance`), each snapshot that
    changed something merged into a billing state. `bill` prices it on top of what the billing
    projection had already folded (its checkpoint: `{"state", "tx"}`) or, when it has not caught
    up, from this connection's events alone."""

    __slots__ = ("updates",)

    def __init__(self) -> None:
        self.updates: list[txp.TxUpdate] = []

    def add(self, update: txp.TxUpdate, cap: int = READINGS_CAP) -> None:
        self.updates.append(update)
        if len(self.updates) > cap:
            del self.updates[0]

    def prune(self, seen_until_ms: int) -> None:
        """Forget what the billing already folded: one station's frames are in one partition,
        so every frame it received up to its latest is in the checkpoint."""
        self.updates = [u for u in self.updates if u.received_ms > seen_until_ms]

    def fold(
        self, state: Mapping[str, Any] | None, tx: Transaction | None
    ) -> tuple[dict[str, Any], Transaction | None]:
        """The billing state and transaction after this ledger's updates, on top of a
        checkpoint's (copies: the inputs are left as they were)."""
        merged: dict[str, Any] = orjson.loads(orjson.dumps(state)) if state else new_state()
        for update in self.updates:
            tx, verdict = txp.advance(tx, update)
            if verdict == "skip":
                continue
            snap = txp.snapshot(tx)
            if update.readings:
                snap["readings"] = [[r.ts_ms, r.wh] for r in update.readings]
            merge_snapshot(merged, snap)
        return merged, tx
