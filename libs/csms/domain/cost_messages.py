"""What a station shows the driver about a session's cost, per OCPP version (pure, no I/O).

* 2.0.1 / 2.1: CostUpdatedRequest {totalCost, transactionId} (`cost_updated`); totalCost
  includes tax, as the bill's `total` does.
* 1.6 has no cost messages: stations that implement the Open Charge Alliance's application
  note "OCPP & California Pricing Requirements" (a 1.6 customization) take them as
  DataTransfer with vendorId "org.openchargealliance.costmsg" and messageId "RunningCost"
  (`running_cost_16`, during the session) or "FinalCost" (`final_cost_16`, after it). The data
  field is a JSON text, since 1.6 DataTransfer.data is a string. Field names as implemented by
  open station firmware and CSMSs that follow the note (checked in public sources, not the
  note itself): MicroOcpp (matth-x/MicroOcpp, Operations/DataTransferRunningCost.cpp and
  DataTransferFinalCost.cpp), EVerest libocpp (doc/california_pricing_requirements.md and its
  1.6 cost-and-price tests) and CitrineOS (its costmsg types: RunningCost "Table 4", FinalCost
  "Table 3"):

    RunningCost {transactionId: int, timestamp, meterValue: int Wh, cost: number,
                 state: "Charging" | "Idle", chargingPrice {kWhPrice, hourPrice, flatFee},
                 idlePrice? {graceMinutes?, hourPrice}}   (nextPeriod / triggerMeterValue unused)
    FinalCost   {transactionId: int, cost: number, priceText, qrCodeText?}

Decisions: `cost` is the bill's total including tax (as 2.x totalCost), so the unit prices
shown beside it include tax too (price x (1 + tax rate)): the driver sees what is paid.
`flatFee` is the tariff's session fee. The tariff has no idle grace period, so `graceMinutes`
is never sent; `idlePrice` only when idle time is priced. qrCodeText is sent only when given
(the note makes it optional; MicroOcpp 1.x rejects a FinalCost without it - pass a receipt URL
to satisfy such stations). Numbers: see csms.domain.tariff_ocpp21.number.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from csms.clock import iso_time
from csms.domain import billing
from csms.domain.billing import bill_total, cost_message
from csms.domain.session_bill import Display
from csms.domain.tariff_ocpp21 import number
from csms.domain.tariffs import Tariff

VENDOR_ID = "org.openchargealliance.costmsg"
RUNNING_COST = "RunningCost"
FINAL_COST = "FinalCost"
_UNIT_PRICE = Decimal("0.000001")


def cost_updated(transaction_id: str, bill: Mapping[str, Any]) -> dict[str, Any]:
    """CostUpdatedRequest (2.0.1 and 2.1): the running total including tax."""
    return {"totalCost": number(bill_total(bill)), "transactionId": transaction_id}


def running_cost_16(
    transaction_id: int,
    bill: Mapping[str, Any],
    tariff: Tariff,
    ts_ms: int,
    meter_wh: float,
    charging: bool,
) -> dict[str, Any]:
    """DataTransfer RunningCost: the cost so far at `ts_ms`, the register reading then, and the
    prices in force (the tariff period at `ts_ms`)."""
    prices = tariff.prices_at(ts_ms)
    data: dict[str, Any] = {
        "transactionId": transaction_id,
        "timestamp": iso_time(ts_ms),
        "meterValue": round(meter_wh),
        "cost": number(bill_total(bill)),
        "state": "Charging" if charging else "Idle",
        "chargingPrice": {
            "kWhPrice": _with_tax(tariff, prices.energy_per_kwh),
            "hourPrice": _with_tax(tariff, prices.charging_per_hour),
            "flatFee": _with_tax(tariff, tariff.session_fee),
        },
    }
    if prices.idle_per_hour:
        data["idlePrice"] = {"hourPrice": _with_tax(tariff, prices.idle_per_hour)}
    return _data_transfer(RUNNING_COST, data)


def final_cost_16(
    transaction_id: int, bill: Mapping[str, Any], qr_code_text: str | None = None
) -> dict[str, Any]:
    """DataTransfer FinalCost: the session's total including tax and the line to show."""
    data: dict[str, Any] = {
        "transactionId": transaction_id,
        "cost": number(bill_total(bill)),
        "priceText": cost_message(bill),
    }
    if qr_code_text:
        data["qrCodeText"] = qr_code_text
    return _data_transfer(FINAL_COST, data)


def _with_tax(tariff: Tariff, price: Decimal) -> int | float:
    gross = price * (1 + tariff.tax_rate)
    return number(gross.quantize(_UNIT_PRICE, rounding=ROUND_HALF_UP).normalize())


def _data_transfer(message_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"vendorId": VENDOR_ID, "messageId": message_id, "data": orjson.dumps(data).decode()}


def station_calls(
    state: Mapping[str, Any], bill: Mapping[str, Any], tariff: Tariff, display: Display
) -> list[tuple[str, dict[str, Any]]]:
    """What to tell the station about this bill (running: interval already checked)."""
    tx_id = str(state["transaction_id"])
    final = bill["state"] == billing.FINAL
    if display.cost_updated and not final:
        return [("CostUpdated", cost_updated(tx_id, bill))]
    if display.datatransfer16 and tx_id.isdigit():
        if final:
            return [("DataTransfer", final_cost_16(int(tx_id), bill))]
        readings = state.get("readings") or []
        meter = float(readings[-1][1]) if readings else 0.0
        charging = (state.get("states") or [[0, ""]])[-1][1] in billing.CHARGING_STATES
        return [
            (
                "DataTransfer",
                running_cost_16(
                    int(tx_id), bill, tariff, int(bill["priced_until_ms"]), meter, charging
                ),
            )
        ]
    return []
