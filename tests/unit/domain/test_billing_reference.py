"""The billing's shortcuts price exactly as the straightforward code does (csms.domain.billing,
csms.domain.tariffs).

The pricing keeps what depends only on the tariff (prices per minute, period boundaries per run
of local days), splits a span only when a boundary falls inside it, rounds with a cached minor
unit and adds readings that only extend a session without re-sorting it. Each is checked here
against the plain computation it replaces - written out below as the code was before the
shortcuts - on generated tariffs (periods across midnight, whole days, weekdays, time zones with
odd offsets and DST) and sessions (readings out of order and at one instant, resets, charging
states, absurd clocks). Equal means equal to the last digit and the last trailing zero: the
accruals are compared as their JSON (`Accrual.to_dict`, Decimal text), the bills as dicts.
"""

from __future__ import annotations

import itertools
import os
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.domain import billing
from csms.domain.billing import Accrual, Session
from csms.domain.energy import delta_wh
from csms.domain.tariffs import Prices, Tariff, parse_tariff, round_money
from csms.domain.tariffs import _local_ms as local_ms

settings.register_profile(
    "ci", max_examples=150, derandomize=True, deadline=None, suppress_health_check=[*HealthCheck]
)
settings.register_profile("explore", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_764_021_600_000  # 2025-11-24T22:00:00Z
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/Sao_Paulo",  # DST used to end at midnight
    "Australia/Lord_Howe",  # half-hour DST
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",  # skipped a whole day (2011-12-30)
    "America/Havana",  # DST at midnight
]
MONEY = ["0", "0.1", "0.29", "0.39", "1.2345", "6.00", "12"]
# Instants near which local days are odd: clock changes in ZONES (some at midnight).
ANCHORS = [
    T0,
    1_518_919_200_000,  # Sao Paulo 2018-02-18 00:00 -> 2018-02-17 23:00
    1_541_300_400_000,  # Sao Paulo 2018-11-04 00:00 -> 01:00
    1_741_496_400_000,  # Havana 2025-03-09 00:00 -> 01:00
    1_762_059_600_000,  # Havana 2025-11-02 01:00 -> 00:00
    1_325_239_200_000,  # Apia: 2011-12-30 never happened
    1_743_865_200_000,  # Lord Howe 2025-04-06 02:00 -> 01:30
    1_761_440_400_000,  # Berlin 2025-10-26 03:00 -> 02:00
]
instants = st.builds(
    lambda anchor, minutes, ms: anchor + minutes * 60_000 + ms,
    st.sampled_from(ANCHORS),
    st.integers(-3 * 48, 3 * 48).map(lambda n: n * 30) | st.integers(-3 * 24 * 60, 3 * 24 * 60),
    st.sampled_from([0, 0, 1234, 59_999]),
)


# --- the straightforward code ----------------------------------------------------------------


def reference_prices_at(tariff: Tariff, ts_ms: int) -> Prices:
    """The first period covering the minute's local time, else the base prices."""
    local = datetime.fromtimestamp(ts_ms // MIN * 60, tz=tariff.zone())
    weekday, minute = local.isoweekday(), local.hour * 60 + local.minute
    for p in tariff.periods:
        if p.covers(weekday, minute):
            return Prices(
                p.name,
                tariff.energy_per_kwh if p.energy_per_kwh is None else p.energy_per_kwh,
                tariff.charging_per_hour if p.charging_per_hour is None else p.charging_per_hour,
                tariff.idle_per_hour if p.idle_per_hour is None else p.idle_per_hour,
            )
    return Prices("base", tariff.energy_per_kwh, tariff.charging_per_hour, tariff.idle_per_hour)


def reference_boundaries(tariff: Tariff, start: int, end: int) -> list[int]:
    """Every period edge of the local days from the day before the start's to the end's."""
    if not tariff.periods or end <= start:
        return []
    zone = tariff.zone()
    minutes = {m for p in tariff.periods for m in (p.start_min, p.end_min)}
    first = datetime.fromtimestamp(start / 1000, tz=zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end / 1000, tz=zone).date()
    out: set[int] = set()
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        day = date.fromordinal(ordinal)
        out |= {ms for m in minutes if start < (ms := local_ms(day, m, zone)) < end}
    return sorted(out)


def reference_price(tariff: Tariff, session: Session) -> Accrual:
    acc = Accrual(session.started_ms, session.started_ms)
    for ts, _, wh, state in billing.steps(session):
        if session.ended_ms and ts > session.ended_ms:
            break
        _accrue(tariff, acc, ts, wh, state)
    _accrue(tariff, acc, session.ended_ms or acc.at_ms, None, None)
    return acc


def _accrue(tariff: Tariff, acc: Accrual, until: int, wh: float | None, state: str | None) -> None:
    limit = acc.started_ms + billing.MAX_SESSION_MS
    if until > limit:
        acc.flags.add("implausible_duration")
        until = limit
    at = max(until, acc.at_ms)
    since = max(min(acc.wh_ms, at), at - billing.MAX_SESSION_MS)
    energy = Decimal(0)
    if wh is not None and acc.wh is not None:
        delta, flag = delta_wh(acc.wh, wh)
        if flag:
            acc.flags.add(flag)
        energy = Decimal(repr(delta))
        acc.energy_wh += energy
    if energy and since >= at:
        prices = reference_prices_at(tariff, at)
        acc.add("energy", prices.period, prices.energy_per_kwh, energy / 1000)
    elif energy:
        for a, b in _pieces(tariff, since, at):
            prices = reference_prices_at(tariff, a)
            share = energy * Decimal(b - a) / Decimal(at - since)
            acc.add("energy", prices.period, prices.energy_per_kwh, share / 1000)
    if until > acc.at_ms:
        for a, b in _pieces(tariff, acc.at_ms, until):
            prices = reference_prices_at(tariff, a)
            hours = Decimal(b - a) / Decimal(HOUR)
            if acc.state in billing.CHARGING_STATES:
                acc.add("charging_time", prices.period, prices.charging_per_hour, hours)
                acc.charging_ms += b - a
            elif acc.state in billing.IDLE_STATES:
                acc.add("idle_time", prices.period, prices.idle_per_hour, hours)
                acc.idle_ms += b - a
        acc.at_ms = until
    if wh is not None:
        acc.wh, acc.wh_ms = wh, at
    if state is not None:
        acc.state = state


def _pieces(tariff: Tariff, start: int, end: int) -> list[tuple[int, int]]:
    return list(itertools.pairwise([start, *reference_boundaries(tariff, start, end), end]))


def reference_finish(tariff: Tariff, acc: Accrual, *, final: bool) -> dict[str, Any]:
    def item(component: str, period: str, unit: Decimal, q: Decimal, a: Decimal) -> dict[str, Any]:
        return {
            "component": component,
            "period": period,
            "quantity": str(q.quantize(Decimal("0.0001"))),
            "unit": {"energy": "kWh", "charging_time": "h", "idle_time": "h"}.get(
                component, "session"
            ),
            "unit_price": str(unit),
            "amount": str(round_money(a, tariff.currency)),
        }

    items = [
        item(component, period, Decimal(unit), quantity, amount)
        for (component, period, unit), (quantity, amount) in sorted(acc.lines.items())
    ]
    if tariff.session_fee:
        fee = tariff.session_fee
        items.append(item("session_fee", "", fee, Decimal(1), fee))
    subtotal = sum((Decimal(i["amount"]) for i in items), Decimal(0))
    adjusted = subtotal
    if tariff.min_price is not None and subtotal < tariff.min_price:
        adjusted = tariff.min_price
    elif tariff.max_price is not None and subtotal > tariff.max_price:
        adjusted = tariff.max_price
    if adjusted != subtotal:
        kind = "minimum_price" if adjusted > subtotal else "maximum_price"
        items.append(item(kind, "", adjusted - subtotal, Decimal(1), adjusted - subtotal))
    tax = round_money(adjusted * tariff.tax_rate, tariff.currency)
    return {
        "state": billing.FINAL if final else billing.RUNNING,
        "tariff_id": tariff.id,
        "tariff_version": tariff.version,
        "currency": tariff.currency,
        "items": items,
        "subtotal": str(round_money(adjusted, tariff.currency)),
        "tax_rate": str(tariff.tax_rate),
        "tax": str(tax),
        "total": str(round_money(adjusted, tariff.currency) + tax),
        "energy_wh": str(acc.energy_wh.quantize(Decimal("0.001"))),
        "charging_s": acc.charging_ms // 1000,
        "idle_s": acc.idle_ms // 1000,
        "started_ms": acc.started_ms,
        "priced_until_ms": acc.at_ms,
        "flags": sorted(acc.flags),
    }


# --- what is generated -------------------------------------------------------------------------


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))
    period = st.fixed_dictionaries(
        {"start": hhmm, "end": hhmm | st.just("24:00")},
        optional={
            "days": st.lists(st.integers(1, 7), min_size=1, max_size=6, unique=True),
            "energy_per_kwh": st.sampled_from(MONEY),
            "charging_per_hour": st.sampled_from(MONEY),
            "idle_per_hour": st.sampled_from(MONEY),
        },
    ).map(lambda p: p if len(p) > 2 + ("days" in p) else {**p, "energy_per_kwh": "0.2"})
    body: dict[str, Any] = {
        "id": "T",
        "currency": draw(st.sampled_from(["EUR", "JPY", "KWD"])),
        "timezone": draw(st.sampled_from(ZONES)),
        "periods": draw(st.lists(period, max_size=3)),
        **{
            name: draw(st.sampled_from(MONEY))
            for name in ("energy_per_kwh", "charging_per_hour", "idle_per_hour", "session_fee")
        },
        "tax_rate": draw(st.sampled_from(["0", "0.19", "0.077"])),
    }
    if draw(st.booleans()):
        body["min_price" if draw(st.booleans()) else "max_price"] = draw(st.sampled_from(MONEY))
    return parse_tariff(body)


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    """Readings and states from a start across days and period edges, sometimes back in time,
    at one instant, reset, rolled over, or years away."""
    start = draw(instants)
    gaps = st.sampled_from([0, 1000, MIN, MIN, 10 * MIN, 7 * HOUR, -MIN, 3 * 24 * HOUR])
    readings, states, ts, wh = [], [], start, draw(st.sampled_from([0.0, 1500.5, 99_990_000.0]))
    for _ in range(draw(st.integers(0, 25))):
        ts += draw(gaps) + (40 * 24 * HOUR if draw(st.integers(0, 60)) == 0 else 0)
        wh = draw(st.sampled_from([wh + 180.0, wh + 0.1, wh, 5.0, wh + 1234.567]))
        readings.append((ts, wh if wh < 100_000_000 else wh - 100_000_000))
        if draw(st.booleans()):
            states.append(
                (ts + draw(st.sampled_from([0, 1, -1000])), draw(st.sampled_from(STATES)))
            )
    ended = draw(st.sampled_from([0, ts, ts + MIN, max(start, ts - MIN)]))
    return Session(start, ended, sorted(set(readings)), states)


STATES = ["Charging", "SuspendedEV", "SuspendedEVSE", "EVConnected", "Idle", ""]


# --- the properties ----------------------------------------------------------------------------


@given(tariffs(), instants, st.integers(-MIN, 2 * 24 * HOUR))
def test_boundaries_and_prices_are_the_plain_computation(
    tariff: Tariff, start: int, length: int
) -> None:
    spans = [(start, start + length), (start + length, start + 2 * length)]  # the memo again
    edges = reference_boundaries(tariff, start, start + length)[:2]
    spans += [(edge, start + length) for edge in edges] + [(start, edge) for edge in edges]
    for a, b in spans:  # ... and spans from and to an edge
        assert tariff.boundaries(a, b) == reference_boundaries(tariff, a, b)
        assert tariff.prices_at(a) == reference_prices_at(tariff, a)
        assert tariff.prices_at(b) == reference_prices_at(tariff, b)


def test_a_day_the_zone_skipped_has_the_same_edges() -> None:
    """Samoa skipped 2011-12-30: spans of the 31st are split as the plain computation does."""
    night = {"start": "23:00", "end": "01:00", "energy_per_kwh": "0.2"}
    body = {"id": "WS", "currency": "EUR", "timezone": "Pacific/Apia", "periods": [night]}
    tariff = parse_tariff(body)
    start = 1_325_239_200_000  # 2011-12-31T00:00+14:00
    for end in (start + HOUR, start + 2 * HOUR, start + 30 * HOUR):
        assert tariff.boundaries(start, end) == reference_boundaries(tariff, start, end)


@given(tariffs(), sessions())
def test_the_walk_and_the_bill_are_the_plain_computation(tariff: Tariff, session: Session) -> None:
    expected = reference_price(tariff, session)
    got = billing.price(tariff, session)
    assert got.to_dict() == expected.to_dict()  # every line, to its last digit and zero
    for final in (False, True):
        assert billing.finish(tariff, got, final=final) == reference_finish(
            tariff, expected, final=final
        )


@given(tariffs(), sessions(), st.data())
def test_walking_on_from_any_instant_is_walking_from_the_start(
    tariff: Tariff, session: Session, data: st.DataObject
) -> None:
    """The end of a kept walk (session_bill) goes on from where it stands: `extend`."""
    todo = billing.steps(session)
    cut = data.draw(st.integers(0, len(todo)))
    if session.ended_ms and cut and todo[cut - 1][0] > session.ended_ms:
        return  # a walk that went past the end is never continued
    acc = Accrual(session.started_ms, session.started_ms)
    billing.walk(tariff, acc, todo[:cut])
    billing.extend(tariff, acc, todo[cut:], session.ended_ms)
    assert acc.to_dict() == billing.price(tariff, session).to_dict()


readings_lists = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from([0.0, -0.0, 1.5, 2.0, 7.25, 100.0])),
    max_size=12,
)


@given(readings_lists, readings_lists, st.sampled_from([2, 3, 8, 500]))
def test_extending_readings_is_merging_them(
    current: list[tuple[int, float]], new: list[tuple[int, float]], cap: int
) -> None:
    merged = billing.readings_merge([], current, cap)
    extended = billing.readings_extended(merged, new, cap)
    expected = billing.readings_merge(merged, new, cap)
    if extended is None:  # only when a new reading falls inside, or the cap is passed
        fresh = {(int(ts), float(wh)) for ts, wh in new}
        last = tuple(merged[-1]) if merged else None
        after = [r for r in fresh if last is None or r > last]
        inside = [r for r in fresh if r not in after and list(r) not in merged]
        assert inside or len(merged) + len(after) > cap > 2
        return
    readings, added = extended
    assert readings == expected and readings[: len(merged)] == merged
    assert [tuple(r) for r in readings[len(merged) :]] == added
    assert all(type(ts) is int and type(wh) is float for ts, wh in readings)


def test_a_single_piece_of_energy_is_the_energy_itself() -> None:
    """The walk skips energy * span / span for a span no boundary splits: exact (at most 27
    digits), with the energy's own exponent."""
    for energy in ["180.0", "0.001", "1234.567", "99999999.999", "1.7976931348623157"]:
        for span in [1, 999, MIN, billing.MAX_SESSION_MS]:
            share = Decimal(energy) * Decimal(span) / Decimal(span)
            assert str(share) == energy
