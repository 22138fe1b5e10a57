"""A small mixed charging network for the analyst-query tests: OCPP 1.6 and 2.0.1 stations of
several vendors, models and firmware, on two sites, that boot, change connector status (some to
Faulted) and charge, as real `ocpp` ChargePoints against the stack's gateway.

Every station timestamp is fixed by the plan (minutes after a base hour in the past), so each
figure an analyst query computes can be derived from the plan alone; `replay` sends each
station's timeline in time order and returns what it sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from csms.clock import iso_time
from tests.stack.chargers import Charger16, Charger201, charger

MINUTE_MS = 60_000
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


@dataclass(frozen=True)
class Charge:
    """One charging session: `readings` intermediate meter samples between start and stop."""

    start_min: int
    minutes: int
    meter_start_wh: int
    energy_wh: int
    readings: int
    power_w: float
    offline: bool = False  # 2.0.1: every TransactionEvent says offline=true


@dataclass(frozen=True)
class Station:
    id: str
    proto: str
    vendor: str
    model: str
    firmware: str
    statuses: tuple[tuple[int, str], ...]  # (minute, status) of connector 1 (EVSE 1)
    charge: Charge

    @property
    def site(self) -> str:
        return self.id.split("-", 1)[0]


@dataclass(frozen=True)
class MeterRow:
    """One row the sink writes to meter_values."""

    station: str
    measurand: str
    value: float


@dataclass
class Sent:
    """What one station sent: its CALLs (each answered) and its transaction id."""

    station: Station
    calls: list[str] = field(default_factory=list)
    transaction_id: str = ""

    @property
    def frames(self) -> int:
        """Rows in ocpp_frames: connect, each CALL and its CALLRESULT, disconnect."""
        return 2 + 2 * len(self.calls)


def meter_rows(station: Station) -> list[MeterRow]:
    """The meter_values rows a station's session produces. 1.6: every MeterValues carries the
    register and the power (StartTransaction's meterStart is no sample); 2.0.1: every
    TransactionEvent carries the register, the Updated ones the power as well."""
    c = station.charge
    rows: list[MeterRow] = []
    if station.proto != "ocpp1.6":
        rows.append(MeterRow(station.id, ENERGY, c.meter_start_wh))
    for k in range(1, c.readings + 1):
        wh = c.meter_start_wh + c.energy_wh * k / (c.readings + 1)
        rows += [MeterRow(station.id, ENERGY, wh), MeterRow(station.id, POWER, c.power_w)]
    if station.proto != "ocpp1.6":
        rows.append(MeterRow(station.id, ENERGY, c.meter_start_wh + c.energy_wh))
    return rows


async def replay(gateway_url: str, station: Station, base_ms: int) -> Sent:
    """Connect, boot and send the station's timeline in time order; then disconnect."""
    sent = Sent(station)
    cls = Charger16 if station.proto == "ocpp1.6" else Charger201
    async with charger(f"{gateway_url}/ocpp/{station.id}", cls, station.id, station.proto) as cp:

        async def send(request: Any) -> Any:
            sent.calls.append(type(request).__name__)
            return await cp.call(request)

        events = [(m, 0, status) for m, status in station.statuses]
        if station.proto == "ocpp1.6":
            assert (await send(_boot16(station))).status == "Accepted"
            events += [(m, 1, req) for m, req in _session16(station, base_ms)]
        else:
            assert (await send(_boot201(station))).status == "Accepted"
            events += [(m, 1, req) for m, req in _session201(station, base_ms)]
        for minute, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                await send(_status(station, base_ms + minute * MINUTE_MS, str(item)))
                continue
            if isinstance(item, call16.StopTransaction | call16.MeterValues):
                item.transaction_id = int(sent.transaction_id)
            answer = await send(item)
            if isinstance(item, call16.StartTransaction):
                sent.transaction_id = str(answer.transaction_id)
            elif isinstance(item, call201.TransactionEvent):
                sent.transaction_id = item.transaction_info["transaction_id"]
    return sent


async def replay_all(gateway_url: str, stations: list[Station], base_ms: int) -> list[Sent]:
    return list(await asyncio.gather(*(replay(gateway_url, s, base_ms) for s in stations)))


def _boot16(station: Station) -> call16.BootNotification:
    return call16.BootNotification(
        charge_point_vendor=station.vendor,
        charge_point_model=station.model,
        firmware_version=station.firmware,
    )


def _boot201(station: Station) -> call201.BootNotification:
    info = {"vendor_name": station.vendor, "model": station.model}
    return call201.BootNotification(
        charging_station={**info, "firmware_version": station.firmware}, reason="PowerUp"
    )


def _status(station: Station, ts: int, status: str) -> Any:
    if station.proto == "ocpp1.6":
        error = "GroundFailure" if status == "Faulted" else "NoError"
        return call16.StatusNotification(
            connector_id=1, error_code=error, status=status, timestamp=iso_time(ts)
        )
    return call201.StatusNotification(
        timestamp=iso_time(ts), connector_status=status, evse_id=1, connector_id=1
    )


def _reading_times(c: Charge) -> list[tuple[int, float]]:
    """(minute, register Wh) of the intermediate samples, evenly spaced."""
    n = c.readings + 1
    return [
        (c.start_min + c.minutes * k // n, c.meter_start_wh + c.energy_wh * k / n)
        for k in range(1, n)
    ]


def _session16(station: Station, base_ms: int) -> list[tuple[int, Any]]:
    c = station.charge
    tag = f"TAG-{station.id}"

    def ts(minute: int) -> str:
        return iso_time(base_ms + minute * MINUTE_MS)

    out: list[tuple[int, Any]] = [
        (
            c.start_min,
            call16.StartTransaction(
                connector_id=1, id_tag=tag, meter_start=c.meter_start_wh, timestamp=ts(c.start_min)
            ),
        )
    ]
    for minute, wh in _reading_times(c):
        sampled = [
            {"value": f"{wh:.0f}", "measurand": ENERGY, "unit": "Wh"},
            {"value": f"{c.power_w:.0f}", "measurand": POWER, "unit": "W"},
        ]
        # transaction_id is filled in by replay once StartTransaction is answered.
        out.append(
            (
                minute,
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=0,
                    meter_value=[{"timestamp": ts(minute), "sampledValue": sampled}],
                ),
            )
        )
    end = c.start_min + c.minutes
    stop = call16.StopTransaction(
        meter_stop=c.meter_start_wh + c.energy_wh,
        timestamp=ts(end),
        transaction_id=0,
        reason="Local",
        id_tag=tag,
    )
    return [*out, (end, stop)]


def _session201(station: Station, base_ms: int) -> list[tuple[int, Any]]:
    c = station.charge
    tx_id = f"{station.id}-tx-1"
    token = {"id_token": f"TAG-{station.id}", "type": "ISO14443"}

    def meter(minute: int, wh: float, power: bool) -> list[dict[str, Any]]:
        sampled: list[dict[str, Any]] = [
            {"value": wh, "measurand": ENERGY, "unit_of_measure": {"unit": "Wh"}}
        ]
        if power:
            sampled.append(
                {"value": c.power_w, "measurand": POWER, "unit_of_measure": {"unit": "W"}}
            )
        return [{"timestamp": iso_time(base_ms + minute * MINUTE_MS), "sampled_value": sampled}]

    def event(seq: int, kind: str, minute: int, wh: float, **extra: Any) -> tuple[int, Any]:
        trigger = {"Started": "Authorized", "Ended": "StopAuthorized"}.get(
            kind, "MeterValuePeriodic"
        )
        info: dict[str, Any] = {"transaction_id": tx_id, "charging_state": "Charging"}
        if kind == "Ended":
            info = {"transaction_id": tx_id, "stopped_reason": "Local"}
        offline = {"offline": True} if c.offline else {}
        return minute, call201.TransactionEvent(
            event_type=kind,
            timestamp=iso_time(base_ms + minute * MINUTE_MS),
            trigger_reason=trigger,
            seq_no=seq,
            transaction_info=info,
            meter_value=meter(minute, wh, kind == "Updated"),
            **offline,
            **extra,
        )

    out = [
        event(
            0,
            "Started",
            c.start_min,
            c.meter_start_wh,
            id_token=token,
            evse={"id": 1, "connector_id": 1},
        )
    ]
    for seq, (minute, wh) in enumerate(_reading_times(c), start=1):
        out.append(event(seq, "Updated", minute, wh))
    end = c.start_min + c.minutes
    out.append(event(c.readings + 1, "Ended", end, c.meter_start_wh + c.energy_wh, id_token=token))
    return out
