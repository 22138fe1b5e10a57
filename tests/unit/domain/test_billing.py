"""Tariffs and the pricing fold (csms.domain.tariffs, csms.domain.billing): exact money."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from csms.domain.billing import Session, finish, price, readings_merge, settle_energy
from csms.domain.tariffs import (
    TariffError,
    parse_tariff,
    resolve_assignment,
    round_money,
    scope_keys,
    version_at,
)

MIN = 60_000
HOUR = 60 * MIN


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def tariff(**kw: Any) -> Any:
    body = {"id": "T1", "currency": "EUR", **kw}
    return parse_tariff(body)


def amounts(bill: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(i["component"], i["period"]): i["amount"] for i in bill["items"]}


# --- tariffs ---------------------------------------------------------------------------------


def test_money_is_parsed_exactly_from_numbers_and_strings() -> None:
    t = tariff(energy_per_kwh=0.1, session_fee="0.30", tax_rate=0.2)
    assert t.energy_per_kwh == Decimal("0.1")  # not 0.1000000000000000055…
    assert t.to_dict()["session_fee"] == "0.30"
    assert parse_tariff(t.to_dict()) == t


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"currency": "euro"}, "currency"),
        ({"energy_per_kwh": -1}, "energy_per_kwh"),
        ({"energy_per_kwh": "abc"}, "not a number"),
        ({"energy_per_kwh": "NaN"}, "finite"),
        ({"tax_rate": 19}, "tax_rate"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"min_price": 5, "max_price": 1}, "min_price"),
        ({"periods": [{"start": "25:00", "energy_per_kwh": 1}]}, "HH:MM"),
        ({"periods": [{"days": ["Funday"], "energy_per_kwh": 1}]}, "days"),
        ({"periods": [{"name": "nothing"}]}, "at least one"),
        ({"id": "a/b"}, "id"),
    ],
)
def test_bad_tariffs_are_refused_with_a_clear_reason(body: dict[str, Any], message: str) -> None:
    with pytest.raises(TariffError, match=message):
        parse_tariff({"id": "T1", "currency": "EUR", **body})


def test_currency_minor_units_round_half_up() -> None:
    assert round_money(Decimal("1.005"), "EUR") == Decimal("1.01")
    assert round_money(Decimal("1.5"), "JPY") == Decimal("2")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")


def test_periods_by_local_time_and_weekday_wrapping_midnight() -> None:
    t = tariff(
        energy_per_kwh="0.40",
        timezone="Europe/Berlin",
        periods=[
            {"name": "weekend", "days": ["Saturday", "Sunday"], "energy_per_kwh": "0.30"},
            {"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.25"},
        ],
    )
    # Wednesday 2026-11-25, Berlin is UTC+1.
    assert t.prices_at(ms("2026-11-25T20:59:00+00:00")).period == "base"
    assert t.prices_at(ms("2026-11-25T21:00:00+00:00")).period == "night"
    assert t.prices_at(ms("2026-11-26T04:59:00+00:00")).period == "night"
    assert t.prices_at(ms("2026-11-26T05:00:00+00:00")).period == "base"
    # Saturday morning: the weekend period comes first.
    assert t.prices_at(ms("2026-11-28T02:00:00+00:00")).energy_per_kwh == Decimal("0.30")
    # Friday night 23:00 local is night; the early Saturday hours belong to the weekend.
    assert t.prices_at(ms("2026-11-27T22:00:00+00:00")).period == "night"
    cuts = t.boundaries(ms("2026-11-25T20:00:00+00:00"), ms("2026-11-26T06:00:00+00:00"))
    assert ms("2026-11-25T21:00:00+00:00") in cuts
    assert ms("2026-11-26T05:00:00+00:00") in cuts


def test_version_valid_at_the_start_and_assignment_precedence() -> None:
    v1 = tariff(version=1, valid_from_ms=1000, energy_per_kwh="0.30")
    v2 = tariff(version=2, valid_from_ms=5000, energy_per_kwh="0.50")
    assert version_at([v2, v1], 4999) == v1
    assert version_at([v1, v2], 5000) == v2
    assert version_at([v1, v2], 10) == v1  # started before the first version: the first
    history: dict[str, list[list[Any]]] = {
        "default": [[0, "PUBLIC"]],
        "station:CP1": [[0, "SITE"], [9000, None]],
        "group:FLEET": [[2000, "FLEET"]],
    }
    keys = scope_keys("CP1", 1, "FLEET")
    assert resolve_assignment(history, keys, 3000) == "FLEET"
    assert resolve_assignment(history, scope_keys("CP1", 1, None), 3000) == "SITE"
    assert resolve_assignment(history, scope_keys("CP1", 1, None), 9000) == "PUBLIC"


# --- pricing ---------------------------------------------------------------------------------


def berlin_tariff() -> Any:
    return tariff(
        energy_per_kwh="0.40",
        charging_per_hour="1.20",
        idle_per_hour="6.00",
        session_fee="0.50",
        tax_rate="0.19",
        timezone="Europe/Berlin",
        periods=[{"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.25"}],
    )


def test_a_session_crossing_a_period_boundary_is_split_exactly() -> None:
    t = berlin_tariff()
    start, end = ms("2026-11-25T20:30:00+00:00"), ms("2026-11-25T21:30:00+00:00")  # 21:30-22:30
    session = Session(
        started_ms=start,
        ended_ms=end,
        readings=[(start, 1000.0), (end, 21000.0)],
        states=[(start, "Charging"), (start + 45 * MIN, "SuspendedEV")],
    )
    bill = finish(t, price(t, session), final=True)
    assert amounts(bill) == {
        ("energy", "base"): "4.00",  # 10 kWh before 22:00 local at 0.40
        ("energy", "night"): "2.50",  # 10 kWh after at 0.25
        ("charging_time", "base"): "0.60",  # 30 min
        ("charging_time", "night"): "0.30",  # 15 min
        ("idle_time", "night"): "1.50",  # 15 min suspended at 6.00/h
        ("session_fee", ""): "0.50",
    }
    assert (bill["subtotal"], bill["tax"], bill["total"]) == ("9.40", "1.79", "11.19")
    assert (bill["energy_wh"], bill["charging_s"], bill["idle_s"]) == ("20000.000", 2700, 900)


def test_minimum_and_maximum_price_adjust_the_subtotal() -> None:
    short = Session(0, 10 * MIN, readings=[(0, 0.0), (10 * MIN, 500.0)])
    low = tariff(energy_per_kwh="0.40", min_price="2.00")
    bill = finish(low, price(low, short), final=True)
    assert bill["subtotal"] == "2.00"
    assert bill["items"][-1]["component"] == "minimum_price"
    assert bill["items"][-1]["amount"] == "1.80"
    high = tariff(energy_per_kwh="0.40", max_price="0.10")
    assert finish(high, price(high, short), final=True)["total"] == "0.10"


def test_meter_rollover_counts_and_reset_never_bills_the_drop() -> None:
    t = tariff(energy_per_kwh="1")
    wrap = Session(0, 3 * MIN, readings=[(0, 99_999_000.0), (MIN, 99_999_900.0), (2 * MIN, 400.0)])
    bill = finish(t, price(t, wrap), final=True)
    assert bill["energy_wh"] == "1400.000"
    assert bill["flags"] == ["meter_rollover"]
    reset = Session(0, 3 * MIN, readings=[(0, 5000.0), (MIN, 7000.0), (2 * MIN, 300.0)])
    bill = finish(t, price(t, reset), final=True)
    assert bill["energy_wh"] == "2000.000"  # the 300 Wh after the reset has no known start
    assert bill["flags"] == ["meter_reset"]


def test_zero_decimal_currency() -> None:
    t = parse_tariff({"id": "JP", "currency": "JPY", "energy_per_kwh": "45.5", "tax_rate": "0.1"})
    bill = finish(t, price(t, Session(0, HOUR, readings=[(0, 0.0), (HOUR, 11_000.0)])), final=True)
    assert (bill["subtotal"], bill["tax"], bill["total"]) == ("501", "50", "551")


def test_readings_in_any_order_and_duplicated_price_the_same() -> None:
    t = berlin_tariff()
    start = ms("2026-11-25T19:00:00+00:00")
    readings: list[list[Any]] = [[start + i * 5 * MIN, 1000.0 + i * 900.0] for i in range(40)]
    expected = finish(t, price(t, Session(start, start + 200 * MIN, _pairs(readings))), final=True)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = readings + rng.sample(readings, 10)
        rng.shuffle(shuffled)
        merged = readings_merge([], shuffled, cap=500)
        got = finish(t, price(t, Session(start, start + 200 * MIN, _pairs(merged))), final=True)
        assert got == expected


def test_settling_energy_scales_each_period_share_to_the_transaction_figure() -> None:
    t = berlin_tariff()  # the night period begins at 22:00 Berlin time (21:00 UTC)
    start = ms("2026-11-25T20:30:00+00:00")
    walked = price(t, Session(start, start + 60 * MIN, [(start, 0.0), (start + 60 * MIN, 4000.0)]))
    settled = settle_energy(t, walked, Decimal(3000), start + 60 * MIN)
    shares = {k[1]: v[0] for k, v in settled.lines.items() if k[0] == "energy"}
    assert sum(shares.values()) == Decimal(3)  # kWh, the transaction's figure
    assert shares["base"] == shares["night"] == Decimal("1.5")  # the walk's half-and-half kept
    assert settled.energy_wh == Decimal(3000)
    assert walked.energy_wh == Decimal(4000)  # a copy: the walk itself is left as it was


def test_settling_energy_the_walk_never_saw_prices_it_at_the_reading() -> None:
    t = tariff(energy_per_kwh="0.40")
    same_instant = price(t, Session(0, 0, [(0, 0.0)]))
    settled = settle_energy(t, same_instant, Decimal(10_000), 0)
    assert finish(t, settled, final=True)["items"][0]["amount"] == "4.00"
    gone = settle_energy(t, price(t, Session(0, MIN, [(0, 0.0), (MIN, 500.0)])), Decimal(0), MIN)
    assert [k for k in gone.lines if k[0] == "energy"] == []


def test_readings_of_one_instant_are_all_kept_in_value_order() -> None:
    merged = readings_merge([[5, 0.0]], [[5, 10_000.0], [5, 5_000.0], [5, 0.0]], cap=500)
    assert merged == [[5, 0.0], [5, 5_000.0], [5, 10_000.0]]
    t = tariff(energy_per_kwh="1")
    bill = finish(t, price(t, Session(5, 5, [(ts, wh) for ts, wh in merged])), final=True)
    assert bill["energy_wh"] == "10000.000"


def test_readings_beyond_the_cap_keep_the_total() -> None:
    t = tariff(energy_per_kwh="0.40")
    readings = [[i * MIN, i * 100.0] for i in range(2000)]
    merged = readings_merge([], readings, cap=300)
    assert len(merged) <= 300 and merged[0] == readings[0] and merged[-1] == readings[-1]
    bill = finish(t, price(t, Session(0, 2000 * MIN, _pairs(merged))), final=True)
    assert bill["energy_wh"] == "199900.000"


def test_a_future_assignment_never_beats_a_current_one() -> None:
    history = {"default": [[100, "DEF"]], "group:F": [[200, "FLEET"]]}
    assert resolve_assignment(history, scope_keys("CP", 1, "F"), 150) == "DEF"
    assert resolve_assignment(history, scope_keys("CP", 1, "F"), 250) == "FLEET"
    assert resolve_assignment(history, scope_keys("CP", 1, "F"), 50) == "FLEET"  # before all


def test_an_absurd_station_clock_is_bounded_and_flagged() -> None:
    t = berlin_tariff()
    start = ms("2026-11-25T20:00:00+00:00")
    year_9999 = ms("9999-01-01T00:00:00+00:00")
    bill = finish(
        t, price(t, Session(start, year_9999, [(start, 0.0), (year_9999, 10.0)])), final=True
    )
    assert "implausible_duration" in bill["flags"]
    assert bill["charging_s"] == 31 * 24 * 3600


def _pairs(readings: list[list[Any]]) -> list[tuple[int, float]]:
    """Stored [ts, Wh] readings as the (ts, Wh) pairs a Session takes."""
    return [(int(ts), float(wh)) for ts, wh in readings]
