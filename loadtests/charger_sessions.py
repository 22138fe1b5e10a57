"""Scripted charging sessions with the `ocpp` package's ChargePoint over a real WebSocket.

Used by the end-to-end tests, by the README's walkthrough and by benchmarks:

    python -m loadtests.charger_sessions --station CP-1 --proto ocpp1.6
    python -m loadtests.charger_sessions --station CP-2 --proto ocpp2.0.1 \
        --url ws://127.0.0.1:9000/ocpp

Each session boots, reports connector status, authorizes, charges with meter values and stops;
it returns what it sent, so a caller can check what the CSMS recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201


@dataclass
class SessionReport:
    station: str
    proto: str
    transaction_id: str = ""
    meter_start_wh: float = 0.0
    meter_stop_wh: float = 0.0
    samples: int = 0  # sampled values sent (each one row in meter_values)
    calls: list[str] = field(default_factory=list)  # actions in the order sent

    @property
    def energy_wh(self) -> float:
        return self.meter_stop_wh - self.meter_start_wh


def _ts(start: datetime, minutes: int) -> str:
    return (start + timedelta(minutes=minutes)).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _with_charger(cp: Any, script: Any) -> None:
    runner = asyncio.create_task(cp.start())
    try:
        await script()
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await runner


async def session_16(
    url: str,
    station: str,
    *,
    meter_start: int = 1000,
    steps: int = 3,
    step_wh: int = 500,
    id_tag: str = "TAG-16",
) -> SessionReport:
    """A 1.6 session: boot, status, authorize, start, `steps` MeterValues, stop."""
    report = SessionReport(station, "ocpp1.6", meter_start_wh=meter_start)
    # Sampled once a minute, ending now: the session is replayed faster than real time.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=steps + 1)
    async with websockets.connect(f"{url}/{station}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        cp = ChargePoint16(station, ws)

        async def send(req: Any) -> Any:
            report.calls.append(type(req).__name__)
            return await cp.call(req)

        async def script() -> None:
            boot = await send(
                call16.BootNotification(
                    charge_point_model="AC-22",
                    charge_point_vendor="VendorA",
                    firmware_version="1.6.7",
                )
            )
            assert boot.status == "Accepted"
            for status in ("Available", "Preparing"):
                await send(
                    call16.StatusNotification(connector_id=1, error_code="NoError", status=status)
                )
            await send(call16.Authorize(id_tag=id_tag))
            started = await send(
                call16.StartTransaction(
                    connector_id=1, id_tag=id_tag, meter_start=meter_start, timestamp=_ts(start, 0)
                )
            )
            tx = started.transaction_id
            report.transaction_id = str(tx)
            await send(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
            )
            meter = meter_start
            for i in range(1, steps + 1):
                meter += step_wh
                await send(
                    call16.MeterValues(
                        connector_id=1,
                        transaction_id=tx,
                        meter_value=[
                            {
                                "timestamp": _ts(start, i),
                                "sampledValue": [
                                    {
                                        "value": str(meter),
                                        "measurand": "Energy.Active.Import.Register",
                                        "unit": "Wh",
                                        "context": "Sample.Periodic",
                                    },
                                    {
                                        "value": "7200.5",
                                        "measurand": "Power.Active.Import",
                                        "unit": "W",
                                        "context": "Sample.Periodic",
                                    },
                                ],
                            }
                        ],
                    )
                )
                report.samples += 2
            report.meter_stop_wh = meter + step_wh
            await send(
                call16.StopTransaction(
                    meter_stop=int(report.meter_stop_wh),
                    timestamp=_ts(start, steps + 1),
                    transaction_id=tx,
                    reason="Local",
                    id_tag=id_tag,
                )
            )
            await send(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )

        await _with_charger(cp, script)
    return report


async def session_201(
    url: str,
    station: str,
    *,
    proto: str = "ocpp2.0.1",
    meter_start: float = 10_000.0,
    steps: int = 3,
    step_wh: float = 400.0,
    id_token: str = "TAG-201",
) -> SessionReport:
    """A 2.0.1 (or 2.1) session: boot, status, authorize, TransactionEvent Started/Updated/Ended."""
    report = SessionReport(station, proto, meter_start_wh=meter_start)
    # Sampled once a minute, ending now: the session is replayed faster than real time.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=steps + 1)
    tx_id = f"{station}-tx-{int(start.timestamp())}"
    report.transaction_id = tx_id
    token = {"id_token": id_token, "type": "ISO14443"}
    async with websockets.connect(f"{url}/{station}", subprotocols=[proto]) as ws:  # type: ignore[list-item]
        cp = ChargePoint201(station, ws)

        async def send(req: Any) -> Any:
            report.calls.append(type(req).__name__)
            return await cp.call(req)

        def energy(value: float, minutes: int, context: str) -> list[dict[str, Any]]:
            return [
                {
                    "timestamp": _ts(start, minutes),
                    "sampled_value": [
                        {
                            "value": value,
                            "measurand": "Energy.Active.Import.Register",
                            "context": context,
                            "unit_of_measure": {"unit": "Wh"},
                        }
                    ],
                }
            ]

        async def script() -> None:
            boot = await send(
                call201.BootNotification(
                    charging_station={
                        "model": "DC-150",
                        "vendor_name": "VendorB",
                        "firmware_version": "2.0.1-4",
                    },
                    reason="PowerUp",
                )
            )
            assert boot.status == "Accepted"
            await send(
                call201.StatusNotification(
                    timestamp=_ts(start, 0), connector_status="Occupied", evse_id=1, connector_id=1
                )
            )
            await send(call201.Authorize(id_token=token))
            seq = 0
            await send(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=_ts(start, 0),
                    trigger_reason="Authorized",
                    seq_no=seq,
                    transaction_info={"transaction_id": tx_id, "charging_state": "Charging"},
                    id_token=token,
                    evse={"id": 1, "connector_id": 1},
                    meter_value=energy(meter_start, 0, "Transaction.Begin"),
                )
            )
            report.samples += 1
            meter = meter_start
            for i in range(1, steps + 1):
                meter += step_wh
                seq += 1
                await send(
                    call201.TransactionEvent(
                        event_type="Updated",
                        timestamp=_ts(start, i),
                        trigger_reason="MeterValuePeriodic",
                        seq_no=seq,
                        transaction_info={"transaction_id": tx_id},
                        meter_value=energy(meter, i, "Sample.Periodic"),
                    )
                )
                report.samples += 1
            report.meter_stop_wh = meter + step_wh
            await send(
                call201.TransactionEvent(
                    event_type="Ended",
                    timestamp=_ts(start, steps + 1),
                    trigger_reason="StopAuthorized",
                    seq_no=seq + 1,
                    transaction_info={"transaction_id": tx_id, "stopped_reason": "Local"},
                    id_token=token,
                    meter_value=energy(report.meter_stop_wh, steps + 1, "Transaction.End"),
                )
            )
            report.samples += 1
            await send(
                call201.StatusNotification(
                    timestamp=_ts(start, steps + 1),
                    connector_status="Available",
                    evse_id=1,
                    connector_id=1,
                )
            )

        await _with_charger(cp, script)
    return report


async def run_session(url: str, station: str, proto: str) -> SessionReport:
    if proto == "ocpp1.6":
        return await session_16(url, station)
    return await session_201(url, station, proto=proto)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one scripted charging session")
    parser.add_argument("--url", default="ws://127.0.0.1:9000/ocpp")
    parser.add_argument("--station", default="CP-1")
    parser.add_argument("--proto", default="ocpp1.6", choices=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
    args = parser.parse_args()
    report = asyncio.run(run_session(args.url, args.station, args.proto))
    print(
        f"{report.station} ({report.proto}): transaction {report.transaction_id}, "
        f"{report.samples} meter samples, {report.energy_wh:.0f} Wh, "
        f"{len(report.calls)} calls answered"
    )


if __name__ == "__main__":
    main()
