"""The example queries of docs/analytics.md, run on the real stack (`csms up`) against data real
charge points produced.

A small mixed network (tests/stack/analyst_network.py: 1.6 and 2.0.1 stations of four models on
two sites, Faulted connectors, sessions of fixed energies, one 2.0.1 session sent offline) boots
and charges through the gateway, every session billed with a tariff assigned to its station
through the API; once the sink has it all in ClickHouse, every ```sql block of the page's
"## Example queries" section - parsed from the page, so the docs and the test cannot drift - runs
over ClickHouse's HTTP interface with this run's stations and a window around the plan, and each
result is compared with what the plan implies.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from csms.domain.transactions import OFFLINE_LAG_MS
from tests.stack.analyst_network import (
    Charge,
    MeterRow,
    Sent,
    Station,
    meter_rows,
    replay_all,
)
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
RUN = uuid.uuid4().hex[:6].upper()
NET = f"AQ{RUN}"  # every station id of this run starts with it
DEADLINE_S = 60.0
TARIFF = {
    "id": f"aq-{RUN}",
    "currency": "EUR",
    "energy_per_kwh": "0.30",
    "session_fee": "0.50",
    "tax_rate": "0.20",
}


def plan() -> list[Station]:
    """Minutes after the base hour; the sessions lie hours before they are sent (as uploads
    after an outage would), so 1.6 starts are flagged offline and 2.0.1 ones only if they say so."""
    return [
        Station(
            f"{NET}BER-01", "ocpp1.6", "VendorA", "AC-22", "1.6.7",
            ((0, "Available"), (20, "Faulted"), (35, "Available"), (60, "Preparing"),
             (61, "Charging"), (121, "Finishing"), (125, "Available")),
            Charge(61, 60, 1_000, 7_000, 6, 11_000.0),
        ),
        Station(
            f"{NET}BER-02", "ocpp1.6", "VendorA", "AC-22", "1.6.9",
            ((0, "Available"), (30, "Faulted"), (50, "Available"), (69, "Preparing"),
             (70, "Charging"), (100, "Finishing"), (102, "Available"), (200, "Faulted"),
             (230, "Available")),
            Charge(70, 30, 52_000, 3_000, 2, 7_400.0),
        ),
        Station(
            f"{NET}BER-03", "ocpp2.0.1", "VendorB", "DC-150", "2.0.1-4",
            ((0, "Available"), (180, "Occupied"), (245, "Available")),
            Charge(181, 60, 10_000, 30_000, 5, 50_000.0),
        ),
        Station(
            f"{NET}HAM-01", "ocpp1.6", "VendorC", "AC-11", "3.2.0",
            ((0, "Available"), (100, "Faulted"), (110, "Available"), (239, "Preparing"),
             (240, "Charging"), (285, "Finishing"), (286, "Available")),
            Charge(240, 45, 250_000, 5_000, 4, 11_000.0),
        ),
        Station(  # the busiest: 39 meter readings
            f"{NET}HAM-02", "ocpp2.0.1", "VendorD", "DC-50", "0.9.1",
            ((0, "Available"), (90, "Faulted"), (95, "Available"), (150, "Occupied"),
             (271, "Available")),
            Charge(150, 120, 400_000, 20_000, 39, 22_000.0, offline=True),
        ),
    ]  # fmt: skip


# -- the docs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    number: int
    title: str
    sql: str


def examples(markdown: str) -> list[Example]:
    """The `### N. title` + ```sql blocks of the "## Example queries" section."""
    start = markdown.index("\n## Example queries\n")
    end = markdown.find("\n## ", start + 1)
    section = markdown[start : end if end >= 0 else len(markdown)]
    found = re.findall(r"^### (\d+)\. (.+?)\n.*?```sql\n(.*?)```", section, re.M | re.S)
    return [Example(int(n), title.strip(), sql.strip().rstrip(";")) for n, title, sql in found]


# -- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    stations: list[Station]
    sent: dict[str, Sent]
    base_ms: int
    window: tuple[datetime, datetime]
    bills: dict[str, dict[str, Any]]  # station -> its bill as the API serves it

    def at(self, minute: int) -> datetime:
        return datetime.fromtimestamp(self.base_ms / 1000 + minute * 60, tz=UTC)


def _sql_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


async def _query(stack: Stack, sql: str, window: tuple[datetime, datetime]) -> list[Any]:
    params = {
        "param_stations": f"{NET}%",
        "param_from": _sql_time(window[0]),
        "param_to": _sql_time(window[1]),
        "default_format": "JSONEachRow",
        "session_timezone": "UTC",  # the window's text is UTC whatever the server's zone
    }
    async with httpx.AsyncClient(base_url=stack.clickhouse_url, timeout=30) as ch:
        resp = await ch.post("/", params=params, content=sql)
    assert resp.status_code == 200, f"{resp.text}\n{sql}"
    return [orjson.loads(line) for line in resp.text.splitlines() if line]


async def _wait_for_clickhouse(stack: Stack, net: Network) -> None:
    """Until the sink has written every row the run produced (it batches asynchronously)."""
    stations = net.stations
    want = {
        "frames": sum(s.frames for s in net.sent.values()),
        "statuses": sum(len(s.statuses) for s in stations),
        "samples": sum(len(meter_rows(s)) for s in stations),
        "ended": len(stations),
        "bills": len(stations),
        "infos": len(stations),
    }
    tables = {
        "frames": "ocpp_frames",
        "statuses": "status_events",
        "samples": "meter_values",
        "ended": "transactions",
        "bills": "bills",
        "infos": "station_info",
    }
    where = {"ended": " AND state = 'ended'"}
    sql = "SELECT " + ", ".join(
        f"(SELECT count() FROM {table} FINAL WHERE station LIKE {{stations:String}}"
        f"{where.get(name, '')}) AS {name}"
        for name, table in tables.items()
    )
    deadline = time.monotonic() + DEADLINE_S
    got: dict[str, int] = {}
    while time.monotonic() < deadline:
        row = (await _query(stack, sql, net.window))[0]
        got = {k: int(v) for k, v in row.items()}
        if got == want:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"ClickHouse has {got}, the run produced {want}")


async def _tariff_for_every_station(stack: Stack, stations: list[Station]) -> None:
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        assert (await api.post("/api/v1/tariffs", json=TARIFF)).status_code == 201
        for s in stations:
            assign = {"scope": "station", "station": s.id, "tariff_id": TARIFF["id"]}
            assert (await api.put("/api/v1/tariff-assignments", json=assign)).status_code == 200


async def _bills(stack: Stack, sent: dict[str, Sent]) -> dict[str, dict[str, Any]]:
    bills: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        for station, s in sent.items():
            path = f"/api/v1/transactions/{station}/{s.transaction_id}/bill"
            while station not in bills:
                resp = await api.get(path)
                if resp.status_code == 200 and resp.json()["state"] == "final":
                    bills[station] = resp.json()
                elif time.monotonic() > deadline:
                    raise AssertionError(f"no final bill at {path}: {resp.text}")
                else:
                    await asyncio.sleep(0.3)
    return bills


@pytest.fixture(scope="module")
async def network(stack: Stack) -> Network:
    stations = plan()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    base = hour - timedelta(hours=6)
    # Sessions by their station times, frames by their arrival now: the window holds both.
    window = (base - timedelta(hours=1), hour + timedelta(hours=2))
    await _tariff_for_every_station(stack, stations)
    base_ms = int(base.timestamp() * 1000)
    sent = {s.station.id: s for s in await replay_all(stack.gateway_url, stations, base_ms)}
    net = Network(stations, sent, base_ms, window, await _bills(stack, sent))
    await _wait_for_clickhouse(stack, net)
    return net


@pytest.fixture(scope="module")
def queries() -> list[Example]:
    return examples(DOC.read_text())


def test_the_docs_give_ten_numbered_queries(queries: list[Example]) -> None:
    assert [q.number for q in queries] == list(range(1, 11))
    assert all(q.sql.upper().startswith(("SELECT", "WITH")) for q in queries)


# -- expectations from the plan -------------------------------------------------------------------


def _kwh(wh: float) -> float:
    return round(wh / 1000, 3)


def _start(net: Network, s: Station) -> datetime:
    return net.at(s.charge.start_min)


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


def _expected_bill(s: Station) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal, tax, total): energy at 0.30/kWh plus the 0.50 session fee, 20 % tax (the
    energies are whole kWh, so nothing rounds)."""
    subtotal = Decimal(s.charge.energy_wh) / 1000 * Decimal("0.30") + Decimal("0.50")
    tax = subtotal * Decimal("0.20")
    return subtotal, tax, subtotal + tax


async def _run(stack: Stack, net: Network, queries: list[Example], number: int) -> list[Any]:
    example = queries[number - 1]
    assert example.number == number
    return await _query(stack, example.sql, net.window)


async def test_1_energy_per_site_per_day(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    expected: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for s in network.stations:
        cell = expected[(s.site, _start(network, s).date().isoformat())]
        cell[0] += 1
        cell[1] += s.charge.energy_wh
    rows = await _run(stack, network, queries, 1)
    got = {(r["site"], r["day"]): [int(r["sessions"]), r["energy_kwh"]] for r in rows}
    assert got == {k: [n, _kwh(wh)] for k, (n, wh) in sorted(expected.items())}
    assert {site for site, _ in got} == {f"{NET}BER", f"{NET}HAM"}


async def test_2_the_faulted_model_tops_the_faults(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    faults: Counter[tuple[str, str]] = Counter()
    faulted: dict[tuple[str, str], set[str]] = defaultdict(set)
    firmwares: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in network.stations:
        n = sum(1 for _, status in s.statuses if status == "Faulted")
        if n:
            faults[(s.vendor, s.model)] += n
            faulted[(s.vendor, s.model)].add(s.id)
            firmwares[(s.vendor, s.model)].add(s.firmware)
    rows = await _run(stack, network, queries, 2)
    got = [
        (r["vendor"], r["model"], int(r["faults"]), int(r["stations_faulted"]), r["firmwares"])
        for r in rows
    ]
    ranked = sorted(faults, key=lambda k: (-faults[k], k))
    assert got == [(*k, faults[k], len(faulted[k]), sorted(firmwares[k])) for k in ranked]
    assert got[0][:4] == ("VendorA", "AC-22", 3, 2)  # two AC-22 stations, three faults


async def test_3_share_of_16_and_201(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    stations = Counter(s.proto for s in network.stations)
    frames = Counter({p: 0 for p in stations})
    for sent in network.sent.values():
        frames[sent.station.proto] += sent.frames
    rows = await _run(stack, network, queries, 3)
    got = {r["proto"]: r for r in rows}
    assert set(got) == {"ocpp1.6", "ocpp2.0.1"}
    for proto, row in got.items():
        assert int(row["stations"]) == stations[proto]
        assert row["station_share"] == round(stations[proto] / len(network.stations), 4)
        assert int(row["frames"]) == frames[proto]
        assert row["frame_share"] == pytest.approx(frames[proto] / frames.total(), abs=1e-4)
    assert (got["ocpp1.6"]["station_share"], got["ocpp2.0.1"]["station_share"]) == (0.6, 0.4)


async def test_4_sessions_by_hour_of_day(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    expected: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    for s in network.stations:
        cell = expected[_start(network, s).hour]
        cell[0] += 1
        cell[1] += s.charge.energy_wh
    rows = await _run(stack, network, queries, 4)
    got = {int(r["hour"]): [int(r["sessions"]), r["energy_kwh"]] for r in rows}
    assert got == {h: [n, _kwh(wh)] for h, (n, wh) in expected.items()}
    assert [int(r["hour"]) for r in rows] == sorted(expected)


async def test_5_duration_and_energy_by_protocol(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    rows = await _run(stack, network, queries, 5)
    got = {r["proto"]: r for r in rows}
    assert set(got) == {"ocpp1.6", "ocpp2.0.1"}
    for proto, row in got.items():
        charges = [s.charge for s in network.stations if s.proto == proto]
        assert int(row["sessions"]) == len(charges)
        assert row["avg_minutes"] == pytest.approx(
            round(sum(c.minutes for c in charges) / len(charges), 2)
        )
        energy = sum(c.energy_wh for c in charges)
        assert row["avg_kwh"] == pytest.approx(_kwh(energy / len(charges)))
        assert row["total_kwh"] == _kwh(energy)


async def test_6_meter_values_per_measurand(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    by_measurand: dict[str, list[MeterRow]] = defaultdict(list)
    for s in network.stations:
        for row in meter_rows(s):
            by_measurand[row.measurand].append(row)
    rows = await _run(stack, network, queries, 6)
    got = {
        (r["measurand"], r["unit"]): (
            int(r["samples"]),
            int(r["stations"]),
            r["min_value"],
            r["max_value"],
        )
        for r in rows
    }
    unit = {"Energy.Active.Import.Register": "Wh", "Power.Active.Import": "W"}
    assert got == {
        (m, unit[m]): (
            len(samples),
            len({r.station for r in samples}),
            min(r.value for r in samples),
            max(r.value for r in samples),
        )
        for m, samples in by_measurand.items()
    }


async def test_7_time_per_connector_status(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    expected: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for s in network.stations:
        ends = [network.at(m) for m, _ in s.statuses[1:]] + [network.window[1]]
        for (minute, status), until in zip(s.statuses, ends, strict=True):
            cell = expected[(s.id, status)]
            cell[0] += 1
            cell[1] += (until - network.at(minute)).total_seconds() / 60
    rows = await _run(stack, network, queries, 7)
    assert {(r["evse"], r["connector"]) for r in rows} == {(1, 1)}
    got = {(r["station"], r["status"]): [int(r["changes"]), r["minutes"]] for r in rows}
    assert got == {k: [n, round(minutes, 2)] for k, (n, minutes) in expected.items()}
    # BER-01 was Faulted from minute 20 to 35.
    assert got[(f"{NET}BER-01", "Faulted")] == [1, 15.0]


async def test_8_busiest_stations_by_frames_per_minute(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    rows = await _run(stack, network, queries, 8)
    assert {r["station"]: int(r["frames"]) for r in rows} == {
        station: sent.frames for station, sent in network.sent.items()
    }
    for row in rows:
        assert 1 <= int(row["peak_frames_per_minute"]) <= int(row["frames"])
    # HAM-02 sent more than twice the frames of any other: even if its frames straddle a
    # minute, one of its minutes holds more than any other station's whole traffic.
    assert rows[0]["station"] == f"{NET}HAM-02"
    others = max(s.frames for k, s in network.sent.items() if k != f"{NET}HAM-02")
    assert network.sent[f"{NET}HAM-02"].frames > 2 * others


async def test_9_flagged_transactions_per_station(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    # Sent hours after their station times: 1.6 starts older than OFFLINE_LAG_MS were queued
    # offline; 2.0.1 sessions are offline only when their events say so.
    assert network.base_ms + 300 * 60_000 < time.time() * 1000 - OFFLINE_LAG_MS
    offline = [s.id for s in network.stations if s.proto == "ocpp1.6" or s.charge.offline]
    rows = await _run(stack, network, queries, 9)
    got = {(r["station"], r["flag"]): int(r["sessions"]) for r in rows}
    assert got == {(station, "offline"): 1 for station in offline}
    assert f"{NET}BER-03" not in {station for station, _ in got}


async def test_10_revenue_per_day_equals_the_bills(
    stack: Stack, network: Network, queries: list[Example]
) -> None:
    expected: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0), Decimal(0)])
    for s in network.stations:
        bill = network.bills[s.id]
        subtotal, tax, total = _expected_bill(s)
        assert (_money(bill["subtotal"]), _money(bill["tax"]), _money(bill["total"])) == (
            subtotal,
            tax,
            total,
        )
        cell = expected[_start(network, s).date().isoformat()]
        cell[0] += 1
        cell[1] += subtotal
        cell[2] += tax
        cell[3] += total
    rows = await _run(stack, network, queries, 10)
    got: dict[tuple[str, str], list[Any]] = {
        (r["day"], r["currency"]): [
            int(r["sessions"]),
            _money(r["revenue_excl_tax"]),
            _money(r["tax"]),
            _money(r["revenue_incl_tax"]),
        ]
        for r in rows
    }
    assert got == {(day, "EUR"): cell for day, cell in expected.items()}
    api_total = sum(_money(b["total"]) for b in network.bills.values())
    assert sum(cell[3] for cell in got.values()) == api_total == Decimal("26.40")
