"""One session's bill as a fold of its transaction snapshots - the same code for the billing
projection (libs/csms/projections/billing.py) and the gateway (csms.handlers.v201.transaction_cost).

The billing state is a JSON-ready dict (it is stored as it is in Redis, `csms:bill:<key>`): the
session's times, baseline, charging states and merged energy readings, the transaction's energy
figure, the tariff it is priced with, and the bill. `merge_snapshot` folds one snapshot of
`csms.transactions` into it (idempotent); `priced` prices it.

The billing projection keeps each session's state in memory between snapshots, as a `BillState`
(csms.readmodels.bills, on the processors' write-behind copy): the same dict, encoded the same,
plus what only this process knows - its walk as an object (`Walk`) and what its last merge
added (`Grown`) - so a snapshot costs what its new readings cost, not what the session does.

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
from csms.domain.tariffs import Tariff, parse_stored

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


class BillState(dict[str, Any]):
    """A billing state as the billing projection keeps it between snapshots (csms.readmodels.
    bills keeps the object on the processors' write-behind copy): the JSON object, its walk as
    a `Walk`, and what its last merge added (`grown`), so that pricing extends the walk by the
    new instants rather than rebuild the session's. Encoded as the plain state (`encode_state`).
    Once stored it is never changed in place: a snapshot is folded into a copy (`of`)."""

    __slots__ = ("grown", "parsed")

    def __init__(self, state: Mapping[str, Any]) -> None:
        super().__init__(state)
        self.grown: Grown | None = None
        self.parsed: tuple[Any, Tariff] | None = None  # (stored "tariff", its Tariff)

    @classmethod
    def of(cls, loaded: Mapping[str, Any] | None) -> BillState:
        """A copy of a loaded state to fold a snapshot into (a new state when none)."""
        state = cls(new_state() if loaded is None else loaded)
        if isinstance(loaded, BillState):
            state.grown, state.parsed = loaded.grown, loaded.parsed
        return state

    def tariff(self) -> Tariff | None:
        """The tariff the state is priced with ("tariff"), parsed once for the stored dict
        (parse_stored encodes the dict at each call, to find it in its cache)."""
        stored = self.get("tariff")
        if not stored:
            return None
        if self.parsed is None or self.parsed[0] is not stored:
            self.parsed = (stored, parse_stored(stored))
        return self.parsed[1]


@dataclass(frozen=True, slots=True)
class Grown:
    """What one merge did to a `BillState`'s readings and states lists: from the `before` lists
    it made the `after` ones (merged here: sorted, each reading once, as `readings_merge` has
    them) by adding `readings` and `states` after the ones it had; None where it rebuilt."""

    before: tuple[Any, Any]
    after: tuple[Any, Any]
    readings: list[tuple[int, float]] | None
    states: list[list[Any]] | None


def merge_snapshot(state: dict[str, Any], snap: Mapping[str, Any], cap: int = READINGS_CAP) -> None:
    """Fold one transaction snapshot (with the energy readings of its frame, `readings`) into
    the billing state (idempotent). Readings are a union; the rest is taken from the newest
    snapshot only (its `revision`), so a redelivered older one changes nothing. A `BillState`
    also learns what was added (`Grown`)."""
    new = [[r[0], r[1]] for r in snap.get("readings") or ()]
    for wh_field, ms_field in (
        ("meter_start_wh", "meter_start_ms"),
        ("meter_stop_wh", "meter_stop_ms"),
    ):
        if snap.get(wh_field) is not None:
            new.append([int(snap.get(ms_field) or 0), float(snap[wh_field])])
    before = (state.get("readings"), state.get("states"))
    readings_ours, states_ours = _merged_here(state)
    extended = None
    if readings_ours:
        extended = billing.readings_extended(state["readings"], new, cap)
    if extended is None:
        state["readings"] = billing.readings_merge(before[0] or (), new, cap)
    else:
        state["readings"] = extended[0]
    added_states = _merge_fields(state, snap, states_ours)
    if isinstance(state, BillState):
        after = (state["readings"], state.get("states"))
        added = None if extended is None else extended[1]
        state.grown = Grown(before, after, added, added_states)


def _merged_here(state: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether the state's readings and states lists are what a merge left in this process (a
    `BillState`'s last one), so that new ones may simply go after them."""
    grown = state.grown if isinstance(state, BillState) else None
    if grown is None:
        return False, False
    return grown.after[0] is state.get("readings"), grown.after[1] is state.get("states")


def _merge_fields(
    state: dict[str, Any], snap: Mapping[str, Any], states_ours: bool
) -> list[list[Any]] | None:
    """Everything but the readings, from the newest snapshot; the states it added after the
    ones the state had ([] when it is older), None when it rebuilt them."""
    revision = int(snap.get("revision") or 0)
    if revision < int(state.get("tx_revision", -1)):
        return []
    state["tx_revision"] = revision
    state["baseline_ms"] = (
        None if snap.get("meter_start_wh") is None else int(snap.get("meter_start_ms") or 0)
    )
    state["started_ms"] = int(snap.get("started_ms") or 0)
    state["ended"] = snap.get("state") == "ended"
    state["ended_ms"] = int(snap.get("ended_ms") or 0)
    state["energy_wh"] = float(snap.get("energy_wh") or 0.0)
    state["energy_at_ms"] = int(snap.get("meter_stop_ms") or 0)
    added = _states_added(state.get("states"), snap.get("state_changes"), states_ours)
    if added is None:
        state["states"] = [[int(ts), str(s)] for ts, s in snap.get("state_changes") or ()]
    else:
        state["states"] = [*state["states"], *added]
    for name in ("station", "transaction_id", "evse", "connector", "id_token", "proto"):
        state[name] = snap.get(name, state.get(name))
    state["stop_reason"] = snap.get("stop_reason") or ""
    state["closed_by"] = snap.get("closed_by") or ""
    state["updated_ms"] = int(snap.get("updated_ms") or 0)
    return added


def _states_added(old: Any, changes: Any, ours: bool) -> list[list[Any]] | None:
    """The snapshot's state changes after the state's own, when it starts with exactly those
    (a list of [ts, state] each equal to the merged one): the usual case, a session's changes
    only growing. None otherwise (or when the state's were not merged here)."""
    if not ours or not isinstance(old, list) or not isinstance(changes, list):
        return None
    if len(changes) < len(old) or changes[: len(old)] != old:
        return None
    return [[int(ts), str(s)] for ts, s in changes[len(old) :]]


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
    baseline) walks the session from its start, and so does the end - unless the walk so far
    is known to be the one from the start (`Walk.exact`): the same fold over the same instants
    then goes on from where it stands. The energy priced is the transaction's figure, spread as
    the walk found it. The accrual returned may be the walk's own: read it, never change it."""
    acc = _walked(tariff, state)
    energy = as_decimal(float(state.get("energy_wh") or 0.0))
    settled = acc  # the usual case: the walk found the transaction's energy (no copy needed)
    if acc.energy_wh != energy:
        at_ms = int(state.get("energy_at_ms") or acc.at_ms)
        settled = billing.settle_energy(tariff, acc, energy, at_ms)
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


def _walked(tariff: Tariff, state: dict[str, Any]) -> billing.Accrual:
    """The session's accrual up to its last instant (at the end, to its end); the walk is kept
    in the state for the next snapshot (dropped at the end)."""
    walked = _stored_walk(state)
    new = _new_instants(state, walked)
    if walked is not None and new is not None:
        acc, exact = _walk_on(tariff, state, walked, new), walked.exact
        count, last = walked.count + len(new), new[-1] if new else walked.last
    else:
        session = bill_inputs(state)
        todo = billing.steps(session)
        acc, exact = _walk_again(tariff, state, session, todo, walked)
        count, last = len(todo), todo[-1] if todo else None
    if state["ended"]:
        state.pop("walk", None)
        return acc
    walk = Walk(acc, count, last, state.get("baseline_ms"), int(state["started_ms"]))
    if isinstance(state, BillState):  # kept as the object, with what it was walked over
        walk.over, walk.exact = (state["readings"], state.get("states")), exact
        state["walk"] = walk
    else:
        state["walk"] = walk.to_dict()
    return acc


class Walk:
    """A running session's walk so far (the state's "walk"): the accrual after its first
    `count` instants, the last of them, the baseline and start it was walked from; a dict in
    JSON (`to_dict`). A `BillState` keeps the object, with the readings and states lists it
    was walked over (`over`) and whether its accrual is exactly their walk from the start
    (`exact`: not after resuming a stored walk, whose earlier instants are unknown)."""

    __slots__ = ("acc", "baseline_ms", "count", "exact", "last", "over", "started_ms")

    def __init__(
        self,
        acc: billing.Accrual | Mapping[str, Any],
        count: int,
        last: billing.Step | None,
        baseline_ms: Any,
        started_ms: Any,
    ) -> None:
        self.acc, self.count, self.last = acc, count, last
        self.baseline_ms, self.started_ms = baseline_ms, started_ms
        self.over: tuple[Any, Any] | None = None
        self.exact = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Walk:
        """The stored walk (its accrual is parsed only if it resumes)."""
        last = d.get("last")
        return cls(
            d["acc"],
            int(d["count"]),
            tuple(last) if isinstance(last, list) else last,
            d["baseline_ms"],
            d["started_ms"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "acc": self.acc.to_dict() if isinstance(self.acc, billing.Accrual) else self.acc,
            "count": self.count,
            "last": None if self.last is None else list(self.last),
            "baseline_ms": self.baseline_ms,
            "started_ms": self.started_ms,
        }

    def accrual(self) -> billing.Accrual:
        """A copy of the accrual to walk on (this one stays as it is: it may be stored)."""
        if isinstance(self.acc, billing.Accrual):
            return self.acc.copy()
        return billing.Accrual.from_dict(self.acc)


def json_default(value: Any) -> Any:
    """orjson's `default` for a billing state: a `Walk` is its dict."""
    if isinstance(value, Walk):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_state(state: Mapping[str, Any]) -> bytes:
    """A billing state (a `BillState` or its JSON object) as JSON."""
    return orjson.dumps(state, default=json_default)


def _stored_walk(state: Mapping[str, Any]) -> Walk | None:
    walked = state.get("walk")
    if isinstance(walked, Walk):
        return walked
    return Walk.from_dict(walked) if walked else None


def _new_instants(state: Mapping[str, Any], walked: Walk | None) -> list[billing.Step] | None:
    """The instants of the session after the walked ones, in order, when the session only
    grew since the walk: the state's last merge (`Grown`) started from the lists the walk was
    walked over, from the same baseline and start, and added only instants after its last.
    Then the session's instants (`steps(bill_inputs(state))`) are the walked ones followed by
    these. None when that is not known."""
    grown = state.grown if isinstance(state, BillState) else None
    if walked is None or walked.over is None or grown is None:
        return None
    if grown.readings is None or grown.states is None or not _same(grown.before, walked.over):
        return None
    if not _same(grown.after, (state.get("readings"), state.get("states"))):
        return None
    baseline = state.get("baseline_ms")
    if walked.baseline_ms != baseline or walked.started_ms != int(state["started_ms"]):
        return None
    new: list[billing.Step] = [(ts, 1, None, s) for ts, s in grown.states]
    if baseline is not None:  # readings from the baseline on, as bill_inputs takes them
        new += [(ts, 0, wh, None) for ts, wh in grown.readings if ts >= baseline]
    new.sort()
    if new and walked.last is not None and new[0] < walked.last:
        return None
    return new


def _same(lists: tuple[Any, Any], others: tuple[Any, Any]) -> bool:
    return lists[0] is others[0] and lists[1] is others[1]


def _walk_on(
    tariff: Tariff, state: Mapping[str, Any], walked: Walk, new: list[billing.Step]
) -> billing.Accrual:
    """The walk extended by the new instants; at the end, on to the end too when the walk so
    far is exactly the one from the start and none of its instants is after the end (else the
    session is walked from its start, as it always was)."""
    if not state["ended"]:
        acc = walked.accrual()
        billing.walk(tariff, acc, new)
        return acc
    ended_ms = int(state["ended_ms"])
    if walked.exact and (not ended_ms or walked.last is None or walked.last[0] <= ended_ms):
        acc = walked.accrual()
        billing.extend(tariff, acc, new, ended_ms)
        return acc
    return billing.price(tariff, bill_inputs(state))


def _walk_again(
    tariff: Tariff,
    state: Mapping[str, Any],
    session: billing.Session,
    todo: list[billing.Step],
    walked: Walk | None,
) -> tuple[billing.Accrual, bool]:
    """The session's accrual from all its instants (`todo`): a running session resumes the
    stored walk when it has exactly as many instants up to the same last one (not checked:
    exact no more); else, and at the end, it is walked from its start (exact)."""
    if not state["ended"] and _resumable(state, session, todo, walked):
        assert walked is not None
        acc = walked.accrual()
        billing.walk(tariff, acc, todo[walked.count :])
        return acc, False
    return billing.price(tariff, session), True


def _resumable(
    state: Mapping[str, Any],
    session: billing.Session,
    todo: list[billing.Step],
    walked: Walk | None,
) -> bool:
    """The stored walk, when the session's instants so far are exactly the ones it priced."""
    if walked is None or walked.baseline_ms != state.get("baseline_ms"):
        return False
    count = walked.count
    if walked.started_ms != session.started_ms or count > len(todo):
        return False
    return not (count and todo[count - 1] != walked.last)  # else: one came before the last


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
