"""Builders of `csms.bills` values as the billing processor publishes them (shared by the row
mapping unit tests and the sink stack test)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from csms.domain import billing
from csms.domain.tariffs import Tariff, TariffPeriod
from tests.unit.domain.builders import T0

HOUR_MS = 3_600_000
# Weekday nights are cheaper; 19 % VAT, a session fee, EUR.
TARIFF = Tariff(
    id="std",
    currency="EUR",
    version=3,
    energy_per_kwh=Decimal("0.40"),
    charging_per_hour=Decimal("1.20"),
    session_fee=Decimal("0.50"),
    tax_rate=Decimal("0.19"),
    periods=(
        TariffPeriod(
            "night", days=(1, 2, 3, 4, 5), start_min=22 * 60, end_min=6 * 60,
            energy_per_kwh=Decimal("0.25"),
        ),
    ),
)  # fmt: skip


def final_bill(
    station: str,
    transaction_id: str,
    revision: int,
    *,
    stop_wh: float = 11_000.5,
    tariff: Tariff = TARIFF,
    state: str = billing.FINAL,
) -> dict[str, Any]:
    """A one-hour session from T0 (a Saturday morning, UTC) priced by `tariff`, as published."""
    session = billing.Session(
        started_ms=T0,
        ended_ms=T0 + HOUR_MS,
        readings=[(T0, 1000.0), (T0 + HOUR_MS, stop_wh)],
        states=[(T0, "Charging")],
    )
    bill = billing.finish(tariff, billing.price(tariff, session), final=state == billing.FINAL)
    return {
        **bill,
        "type": "bill",
        "station": station,
        "transaction_id": transaction_id,
        "evse": 1,
        "connector": 1,
        "id_token": "TAG-1",
        "proto": "ocpp1.6",
        "ended_ms": T0 + HOUR_MS,
        "revision": revision,
        "computed_ms": T0 + HOUR_MS + revision * 1000,
        "stop_reason": "Local",
        "closed_by": "station",
    }
