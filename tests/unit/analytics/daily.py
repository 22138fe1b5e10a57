"""Realistic source rows for the issue-8 views (two stations, 2025-03-01/02 UTC), and the
answers each materialized view / view must give for them however many times they are inserted.

CP-16 speaks 1.6 (EVSE 1 and 2), CS-201 speaks 2.0.1, CP-OK (1.6) only booted.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client


def ms(text: str) -> int:
    """Epoch ms of "YYYY-MM-DD HH:MM" UTC."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


def dt(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def _call(action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([2, "uid-1", action, payload]).decode()


BOOT16_OLD = {"chargePointVendor": "VendorA", "chargePointModel": "ModelX",
              "firmwareVersion": "1.0", "chargePointSerialNumber": "SN-16"}  # fmt: skip
BOOT16_NEW = {"chargePointVendor": "VendorA", "chargePointModel": "ModelX",
              "firmwareVersion": "1.2", "chargeBoxSerialNumber": "SN-16"}  # fmt: skip
BOOT201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "VendorB", "model": "ModelY",
           "firmwareVersion": "2.0", "serialNumber": "SN-B"}}  # fmt: skip
BOOT16_OK = {"chargePointVendor": "VendorA", "chargePointModel": "ModelX",
             "firmwareVersion": "1.2", "chargePointSerialNumber": "SN-OK"}  # fmt: skip

FRAME_COLUMNS = ["event_id", "ts", "station", "proto", "dir", "kind", "uid", "action", "frame",
                 "err"]  # fmt: skip
FRAMES = [
    ["f1", dt("2025-02-01 08:00"), "CP-16", "ocpp1.6", "in", "call", "uid-1", "BootNotification",
     _call("BootNotification", BOOT16_OLD), ""],
    ["f2", dt("2025-03-01 05:00"), "CP-16", "ocpp1.6", "in", "call", "uid-1", "BootNotification",
     _call("BootNotification", BOOT16_NEW), ""],
    # The answer to f2 and a StatusNotification: not boots.
    ["f3", dt("2025-03-01 05:00"), "CP-16", "ocpp1.6", "out", "result", "uid-1",
     "BootNotification", '[3,"uid-1",{"status":"Accepted"}]', ""],
    ["f4", dt("2025-03-01 05:01"), "CP-16", "ocpp1.6", "in", "call", "uid-2",
     "StatusNotification", _call("StatusNotification", {"connectorId": 1}), ""],
    # A later boot the gateway rejected (schema violation): not the station's facts.
    ["f5", dt("2025-03-02 05:00"), "CP-16", "ocpp1.6", "in", "call", "uid-3", "BootNotification",
     _call("BootNotification", {**BOOT16_NEW, "firmwareVersion": 9.9}), "FormationViolation"],
    ["f6", dt("2025-02-20 07:00"), "CS-201", "ocpp2.0.1", "in", "call", "uid-1",
     "BootNotification", _call("BootNotification", BOOT201), ""],
    ["f7", dt("2025-02-20 07:00"), "CP-OK", "ocpp1.6", "in", "call", "uid-1", "BootNotification",
     _call("BootNotification", BOOT16_OK), ""],
]  # fmt: skip

METER_COLUMNS = ["ts", "station", "evse", "connector", "transaction_id", "measurand", "phase",
                 "location", "unit", "value", "event_id", "sample_index"]  # fmt: skip
_E = "Energy.Active.Import.Register"
METER_VALUES = [
    # CP-16 EVSE 1: hour 10 from 1000 to 2000 Wh.
    [dt("2025-03-01 10:05"), "CP-16", 1, 1, "1", _E, "", "Outlet", "Wh", 1000.0, "m1", 0],
    [dt("2025-03-01 10:30"), "CP-16", 1, 1, "1", _E, "", "Outlet", "Wh", 1500.0, "m2", 0],
    [dt("2025-03-01 10:55"), "CP-16", 1, 1, "1", _E, "", "Outlet", "Wh", 2000.0, "m3", 0],
    # Hour 11: 2.5 kWh then 3000 Wh; a phase value, an inlet value and a power value ignored.
    [dt("2025-03-01 11:10"), "CP-16", 1, 1, "1", _E, "", "Outlet", "kWh", 2.5, "m4", 0],
    [dt("2025-03-01 11:20"), "CP-16", 1, 1, "1", _E, "L1", "Outlet", "Wh", 99999.0, "m5", 0],
    [dt("2025-03-01 11:20"), "CP-16", 1, 1, "1", _E, "", "Inlet", "Wh", 88888.0, "m5", 1],
    [dt("2025-03-01 11:20"), "CP-16", 1, 1, "1", "Power.Active.Import", "", "Outlet", "W",
     7000.0, "m5", 2],
    [dt("2025-03-01 11:40"), "CP-16", 1, 1, "1", _E, "", "", "Wh", 3000.0, "m6", 0],
    # No sample in hour 12; hour 13 one sample; hour 14 the meter was reset.
    [dt("2025-03-01 13:15"), "CP-16", 1, 1, "1", _E, "", "Outlet", "Wh", 3500.0, "m7", 0],
    [dt("2025-03-01 14:10"), "CP-16", 1, 1, "2", _E, "", "Outlet", "Wh", 100.0, "m8", 0],
    [dt("2025-03-01 14:50"), "CP-16", 1, 1, "2", _E, "", "Outlet", "Wh", 400.0, "m9", 0],
    # CP-16 EVSE 2: one hour.
    [dt("2025-03-01 10:00"), "CP-16", 2, 1, "7", _E, "", "Outlet", "Wh", 5000.0, "m10", 0],
    [dt("2025-03-01 10:30"), "CP-16", 2, 1, "7", _E, "", "Outlet", "Wh", 5200.0, "m11", 0],
]  # fmt: skip

STATUS_COLUMNS = ["ts", "station", "evse", "connector", "status", "error_code", "proto",
                  "event_id"]  # fmt: skip
STATUS_EVENTS = [
    [dt("2025-03-01 00:00"), "CP-16", 1, 1, "Available", "NoError", "ocpp1.6", "s1"],
    [dt("2025-03-01 06:00"), "CP-16", 1, 1, "Charging", "NoError", "ocpp1.6", "s2"],
    [dt("2025-03-01 07:00"), "CP-16", 1, 1, "Charging", "NoError", "ocpp1.6", "s3"],
    [dt("2025-03-01 09:00"), "CP-16", 1, 1, "Available", "NoError", "ocpp1.6", "s4"],
    [dt("2025-03-01 18:00"), "CP-16", 1, 1, "Faulted", "GroundFailure", "ocpp1.6", "s5"],
    [dt("2025-03-01 20:00"), "CP-16", 1, 1, "Unavailable", "NoError", "ocpp1.6", "s6"],
    [dt("2025-03-02 02:00"), "CP-16", 1, 1, "Available", "NoError", "ocpp1.6", "s7"],
    [dt("2025-03-02 12:00"), "CP-16", 1, 1, "Preparing", "NoError", "ocpp1.6", "s8"],
    [dt("2025-03-02 13:00"), "CP-16", 1, 1, "Available", "NoError", "ocpp1.6", "s9"],
    # A warning: an error code while not Faulted.
    [dt("2025-03-02 14:00"), "CP-16", 1, 1, "Available", "HighTemperature", "ocpp1.6", "s10"],
    [dt("2025-03-01 00:00"), "CS-201", 1, 1, "Available", "", "ocpp2.0.1", "t1"],
    [dt("2025-03-01 12:00"), "CS-201", 1, 1, "Faulted", "", "ocpp2.0.1", "t2"],
    [dt("2025-03-01 12:30"), "CS-201", 1, 1, "Available", "", "ocpp2.0.1", "t3"],
]

TX_COLUMNS = ["key", "station", "transaction_id", "proto", "evse", "connector", "state",
              "started_ms", "ended_ms", "energy_wh", "charging_ms", "updated_ms"]  # fmt: skip
TRANSACTIONS = [
    # Session 1: a snapshot while active, then ended (3 h, 5 kWh).
    ["CP-16/1", "CP-16", "1", "ocpp1.6", 1, 1, "active", ms("2025-03-01 06:00"), 0, 1000.0,
     3_600_000, ms("2025-03-01 07:00")],
    ["CP-16/1", "CP-16", "1", "ocpp1.6", 1, 1, "ended", ms("2025-03-01 06:00"),
     ms("2025-03-01 09:00"), 5000.0, 10_800_000, ms("2025-03-01 09:00")],
    # Session 2: starts before midnight, ends after (1 h): counted on its start day.
    ["CP-16/2", "CP-16", "2", "ocpp1.6", 1, 1, "ended", ms("2025-03-01 23:30"),
     ms("2025-03-02 00:30"), 1000.0, 3_600_000, ms("2025-03-02 00:30")],
    # Session 3: first seen without a start, then active.
    ["CP-16/3", "CP-16", "3", "ocpp1.6", 1, 1, "active", 0, 0, 0.0, 0, ms("2025-03-02 11:00")],
    ["CP-16/3", "CP-16", "3", "ocpp1.6", 1, 1, "active", ms("2025-03-02 12:00"), 0, 200.0,
     600_000, ms("2025-03-02 12:10")],
    ["CS-201/A", "CS-201", "A", "ocpp2.0.1", 1, 1, "ended", ms("2025-03-01 12:00"),
     ms("2025-03-01 12:10"), 300.0, 600_000, ms("2025-03-01 12:10")],
]  # fmt: skip


def seed(client: Client) -> None:
    """Insert every source row once (call it twice to deliver everything twice)."""
    client.insert("ocpp_frames", FRAMES, column_names=FRAME_COLUMNS)
    client.insert("meter_values", METER_VALUES, column_names=METER_COLUMNS)
    client.insert("status_events", STATUS_EVENTS, column_names=STATUS_COLUMNS)
    client.insert("transactions", TRANSACTIONS, column_names=TX_COLUMNS)


def _exact(value: Any) -> Any:
    """Floats to 9 decimals: shares like 22/24 differ in the last bit between engines; NaN to
    None so that rows compare equal."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    return value


def rows(client: Client, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(_exact(v) for v in r) for r in client.query(sql).result_rows]


def share(value: float) -> float:
    return round(value, 9)


H = 3600.0
DAY_1 = "toDate('2025-03-01')"
DAY_2 = "toDate('2025-03-02')"


def check_all(client: Client) -> None:
    """Every view's answer for the seed (whatever number of times it was inserted)."""
    check_station_info(client)
    check_energy(client)
    check_status(client)
    check_sessions(client)
    check_errors(client)


def check_station_info(client: Client) -> None:
    assert rows(
        client,
        "SELECT station, proto, vendor, model, firmware, serial, event_id "
        "FROM station_info FINAL ORDER BY station",
    ) == [
        ("CP-16", "ocpp1.6", "VendorA", "ModelX", "1.2", "SN-16", "f2"),
        ("CP-OK", "ocpp1.6", "VendorA", "ModelX", "1.2", "SN-OK", "f7"),
        ("CS-201", "ocpp2.0.1", "VendorB", "ModelY", "2.0", "SN-B", "f6"),
    ]


def check_energy(client: Client) -> None:
    merged = rows(
        client,
        "SELECT evse, toHour(hour), minMerge(min_wh), maxMerge(max_wh), "
        "argMinMerge(first_wh), argMaxMerge(last_wh) FROM agg_energy_hourly "
        "WHERE station = 'CP-16' GROUP BY evse, hour ORDER BY evse, hour",
    )
    assert merged == [
        (1, 10, 1000.0, 2000.0, 1000.0, 2000.0),
        (1, 11, 2500.0, 3000.0, 2500.0, 3000.0),
        (1, 13, 3500.0, 3500.0, 3500.0, 3500.0),
        (1, 14, 100.0, 400.0, 100.0, 400.0),
        (2, 10, 5000.0, 5200.0, 5000.0, 5200.0),
    ]
    hourly = rows(
        client,
        "SELECT evse, toHour(hour), energy_in_hour_wh, energy_wh, reset FROM v_energy_hourly "
        "WHERE station = 'CP-16' ORDER BY evse, hour",
    )
    assert hourly == [
        (1, 10, 1000.0, 1000.0, 0),  # first sampled hour: last - first
        (1, 11, 500.0, 1000.0, 0),  # 3000 - 2000: includes 10:55 -> 11:10
        (1, 13, 0.0, 500.0, 0),  # the gap (hour 12) is booked here
        (1, 14, 300.0, 300.0, 1),  # reset: counted since the reset
        (2, 10, 200.0, 200.0, 0),
    ]


def check_status(client: Client) -> None:
    counts = rows(
        client,
        "SELECT day, status, uniqExactMerge(reports) FROM agg_status_daily "
        "WHERE station = 'CP-16' GROUP BY day, status ORDER BY day, status",
    )
    assert [(str(d), s, n) for d, s, n in counts] == [
        ("2025-03-01", "Available", 2), ("2025-03-01", "Charging", 2),
        ("2025-03-01", "Faulted", 1), ("2025-03-01", "Unavailable", 1),
        ("2025-03-02", "Available", 3), ("2025-03-02", "Preparing", 1),
    ]  # fmt: skip
    daily = rows(
        client,
        f"SELECT status, seconds, entered FROM v_status_daily WHERE station = 'CP-16' "
        f"AND day = {DAY_1} ORDER BY status",
    )
    assert daily == [
        ("Available", 15 * H, 2), ("Charging", 3 * H, 1),
        ("Faulted", 2 * H, 1), ("Unavailable", 4 * H, 1),
    ]  # fmt: skip
    utilization = rows(
        client,
        "SELECT station, day, observed_s, occupied_s, down_s, utilization, availability "
        f"FROM v_utilization_daily WHERE day IN ({DAY_1}, {DAY_2}) ORDER BY station, day",
    )
    assert [(s, str(d), *rest) for s, d, *rest in utilization] == [
        ("CP-16", "2025-03-01", 24 * H, 3 * H, 6 * H, 0.125, 0.75),
        ("CP-16", "2025-03-02", 24 * H, 1 * H, 2 * H, share(1 / 24), share(22 / 24)),
        ("CS-201", "2025-03-01", 24 * H, 0.0, 0.5 * H, 0.0, share(1 - 0.5 / 24)),
        ("CS-201", "2025-03-02", 24 * H, 0.0, 0.0, 0.0, 1.0),  # Available all day
    ]
    uptime = rows(
        client,
        "SELECT station, day, up_s, down_s, faulted_s, unavailable_s, uptime, outages "
        f"FROM v_uptime_daily WHERE day IN ({DAY_1}, {DAY_2}) ORDER BY station, day",
    )
    assert [(s, str(d), *rest) for s, d, *rest in uptime] == [
        # Faulted then Unavailable is one outage.
        ("CP-16", "2025-03-01", 18 * H, 6 * H, 2 * H, 4 * H, 0.75, 1),
        ("CP-16", "2025-03-02", 22 * H, 2 * H, 0.0, 2 * H, share(22 / 24), 0),
        ("CS-201", "2025-03-01", 23.5 * H, 0.5 * H, 0.5 * H, 0.0, share(1 - 0.5 / 24), 1),
        ("CS-201", "2025-03-02", 24 * H, 0.0, 0.0, 0.0, 1.0, 0),
    ]


def check_sessions(client: Client) -> None:
    counts = rows(
        client,
        "SELECT station, day, uniqExactMerge(sessions), uniqExactMerge(ended) "
        "FROM agg_sessions_daily GROUP BY station, day ORDER BY station, day",
    )
    assert [(s, str(d), n, e) for s, d, n, e in counts] == [
        ("CP-16", "2025-03-01", 2, 2),
        ("CP-16", "2025-03-02", 1, 0),
        ("CS-201", "2025-03-01", 1, 1),
    ]
    sessions = rows(
        client,
        "SELECT station, day, sessions, ended, duration_s, avg_duration_s, max_duration_s, "
        "charging_s, energy_wh FROM v_sessions_daily ORDER BY station, day",
    )
    assert [(s, str(d), *rest) for s, d, *rest in sessions] == [
        ("CP-16", "2025-03-01", 2, 2, 4 * H, 2 * H, 3 * H, 4 * H, 6000.0),
        ("CP-16", "2025-03-02", 1, 0, 0.0, None, 0.0, 600.0, 200.0),  # avg of none: NaN
        ("CS-201", "2025-03-01", 1, 1, 600.0, 600.0, 600.0, 600.0, 300.0),
    ]


def check_errors(client: Client) -> None:
    errors = rows(
        client,
        "SELECT station, day, error_code, faulted, uniqExactMerge(reports) FROM agg_errors_daily "
        "GROUP BY station, day, error_code, faulted ORDER BY station, day, error_code",
    )
    assert [(s, str(d), *rest) for s, d, *rest in errors] == [
        ("CP-16", "2025-03-01", "GroundFailure", 1, 1),
        ("CP-16", "2025-03-02", "HighTemperature", 0, 1),
        ("CS-201", "2025-03-01", "Faulted", 1, 1),
    ]
    rates = rows(
        client,
        "SELECT day, vendor, model, firmware, stations, stations_with_errors, "
        "stations_with_faults, error_reports, fault_reports, faulted_station_rate "
        "FROM v_fault_rates_daily ORDER BY day, vendor",
    )
    assert [(str(d), *rest) for d, *rest in rates] == [
        ("2025-03-01", "VendorA", "ModelX", "1.2", 2, 1, 1, 1, 1, 0.5),
        ("2025-03-01", "VendorB", "ModelY", "2.0", 1, 1, 1, 1, 1, 1.0),
        ("2025-03-02", "VendorA", "ModelX", "1.2", 2, 1, 0, 1, 0, 0.0),
    ]
