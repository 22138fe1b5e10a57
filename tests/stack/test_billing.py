"""Billing end to end on the real stack (`csms up`): a tariff made and assigned through the API,
real `ocpp` charge points charging, the processors pricing the sessions, the station told the
cost, the bill served by the API and queryable in ClickHouse.

* 2.0.1, a station that reports `TariffCostCtrlr.Enabled[Cost]`: CostUpdated during the session,
  the total in the answer to its Ended event - equal to the final bill, which equals the session
  priced independently.
* 1.6, a station that displays nothing (the vendor DataTransfer is off by default): a bill all the
  same, and no cost message.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from csms.clock import iso_time
from csms.domain.billing import Session, finish, price
from csms.domain.tariffs import parse_tariff
from tests.stack.chargers import Charger16, Charger201, charger, energy_event201, on
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:6]
MINUTE = 60_000
DEADLINE_S = 60.0
TARIFF = {
    "id": f"bill-{RUN}",
    "currency": "EUR",
    "energy_per_kwh": "0.40",
    "charging_per_hour": "0.60",
    "session_fee": "1.00",
    "tax_rate": "0.20",
}


class CostDisplay201(Charger201):
    """Shows cost: records every CostUpdated it is sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.costs: list[tuple[float, str]] = []

    @on(Action201.cost_updated)
    async def on_cost_updated(self, total_cost: float, transaction_id: str, **_: Any) -> Any:
        self.costs.append((total_cost, transaction_id))
        return result201.CostUpdated()


async def _poll(api: httpx.AsyncClient, path: str, ready: Any) -> dict[str, Any]:
    """GET `path` until `ready(body)` (the processors are asynchronous); bounded."""
    deadline = time.monotonic() + DEADLINE_S
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = await api.get(path)
        if resp.status_code == 200:
            body = resp.json()
            if ready(body):
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never ready: {body}")


async def _tariff_for(api: httpx.AsyncClient, station: str) -> None:
    tariff_id = f"{TARIFF['id']}-{station}"
    assert (await api.post("/api/v1/tariffs", json={**TARIFF, "id": tariff_id})).status_code == 201
    assign = {"scope": "station", "station": station, "tariff_id": tariff_id}
    assert (await api.put("/api/v1/tariff-assignments", json=assign)).status_code == 200


async def _clickhouse_bill(stack: Stack, station: str) -> dict[str, Any]:
    query = (
        "SELECT toString(total) AS total, revision, tariff_id, toString(energy_wh) AS energy "
        f"FROM bills FINAL WHERE station = '{station}' FORMAT JSONEachRow"
    )
    deadline = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient(base_url=stack.clickhouse_url, timeout=10) as ch:
        while time.monotonic() < deadline:
            text = (await ch.post("/", content=query)).text.strip()
            if text:
                rows: list[dict[str, Any]] = [orjson.loads(line) for line in text.splitlines()]
                assert len(rows) == 1
                return rows[0]
            await asyncio.sleep(0.5)
    raise AssertionError(f"no bill of {station} in ClickHouse")


async def _boot_showing_cost(
    api: httpx.AsyncClient, cp: CostDisplay201, station: str, t0: int
) -> None:
    """Boot, report TariffCostCtrlr.Enabled[Cost] = true, and wait until the device model has
    it (the gateway reads it at the next Started event)."""
    boot = call201.BootNotification(
        charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
    )
    assert (await cp.call(boot)).status == "Accepted"
    report = [
        {
            "component": {"name": "TariffCostCtrlr"},
            "variable": {"name": "Enabled", "instance": "Cost"},
            "variable_attribute": [{"type": "Actual", "value": "true"}],
            "variable_characteristics": {
                "data_type": "boolean",
                "supports_monitoring": False,
            },
        }
    ]
    await cp.call(
        call201.NotifyReport(request_id=1, generated_at=iso_time(t0), seq_no=0, report_data=report)
    )
    await _poll(
        api,
        f"/api/v1/stations/{station}/device-model?component=TariffCostCtrlr",
        lambda body: bool(body.get("variables")),
    )


async def test_201_station_is_shown_the_cost_and_the_bill_matches(stack: Stack) -> None:
    station = f"BILL-201-{RUN}"
    bill_path = f"/api/v1/transactions/{station}/tx-1/bill"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 60 * MINUTE
    readings = [(t0, 2_000.0), (t0 + 20 * MINUTE, 6_000.0), (t0 + 40 * MINUTE, 11_000.0)]
    end = (t0 + 55 * MINUTE, 13_500.0)
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        await _tariff_for(api, station)
        async with charger(stack.ws_url(station), CostDisplay201, station, "ocpp2.0.1") as cp:
            await _boot_showing_cost(api, cp, station, t0)
            for seq_no, (ts, wh) in enumerate(readings):
                kind = "Started" if seq_no == 0 else "Updated"
                token = f"TAG-{RUN}" if seq_no == 0 else None
                await cp.call(energy_event201(kind, ts, wh, seq_no, id_token=token))
                # The next event waits for the billing to have priced this one, as a live
                # station's minutes-apart events would.
                await _poll(api, bill_path, lambda b, ts=ts: b["priced_until_ms"] >= ts)
            ended = await cp.call(energy_event201("Ended", end[0], end[1], len(readings)))
            running_costs = list(cp.costs)
        bill = await _poll(api, bill_path, lambda b: b["state"] == "final")

    expected = finish(
        parse_tariff({**TARIFF, "id": bill["tariff_id"]}),
        price(
            parse_tariff({**TARIFF, "id": bill["tariff_id"]}),
            Session(t0, end[0], [*readings, end], [(t0, "Charging")]),
        ),
        final=True,
    )
    # 11.5 kWh at 0.40 + 55 min at 0.60/h + 1.00 fee = 6.15, + 20 % tax = 7.38
    assert bill["total"] == expected["total"] == "7.38"
    assert bill["items"] == expected["items"] and bill["revision"] == 1
    assert ended.total_cost == float(Decimal(bill["total"]))  # what the driver saw = the bill
    assert "7.38" in ended.updated_personal_message["content"]
    # CostUpdated every BILLING_COST_INTERVAL_S (60 s) of session time: at each 20-minute event.
    assert [tx for _, tx in running_costs] == ["tx-1"] * len(readings)
    assert running_costs[0][0] < running_costs[-1][0] < 7.38
    row = await _clickhouse_bill(stack, station)
    assert (row["total"], row["revision"], row["energy"]) == ("7.38", 1, "11500")


async def test_back_to_back_events_are_told_the_total_the_bill_says(stack: Stack) -> None:
    """A station with a one-second clock sends Started (0 Wh), Updated (5 kWh) and
    Ended (10 kWh) with one timestamp, each right after the other's answer - long before the
    billing has priced any of them. The Ended answer carries the total, the bill equals it to
    the cent, and bill and transaction agree on 10 kWh."""
    station = f"BILL-B2B-{RUN}"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 10 * MINUTE
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        await _tariff_for(api, station)
        async with charger(stack.ws_url(station), CostDisplay201, station, "ocpp2.0.1") as cp:
            await _boot_showing_cost(api, cp, station, t0)
            await cp.call(energy_event201("Started", t0, 0.0, 0, id_token=f"TAG-{RUN}"))
            await cp.call(energy_event201("Updated", t0, 5_000.0, 1))
            ended = await cp.call(energy_event201("Ended", t0, 10_000.0, 2))
        bill = await _poll(
            api, f"/api/v1/transactions/{station}/tx-1/bill", lambda b: b["state"] == "final"
        )
        tx = (await api.get(f"/api/v1/transactions/{station}/tx-1")).json()
    # 10 kWh at 0.40 + 1.00 fee = 5.00, + 20 % tax = 6.00 (no time passed on the station clock)
    assert (bill["total"], bill["energy_wh"], tx["energy_wh"]) == ("6.00", "10000.000", 10_000.0)
    assert ended.total_cost == float(Decimal(bill["total"]))
    row = await _clickhouse_bill(stack, station)
    assert (Decimal(row["total"]), row["energy"]) == (Decimal("6.00"), "10000")


async def test_16_session_is_billed_without_a_cost_message(stack: Stack) -> None:
    station = f"BILL-16-{RUN}"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 30 * MINUTE
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        await _tariff_for(api, station)
        async with charger(stack.ws_url(station), Charger16, station, "ocpp1.6") as cp:
            boot = call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            assert (await cp.call(boot)).status == "Accepted"
            started = await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag=f"TAG-{RUN}", meter_start=10_000, timestamp=iso_time(t0)
                )
            )
            tx_id = started.transaction_id
            await cp.call(
                call16.StopTransaction(
                    transaction_id=tx_id, meter_stop=15_000, timestamp=iso_time(t0 + 30 * MINUTE)
                )
            )
        bill = await _poll(
            api, f"/api/v1/transactions/{station}/{tx_id}/bill", lambda b: b["state"] == "final"
        )
    frames = await stack.read_frames({station}, min_count=7)
    sent = {env.action for env in frames if env.dir == "out" and env.kind == "call"}
    assert "DataTransfer" not in sent  # the station reported no cost display, and 1.6 is opt-in
    # 5 kWh at 0.40 + 30 min at 0.60/h + 1.00 = 3.30, + 20 % = 3.96
    assert (bill["total"], bill["energy_wh"], bill["charging_s"]) == ("3.96", "5000.000", 1800)
    row = await _clickhouse_bill(stack, station)
    assert (row["total"], row["energy"]) == ("3.96", "5000")
