"""Cost messages to stations: 2.0.1 / 2.1 CostUpdated and the 1.6 California-pricing
DataTransfers, checked against the official schemas of each version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from csms.domain import billing
from csms.domain.cost_messages import VENDOR_ID, cost_updated, final_cost_16, running_cost_16
from csms.domain.tariffs import Tariff, TariffPeriod
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion

T0 = 1_740_816_000_000  # 2025-03-01T08:00:00Z, a Saturday
HOUR = 3_600_000
TARIFF = Tariff(
    id="std", currency="EUR", energy_per_kwh=Decimal("0.40"), charging_per_hour=Decimal("1.20"),
    idle_per_hour=Decimal("6"), session_fee=Decimal("0.50"), tax_rate=Decimal("0.19"),
    periods=(TariffPeriod("morning", days=(6,), start_min=8 * 60, end_min=12 * 60,
                          energy_per_kwh=Decimal("0.30")),),
)  # fmt: skip


def _bill(tariff: Tariff = TARIFF, *, final: bool) -> dict[str, Any]:
    session = billing.Session(
        T0, T0 + HOUR if final else 0, [(T0, 1000.0), (T0 + HOUR, 11_000.0)], [(T0, "Charging")]
    )
    return billing.finish(tariff, billing.price(tariff, session, T0 + HOUR), final=final)


def _data(payload: dict[str, Any]) -> dict[str, Any]:
    validator(OcppVersion.V16, "DataTransfer")(payload)
    assert payload["vendorId"] == VENDOR_ID == "org.openchargealliance.costmsg"
    assert isinstance(payload["data"], str)  # 1.6 DataTransfer.data is a string
    data: dict[str, Any] = orjson.loads(payload["data"])
    return data


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
def test_cost_updated_is_valid_in_2x(version: OcppVersion) -> None:
    bill = _bill(final=False)
    request = cost_updated("TX-9", bill)
    validator(version, "CostUpdated")(request)
    # 10 kWh at 0.30 + 1 h at 1.20 + 0.50 fee = 4.70, + 19 % VAT = 5.59
    assert bill["total"] == "5.59"
    assert request == {"totalCost": 5.59, "transactionId": "TX-9"}


def test_running_cost_16() -> None:
    bill = _bill(final=False)
    payload = running_cost_16(42, bill, TARIFF, T0 + HOUR, 11_000.4, charging=True)
    assert payload["messageId"] == "RunningCost"
    assert _data(payload) == {
        "transactionId": 42,
        "timestamp": "2025-03-01T09:00:00.000Z",
        "meterValue": 11000,
        "cost": 5.59,
        "state": "Charging",
        # The prices in force at 09:00 on a Saturday (the morning period), tax included.
        "chargingPrice": {"kWhPrice": 0.357, "hourPrice": 1.428, "flatFee": 0.595},
        "idlePrice": {"hourPrice": 7.14},
    }
    idle = _data(running_cost_16(42, bill, TARIFF, T0 + 5 * HOUR, 11_000, charging=False))
    assert (idle["state"], idle["chargingPrice"]["kWhPrice"]) == ("Idle", 0.476)


def test_final_cost_16() -> None:
    bill = _bill(final=True)
    payload = final_cost_16(42, bill)
    assert payload["messageId"] == "FinalCost"
    assert _data(payload) == {
        "transactionId": 42,
        "cost": 5.59,
        "priceText": "Total 5.59 EUR incl. tax, 10.00 kWh. Thank you!",
    }
    with_qr = _data(final_cost_16(42, bill, qr_code_text="https://example.org/r/42"))
    assert with_qr["qrCodeText"] == "https://example.org/r/42"


def test_zero_decimal_currency_costs_are_integers() -> None:
    jpy = Tariff(id="jp", currency="JPY", energy_per_kwh=Decimal("55"), tax_rate=Decimal("0.10"))
    bill = _bill(jpy, final=True)
    assert bill["total"] == "605"  # 10 kWh x 55 = 550 + 10 % = 605, no minor unit
    request = cost_updated("TX-1", bill)
    validator(OcppVersion.V21, "CostUpdated")(request)
    assert request["totalCost"] == 605 and type(request["totalCost"]) is int
    data = _data(running_cost_16(7, bill, jpy, T0, 1000, charging=True))
    assert data["cost"] == 605
    assert data["chargingPrice"] == {"kWhPrice": 60.5, "hourPrice": 0, "flatFee": 0}
    assert "idlePrice" not in data
    assert _data(final_cost_16(7, bill))["priceText"].startswith("Total 605 JPY")
