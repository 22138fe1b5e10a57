"""Tariffs as OCPP 2.1 TariffType: checked against the official 2.1 schemas, and read back
with 2.1's first-match rule to the same prices as the model's, at every half hour of a week."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from csms.clock import iso_time
from csms.domain.tariff_ocpp21 import (
    number,
    period_conditions,
    set_default_tariff_request,
    tariff_type,
)
from csms.domain.tariffs import WEEKDAYS, Tariff, TariffPeriod, parse_tariff
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion

# Weekday nights 22:00-06:00 cheaper energy; weekend days dearer charging time.
NIGHTS = parse_tariff(
    {
        "id": "ac-standard", "currency": "EUR", "version": 2,
        "valid_from_ms": 1_740_816_000_000, "description": "Standard AC",
        "energy_per_kwh": "0.39", "charging_per_hour": "1.20", "idle_per_hour": "6.00",
        "session_fee": "0.49", "min_price": "1.00", "max_price": "80", "tax_rate": "0.19",
        "timezone": "Europe/Berlin",
        "periods": [
            {"name": "night", "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
             "start": "22:00", "end": "06:00", "energy_per_kwh": "0.29"},
            {"name": "weekend", "days": ["Saturday", "Sunday"], "start": "08:00",
             "end": "24:00", "charging_per_hour": "2.40"},
        ],
    }
)  # fmt: skip


def _valid_request(payload: dict[str, Any]) -> None:
    validator(OcppVersion.V21, "SetDefaultTariff")(payload)


def test_full_tariff_is_a_valid_set_default_tariff_request() -> None:
    request = set_default_tariff_request(NIGHTS, evse_id=2)
    _valid_request(request)
    tariff = request["tariff"]
    vat = [{"type": "VAT", "tax": 19}]
    assert request["evseId"] == 2
    assert tariff == {
        "tariffId": "ac-standard", "currency": "EUR",
        "description": [{"format": "UTF8", "content": "Standard AC"}],
        "validFrom": "2025-03-01T08:00:00.000Z",
        "energy": {
            "prices": [
                {"priceKwh": 0.29, "conditions": {
                    "startTimeOfDay": "22:00", "endTimeOfDay": "00:00",
                    "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]}},
                {"priceKwh": 0.29, "conditions": {
                    "startTimeOfDay": "00:00", "endTimeOfDay": "06:00",
                    "dayOfWeek": ["Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]}},
                {"priceKwh": 0.39},
            ],
            "taxRates": vat,
        },
        "chargingTime": {
            # The night period comes first and names no charging price: its hours keep the
            # base price even on a weekend morning (first match wins).
            "prices": [
                {"priceMinute": 0.02, "conditions": {
                    "startTimeOfDay": "22:00", "endTimeOfDay": "00:00",
                    "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]}},
                {"priceMinute": 0.02, "conditions": {
                    "startTimeOfDay": "00:00", "endTimeOfDay": "06:00",
                    "dayOfWeek": ["Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]}},
                {"priceMinute": 0.04, "conditions": {
                    "startTimeOfDay": "08:00", "endTimeOfDay": "00:00",
                    "dayOfWeek": ["Saturday", "Sunday"]}},
                {"priceMinute": 0.02},
            ],
            "taxRates": vat,
        },
        "idleTime": {"prices": [{"priceMinute": 0.1}], "taxRates": vat},
        "fixedFee": {"prices": [{"priceFixed": 0.49}], "taxRates": vat},
        "minCost": {"exclTax": 1},
        "maxCost": {"exclTax": 80},
    }  # fmt: skip


def test_authorize_response_can_carry_the_tariff() -> None:
    response = {"idTokenInfo": {"status": "Accepted"}, "tariff": tariff_type(NIGHTS)}
    validator(OcppVersion.V21, "Authorize", response=True)(response)


def _matches(conditions: dict[str, Any], weekday: str, minute: int) -> bool:
    """2.1 TariffConditions (the time and day parts this module emits) at a local instant."""
    if "dayOfWeek" in conditions and weekday not in conditions["dayOfWeek"]:
        return False
    if "startTimeOfDay" not in conditions:
        return True
    start, end = (
        int(conditions[k][:2]) * 60 + int(conditions[k][3:])
        for k in ("startTimeOfDay", "endTimeOfDay")
    )
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # across midnight ("00:00" end: until midnight)


def _first_price(component: dict[str, Any] | None, key: str, local: datetime) -> float:
    if component is None:
        return 0.0
    weekday, minute = WEEKDAYS[local.isoweekday() - 1], local.hour * 60 + local.minute
    for entry in component["prices"]:
        if _matches(entry.get("conditions", {}), weekday, minute):
            return float(entry[key])
    return 0.0


@pytest.mark.parametrize("tariff", [NIGHTS], ids=["weekday-nights"])
def test_prices_round_trip_at_every_half_hour_of_a_week(tariff: Tariff) -> None:
    tt = tariff_type(tariff)
    start = datetime(2025, 3, 3, tzinfo=tariff.zone())  # a Monday, local midnight
    for step in range(7 * 48 + 1):
        local = start + timedelta(minutes=30 * step)
        model = tariff.prices_at(int(local.timestamp() * 1000))
        assert _first_price(tt.get("energy"), "priceKwh", local) == float(model.energy_per_kwh)
        assert _first_price(tt.get("chargingTime"), "priceMinute", local) == float(
            model.charging_per_hour / 60
        ), local
        assert _first_price(tt.get("idleTime"), "priceMinute", local) == float(
            model.idle_per_hour / 60
        )


def test_a_free_tariff_says_so_with_a_zero_energy_price() -> None:
    tt = tariff_type(Tariff(id="free", currency="EUR"))
    assert tt == {"tariffId": "free", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0}]}}
    _valid_request(set_default_tariff_request(Tariff(id="free", currency="EUR")))


def test_zero_components_are_left_out_and_time_only_tariffs_carry_no_energy() -> None:
    tt = tariff_type(Tariff(id="t", currency="EUR", charging_per_hour=Decimal("3")))
    assert tt == {"tariffId": "t", "currency": "EUR",
                  "chargingTime": {"prices": [{"priceMinute": 0.05}]}}  # fmt: skip


def test_zero_decimal_currency() -> None:
    jpy = Tariff(
        id="jp", currency="JPY", energy_per_kwh=Decimal("55"), session_fee=Decimal("100"),
        charging_per_hour=Decimal("100"), min_price=Decimal("300"), tax_rate=Decimal("0.10"),
    )  # fmt: skip
    tt = tariff_type(jpy)
    _valid_request(set_default_tariff_request(jpy))
    assert tt["energy"] == {"prices": [{"priceKwh": 55}], "taxRates": [{"type": "VAT", "tax": 10}]}
    assert type(tt["energy"]["prices"][0]["priceKwh"]) is int
    assert tt["fixedFee"]["prices"] == [{"priceFixed": 100}]
    assert tt["chargingTime"]["prices"] == [{"priceMinute": 1.666667}]  # 100 / 60, 6 decimals
    assert tt["minCost"] == {"exclTax": 300}


def test_period_conditions_edges() -> None:
    whole_weekend = TariffPeriod("w", days=(6, 7), energy_per_kwh=Decimal(1))
    assert period_conditions(whole_weekend) == [{"dayOfWeek": ["Saturday", "Sunday"]}]
    every_night = TariffPeriod("n", start_min=23 * 60, end_min=5 * 60, energy_per_kwh=Decimal(1))
    assert period_conditions(every_night) == [{"startTimeOfDay": "23:00", "endTimeOfDay": "05:00"}]
    sunday_night = TariffPeriod("s", days=(7,), start_min=20 * 60, end_min=2 * 60,
                                energy_per_kwh=Decimal(1))  # fmt: skip
    assert period_conditions(sunday_night) == [
        {"startTimeOfDay": "20:00", "endTimeOfDay": "00:00", "dayOfWeek": ["Sunday"]},
        {"startTimeOfDay": "00:00", "endTimeOfDay": "02:00", "dayOfWeek": ["Monday"]},
    ]


def test_helpers() -> None:
    assert iso_time(1_740_816_000_123) == "2025-03-01T08:00:00.123Z"
    assert (number(Decimal("12.00")), number(Decimal("0.29"))) == (12, 0.29)
