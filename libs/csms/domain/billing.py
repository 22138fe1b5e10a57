"""Pricing a charging session: a pure fold over its energy readings and charging states.

`price(tariff, session)` walks the session from its start to its end (or to "now" while it
runs) through every energy reading and charging-state change, in station time. Each span
between two such instants is split where a tariff period begins or ends, and priced:

* energy: the span's energy (the readings' difference, spread evenly over the span) at the
  period's price per kWh;
* time: the span's length at the period's charging price per hour while the EV charges
  (`Charging`, or no state known), at the idle price while it is connected but not charging
  (`SuspendedEV`, `SuspendedEVSE`, `EVConnected`), free otherwise (`Idle`: no EV).

The walk's running result is an `Accrual` (unrounded quantities and amounts per line). The
energy it prices is then settled to the transaction's own figure (`settle_energy`): the walk
says how the energy spreads over the tariff periods, csms.domain.energy says how much it is,
so a bill never disagrees with its transaction (csms.domain.session_bill).

`finish` turns an accrual into the bill: each line rounded half-up to the currency's minor
unit, plus the session fee, the minimum / maximum price as an adjustment line, tax on the
subtotal. Nothing here is a float except the meter readings the stations send.

Meter resets and rollovers (csms.domain.energy.delta_wh): a register that goes down either
wrapped (the energy across the wrap counts) or was reset (nothing is counted across the drop);
both flagged.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from csms.domain.energy import delta_wh
from csms.domain.tariffs import Tariff

CHARGING_STATES = frozenset({"Charging", ""})  # no state known: the session is charging
IDLE_STATES = frozenset({"SuspendedEV", "SuspendedEVSE", "EVConnected"})
RUNNING = "running"
FINAL = "final"
_MS_PER_HOUR = Decimal(3_600_000)
_WH_PER_KWH = Decimal(1000)
_QUANTITY = Decimal("0.0001")
_MWH = Decimal("0.001")
_ONE = Decimal(1)
_UNITS = {"energy": "kWh", "charging_time": "h", "idle_time": "h"}
# No session is priced beyond this: instants later than start + 31 days are taken as a
# station clock gone wrong (flag `implausible_duration`).
MAX_SESSION_MS = 31 * 24 * 3_600_000


@dataclass(slots=True)
class Accrual:
    """A session priced up to `at_ms` (station time).

    `lines` maps (component, period, unit price) to [quantity, amount], both unrounded;
    `wh` is the last energy reading so far and `state` the charging state in force."""

    started_ms: int
    at_ms: int
    wh: float | None = None
    wh_ms: int = 0  # when `wh` was read
    state: str = ""
    lines: dict[tuple[str, str, str], list[Decimal]] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    energy_wh: Decimal = Decimal(0)
    charging_ms: int = 0
    idle_ms: int = 0

    def add(self, component: str, period: str, unit_price: Decimal, quantity: Decimal) -> None:
        if quantity == 0:
            return
        line = self.lines.setdefault((component, period, str(unit_price)), [Decimal(0)] * 2)
        line[0] += quantity
        line[1] += quantity * unit_price

    def copy(self) -> Accrual:
        return Accrual(
            self.started_ms,
            self.at_ms,
            self.wh,
            self.wh_ms,
            self.state,
            {k: list(v) for k, v in self.lines.items()},
            set(self.flags),
            self.energy_wh,
            self.charging_ms,
            self.idle_ms,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_ms": self.started_ms,
            "at_ms": self.at_ms,
            "wh": self.wh,
            "wh_ms": self.wh_ms,
            "state": self.state,
            "lines": [[*k, str(q), str(a)] for k, (q, a) in sorted(self.lines.items())],
            "flags": sorted(self.flags),
            "energy_wh": str(self.energy_wh),
            "charging_ms": self.charging_ms,
            "idle_ms": self.idle_ms,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Accrual:
        return cls(
            started_ms=int(d["started_ms"]),
            at_ms=int(d["at_ms"]),
            wh=None if d.get("wh") is None else float(d["wh"]),
            wh_ms=int(d.get("wh_ms") or 0),
            state=str(d.get("state") or ""),
            lines={
                (str(c), str(p), str(u)): [Decimal(q), Decimal(a)]
                for c, p, u, q, a in d.get("lines") or ()
            },
            flags=set(d.get("flags") or ()),
            energy_wh=Decimal(str(d.get("energy_wh") or 0)),
            charging_ms=int(d.get("charging_ms") or 0),
            idle_ms=int(d.get("idle_ms") or 0),
        )


@dataclass(frozen=True, slots=True)
class Session:
    """What the billing knows of a session: its start, its end (0 while it runs), its energy
    readings [(ts_ms, Wh)] from the baseline on, and its charging states [(ts_ms, state)]."""

    started_ms: int
    ended_ms: int = 0
    readings: Sequence[tuple[int, float]] = ()
    states: Sequence[tuple[int, str]] = ()


# One instant of the walk: (ts_ms, 0 = reading / 1 = state change, Wh or None, state or None).
Step = tuple[int, int, float | None, str | None]


def price(tariff: Tariff, session: Session, until_ms: int | None = None) -> Accrual:
    """The session priced from its start to its end, or to `until_ms` while it runs (default:
    its last known instant)."""
    acc = Accrual(session.started_ms, session.started_ms)
    extend(tariff, acc, steps(session), session.ended_ms, until_ms)
    return acc


def extend(
    tariff: Tariff,
    acc: Accrual,
    todo: Iterable[Step],
    ended_ms: int = 0,
    until_ms: int | None = None,
) -> None:
    """`walk` through `todo`, then on to the session's end (`ended_ms`; while it runs,
    `until_ms`, by default the last instant walked): `price` from the start, or the end of a
    session whose walk so far is kept (csms.domain.session_bill) from where it stands."""
    walk(tariff, acc, todo, ended_ms)
    end = ended_ms or (until_ms if until_ms is not None else acc.at_ms)
    accrue(tariff, acc, end, None, None)


def steps(session: Session) -> list[Step]:
    """The session's readings and state changes as the walk takes them, in station time."""
    return sorted(
        [(ts, 0, wh, None) for ts, wh in session.readings]
        + [(ts, 1, None, state) for ts, state in session.states]
    )


def walk(tariff: Tariff, acc: Accrual, todo: Iterable[Step], ended_ms: int = 0) -> None:
    """Extend `acc` through `todo` (sorted, none before the accrual's position unless it is
    the first walk): `price` in one go, or a running session's new instants one snapshot at a
    time - the same result, at the cost of the new instants only."""
    for ts, _, wh, state in todo:
        if ended_ms and ts > ended_ms:
            break  # a late sample after the end: not part of the session
        accrue(tariff, acc, ts, wh, state)


def accrue(
    tariff: Tariff, acc: Accrual, until_ms: int, wh: float | None, state: str | None
) -> None:
    """Extend `acc` to `until_ms`, where the register reads `wh` and the state becomes `state`
    (None: unknown / unchanged). Instants before the start only set the baseline and state."""
    limit = acc.started_ms + MAX_SESSION_MS
    if until_ms > limit:  # a station clock off by years must not price (or walk) years
        acc.flags.add("implausible_duration")
        until_ms = limit
    at = max(until_ms, acc.at_ms)
    # Energy is spread from the previous reading on (it may be older than the last state
    # change), time from where the accrual stands.
    since = max(min(acc.wh_ms, at), at - MAX_SESSION_MS)
    _price_energy(tariff, acc, since, at, _energy(acc, wh))
    if until_ms > acc.at_ms:
        _price_time(tariff, acc, acc.at_ms, until_ms)
        acc.at_ms = until_ms
    if wh is not None:
        acc.wh, acc.wh_ms = wh, at
    if state is not None:
        acc.state = state


def settle_energy(tariff: Tariff, acc: Accrual, energy_wh: Decimal, at_ms: int) -> Accrual:
    """A copy of `acc` whose energy is `energy_wh` (the transaction's figure): the energy lines
    scaled by one factor, so each tariff period keeps its share of what the walk found; when the
    walk found none (every reading at one instant, say), all of it priced at `at_ms`."""
    out = acc.copy()
    if out.energy_wh == energy_wh:
        return out
    energy_keys = [k for k in out.lines if k[0] == "energy"]
    if out.energy_wh > 0 and energy_keys:
        factor = energy_wh / out.energy_wh
        for key in energy_keys:
            quantity = out.lines[key][0] * factor
            if quantity:
                out.lines[key] = [quantity, quantity * Decimal(key[2])]
            else:
                del out.lines[key]
    elif energy_wh:
        for key in energy_keys:
            del out.lines[key]
        prices = tariff.prices_at(at_ms)
        out.add("energy", prices.period, prices.energy_per_kwh, energy_wh / _WH_PER_KWH)
    out.energy_wh = energy_wh
    return out


def finish(tariff: Tariff, acc: Accrual, *, final: bool) -> dict[str, Any]:
    """The bill for an accrual: itemised, rounded, with fee, min/max adjustment and tax."""
    items: list[dict[str, Any]] = []
    subtotal = Decimal(0)  # of the rounded amounts, as the items say them
    for (component, period, unit), (quantity, amount) in sorted(acc.lines.items()):
        rounded = tariff.round(amount)
        items.append(_item(component, period, _price_text(unit), quantity, rounded))
        subtotal += rounded
    if tariff.session_fee:
        fee = tariff.round(tariff.session_fee)
        items.append(_item("session_fee", "", str(tariff.session_fee), _ONE, fee))
        subtotal += fee
    adjusted = _bounded(tariff, subtotal)
    if adjusted != subtotal:
        kind = "minimum_price" if adjusted > subtotal else "maximum_price"
        gap = adjusted - subtotal
        items.append(_item(kind, "", str(gap), _ONE, tariff.round(gap)))
    rounded_total = tariff.round(adjusted)
    tax = tariff.round(adjusted * tariff.tax_rate)
    return {
        "state": FINAL if final else RUNNING,
        "tariff_id": tariff.id,
        "tariff_version": tariff.version,
        "currency": tariff.currency,
        "items": items,
        "subtotal": str(rounded_total),
        "tax_rate": str(tariff.tax_rate),
        "tax": str(tax),
        "total": str(rounded_total + tax),
        "energy_wh": str(acc.energy_wh.quantize(_MWH)),
        "charging_s": acc.charging_ms // 1000,
        "idle_s": acc.idle_ms // 1000,
        "started_ms": acc.started_ms,
        "priced_until_ms": acc.at_ms,
        "flags": sorted(acc.flags),
    }


def bill_total(bill: Mapping[str, Any]) -> Decimal:
    return Decimal(str(bill.get("total") or 0))


def cost_message(bill: Mapping[str, Any]) -> str:
    """The line a station shows the driver (2.0.1 updatedPersonalMessage, 1.6 cost text)."""
    total, currency = bill.get("total", "0"), bill.get("currency", "")
    kwh = (Decimal(str(bill.get("energy_wh") or 0)) / _WH_PER_KWH).quantize(Decimal("0.01"))
    if bill.get("state") == FINAL:
        return f"Total {total} {currency} incl. tax, {kwh} kWh. Thank you!"
    return f"{kwh} kWh, {total} {currency} so far (incl. tax)"


def readings_merge(
    current: Iterable[Sequence[Any]], new: Iterable[Sequence[Any]], cap: int
) -> list[list[Any]]:
    """Readings [ts_ms, Wh] merged in (station time, value) order, each distinct reading once
    (a duplicate or a redelivery changes nothing; several readings of one instant - a station
    with a one-second clock - are all kept, in value order, as the transaction orders them).
    Beyond `cap`, every other interior reading is dropped: the total is the transaction's, only
    the split of energy between tariff periods gets coarser."""
    merged = {(int(ts), float(wh)) for ts, wh in [*current, *new]}
    out = [[ts, wh] for ts, wh in sorted(merged)]
    while len(out) > cap > 2:
        out = [out[0], *out[1:-1:2], out[-1]]
    return out


def readings_extended(
    current: list[list[Any]], new: Iterable[Sequence[Any]], cap: int
) -> tuple[list[list[Any]], list[tuple[int, float]]] | None:
    """`readings_merge` of readings that only add to the end of `current`, which must be a
    merge's result: `current` followed by them (a new list sharing its items), and what they
    added. None when they do not only add to its end (one falls inside its range and is new)
    or the cap is passed: the merge decides then. Per snapshot this is O(new readings), where
    the merge re-sorts the session's readings."""
    fresh = sorted({(int(ts), float(wh)) for ts, wh in new})
    last = tuple(current[-1]) if current else None
    added: list[tuple[int, float]] = []
    for reading in fresh:
        if reading[1] != reading[1]:
            return None  # NaN, equal to nothing: the merge's order is the one to keep
        if last is None or reading > last:
            added.append(reading)  # `fresh` is sorted: the rest are after the end too
        elif not _holds(current, reading):
            return None
    if len(current) + len(added) > cap > 2:
        return None
    return current + [[ts, wh] for ts, wh in added], added


def _holds(merged: list[list[Any]], reading: tuple[int, float]) -> bool:
    item = list(reading)
    at = bisect.bisect_left(merged, item)
    return at < len(merged) and merged[at] == item


# --- the walk -------------------------------------------------------------------------------


def _energy(acc: Accrual, wh: float | None) -> Decimal:
    """The energy between the last reading and `wh` (0 when either is unknown); counts it."""
    if wh is None or acc.wh is None:
        return Decimal(0)
    delta, flag = delta_wh(acc.wh, wh)
    if flag:
        acc.flags.add(flag)
    energy = Decimal(repr(delta))
    acc.energy_wh += energy
    return energy


def _price_time(tariff: Tariff, acc: Accrual, start: int, end: int) -> None:
    """Price [start, end) by the charging state in force, piece by tariff period."""
    for a, b in _pieces(tariff, start, end):
        prices = tariff.prices_at(a)
        hours = _hours(b - a)
        if acc.state in CHARGING_STATES:
            acc.add("charging_time", prices.period, prices.charging_per_hour, hours)
            acc.charging_ms += b - a
        elif acc.state in IDLE_STATES:
            acc.add("idle_time", prices.period, prices.idle_per_hour, hours)
            acc.idle_ms += b - a


def _price_energy(tariff: Tariff, acc: Accrual, start: int, end: int, energy: Decimal) -> None:
    """Price energy delivered over [start, end), spread evenly, piece by tariff period."""
    if not energy:
        return
    if end <= start:
        prices = tariff.prices_at(end)
        acc.add("energy", prices.period, prices.energy_per_kwh, energy / _WH_PER_KWH)
        return
    pieces = _pieces(tariff, start, end)
    if len(pieces) == 1:  # energy * span / span is energy, to the digit: at most 17 + 10 < 28
        prices = tariff.prices_at(start)
        acc.add("energy", prices.period, prices.energy_per_kwh, energy / _WH_PER_KWH)
        return
    span = Decimal(end - start)
    for a, b in pieces:
        prices = tariff.prices_at(a)
        share = energy * Decimal(b - a) / span
        acc.add("energy", prices.period, prices.energy_per_kwh, share / _WH_PER_KWH)


def _pieces(tariff: Tariff, start: int, end: int) -> Sequence[tuple[int, int]]:
    cuts = tariff.cuts(start, end)
    if not cuts:  # the usual span, a minute or so between two readings
        return ((start, end),)
    return list(itertools.pairwise([start, *cuts, end]))


@functools.lru_cache(maxsize=4096)
def _hours(ms: int) -> Decimal:
    """A span's length in hours (spans repeat: a reading a minute, a minute a span)."""
    return Decimal(ms) / _MS_PER_HOUR


def _bounded(tariff: Tariff, subtotal: Decimal) -> Decimal:
    if tariff.min_price is not None and subtotal < tariff.min_price:
        return tariff.min_price
    if tariff.max_price is not None and subtotal > tariff.max_price:
        return tariff.max_price
    return subtotal


def _item(
    component: str, period: str, unit_price: str, quantity: Decimal, amount: Decimal
) -> dict[str, Any]:
    """One line of a bill; `amount` is rounded already."""
    return {
        "component": component,
        "period": period,
        "quantity": str(quantity.quantize(_QUANTITY)),
        "unit": _UNITS.get(component, "session"),
        "unit_price": unit_price,
        "amount": str(amount),
    }


@functools.lru_cache(maxsize=1024)
def _price_text(unit_price: str) -> str:
    """A line's unit price (its key's text) as a bill says it: the Decimal's own text."""
    return str(Decimal(unit_price))
